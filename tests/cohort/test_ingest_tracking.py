"""ingest_inputs: what the ingest checkpoint depends on, from its tables without a walk, the
same set as a walk gives, and a walk again as soon as the tables are stale."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from ingest_helpers import COVARIATES, SPLIT, make_bids, write_nifti

from latentcf.cohort import ingest_inputs, run_ingest
from latentcf.cohort import tracking as tracking_module


def _age(root: Path, seconds: float) -> None:
    """Set the mtime of `root` and everything under it to `seconds` ago."""
    stamp = time.time() - seconds
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            os.utime(os.path.join(folder, name), (stamp, stamp), follow_symlinks=False)
    os.utime(root, (stamp, stamp))


def _ingest(root: Path, out: Path, **kwargs) -> tuple[Path, Path]:
    """Run ingest with the dataset older than its outputs (as on any real run)."""
    _age(root, 100)
    tables = out / "cohort.tsv", out / "excluded.tsv"
    run_ingest(root, *tables, COVARIATES, kwargs.pop("split", SPLIT), seed=1, **kwargs)
    for table in tables:
        os.utime(table, (time.time() - 50,) * 2)
    return tables


class Walks:
    """Counts walks (calls of list_t1w); `forbid` makes a walk fail the test."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch):
        self.count = 0
        self.forbid = False
        real = tracking_module.list_t1w

        def counted(root):
            assert not self.forbid, "ingest_inputs walked the BIDS folder"
            self.count += 1
            return real(root)

        monkeypatch.setattr(tracking_module, "list_t1w", counted)


@pytest.fixture
def walks(monkeypatch) -> Walks:
    return Walks(monkeypatch)


@pytest.fixture
def ingested(tmp_path) -> tuple[Path, Path, Path]:
    """(BIDS root, cohort.tsv, excluded.tsv) after ingest; sub-003/ses-02 excluded (bad age)."""
    root = make_bids(tmp_path / "bids", n_subjects=4)
    sessions = root / "sub-003" / "sub-003_sessions.tsv"
    sessions.write_text(sessions.read_text().replace("\t65\t", "\tn/a\t"))
    return (root, *_ingest(root, tmp_path / "out"))


def test_tables_give_the_walks_set_without_walking(ingested, walks):
    root, cohort, excluded = ingested
    walked = ingest_inputs(root, None, None)
    walks.forbid = True
    assert ingest_inputs(root, cohort, excluded) == walked
    t1w = [p for p in walked if p.endswith("_T1w.nii.gz")]
    assert len(t1w) == 8  # included and excluded alike
    assert str(root / "sub-003" / "ses-02" / "anat" / "sub-003_ses-02_T1w.nii.gz") in t1w
    for folder in ["", "sub-001", "sub-001/ses-02", "sub-001/ses-02/anat"]:
        assert str(root / folder) in walked  # root: str(root / "") == str(root)
    assert str(root / "participants.tsv") in walked
    assert str(root / "sub-004" / "sub-004_sessions.tsv") in walked
    assert not [p for p in walked if "T2w" in p or "derivatives" in p or "func" in p]
    assert len(walked) == 1 + 1 + 4 * (1 + 1 + 2 * 2) + 8  # root, participants, subjects


def _add_subject(root: Path) -> Path:
    return write_nifti(root / "sub-005" / "ses-01" / "anat" / "sub-005_ses-01_T1w.nii.gz")


def _add_session(root: Path) -> Path:
    return write_nifti(root / "sub-001" / "ses-03" / "anat" / "sub-001_ses-03_T1w.nii.gz")


def _add_run(root: Path) -> Path:
    return write_nifti(root / "sub-002" / "ses-01" / "anat" / "sub-002_ses-01_run-2_T1w.nii.gz")


def _add_misnamed(root: Path) -> Path:
    return write_nifti(root / "sub-002" / "ses-01" / "anat" / "sub-002_ses-02_T1w.nii.gz")


@pytest.mark.parametrize("change", [_add_subject, _add_session, _add_run, _add_misnamed])
def test_added_t1w_makes_the_tables_stale(ingested, walks, change):
    root, cohort, excluded = ingested
    before = ingest_inputs(root, cohort, excluded)
    assert walks.count == 0
    added = change(root)
    after = ingest_inputs(root, cohort, excluded)
    assert walks.count == 1  # stale: walked
    assert str(added) in after and str(added) not in before
    assert after == ingest_inputs(root, None, None)


def test_removed_t1w_makes_the_tables_stale(ingested, walks):
    root, cohort, excluded = ingested
    gone = root / "sub-004" / "ses-01" / "anat" / "sub-004_ses-01_T1w.nii.gz"
    gone.unlink()
    _age(root, 100)  # even with every mtime older than the tables: the path is missing
    after = ingest_inputs(root, cohort, excluded)
    assert walks.count == 1 and str(gone) not in after


def test_edited_t1w_makes_the_tables_stale(ingested, walks):
    root, cohort, excluded = ingested
    write_nifti(root / "sub-001" / "ses-01" / "anat" / "sub-001_ses-01_T1w.nii.gz", seed=9)
    ingest_inputs(root, cohort, excluded)
    assert walks.count == 1


def test_edited_participants_tsv_is_tracked_and_newer(ingested, walks):
    root, cohort, excluded = ingested
    participants = root / "participants.tsv"
    assert str(participants) in ingest_inputs(root, cohort, excluded)
    participants.write_text(participants.read_text().replace("\tF", "\tM", 1))
    # Snakemake reruns ingest because this input is newer than its output
    assert participants.stat().st_mtime > cohort.stat().st_mtime
    ingest_inputs(root, cohort, excluded)
    assert walks.count == 1


def test_added_sessions_table_makes_the_tables_stale(tmp_path, walks):
    root = make_bids(tmp_path / "bids", n_subjects=4, noise=False)
    path = root / "sub-001" / "sub-001_sessions.tsv"
    path.rename(tmp_path / "kept.tsv")
    cohort, excluded = _ingest(root, tmp_path / "out")
    before = ingest_inputs(root, cohort, excluded)
    assert walks.count == 0 and str(path) not in before
    (tmp_path / "kept.tsv").rename(path)
    assert str(path) in ingest_inputs(root, cohort, excluded)
    assert walks.count == 1


def test_scans_tsv_is_tracked(tmp_path, walks):
    root = make_bids(tmp_path / "bids", n_subjects=4, noise=False)
    scans = root / "sub-002" / "ses-01" / "sub-002_ses-01_scans.tsv"
    scans.write_text("filename\tage\nanat/sub-002_ses-01_T1w.nii.gz\t70\n")
    cohort, excluded = _ingest(root, tmp_path / "out")
    assert str(scans) in ingest_inputs(root, cohort, excluded) == ingest_inputs(root, None, None)
    assert walks.count == 1  # the second call's


def test_participant_label(tmp_path, walks):
    root = make_bids(tmp_path / "bids", n_subjects=4, noise=False)
    split = {"val_fraction": 0, "test_fraction": 0}
    cohort, excluded = _ingest(
        root, tmp_path / "out", participant_label=[2, "sub-003"], split=split
    )
    walked = ingest_inputs(root, None, None, [2, "sub-003"])
    assert walks.count == 1
    assert {Path(p).relative_to(root).parts[0] for p in walked if p != str(root)} == {
        "participants.tsv",
        "sub-002",
        "sub-003",
    }
    assert ingest_inputs(root, cohort, excluded, [2, "sub-003"]) == walked
    assert walks.count == 1
    # another selection, or none, is noticed before ingest reruns with it
    assert ingest_inputs(root, cohort, excluded, [2]) == ingest_inputs(root, None, None, [2])
    assert ingest_inputs(root, cohort, excluded) == ingest_inputs(root, None, None)
    assert walks.count == 5
    # an unknown label tracks everything (ingest then fails with the message)
    assert ingest_inputs(root, cohort, excluded, ["sub-9"]) == ingest_inputs(root, None, None)


def test_broken_link_is_left_out_from_tables_too(tmp_path, walks):
    root = make_bids(tmp_path / "bids", n_subjects=3, noise=False)
    t1w = root / "sub-002" / "ses-02" / "anat" / "sub-002_ses-02_T1w.nii.gz"
    t1w.unlink()
    os.symlink(root / ".git" / "annex" / "missing", t1w)  # git-annex content not fetched
    cohort, excluded = _ingest(root, tmp_path / "out")
    walked = ingest_inputs(root, None, None)
    walks.forbid = True
    assert ingest_inputs(root, cohort, excluded) == walked
    assert str(t1w) not in walked and str(t1w.parent) in walked


def test_relative_bids_dir_gives_relative_paths(ingested, walks, monkeypatch):
    root, cohort, excluded = ingested
    monkeypatch.chdir(root.parent)
    walked = ingest_inputs("bids", None, None)
    assert walked[0] == "bids" and all(p.startswith("bids") for p in walked)
    walks.forbid = True
    assert ingest_inputs("bids", cohort, excluded) == walked


def test_subject_folder_without_t1w_always_walks(ingested, walks):
    root, cohort, excluded = ingested
    write_nifti(root / "sub-009" / "func" / "sub-009_task-rest_bold.nii.gz")
    _age(root, 100)
    assert ingest_inputs(root, cohort, excluded) == ingest_inputs(root, None, None)
    assert walks.count == 2


@pytest.mark.parametrize(
    "damage",
    [
        lambda cohort: cohort.unlink(),
        lambda cohort: cohort.write_text("scan\tsplit\nx\ttrain\n"),  # no path column
        lambda cohort: cohort.write_bytes(b"\xff\xfe\x00garbage"),
        lambda cohort: cohort.write_text(cohort.read_text().replace("/bids/", "/elsewhere/")),
    ],
)
def test_missing_or_foreign_tables_fall_back_to_the_walk(ingested, walks, damage):
    root, cohort, excluded = ingested
    damage(cohort)
    assert ingest_inputs(root, cohort, excluded) == ingest_inputs(root, None, None)
    assert walks.count == 2


def test_no_bids_folder(tmp_path):
    assert ingest_inputs(tmp_path / "nowhere", None, None) == []
