"""Writing and reading the cohort tables; their rows match workflow/schemas/cohort.schema.yaml."""

from __future__ import annotations

from pathlib import Path

import jsonschema
import pandas as pd
import pytest
import yaml
from ingest_helpers import COVARIATES, SPLIT, make_bids, set_cell

from latentcf.cohort import BASE_COLUMNS, EXCLUDED_COLUMNS, read_cohort, read_excluded, run_ingest

SCHEMA = Path(__file__).resolve().parents[2] / "workflow" / "schemas" / "cohort.schema.yaml"


@pytest.fixture
def written(tmp_path):
    root = make_bids(tmp_path / "bids", n_subjects=5)
    set_cell(root / "sub-003" / "sub-003_sessions.tsv", 3, "diagnosis", "MCI")
    out = tmp_path / "out" / "cohort"
    run_ingest(root, out / "cohort.tsv", out / "excluded.tsv", COVARIATES, SPLIT, seed=3)
    return root, out


def test_cohort_tsv_round_trip(written):
    root, out = written
    table = read_cohort(out / "cohort.tsv", COVARIATES)
    assert list(table.columns) == BASE_COLUMNS + list(COVARIATES)
    assert len(table) == 9
    assert table["age"].dtype == float and table["sex"].dtype == object
    raw = (out / "cohort.tsv").read_text().splitlines()
    assert raw[0].split("\t") == list(table.columns)
    assert "\t61\t" in raw[1]  # integral ages written without ".0"
    # no subject spans two splits
    assert (table.groupby("participant_id")["split"].nunique() == 1).all()
    assert not list(out.glob(".tmp-*"))


def test_excluded_tsv(written):
    _, out = written
    excluded = pd.read_csv(out / "excluded.tsv", sep="\t", dtype=str, keep_default_na=False)
    assert list(excluded.columns) == EXCLUDED_COLUMNS
    assert excluded.values.tolist() == [
        [
            "sub-003",
            "ses-02",
            str(out.parents[1] / "bids/sub-003/ses-02/anat/sub-003_ses-02_T1w.nii.gz"),
            "sub-003/sub-003_sessions.tsv line 3, column 'diagnosis': unseen category 'MCI'; "
            "expected one of ['CN', 'AD'].",
        ]
    ]


def test_rows_validate_against_cohort_schema(written, tmp_path):
    _, out = written
    schema = yaml.safe_load(SCHEMA.read_text())
    validator = jsonschema.Draft202012Validator(schema)
    rows = read_cohort(out / "cohort.tsv", COVARIATES).to_dict("records")
    for row in rows:
        validator.validate(row)
    bad = dict(rows[0], scan="sub-1/anat/sub-1_T1w", split="training")
    assert {e.validator for e in validator.iter_errors(bad)} == {"pattern", "enum"}


def test_session_na_stays_a_string(tmp_path):
    root = make_bids(tmp_path / "bids", n_subjects=3, sessions=())
    out = tmp_path / "out"
    run_ingest(
        root / "dataset_description.json", out / "c.tsv", out / "e.tsv", COVARIATES, SPLIT, seed=0
    )
    table = read_cohort(out / "c.tsv")
    assert list(table["session_id"]) == ["n/a"] * 3
    assert read_excluded(out / "e.tsv").empty
