"""latentcf.report_tables: a DataFrame as a self-contained HTML page for the Snakemake report."""

from __future__ import annotations

from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest

from latentcf.report_tables import write_html_table


class TableParser(HTMLParser):
    """Rows of <th>/<td> text, plus every tag and attribute seen (to look for scripts and links)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.rows: list[list[str]] = []
        self.header_cells: list[str] = []
        self.tags: list[str] = []
        self.attributes: list[tuple[str, str | None]] = []
        self.title = ""
        self._cell: list[str] | None = None
        self._in_title = False

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attributes.extend(attrs)
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "title":
            self._in_title = True

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            text = "".join(self._cell)
            self.rows[-1].append(text)
            if tag == "th":
                self.header_cells.append(text)
            self._cell = None
        elif tag == "title":
            self._in_title = False

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)
        if self._in_title:
            self.title += data


def parse(path) -> TableParser:
    parser = TableParser()
    parser.feed(path.read_text(encoding="utf-8"))
    parser.close()
    return parser


def test_one_row_per_table_row_plus_the_header(tmp_path):
    table = pd.DataFrame(
        {
            "structure": ["hippocampus", "ventricles", "cortex"],
            "volume_ml": [3.14159, 25.0, np.nan],
            "n": [1, 2, 3],
        }
    )
    path = write_html_table(table, tmp_path / "truth.html", "Ground truth", caption="Per structure")
    assert path == tmp_path / "truth.html"
    page = parse(path)
    assert page.tags.count("tr") == len(table) + 1
    assert page.rows[0] == ["structure", "volume_ml", "n"]
    assert page.rows[1:] == [
        ["hippocampus", "3.14", "1"],
        ["ventricles", "25", "2"],
        ["cortex", "n/a", "3"],
    ]
    assert page.title == "Ground truth"
    assert "Per structure" in path.read_text()


def test_values_title_and_caption_are_escaped(tmp_path):
    nasty = '<script>alert("x")</script> & <b>'
    table = pd.DataFrame({"<col>": [nasty]})
    path = write_html_table(table, tmp_path / "t.html", title="a <i>title", caption="1 < 2 & 3")
    text = path.read_text()
    page = parse(path)
    assert "script" not in page.tags and "b" not in page.tags and "i" not in page.tags
    assert page.rows == [["<col>"], [nasty]]
    assert page.title == "a <i>title"
    assert "1 &lt; 2 &amp; 3" in text


def test_self_contained_no_scripts_or_external_resources(tmp_path):
    path = write_html_table(pd.DataFrame({"a": [1]}), tmp_path / "t.html", "t")
    page = parse(path)
    assert "script" not in page.tags and "link" not in page.tags and "img" not in page.tags
    assert not [value for name, value in page.attributes if name in ("src", "href")]
    assert "<style>" in path.read_text()


def test_float_format_named_index_and_multiindex_columns(tmp_path):
    table = pd.DataFrame(
        [[0.123456, 1e-7], [2.5, 1234567.0]],
        index=pd.Index(["left", "right"], name="side"),
        columns=pd.MultiIndex.from_tuples([("dice", "mean"), ("dice", "sd")]),
    )
    page = parse(write_html_table(table, tmp_path / "t.html", "t", float_format="{:.2f}"))
    assert page.rows == [
        ["side", "dice / mean", "dice / sd"],
        ["left", "0.12", "0.00"],
        ["right", "2.50", "1234567.00"],
    ]


def test_empty_table_has_the_header_only(tmp_path):
    page = parse(write_html_table(pd.DataFrame(columns=["a", "b"]), tmp_path / "t.html", "t"))
    assert page.rows == [["a", "b"]]


def test_atomic_write_replaces_and_leaves_no_temporary_files(tmp_path):
    path = tmp_path / "t.html"
    path.write_text("old")
    write_html_table(pd.DataFrame({"a": [1, 2]}), path, "t")
    assert parse(path).tags.count("tr") == 3
    assert [p.name for p in tmp_path.iterdir()] == ["t.html"]


def test_refuses_a_path_the_report_would_not_show_inline(tmp_path):
    with pytest.raises(ValueError, match=r"\.html"):
        write_html_table(pd.DataFrame({"a": [1]}), tmp_path / "t.tsv", "t")


def test_several_tables_on_one_page(tmp_path):
    from html.parser import HTMLParser

    from latentcf.report_tables import write_html_tables

    class Counter(HTMLParser):
        def __init__(self):
            super().__init__()
            self.tags: dict[str, int] = {}

        def handle_starttag(self, tag, attrs):
            self.tags[tag] = self.tags.get(tag, 0) + 1

    a = pd.DataFrame({"x": [1.0, 2.0]})
    b = pd.DataFrame({"y": ["<b>", "c"], "z": [1, 2], "w": [3, 4]})
    path = write_html_tables({"First <one>": a, "Second": b}, tmp_path / "t.html", title="Both")
    counter = Counter()
    counter.feed(path.read_text())
    assert (
        counter.tags["table"] == 2
        and counter.tags["h2"] == 2
        and counter.tags["tr"] == 2 + 1 + 2 + 1
    )
    assert "First &lt;one&gt;" in path.read_text() and "&lt;b&gt;" in path.read_text()
