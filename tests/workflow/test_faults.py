"""Snakemake itself killed mid-run (SIGKILL to its process group, as when a login session dies):
the rerun redoes the job that was cut off and what follows, never a job that had finished."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from .snakemake_runner import REPO, SNAKEMAKE, TINY, planned_job_list, planned_jobs, run_snakemake

pytestmark = pytest.mark.workflow
MODELS = ("vqvae", "klae")


def _measured(workdir: Path, model: str) -> Path:
    """measure_forecasts' output."""
    return workdir / "results" / model / "evaluate" / "forecast_changes.tsv"


def _start(workdir: Path, *args: str) -> subprocess.Popen:
    command = [
        str(SNAKEMAKE), "--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir),
        "--configfile", str(TINY), "--cores", "1", *args,
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(
        command, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env,
        start_new_session=True,
    )  # fmt: skip


def test_killed_snakemake_reruns_only_what_had_not_finished(tiny_run, tmp_path):
    workdir = tmp_path / "run"
    shutil.copytree(tiny_run, workdir, symlinks=True)
    assert planned_jobs(workdir, TINY) == {}
    # As in a first run cut short: the evaluation stage (measure_forecasts, evaluate) and the
    # summary not yet built. (Snakemake does not rebuild a missing file whose consumers are up to
    # date, so removing measure_forecasts' outputs alone would plan nothing.)
    for model in MODELS:
        shutil.rmtree(workdir / "results" / model / "evaluate")
    (workdir / "results" / "summary.md").unlink()
    # One core: one job at a time.
    process = _start(workdir)
    # Kill once one measurement has finished and the other has started (marked incomplete).
    measurements: dict[str, str] = {}  # jobid -> model
    rule = jobid = done = None
    deadline = time.monotonic() + 600
    for line in process.stderr:  # job blocks: "rule X:", "jobid: N", ..., "wildcards: model=M"
        field = line.strip()
        if field.endswith(":") and field.split()[0] in ("rule", "localrule"):
            rule = field.split()[1].rstrip(":")
        elif field.startswith("jobid: "):
            jobid = field.split()[1]
        elif field.startswith("wildcards: model=") and rule == "measure_forecasts":
            measurements[jobid] = field.removeprefix("wildcards: model=")
            if done and len(measurements) == 2:
                time.sleep(2)
                break
        elif field.startswith("Finished jobid: ") and "(Rule: measure_forecasts)" in field:
            done = measurements[field.split()[2]]
        assert time.monotonic() < deadline, "the measurements did not run within 10 min"
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    assert done in MODELS
    (cut_off,) = set(MODELS) - {done}
    stamp = _measured(workdir, done).stat().st_mtime_ns

    # A SIGKILLed snakemake leaves its lock: `--unlock` (as README says), then rerun.
    run_snakemake(workdir, TINY, "--unlock")
    jobs = planned_job_list(workdir, TINY, "--rerun-incomplete")
    assert ("measure_forecasts", f"model={cut_off}") in jobs
    assert ("measure_forecasts", f"model={done}") not in jobs
    assert ("evaluate", f"model={cut_off}") in jobs and ("summary", "") in jobs
    run_snakemake(workdir, TINY, "--rerun-incomplete")
    assert _measured(workdir, done).stat().st_mtime_ns == stamp
    assert planned_jobs(workdir, TINY) == {}
