"""Run the real workflow (Snakefile of this checkout) in a scratch folder and read its plans."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
SNAKEMAKE = Path(sys.executable).parent / "snakemake"
TINY = Path(__file__).with_name("config_tiny.yaml")
#: In the tiny run's folder when it ran without network (conftest.tiny_run).
OFFLINE_MARK = ".ran-without-network"


def variant(tmp_path: Path, **sections) -> Path:
    """The tiny config with some sections updated (one level deep), written to tmp_path."""
    config = yaml.safe_load(TINY.read_text())
    for section, values in sections.items():
        config[section] = {**config.get(section, {}), **values}
    path = tmp_path / "variant.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def network_can_be_cut() -> bool:
    """True when `unshare -n` can run a command without network here (root or user namespaces)."""
    try:
        return subprocess.run(["unshare", "-n", "--", "true"], capture_output=True).returncode == 0
    except OSError:
        return False


def run_snakemake(
    workdir: Path,
    configfile: Path,
    *args: str,
    check: bool = True,
    env: dict | None = None,
    offline: bool = False,
) -> subprocess.CompletedProcess:
    """`snakemake` on REPO/Snakefile inside `workdir`; returns the finished process (text output).

    `args` may start with targets (they follow an option of one value).
    `env` adds environment variables (e.g. PYTHONPATH to run another copy of the package);
    `offline` runs it in a network namespace of its own (`unshare -n`: no network at all)."""
    command = ["unshare", "-n", "--"] if offline else []
    command += [
        str(SNAKEMAKE), "--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir),
        "--configfile", str(configfile), "--resources", "gpu=1", "--cores", "2", *args,
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=1800)
    if check and result.returncode != 0:
        raise AssertionError(
            f"snakemake failed ({result.returncode}):\n{result.stdout[-6000:]}\n{result.stderr[-6000:]}"
        )
    return result


def planned_jobs(
    workdir: Path, configfile: Path, *args: str, env: dict | None = None
) -> dict[str, int]:
    """Jobs a dry run would execute, as {rule: count} (empty when nothing is to be done)."""
    text = _dry_run(workdir, configfile, *args, env=env)
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


def planned_job_list(workdir: Path, configfile: Path, *args: str) -> list[tuple[str, str]]:
    """Jobs a dry run would execute, as sorted (rule, wildcards) pairs ('' without wildcards)."""
    text = _dry_run(workdir, configfile, *args)
    jobs = []
    for block in re.split(r"\n(?=(?:local)?(?:rule|checkpoint) \S+:\n)", text)[1:]:
        rule = re.match(r"(?:local)?(?:rule|checkpoint) (\S+):", block).group(1)
        wildcards = re.search(r"^\s+wildcards: (.*)$", block, re.M)
        jobs.append((rule, wildcards.group(1) if wildcards else ""))
    return sorted(jobs)


def _dry_run(workdir: Path, configfile: Path, *args: str, env: dict | None = None) -> str:
    result = run_snakemake(workdir, configfile, "--dry-run", *args, env=env)
    return result.stdout + result.stderr
