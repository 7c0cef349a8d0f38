"""BIDS input: which files become scans, where covariates come from, participant_label."""

from __future__ import annotations

import subprocess
import sys

import pytest
from ingest_helpers import COVARIATES, SPLIT, make_bids, set_cell, write_nifti, write_tsv

from latentcf.cohort import BASE_COLUMNS, build_cohort
from latentcf.cohort.bids import file_entities
from latentcf.errors import ConfigError, InputDataError


def _build(root, **kwargs):
    kwargs.setdefault("covariates", COVARIATES)
    kwargs.setdefault("split", SPLIT)
    kwargs.setdefault("seed", 1)
    return build_cohort(root, **kwargs)


def test_sessions_dataset_gives_one_row_per_t1w(bids):
    cohort = _build(bids)
    table = cohort.table
    assert list(table.columns) == BASE_COLUMNS + ["age", "sex", "diagnosis"]
    assert len(table) == 12  # 6 subjects x 2 sessions; T2w, bold, sidecars, derivatives ignored
    assert cohort.excluded.empty
    row = table.set_index("scan").loc["sub-002/ses-02/anat/sub-002_ses-02"]
    assert row["participant_id"] == "sub-002"
    assert row["session_id"] == "ses-02"
    assert row["path"] == str(bids / "sub-002/ses-02/anat/sub-002_ses-02_T1w.nii.gz")
    assert row["age"] == 64.0  # sessions.tsv: 60 + 2 + 2
    assert row["sex"] == "M"  # participants.tsv
    assert row["diagnosis"] == "AD"
    assert set(table["split"]) <= {"train", "val", "test"}
    assert table["scan"].is_monotonic_increasing


def test_no_session_dataset_uses_participants_tsv(bids_nosession):
    table = _build(bids_nosession).table
    assert len(table) == 6
    row = table.set_index("scan").loc["sub-003/anat/sub-003"]
    assert row["session_id"] == "n/a"
    assert row["age"] == 63.0
    assert (row["sex"], row["diagnosis"]) == ("F", "CN")


def test_session_value_wins_over_participants_value(tmp_path):
    root = make_bids(tmp_path / "bids", n_subjects=3, noise=False)
    rows = [(f"sub-{i:03d}", "F", 99) for i in range(1, 4)]
    write_tsv(root / "participants.tsv", ["participant_id", "sex", "age"], rows)
    table = _build(root).table
    assert set(table["age"]) == {61.0, 62.0, 63.0, 64.0, 65.0}  # sessions.tsv ages, never 99


def test_covariate_falls_back_to_participants_when_no_sessions_table(tmp_path):
    root = make_bids(tmp_path / "bids", n_subjects=3, noise=False)
    (root / "sub-001" / "sub-001_sessions.tsv").unlink()
    write_tsv(
        root / "participants.tsv",
        ["participant_id", "sex", "age", "diagnosis"],
        [("sub-001", "F", 50, "CN"), ("sub-002", "M", 51, "CN"), ("sub-003", "F", 52, "AD")],
    )
    table = _build(root).table.set_index("scan")
    assert table.loc["sub-001/ses-01/anat/sub-001_ses-01", "age"] == 50.0
    assert table.loc["sub-002/ses-01/anat/sub-002_ses-01", "age"] == 62.0


def _scans_tsv(root, subject, session, rows, header=("filename", "age")):
    """Write sub-<s>/ses-<t>/sub-<s>_ses-<t>_scans.tsv with `rows`."""
    folder = root / f"sub-{subject}" / f"ses-{session}"
    return write_tsv(folder / f"sub-{subject}_ses-{session}_scans.tsv", header, rows)


def test_scans_tsv_wins_over_sessions_and_participants(tmp_path):
    root = make_bids(tmp_path / "bids", n_subjects=3, noise=False)
    _scans_tsv(root, "002", "01", [("anat/sub-002_ses-01_T1w.nii.gz", 70.5)])
    _scans_tsv(root, "003", "02", [("./anat/sub-003_ses-02_T1w.nii.gz", 80)])
    table = _build(root).table.set_index("scan")
    assert table.loc["sub-002/ses-01/anat/sub-002_ses-01", "age"] == 70.5
    assert table.loc["sub-003/ses-02/anat/sub-003_ses-02", "age"] == 80.0
    assert table.loc["sub-002/ses-02/anat/sub-002_ses-02", "age"] == 64.0  # no scans.tsv
    assert table.loc["sub-003/ses-02/anat/sub-003_ses-02", "sex"] == "F"  # not in scans.tsv


def test_scans_tsv_without_a_row_for_the_file_falls_back(tmp_path):
    root = make_bids(tmp_path / "bids", n_subjects=3, noise=False)
    _scans_tsv(root, "001", "01", [("anat/sub-001_ses-01_T2w.nii.gz", 99)])
    table = _build(root).table.set_index("scan")
    assert table.loc["sub-001/ses-01/anat/sub-001_ses-01", "age"] == 61.0  # sessions.tsv


def test_covariate_only_in_scans_tsv_is_found(tmp_path):
    root = make_bids(tmp_path / "bids", n_subjects=3, sessions=("01",), noise=False)
    for i in (1, 2, 3):
        _scans_tsv(root, f"{i:03d}", "01", [(f"anat/sub-{i:03d}_ses-01_T1w.nii.gz", 1.5 * i)],
                   header=("filename", "scanner_field"))  # fmt: skip
    covariates = {**COVARIATES, "scanner_field": {"type": "numeric", "min": 0, "max": 10}}
    table = _build(root, covariates=covariates).table
    assert sorted(table["scanner_field"]) == [1.5, 3.0, 4.5]


def test_scans_tsv_with_a_bad_value_names_its_cell(tmp_path):
    root = make_bids(tmp_path / "bids", n_subjects=3, noise=False)
    _scans_tsv(root, "002", "02", [("anat/sub-002_ses-02_T1w.nii.gz", "old")])
    cohort = _build(root)
    (message,) = cohort.excluded["reason"]
    assert "sub-002/ses-02/sub-002_ses-02_scans.tsv line 2, column 'age'" in message
    assert "'old'" in message


def test_scans_tsv_with_a_duplicate_file_is_refused(tmp_path):
    root = make_bids(tmp_path / "bids", n_subjects=3, noise=False)
    name = "anat/sub-001_ses-01_T1w.nii.gz"
    path = _scans_tsv(root, "001", "01", [(name, 70), (name, 71)])
    with pytest.raises(InputDataError, match="lines 2 and 3, column 'filename': duplicate") as err:
        _build(root)
    assert str(path) in str(err.value)


def test_several_runs_keep_the_lowest(tmp_path):
    root = make_bids(tmp_path / "bids", n_subjects=3, noise=False)
    anat = root / "sub-001" / "ses-01" / "anat"
    (anat / "sub-001_ses-01_T1w.nii.gz").unlink()
    write_nifti(anat / "sub-001_ses-01_run-2_T1w.nii.gz")
    write_nifti(anat / "sub-001_ses-01_run-10_T1w.nii.gz")
    write_nifti(anat / "sub-001_ses-01_acq-fast_run-1_T1w.nii.gz")
    cohort = _build(root)
    row = cohort.table.set_index("scan").loc["sub-001/ses-01/anat/sub-001_ses-01"]
    assert row["path"].endswith("sub-001_ses-01_acq-fast_run-1_T1w.nii.gz")
    excluded = cohort.excluded
    assert sorted(excluded["path"].map(lambda p: p.rsplit("/", 1)[1])) == [
        "sub-001_ses-01_run-10_T1w.nii.gz",
        "sub-001_ses-01_run-2_T1w.nii.gz",
    ]
    assert excluded["reason"].str.contains("sub-001_ses-01_acq-fast_run-1_T1w.nii.gz").all()
    # not a problem: strict mode accepts it
    assert len(_build(root, options={"strict": True}).table) == 6


def test_several_runs_error_mode(tmp_path):
    root = make_bids(tmp_path / "bids", n_subjects=3, noise=False)
    write_nifti(root / "sub-002" / "ses-01" / "anat" / "sub-002_ses-01_run-2_T1w.nii.gz")
    with pytest.raises(InputDataError, match=r"2 T1w images for sub-002/ses-01 .*expected one"):
        _build(root, options={"multiple_t1w": "error"})


def test_misnamed_t1w_is_excluded(tmp_path):
    root = make_bids(tmp_path / "bids", n_subjects=3, noise=False)
    anat = root / "sub-003" / "ses-02" / "anat"
    (anat / "sub-003_ses-02_T1w.nii.gz").rename(anat / "sub-003_ses-01_T1w.nii.gz")
    cohort = _build(root)
    assert len(cohort.table) == 5
    (reason,) = cohort.excluded["reason"]
    assert "sub-003/ses-02/anat/sub-003_ses-01_T1w.nii.gz" in reason
    assert "expected it to start with 'sub-003_ses-02_'" in reason


@pytest.mark.parametrize(
    "labels, expected",
    [
        (["001", "sub-002", "003"], {"sub-001", "sub-002", "sub-003"}),
        ("sub-004,005 006", {"sub-004", "sub-005", "sub-006"}),
        (4, {"sub-004"}),  # --config participant_label=004 arrives as the int 4
        ([], {f"sub-{i:03d}" for i in range(1, 7)}),
    ],
)
def test_participant_label_filter(bids, labels, expected):
    no_split = {"val_fraction": 0, "test_fraction": 0}  # one subject is enough
    table = _build(bids, participant_label=labels, split=no_split).table
    assert set(table["participant_id"]) == expected


def test_unknown_participant_label_suggests_closest(bids):
    with pytest.raises(ConfigError) as info:
        _build(bids, participant_label=["sub-0001"])
    message = str(info.value)
    assert "config key 'participant_label'" in message
    assert "'sub-0001' is not a subject of" in message
    assert "Did you mean 'sub-001'?" in message


def test_participant_label_filter_skips_problems_of_other_subjects(bids):
    set_cell(bids / "sub-005" / "sub-005_sessions.tsv", 2, "age", "old")
    cohort = _build(bids, participant_label=["001", "002", "003"])
    assert cohort.excluded.empty


def test_no_t1w_at_all(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputDataError, match="no T1w images found"):
        _build(tmp_path / "empty")


@pytest.mark.parametrize(
    "name, problem",
    [
        ("sub-002_ses-01_run-x_T1w.nii.gz", "does not follow"),  # run is an index
        ("sub-002_ses-01_run-1a_T1w.nii.gz", "does not follow"),
        ("sub-002_run-1_ses-01_T1w.nii.gz", "does not follow"),  # ses must come first
        ("sub-002_ses-01_ses-01_T1w.nii.gz", "does not follow"),
        ("sub-002_ses-01_acq-a+b_T1w.nii.gz", "does not follow"),  # labels: letters, digits
        ("sub-002_ses-01_foo_T1w.nii.gz", "does not follow"),
        ("sub-02_ses-01_T1w.nii.gz", "expected it to start with 'sub-002_ses-01_'"),
        ("sub-002_T1w.nii.gz", "expected it to start with 'sub-002_ses-01_'"),
    ],
)
def test_bids_file_name_grammar(tmp_path, name, problem):
    root = make_bids(tmp_path / "bids", n_subjects=3, noise=False)
    write_nifti(root / "sub-002" / "ses-01" / "anat" / name)
    (reason,) = _build(root).excluded["reason"]
    assert reason.startswith(f"sub-002/ses-01/anat/{name}: ")
    assert problem in reason


def test_file_entities_come_from_pybids():
    assert file_entities("sub-01_ses-A1_acq-fast_run-02_T1w.nii.gz") == {
        "subject": "01",
        "session": "A1",
        "run": 2,
    }
    assert file_entities("sub-01_T1w.nii") == {"subject": "01"}


def test_zero_padded_runs_compare_as_numbers(tmp_path):
    root = make_bids(tmp_path / "bids", n_subjects=3, noise=False)
    anat = root / "sub-001" / "ses-01" / "anat"
    (anat / "sub-001_ses-01_T1w.nii.gz").unlink()
    write_nifti(anat / "sub-001_ses-01_run-10_T1w.nii.gz")
    write_nifti(anat / "sub-001_ses-01_run-09_T1w.nii.gz")
    row = _build(root).table.set_index("scan").loc["sub-001/ses-01/anat/sub-001_ses-01"]
    assert row["path"].endswith("_run-09_T1w.nii.gz")


def test_importing_the_package_does_not_import_pybids(bids):
    code = (
        "import sys\n"
        "from latentcf.cohort import ingest_inputs, read_cohort\n"
        f"ingest_inputs({str(bids)!r}, None, None)\n"
        "print('bids' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


def test_numeric_participant_label_must_be_unambiguous(tmp_path):
    root = make_bids(tmp_path / "bids", n_subjects=3, sessions=(), noise=False)
    write_nifti(root / "sub-1" / "anat" / "sub-1_T1w.nii.gz")
    with pytest.raises(ConfigError, match=r"1 matches several subjects .*\['sub-001', 'sub-1'\]"):
        _build(root, participant_label=1, split={"val_fraction": 0, "test_fraction": 0})
