"""Every bad-input kind gives a message naming file, line, column, bad value and what was expected.

Per-scan problems exclude the scan (excluded.tsv) unless strict; dataset-level ones fail.
"""

from __future__ import annotations

import gzip
import os

import pytest
from ingest_helpers import COVARIATES, SPLIT, make_bids, set_cell, write_nifti, write_tsv

from latentcf.cohort import IngestError, build_cohort, run_ingest
from latentcf.errors import InputDataError


def _build(root, **kwargs):
    kwargs.setdefault("covariates", COVARIATES)
    kwargs.setdefault("split", SPLIT)
    return build_cohort(root, seed=1, **kwargs)


def _only_exclusion(cohort, participant_id, session_id):
    excluded = cohort.excluded
    assert list(excluded["participant_id"]) == [participant_id]
    assert list(excluded["session_id"]) == [session_id]
    assert not (cohort.table["scan"].str.startswith(f"{participant_id}/{session_id}/")).any()
    return excluded["reason"].iloc[0]


# ------------------------------------------------------------------ per-scan: covariate values


def test_missing_covariate_value(bids):
    set_cell(bids / "sub-002" / "sub-002_sessions.tsv", 3, "age", "n/a")
    cohort = _build(bids)
    reason = _only_exclusion(cohort, "sub-002", "ses-02")
    assert reason == (
        "sub-002/sub-002_sessions.tsv line 3, column 'age': missing value 'n/a'; "
        "expected a number in [0, 120]"
    )
    assert len(cohort.table) == 11  # healthy scans, including sub-002's other session, stay


def test_missing_participant_row(bids):
    lines = (bids / "participants.tsv").read_text().splitlines()
    (bids / "participants.tsv").write_text("\n".join(lines[:3] + lines[4:]) + "\n")  # drop sub-003
    cohort = _build(bids)
    reasons = list(cohort.excluded["reason"])
    assert len(reasons) == 2  # both sessions of sub-003
    assert reasons[0] == (
        "participants.tsv: no row for participant_id 'sub-003' (needed for column 'sex'); "
        "expected a row for every subject with a T1w scan"
    )


def test_missing_session_row(bids):
    path = bids / "sub-004" / "sub-004_sessions.tsv"
    path.write_text("\n".join(path.read_text().splitlines()[:2]) + "\n")  # drop ses-02
    reason = _only_exclusion(_build(bids), "sub-004", "ses-02")
    assert "sub-004/sub-004_sessions.tsv: no row for session_id 'ses-02'" in reason
    assert "column 'age'" in reason


def test_unseen_category_with_suggestion(bids):
    set_cell(bids / "participants.tsv", 4, "sex", "f")  # line 4 = sub-003
    cohort = _build(bids)
    reasons = list(cohort.excluded["reason"])
    assert len(reasons) == 2
    assert reasons[0] == (
        "participants.tsv line 4, column 'sex': unseen category 'f'; expected one of ['F', 'M']. "
        "Did you mean 'F'?"
    )


def test_unseen_category_without_close_level(bids):
    set_cell(bids / "sub-001" / "sub-001_sessions.tsv", 2, "diagnosis", "MCI")
    reason = _only_exclusion(_build(bids), "sub-001", "ses-01")
    assert reason == (
        "sub-001/sub-001_sessions.tsv line 2, column 'diagnosis': unseen category 'MCI'; "
        "expected one of ['CN', 'AD']."
    )


@pytest.mark.parametrize(
    "value, problem",
    [
        ("250", "value 250 is out of range"),
        ("-1", "value -1 is out of range"),
        ("sixty", "value 'sixty' is not a number"),
        ("inf", "value 'inf' is not finite"),
    ],
)
def test_bad_numeric_value(bids, value, problem):
    set_cell(bids / "sub-006" / "sub-006_sessions.tsv", 2, "age", value)
    reason = _only_exclusion(_build(bids), "sub-006", "ses-01")
    assert reason == (
        f"sub-006/sub-006_sessions.tsv line 2, column 'age': {problem}; expected a number in [0, 120]"
    )


def test_all_problems_of_a_scan_are_listed(bids):
    set_cell(bids / "sub-002" / "sub-002_sessions.tsv", 2, "age", "")
    set_cell(bids / "sub-002" / "sub-002_sessions.tsv", 2, "diagnosis", "XX")
    reason = _only_exclusion(_build(bids), "sub-002", "ses-01")
    assert "column 'age': missing value (empty cell)" in reason
    assert "column 'diagnosis': unseen category 'XX'" in reason


# ------------------------------------------------------------------ per-scan: image files


def test_file_missing_broken_link(bids):
    t1w = bids / "sub-005" / "ses-01" / "anat" / "sub-005_ses-01_T1w.nii.gz"
    t1w.unlink()
    os.symlink(bids / "annex" / "missing-object", t1w)  # git-annex content not fetched
    reason = _only_exclusion(_build(bids), "sub-005", "ses-01")
    assert reason.startswith(str(t1w) + ": file not found")


def test_unreadable_nifti(bids):
    t1w = bids / "sub-001" / "ses-02" / "anat" / "sub-001_ses-02_T1w.nii.gz"
    t1w.write_bytes(gzip.compress(b"this is not a NIfTI header" * 20))
    reason = _only_exclusion(_build(bids), "sub-001", "ses-02")
    assert reason.startswith(f"{t1w}: unreadable NIfTI")


def test_non_3d_image(bids):
    t1w = bids / "sub-003" / "ses-01" / "anat" / "sub-003_ses-01_T1w.nii.gz"
    write_nifti(t1w, shape=(8, 8, 8, 3))
    reason = _only_exclusion(_build(bids), "sub-003", "ses-01")
    assert reason.startswith(f"{t1w}: expected a 3D image, got 4D (8, 8, 8, 3)")


def test_table_input_names_row_for_missing_file(tmp_path):
    write_nifti(tmp_path / "a.nii.gz")
    table = write_tsv(
        tmp_path / "scans.tsv",
        ["participant_id", "path", "age", "sex", "diagnosis"],
        [
            ("a", "a.nii.gz", 70, "F", "CN"),
            ("b", "nope/b.nii.gz", 71, "M", "CN"),
            ("c", "a.nii.gz", 72, "M", "AD"),
            ("d", "a.nii.gz", 73, "F", "AD"),
        ],
    )
    cohort = _build(table)
    (reason,) = cohort.excluded["reason"]
    assert (
        reason
        == f"{table} line 3, column 'path': {tmp_path}/nope/b.nii.gz: file not found. "
        + ("Check the path in the cohort table or BIDS folder")
    )


# ------------------------------------------------------------------ strict mode


def test_strict_mode_fails_listing_every_problem(bids, tmp_path):
    set_cell(bids / "participants.tsv", 2, "sex", "X")
    set_cell(bids / "sub-004" / "sub-004_sessions.tsv", 3, "age", "300")
    out = tmp_path / "out"
    with pytest.raises(IngestError) as info:
        run_ingest(
            bids, out / "cohort.tsv", out / "excluded.tsv", COVARIATES, SPLIT, seed=1,
            options={"strict": True},
        )  # fmt: skip
    message = str(info.value)
    assert "3 scan(s) with problems (ingest.strict: true)" in message
    assert message.count("participants.tsv line 2, column 'sex': unseen category 'X'") == 2
    assert "sub-004/sub-004_sessions.tsv line 3, column 'age': value 300 is out of range" in message
    assert not (out / "cohort.tsv").exists() and not (out / "excluded.tsv").exists()


# ------------------------------------------------------------------ dataset level: always fail


def test_duplicate_subject_in_participants(bids):
    lines = (bids / "participants.tsv").read_text().splitlines()
    (bids / "participants.tsv").write_text("\n".join(lines + [lines[2]]) + "\n")
    with pytest.raises(InputDataError) as info:
        _build(bids)
    assert str(info.value).startswith(
        f"{bids / 'participants.tsv'}: lines 3 and 8, column 'participant_id': duplicate value "
        "'sub-002'; expected one row per participant"
    )


def test_duplicate_subject_written_two_ways(bids):
    lines = (bids / "participants.tsv").read_text().splitlines()
    (bids / "participants.tsv").write_text("\n".join(lines + ["002\tM"]) + "\n")
    with pytest.raises(InputDataError, match="lines 3 and 8, .*duplicate value 'sub-002'"):
        _build(bids)


def test_duplicate_session(bids):
    path = bids / "sub-001" / "sub-001_sessions.tsv"
    path.write_text(path.read_text() + "ses-01\t80\tAD\n")
    with pytest.raises(InputDataError) as info:
        _build(bids)
    assert str(info.value).startswith(
        f"{path}: lines 2 and 4, column 'session_id': duplicate value 'ses-01'; "
        "expected one row per session"
    )


def test_duplicate_scan_in_table(tmp_path):
    write_nifti(tmp_path / "a.nii.gz")
    table = write_tsv(
        tmp_path / "scans.tsv",
        ["participant_id", "session_id", "path", "age", "sex", "diagnosis"],
        [("a", "1", "a.nii.gz", 70, "F", "CN"), ("sub-a", "ses-1", "a.nii.gz", 70, "F", "CN")],
    )
    with pytest.raises(InputDataError) as info:
        _build(table)
    assert (
        "lines 2 and 3, columns 'participant_id'/'session_id': duplicate scan 'sub-a'/'ses-1'"
        in str(info.value)
    )


def test_covariate_column_absent_everywhere(bids):
    covariates = dict(COVARIATES, diagnoses={"type": "categorical", "levels": ["CN", "AD"]})
    with pytest.raises(InputDataError) as info:
        _build(bids, covariates=covariates)
    message = str(info.value)
    assert "covariate 'diagnoses' (config key 'covariates') is a column of no table" in message
    assert "participants.tsv or sub-*/sub-*_sessions.tsv" in message
    assert "Did you mean 'diagnosis'?" in message


def test_covariate_column_absent_from_table(tmp_path):
    write_nifti(tmp_path / "a.nii.gz")
    table = write_tsv(
        tmp_path / "scans.tsv",
        ["participant_id", "path", "Age", "sex", "diagnosis"],
        [("a", "a.nii.gz", 1, "F", "CN")],
    )
    with pytest.raises(
        InputDataError, match=r"line 1: covariate column 'age' .*Did you mean 'Age'\?"
    ):
        _build(table)


def test_empty_cohort_after_exclusion(tmp_path):
    root = make_bids(tmp_path / "bids", n_subjects=2, sessions=(), noise=False)
    set_cell(root / "participants.tsv", 2, "age", "n/a")
    set_cell(root / "participants.tsv", 3, "sex", "?")
    with pytest.raises(IngestError) as info:
        _build(root)
    message = str(info.value)
    assert "no usable scan left after exclusions" in message
    assert "participants.tsv line 2, column 'age': missing value 'n/a'" in message
    assert "participants.tsv line 3, column 'sex': unseen category '?'" in message


def test_too_few_subjects_for_split(tmp_path):
    root = make_bids(tmp_path / "bids", n_subjects=3, noise=False)
    set_cell(root / "participants.tsv", 2, "sex", "n/a")  # sub-001 excluded -> 2 subjects left
    with pytest.raises(IngestError) as info:
        _build(root)
    assert "2 subject(s) in the cohort after exclusions; expected at least 3" in str(info.value)


def test_bad_participant_id(bids):
    set_cell(bids / "participants.tsv", 5, "participant_id", "sub-00_4")
    with pytest.raises(
        InputDataError, match=r"line 5, column 'participant_id': bad value 'sub-00_4'"
    ):
        _build(bids)


def test_comma_separated_table_gets_a_hint(bids):
    (bids / "participants.tsv").write_text("participant_id,sex\nsub-001,F\n")
    with pytest.raises(InputDataError) as info:
        _build(bids)
    message = str(info.value)
    assert "required column 'participant_id' is missing" in message
    assert "comma- or semicolon-separated" in message


def test_row_with_wrong_field_count(bids):
    path = bids / "sub-002" / "sub-002_sessions.tsv"
    path.write_text(path.read_text() + "ses-03\t70\n")
    with pytest.raises(InputDataError, match="line 4: expected 3 tab-separated fields .*got 2"):
        _build(bids)


def test_missing_input(tmp_path):
    with pytest.raises(
        InputDataError, match="input not found; expected a BIDS folder or a TSV file"
    ):
        _build(tmp_path / "nowhere")
