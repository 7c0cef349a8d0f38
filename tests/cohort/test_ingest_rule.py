"""The `ingest` checkpoint of workflow/rules/ingest.smk run by Snakemake on a tiny BIDS folder."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from ingest_helpers import COVARIATES, make_bids, set_cell

RULES = Path(__file__).resolve().parents[2] / "workflow" / "rules"

pytestmark = pytest.mark.workflow

SNAKEFILE = f"""
configfile: "config.yaml"

include: "{RULES / "common.smk"}"
include: "{RULES / "ingest.smk"}"

rule all:
    input: f"{{OUT}}/cohort/cohort.tsv"
"""


def _run(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    snakemake = str(Path(sys.executable).parent / "snakemake")
    return subprocess.run(
        [snakemake, "--cores", "1", "--quiet", "all", *args],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture
def workdir(tmp_path):
    bids = make_bids(tmp_path / "bids", n_subjects=4, noise=False)
    config = {
        "output_dir": "results",
        "seed": 4,
        "input": {"bids_dir": str(bids), "table": None},
        "demo": {"enabled": False},
        "participant_label": [],
        "covariates": COVARIATES,
        "split": {"val_fraction": 0.2, "test_fraction": 0.2},
        "ingest": {"strict": False, "multiple_t1w": "lowest_run"},
    }
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    (tmp_path / "Snakefile").write_text(SNAKEFILE)
    return tmp_path


def test_rule_writes_tables_and_reruns_when_a_table_changes(workdir):
    set_cell(workdir / "bids" / "participants.tsv", 2, "sex", "X")
    done = _run(workdir)
    assert done.returncode == 0, done.stderr
    cohort = (workdir / "results" / "cohort" / "cohort.tsv").read_text().splitlines()
    assert len(cohort) == 1 + 6  # sub-001's two sessions excluded
    excluded = (workdir / "results" / "cohort" / "excluded.tsv").read_text()
    assert excluded.count("participants.tsv line 2, column 'sex': unseen category 'X'") == 2
    assert "excluded" in (workdir / "logs" / "ingest.log").read_text()

    idle = _run(workdir, "--dry-run")
    assert idle.returncode == 0 and "Nothing to be done" in idle.stdout + idle.stderr

    set_cell(workdir / "bids" / "participants.tsv", 2, "sex", "F")
    dry = _run(workdir, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert re.search(r"^ingest\s+1$", dry.stdout + dry.stderr, re.M), dry.stdout + dry.stderr


def test_rule_failure_is_one_line_and_leaves_nothing(workdir):
    path = workdir / "bids" / "sub-002" / "sub-002_sessions.tsv"
    path.write_text(path.read_text() + "ses-01\t80\tAD\n")
    done = _run(workdir)
    assert done.returncode != 0
    assert "ERROR: " in done.stderr and "duplicate value 'ses-01'" in done.stderr
    assert "Traceback" not in (workdir / "logs" / "ingest.log").read_text()
    assert not (workdir / "results" / "cohort" / "cohort.tsv").exists()
    assert not (workdir / "results" / "cohort" / "excluded.tsv").exists()
