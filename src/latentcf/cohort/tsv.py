"""Reading BIDS-style tab-separated tables while keeping line numbers for error messages.

Every cell stays a string; "n/a" and the empty string mean a missing value (BIDS convention).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

from latentcf.errors import InputDataError, did_you_mean

MISSING = ("n/a", "")


def is_missing(value: str | None) -> bool:
    """True for BIDS missing values: None, "" and "n/a" (surrounding blanks ignored)."""
    return value is None or value.strip() in MISSING


@dataclass(frozen=True)
class Cell:
    """One value of a table, with where it came from (for messages).

    `line` is the 1-based line number in `file` (the header is line 1).
    """

    value: str
    file: str
    line: int
    column: str

    @property
    def where(self) -> str:
        """`<file> line <n>, column '<name>'`."""
        return f"{self.file} line {self.line}, column '{self.column}'"


@dataclass
class Table:
    """A TSV file: its header and its data rows keyed by column name.

    `name` is how messages refer to the file (e.g. a path relative to the BIDS root).
    `rows` is a list of (line number, {column: value}).
    """

    path: Path
    name: str
    columns: list[str]
    rows: list[tuple[int, dict[str, str]]] = field(default_factory=list)

    def cell(self, line: int, row: dict[str, str], column: str) -> Cell:
        """The `Cell` of `row` (found on `line`) in `column`."""
        return Cell(row.get(column, ""), self.name, line, column)


def read_tsv(path: str | Path, name: str | None = None, required: tuple[str, ...] = ()) -> Table:
    """Read a tab-separated table with a header line.

    Blank lines are skipped (line numbers still count them); cells are stripped of blanks.
    Raises :class:`InputDataError` naming the file for an unreadable file, a missing header,
    a header with duplicate or missing `required` columns, or a row with the wrong number of
    fields.
    """
    path = Path(path)
    name = name or str(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise InputDataError(path, "file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputDataError(path, f"unreadable table ({type(exc).__name__}: {exc})") from exc
    lines = text.splitlines()
    reader = csv.reader(lines, delimiter="\t", quoting=csv.QUOTE_NONE, strict=False)
    header: list[str] | None = None
    table: Table | None = None
    for line_no, fields in enumerate(reader, start=1):
        if not fields or all(not f.strip() for f in fields):
            continue
        fields = [f.strip() for f in fields]
        if header is None:
            header = fields
            _check_header(path, header, required)
            table = Table(path, name, header)
            continue
        if len(fields) != len(header):
            raise InputDataError(
                path,
                f"line {line_no}: expected {len(header)} tab-separated fields "
                f"(one per header column), got {len(fields)}",
                "Separate columns with single tabs and write n/a for missing values",
            )
        table.rows.append((line_no, dict(zip(header, fields, strict=True))))
    if table is None:
        raise InputDataError(path, "the table is empty; expected a header line with column names")
    return table


def _check_header(path: Path, header: list[str], required: tuple[str, ...]) -> None:
    seen: set[str] = set()
    for column in header:
        if column in seen:
            raise InputDataError(path, f"line 1: column '{column}' appears twice")
        seen.add(column)
    for column in required:
        if column not in seen:
            hint = ""
            if len(header) == 1 and ("," in header[0] or ";" in header[0]):
                hint = "The file looks comma- or semicolon-separated; BIDS tables are tab-separated"
            raise InputDataError(
                path,
                f"line 1: required column '{column}' is missing (columns found: {header})."
                + did_you_mean(column, header),
                hint or None,
            )
