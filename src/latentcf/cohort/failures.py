"""The end-of-run message for scans whose per-scan jobs failed (the Snakefile's `onerror:`).

With `--keep-going` a bad scan (truncated file, NaN voxels, an empty brain mask) fails only its
own jobs; the stages that need every scan (training and the cohort-level stages after it) do not
run. Snakemake's own output names the failed jobs among hundreds of lines; this message names
each failed scan once at the end, with its input file, its log and the job's one-line error, and
says how to go on: fix the file, or leave the scan out of the input.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class FailedScanJob:
    """One failed job of a per-scan rule: its rule, `{scan}` wildcard, raw T1w path and log."""

    rule: str
    scan: str
    raw: str | None = None
    log: str | None = None


def subject_session(scan: str) -> tuple[str, str | None]:
    """('sub-X', 'ses-Y' or None) of a `{scan}` wildcard (latentcf.cohort.scan_stem)."""
    parts = scan.split("/")
    return parts[0], parts[1] if parts[1].startswith("ses-") else None


def job_error(log: str | None, raw: str | None = None) -> str | None:
    """The last 'ERROR: ...' line a job wrote to its log (latentcf.cli_errors), without the
    leading raw file path (the message names it already); None when there is none."""
    if not log:
        return None
    try:
        lines = Path(log).read_text(errors="replace").splitlines()
    except OSError:
        return None
    errors = [line.removeprefix("ERROR: ").strip() for line in lines if line.startswith("ERROR: ")]
    if not errors:
        return None
    error = errors[-1]
    if raw and error.startswith(f"{raw}: "):
        error = error[len(raw) + 2 :]
    return error


def leave_out_hint(input_config: dict, demo: bool) -> str:
    """How to leave a scan out of this run's input."""
    if demo:
        return "rerun the demo from scratch (delete its output folder)"
    if input_config.get("table"):
        return (
            f"remove its row from {input_config['table']} (input.table), or select the other "
            "subjects with participant_label"
        )
    return (
        f"move the file out of {input_config.get('bids_dir')} (input.bids_dir), e.g. into its "
        "sourcedata/ folder, which ingest ignores, or select the other subjects with "
        "participant_label"
    )


def failed_scans_message(
    jobs: Iterable[FailedScanJob], input_config: dict, demo: bool = False
) -> str:
    """Lines naming each failed scan (sorted; a scan that failed several jobs, once per job) and
    what to do; '' when no per-scan job failed."""
    jobs = sorted(set(jobs), key=lambda job: (job.scan, job.rule))
    if not jobs:
        return ""
    n_scans = len({job.scan for job in jobs})
    lines = [
        f"latentcf: {n_scans} scan(s) failed; the stages that need them (training and every "
        "cohort-level stage after it) did not run:"
    ]
    for job in jobs:
        subject, session = subject_session(job.scan)
        name = f"{subject} {session}" if session else subject
        error = job_error(job.log, job.raw)
        lines.append(
            f"  - {name}: {job.raw or 'input file unknown'} failed in {job.rule} "
            f"(log: {job.log or 'none'})" + (f": {error}" if error else "")
        )
    lines.append(
        "latentcf: to go on, fix or replace each file and rerun, or leave the scan out: "
        + leave_out_hint(input_config, demo)
        + "."
    )
    return "\n".join(lines)
