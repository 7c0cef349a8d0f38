"""Run the real workflow (Snakefile of this checkout) in a scratch folder and read its plans."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SNAKEMAKE = Path(sys.executable).parent / "snakemake"


def run_snakemake(
    workdir: Path, configfile: Path, *args: str, check: bool = True
) -> subprocess.CompletedProcess:
    """`snakemake` on REPO/Snakefile inside `workdir`; returns the finished process (text output)."""
    command = [
        str(SNAKEMAKE), "--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir),
        "--configfile", str(configfile), "--cores", "2", "--resources", "gpu=1", *args,
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=1800)
    if check and result.returncode != 0:
        raise AssertionError(
            f"snakemake failed ({result.returncode}):\n{result.stdout[-6000:]}\n{result.stderr[-6000:]}"
        )
    return result


def planned_jobs(workdir: Path, configfile: Path, *args: str) -> dict[str, int]:
    """Jobs a dry run would execute, as {rule: count} (empty when nothing is to be done)."""
    result = run_snakemake(workdir, configfile, "--dry-run", *args)
    text = result.stdout + result.stderr
    if "Nothing to be done" in text:
        return {}
    match = re.search(r"Job stats:\n.*?\n-+\s+-+\n(.*?)\n\s*\n", text, re.S)
    assert match, f"no job table in dry-run output:\n{text[-3000:]}"
    jobs = {}
    for line in match.group(1).splitlines():
        name, count = line.split()
        if name != "total":
            jobs[name] = int(count)
    return jobs
