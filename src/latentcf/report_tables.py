"""Tables for the Snakemake report: small self-contained HTML pages.

Snakemake 9's report shows PNG/JPEG/SVG items as images and HTML/PDF items in an inline frame, but a
`report()`-wrapped .tsv or .csv only gets a download button (no table view). A rule that wants a
table in the report writes it with `write_html_table` to a `.html` file and wraps that in
`report(..., caption=..., category=...)`; the TSV stays the machine-readable output.
The page has inline CSS only: no scripts, no external resources (the report is opened offline).
"""

from __future__ import annotations

import html
import math
import numbers
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from latentcf.io import write_text_atomic

MISSING = "n/a"  # as in the TSV tables (latentcf.io.write_tsv_atomic)

_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 1.5rem;
       color: #1e293b; background: #ffffff; }
h1 { font-size: 1.15rem; margin: 0 0 0.5rem 0; }
h2 { font-size: 1rem; margin: 1.4rem 0 0.4rem 0; }
p.caption { font-size: 0.9rem; color: #475569; max-width: 60rem; margin: 0 0 1rem 0; }
table { border-collapse: collapse; font-size: 0.85rem; }
th, td { border-bottom: 1px solid #e2e8f0; padding: 0.3rem 0.7rem; text-align: left;
         white-space: nowrap; }
th { background: #f1f5f9; border-bottom: 2px solid #cbd5e1; position: sticky; top: 0; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
tbody tr:nth-child(even) { background: #f8fafc; }
"""


def write_html_table(
    table: pd.DataFrame,
    path: str | Path,
    title: str,
    caption: str = "",
    float_format: str = "{:.3g}",
) -> Path:
    """Write `table` as a self-contained HTML page to `path` (atomically); return the path.

    One header row of column names, then one row per table row. A meaningful index (named, or not
    the default 0..n-1 range) becomes leading columns. Floats are formatted with `float_format`
    (a str.format pattern), missing values as "n/a"; every value and the title and caption are
    HTML-escaped. `path` must end in .html so that the report shows it inline."""
    return write_html_tables({"": table}, path, title, caption, float_format)


def write_html_tables(
    tables: Mapping[str, pd.DataFrame],
    path: str | Path,
    title: str,
    caption: str = "",
    float_format: str = "{:.3g}",
) -> Path:
    """Several tables on one page, each under its heading (the key; "" for none); see
    :func:`write_html_table` for the formatting."""
    path = Path(path)
    if path.suffix.lower() not in {".html", ".htm"}:
        raise ValueError(f"{path}: a report table must be an .html file (got {path.suffix!r})")
    sections = "\n".join(
        (f"<h2>{html.escape(heading)}</h2>\n" if heading else "") + _html_table(table, float_format)
        for heading, table in tables.items()
    )
    caption_html = f'<p class="caption">{html.escape(caption)}</p>\n' if caption else ""
    page = (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{html.escape(title)}</title>\n<style>{_STYLE}</style>\n</head>\n<body>\n"
        f"<h1>{html.escape(title)}</h1>\n{caption_html}{sections}\n</body>\n</html>\n"
    )
    return write_text_atomic(page, path)


def _html_table(table: pd.DataFrame, float_format: str) -> str:
    if not isinstance(table.index, pd.RangeIndex) or any(
        name is not None for name in table.index.names
    ):
        table = table.reset_index()
    columns = [_column_name(column) for column in table.columns]
    numeric = [pd.api.types.is_numeric_dtype(dtype) for dtype in table.dtypes]
    align = [' class="num"' if num else "" for num in numeric]
    header = "".join(
        f'<th{cls} scope="col">{html.escape(name)}</th>'
        for name, cls in zip(columns, align, strict=True)
    )
    body = "\n".join(
        "<tr>"
        + "".join(
            f"<td{cls}>{html.escape(_cell(value, float_format))}</td>"
            for value, cls in zip(row, align, strict=True)
        )
        + "</tr>"
        for row in table.itertuples(index=False, name=None)
    )
    return f"<table>\n<thead>\n<tr>{header}</tr>\n</thead>\n<tbody>\n{body}\n</tbody>\n</table>"


def _column_name(column) -> str:
    if isinstance(column, tuple):  # MultiIndex columns
        return " / ".join(str(level) for level in column if str(level) != "")
    return str(column)


def _cell(value, float_format: str) -> str:
    if value is None or value is pd.NA or value is pd.NaT:
        return MISSING
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):
        value = float(value)
        return MISSING if math.isnan(value) else float_format.format(value)
    return str(value)
