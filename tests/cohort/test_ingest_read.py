"""read_cohort enforces workflow/schemas/cohort.schema.yaml and the configured covariates."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest
import yaml
from ingest_helpers import COVARIATES, SPLIT, make_bids, set_cell, write_tsv

from latentcf.cohort import BASE_COLUMNS, read_cohort, run_ingest
from latentcf.cohort import output as cohort_output
from latentcf.errors import InputDataError

SCHEMA = Path(__file__).resolve().parents[2] / "workflow" / "schemas" / "cohort.schema.yaml"


@pytest.fixture(scope="module")
def written(tmp_path_factory) -> Path:
    """A cohort.tsv written by ingest (5 subjects x 2 sessions), shared read-only."""
    tmp = tmp_path_factory.mktemp("read")
    root = make_bids(tmp / "bids", n_subjects=5, noise=False)
    out = tmp / "out"
    run_ingest(root, out / "cohort.tsv", out / "excluded.tsv", COVARIATES, SPLIT, seed=3)
    return out / "cohort.tsv"


@pytest.fixture
def cohort_tsv(written, tmp_path) -> Path:
    """A copy of the written table, to edit."""
    return Path(shutil.copy(written, tmp_path / "cohort.tsv"))


def test_valid_table_reads(written):
    table = read_cohort(written, COVARIATES)
    assert list(table.columns) == BASE_COLUMNS + list(COVARIATES)
    assert len(table) == 10
    assert table["age"].dtype == float
    assert table["sex"].dtype == object and set(table["sex"]) == {"F", "M"}
    assert read_cohort(written)["age"].dtype == object  # without covariates: str


@pytest.mark.parametrize(
    "column, value, expected",
    [
        ("scan", "sub-001/anat/sub-001_T1w", "a value matching ^sub-"),
        ("participant_id", "001", "a value matching ^sub-[A-Za-z0-9]+$"),
        ("session_id", "", "a value matching ^(ses-[A-Za-z0-9]+|n/a)$"),
        ("path", "sub-001/anat/sub-001_T1w.nii.gz", "a value matching ^/.*"),
        ("split", "training", "one of ['train', 'val', 'test']"),
        ("age", "sixty", "a number in [0, 120]"),
        ("age", "inf", "a number in [0, 120]"),
        ("age", "130", "a number in [0, 120]"),
        ("age", "n/a", "a number in [0, 120]"),
        ("sex", "f", "one of ['F', 'M']"),
    ],
)
def test_bad_cell_is_named(cohort_tsv, column, value, expected):
    set_cell(cohort_tsv, 4, column, value)
    with pytest.raises(InputDataError) as info:
        read_cohort(cohort_tsv, COVARIATES)
    message = str(info.value)
    assert message.startswith(f"{cohort_tsv}: 1 problem(s) in the cohort table")
    assert f"line 4, column '{column}': bad value '{value}'; expected {expected}" in message
    assert "rerun ingest" in message


def test_covariate_checks_need_the_covariates_argument(cohort_tsv):
    set_cell(cohort_tsv, 4, "sex", "f")
    assert read_cohort(cohort_tsv)["sex"].iloc[2] == "f"


def test_problems_are_listed_in_file_order_first_few_only(cohort_tsv):
    for line in range(2, 10):
        set_cell(cohort_tsv, line, "split", "x")
    set_cell(cohort_tsv, 3, "age", "-1")
    with pytest.raises(InputDataError) as info:
        read_cohort(cohort_tsv, COVARIATES)
    lines = str(info.value).splitlines()
    assert "9 problem(s)" in lines[0]
    assert lines[1:6] == [
        "  - line 2, column 'split': bad value 'x'; expected one of ['train', 'val', 'test']",
        "  - line 3, column 'split': bad value 'x'; expected one of ['train', 'val', 'test']",
        "  - line 3, column 'age': bad value '-1'; expected a number in [0, 120]",
        "  - line 4, column 'split': bad value 'x'; expected one of ['train', 'val', 'test']",
        "  - line 5, column 'split': bad value 'x'; expected one of ['train', 'val', 'test']",
    ]
    assert lines[6:] == ["  ... and 4 more", cohort_output.REWRITE_FIX]


def test_line_numbers_count_blank_lines(cohort_tsv):
    lines = cohort_tsv.read_text().splitlines()
    cohort_tsv.write_text("\n".join(lines[:2] + [""] + lines[2:]) + "\n")
    set_cell(cohort_tsv, 5, "split", "x")  # the 4th row, after the blank line 3
    with pytest.raises(InputDataError, match="line 5, column 'split': bad value 'x'"):
        read_cohort(cohort_tsv, COVARIATES)


def test_duplicate_scan_is_named(cohort_tsv):
    lines = cohort_tsv.read_text().splitlines()
    cohort_tsv.write_text("\n".join(lines + [lines[1]]) + "\n")
    scan = lines[1].split("\t")[0]
    with pytest.raises(InputDataError) as info:
        read_cohort(cohort_tsv, COVARIATES)
    assert f"line 12, column 'scan': bad value '{scan}'; expected one row per scan" in str(
        info.value
    )


@pytest.mark.parametrize("column", ["split", "age"])
def test_missing_required_column_is_named(cohort_tsv, column):
    lines = [line.split("\t") for line in cohort_tsv.read_text().splitlines()]
    index = lines[0].index(column)
    write_tsv(
        cohort_tsv,
        lines[0][:index] + lines[0][index + 1 :],
        [r[:index] + r[index + 1 :] for r in lines[1:]],
    )
    with pytest.raises(InputDataError) as info:
        read_cohort(cohort_tsv, COVARIATES)
    message = str(info.value)
    assert message.startswith(f"{cohort_tsv}: line 1: required column '{column}' is missing")
    assert "rerun ingest" in message


def test_checks_follow_the_shipped_schema():
    schema = yaml.safe_load(SCHEMA.read_text())
    required, checks = cohort_output.cohort_schema_checks()
    assert list(required) == BASE_COLUMNS == schema["required"]
    assert set(checks) == set(schema["properties"])
    assert checks["split"].enum == ("train", "val", "test")
    assert checks["path"].pattern.pattern == schema["properties"]["path"]["pattern"]


def test_schema_keyword_without_a_check_is_refused(tmp_path, monkeypatch):
    schema = yaml.safe_load(SCHEMA.read_text())
    schema["properties"]["scan"]["maxLength"] = 200
    (tmp_path / "cohort.schema.yaml").write_text(yaml.safe_dump(schema))
    monkeypatch.setattr("latentcf.config.default_schema_dir", lambda: tmp_path)
    cohort_output.cohort_schema_checks.cache_clear()
    try:
        with pytest.raises(RuntimeError, match=r"does not implement \['scan.maxLength'\]"):
            cohort_output.cohort_schema_checks()
    finally:
        cohort_output.cohort_schema_checks.cache_clear()


def test_ten_thousand_rows_well_under_a_second(tmp_path):
    rows = []
    for i in range(10_000):
        sub, ses = f"sub-{i // 2:05d}", f"ses-{i % 2 + 1}"
        path = f"/data/{sub}/{ses}/anat/{sub}_{ses}_T1w.nii.gz"
        rows.append((f"{sub}/{ses}/anat/{sub}_{ses}", sub, ses, path, "train", 70.5, "F", "CN"))
    table = write_tsv(tmp_path / "big.tsv", BASE_COLUMNS + list(COVARIATES), rows)
    read_cohort(table, COVARIATES)  # schema loaded once per process
    start = time.perf_counter()
    assert len(read_cohort(table, COVARIATES)) == 10_000
    assert time.perf_counter() - start < 1.0  # ~0.04 s on the 2-core dev machine
