"""Plain-TSV input: path resolution, optional sessions, same scan naming as BIDS."""

from __future__ import annotations

from ingest_helpers import COVARIATES, write_nifti, write_tsv

from latentcf.cohort import build_cohort

HEADER = ["participant_id", "session_id", "path", "age", "sex", "diagnosis"]


def test_table_input(tmp_path):
    images = tmp_path / "images"
    absolute = write_nifti(tmp_path / "elsewhere" / "x.nii")
    for name in ("a1", "a2", "b", "c"):
        write_nifti(images / f"{name}.nii.gz")
    table = write_tsv(
        tmp_path / "tables" / "scans.tsv",
        HEADER + ["site"],
        [
            ("001", "1", "../images/a1.nii.gz", 70.5, "F", "CN", "x"),
            ("001", "ses-2", "../images/a2.nii.gz", 72, "F", "AD", "x"),
            ("sub-002", "n/a", "../images/b.nii.gz", 60, "M", "CN", "y"),
            ("003", "", str(absolute), 61, "M", "AD", "y"),
            ("004", "", "../images/c.nii.gz", 62, "F", "CN", "y"),
        ],
    )
    cohort = build_cohort(table, COVARIATES, {"val_fraction": 0.2, "test_fraction": 0.2}, seed=0)
    rows = cohort.table.set_index("scan")
    assert list(rows.index) == [
        "sub-001/ses-1/anat/sub-001_ses-1",
        "sub-001/ses-2/anat/sub-001_ses-2",
        "sub-002/anat/sub-002",
        "sub-003/anat/sub-003",
        "sub-004/anat/sub-004",
    ]
    assert "site" not in cohort.table.columns  # only configured covariates
    assert rows.loc["sub-001/ses-1/anat/sub-001_ses-1", "path"] == str(images / "a1.nii.gz")
    assert rows.loc["sub-003/anat/sub-003", "path"] == str(absolute)
    assert rows.loc["sub-002/anat/sub-002", "session_id"] == "n/a"
    assert rows.loc["sub-001/ses-1/anat/sub-001_ses-1", "age"] == 70.5
    # both sessions of sub-001 in the same split
    assert (
        rows.loc["sub-001/ses-1/anat/sub-001_ses-1", "split"]
        == rows.loc["sub-001/ses-2/anat/sub-001_ses-2", "split"]
    )


def test_table_without_session_column_and_label_filter(tmp_path):
    write_nifti(tmp_path / "a.nii.gz")
    table = write_tsv(
        tmp_path / "scans.tsv",
        ["participant_id", "path", "age", "sex", "diagnosis"],
        [(f"{i:02d}", "a.nii.gz", 50 + i, "F", "CN") for i in range(1, 6)],
    )
    cohort = build_cohort(
        table,
        COVARIATES,
        {"val_fraction": 0, "test_fraction": 0},
        participant_label=["02", "sub-04"],
    )
    assert list(cohort.table["scan"]) == ["sub-02/anat/sub-02", "sub-04/anat/sub-04"]
    assert set(cohort.table["split"]) == {"train"}
