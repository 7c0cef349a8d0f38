"""Snakemake with ingest_inputs as the checkpoint's input: ingest reruns exactly once per change
(a stale table would record the old input set and make it rerun twice)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from ingest_helpers import COVARIATES, make_bids, write_nifti, write_tsv

pytestmark = pytest.mark.workflow

# Self-contained (not workflow/rules/*.smk): it tests the input function's contract only.
SNAKEFILE = """
from latentcf.cohort import ingest_inputs, run_ingest

configfile: "config.yaml"

rule all:
    input: "out/cohort.tsv"

checkpoint ingest:
    input:
        source=config["bids_dir"],
        tracked=lambda w: ingest_inputs(
            config["bids_dir"], "out/cohort.tsv", "out/excluded.tsv", config["participant_label"]
        ),
    output:
        cohort="out/cohort.tsv",
        excluded="out/excluded.tsv",
    params:
        label=config["participant_label"],
    run:
        run_ingest(input.source, output.cohort, output.excluded, config["covariates"],
                   config["split"], params.label, seed=1)
"""


def _snakemake(workdir: Path, *args: str) -> str:
    snakemake = str(Path(sys.executable).parent / "snakemake")
    done = subprocess.run(
        [snakemake, "--cores", "1", "all", *args],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


def _ingest_runs(workdir: Path) -> bool:
    """Whether a dry run would run ingest."""
    out = _snakemake(workdir, "--dry-run")
    return bool(re.search(r"^ingest\s+1$", out, re.M))


def _configure(workdir: Path, label: list) -> None:
    config = {
        "bids_dir": "bids",
        "participant_label": label,
        "covariates": COVARIATES,
        "split": {"val_fraction": 0, "test_fraction": 0},
    }
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))


def test_ingest_reruns_once_per_change(tmp_path):
    make_bids(tmp_path / "bids", n_subjects=3, noise=False)
    (tmp_path / "Snakefile").write_text(SNAKEFILE)
    _configure(tmp_path, [1])
    _snakemake(tmp_path)
    assert not _ingest_runs(tmp_path)

    # a new subject, then all subjects: each reruns ingest once, and the next DAG is done
    anat = tmp_path / "bids" / "sub-004" / "ses-01" / "anat"
    write_nifti(anat / "sub-004_ses-01_T1w.nii.gz")
    write_tsv(anat.parents[1] / "sub-004_sessions.tsv", ["session_id", "age", "diagnosis"], [])
    for label in ([1], []):
        _configure(tmp_path, label)
        assert _ingest_runs(tmp_path)
        _snakemake(tmp_path)
        assert not _ingest_runs(tmp_path)
    assert len((tmp_path / "out" / "excluded.tsv").read_text().splitlines()) == 2  # sub-004
