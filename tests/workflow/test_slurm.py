"""The tiny workflow through profiles/slurm on a real single-node SLURM cluster (slurm_cluster.py):
every stage runs in a SLURM job, each scan's preprocessing in one job (the profile's `groups:`),
each job asks for what its rules need, and every output file equals the local run's.

The SLURM run is a second from-scratch run of the tiny config, in another folder, with other
processes: comparing its outputs with the local run's (`tiny_run`) is the workflow's determinism
check. Every file under results/ that both runs wrote must be equal: images by voxels and affine,
every other file byte for byte once the run folder's absolute path is replaced by a placeholder;
ALLOWED_TO_DIFFER lists the files that legitimately differ, why, and what of them is compared.

The SLURM run builds one of the tiny config's two models (vqvae), so that every stage runs but CI
stays short: on 2 cores it took 681-756 s as 38 SLURM jobs (each job re-enters snakemake twice on the
node: sbatch, then srun). The tiny config's one thread per segmentation and training job lets two
of them share the 2-CPU node; with two threads each they ran one at a time (809 s).

Needs root, Debian slurm-wlm + munge and the optional extra (make venv-slurm); without them the
test skips and says why, except under CI, where it fails.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch
import yaml

from .slurm_cluster import cluster_for_test
from .snakemake_runner import REPO, TINY, run_snakemake, variant

pytestmark = pytest.mark.workflow
#: Rules that must have run inside SLURM jobs (each job's log names the rules it ran).
SUBMITTED_RULES = {"simulate_demo", "ingest", "preprocess_native", "preprocess_register",
                   "preprocess_grid", "train", "encode", "fit_scm", "counterfactual",
                   "segment_counterfactuals", "evaluate", "forecast"}  # fmt: skip
#: The per-scan rules that profiles/slurm groups into one job per scan (group `preprocess`).
PREPROCESS_GROUP = {"preprocess_native", "preprocess_register", "preprocess_grid"}
#: Files (patterns relative to results/) that two from-scratch runs write differently, with why
#: and what of them is compared instead. Every other file under results/ is compared whole.
ALLOWED_TO_DIFFER = {
    # Wall-clock seconds per training step: compared with the `seconds` column dropped.
    "*/model/training.tsv": "the `seconds` column (wall-clock time)",
    # The training state (weights, optimizer, RNG states, step) plus wall-clock time: `elapsed_s`
    # and the training table's `seconds`. Compared by tensors and values without those two keys.
    "*/model/checkpoints/*.pt": "`elapsed_s` and the table's `seconds` (wall-clock time)",
    # Not non-determinism: the local run summarises both models, the SLURM run one; every line
    # of the SLURM run's summary must be in the local run's (table padding aside).
    "summary.md": "the other model's lines (the local run built two models)",
}
#: Keys of a training checkpoint that hold wall-clock time.
CLOCK_KEYS = {"elapsed_s", "seconds"}


@pytest.fixture(scope="module")
def slurm_env():
    with cluster_for_test() as env:
        yield env


def _sha256(*chunks: bytes) -> str:
    digest = hashlib.sha256()
    for chunk in chunks:
        digest.update(chunk)
    return digest.hexdigest()


def _array_bytes(array) -> bytes:
    array = np.ascontiguousarray(array)
    return f"{array.dtype}{array.shape}".encode() + array.tobytes()


def _values(value) -> bytes:
    """Canonical bytes of a loaded checkpoint, without its wall-clock keys (CLOCK_KEYS)."""
    if isinstance(value, dict):
        return b"{" + b"".join(
            repr(k).encode() + b":" + _values(v)
            for k, v in sorted(value.items(), key=lambda item: repr(item[0]))
            if k not in CLOCK_KEYS
        ) + b"}"  # fmt: skip
    if isinstance(value, list | tuple):
        return b"[" + b",".join(_values(v) for v in value) + b"]"
    if isinstance(value, torch.Tensor):
        tensor = value.detach().cpu().contiguous()
        return (
            f"{tensor.dtype}{tuple(tensor.shape)}".encode()
            + tensor.view(-1).view(torch.uint8).numpy().tobytes()
        )
    return repr(value).encode()


def fingerprint(path: Path, run: Path) -> str:
    """sha256 of what of `path` (a file under run/results) two runs must write identically."""
    rel = path.relative_to(run / "results")
    if path.name.endswith((".nii", ".nii.gz")):
        image = nib.load(path)
        return _sha256(_array_bytes(np.asarray(image.dataobj)), _array_bytes(image.affine))
    if path.suffix == ".npy":
        return _sha256(_array_bytes(np.load(path)))
    if rel.match("*/model/checkpoints/*.pt"):
        return _sha256(_values(torch.load(path, map_location="cpu", weights_only=True)))
    data = path.read_bytes()
    try:
        text = data.decode()
    except UnicodeDecodeError:
        return _sha256(data)
    # The cohort table and the skull-stripping QC JSONs record absolute input paths.
    for folder in {str(run), str(run.resolve())}:
        for form in (folder, json.dumps(folder)[1:-1]):  # as written, and JSON-escaped (\u00dc)
            text = text.replace(form, "<RUN>")
    if rel.match("*/model/training.tsv"):
        rows = [line.split("\t") for line in text.splitlines()]
        column = rows[0].index("seconds")
        text = "\n".join("\t".join(row[:column] + row[column + 1 :]) for row in rows)
    return _sha256(text.encode())


def _outputs(run: Path) -> dict[str, Path]:
    results = run / "results"
    return {str(p.relative_to(results)): p for p in sorted(results.rglob("*")) if p.is_file()}


def _summary_lines(path: Path) -> set[str]:
    """Lines of a markdown file, without the padding that aligns a table's columns."""
    return {
        re.sub(r"-{3,}", "---", " ".join(line.split())) for line in path.read_text().splitlines()
    }


def _jobs_on_cluster(env: dict[str, str], comment: str) -> list[dict[str, int]]:
    """CPUs, memory (MB) and time limit (minutes) of every job whose sbatch --comment starts with
    `comment` that the cluster still knows (finished ones too: slurm_cluster's MinJobAge)."""
    text = subprocess.run(
        ["squeue", "-h", "-t", "all", "-o", "%k|%C|%m|%l"],
        capture_output=True, text=True, env=env, check=True,
    ).stdout  # fmt: skip
    jobs = []
    for line in text.splitlines():
        job_comment, cpus, memory, limit = line.split("|")
        if not job_comment.startswith(comment):
            continue
        days, _, clock = limit.rpartition("-")  # [D-][H:]MM:SS
        hours, minutes = ([0] + [int(p) for p in clock.split(":")])[-3:-1]
        mem_mb = float(memory[:-1]) * {"K": 1 / 1024, "M": 1, "G": 1024, "T": 2**20}[memory[-1]]
        jobs.append({"cpus": int(cpus), "mem_mb": round(mem_mb),
                     "minutes": int(days or 0) * 1440 + hours * 60 + minutes})  # fmt: skip
    return jobs


def _rule_resources(log: str) -> dict[str, dict[str, int]]:
    """{rule: its threads, mem_mb and runtime} as a SLURM job's log printed them."""
    found = {}
    for rule, block in re.findall(r"^\s*rule (\w+):\n(.*?)\n\s*Shell command", log, re.M | re.S):
        resources = dict(re.findall(r"(\w+)=(\w+)", re.search(r"resources: (.*)", block).group(1)))
        threads = re.search(r"threads: (\d+)", block)  # printed when more than 1
        found[rule] = {"cpus": int(threads.group(1)) if threads else 1, "mem_mb": int(resources["mem_mb"]),
                       "minutes": int(resources["runtime"])}  # fmt: skip
    return found


def _check_preprocessing_jobs(workdir: Path, env: dict[str, str]) -> None:
    """One SLURM job per scan ran that scan's three preprocessing steps (no step ran on its own),
    asking for the most CPUs and memory of its steps and the sum of their run times."""
    logs = {p: p.read_text() for p in (workdir / ".snakemake" / "slurm_logs").rglob("*.log")}
    grouped = {p: text for p, text in logs.items() if PREPROCESS_GROUP & _rules_in(text)}
    n_scans = len(list((workdir / "results" / "preprocess").rglob("*_xfm.mat")))
    assert n_scans == 16 and len(grouped) == n_scans, f"{len(grouped)} jobs for {n_scans} scans"
    for path, text in grouped.items():
        assert path.parent.name.startswith("group_preprocess_"), path
        assert _rules_in(text) == PREPROCESS_GROUP, path
        assert len(set(re.findall(r"wildcards: scan=(\S+)", text))) == 1, path
    rules = _rule_resources("\n".join(grouped.values()))
    expected = {
        "cpus": max(rules[r]["cpus"] for r in PREPROCESS_GROUP),
        "mem_mb": max(rules[r]["mem_mb"] for r in PREPROCESS_GROUP),
        "minutes": sum(rules[r]["minutes"] for r in PREPROCESS_GROUP),
    }
    # The plugin's sbatch --comment is rule_<group job's name>, i.e. rule_<group>_<its rules>.
    jobs = _jobs_on_cluster(env, "rule_preprocess_preprocess_")
    assert len(jobs) == n_scans and all(job == expected for job in jobs), (expected, jobs)


def _rules_in(log: str) -> set[str]:
    return set(re.findall(r"^\s*(?:rule|checkpoint) (\w+):", log, re.M))


def test_tiny_workflow_on_slurm_equals_the_local_run(slurm_env, tiny_run, tmp_path):
    config = yaml.safe_load(TINY.read_text())
    config["models"] = {"vqvae": config["models"]["vqvae"]}
    configfile = tmp_path / "vqvae_only.yaml"
    configfile.write_text(yaml.safe_dump(config))
    workdir = tmp_path / "run"
    run_snakemake(
        workdir, configfile, "--profile", str(REPO / "profiles" / "slurm"),
        "--slurm-init-seconds-before-status-checks", "1", "--slurm-keep-successful-logs",
        env=slurm_env,
    )  # fmt: skip
    # Every stage ran in a SLURM job: one log per job (.snakemake/slurm_logs/rule_<rule>/... or
    # group_<group>_<its rules>/<jobid>.log) naming the rules that the job ran.
    logs = (workdir / ".snakemake" / "slurm_logs").rglob("*.log")
    submitted = set().union(*(_rules_in(p.read_text()) for p in logs))
    assert SUBMITTED_RULES <= submitted, f"never in a SLURM job: {SUBMITTED_RULES - submitted}"
    _check_preprocessing_jobs(workdir, slurm_env)

    # The SLURM run wrote nothing that the local run did not, and the same (ALLOWED_TO_DIFFER).
    on_slurm, local = _outputs(workdir), _outputs(tiny_run)
    only_here = sorted(set(on_slurm) - set(local))
    assert not only_here, f"only in the SLURM run: {only_here[:5]}"
    assert len(on_slurm) > 400 and any(name.startswith("vqvae/segment/") for name in on_slurm)
    for pattern in ALLOWED_TO_DIFFER:
        assert any(Path(name).match(pattern) for name in on_slurm), f"no file is {pattern}"
    differing = [
        name for name in on_slurm
        if name != "summary.md" and fingerprint(on_slurm[name], workdir) != fingerprint(local[name], tiny_run)
    ]  # fmt: skip
    assert not differing, f"{len(differing)} of {len(on_slurm)} files differ, e.g. {differing[:5]}"
    missing = _summary_lines(on_slurm["summary.md"]) - _summary_lines(local["summary.md"])
    assert not missing, f"summary.md lines not in the local run's: {sorted(missing)[:5]}"


def test_training_asks_the_scheduler_for_a_gpu_with_device_cuda(tiny_run, tmp_path):
    """gpu=1 is what the plugin turns into --gpus=1 (checked on the dry run's resources)."""
    text = run_snakemake(
        tiny_run, variant(tmp_path, train={"device": "cuda"}), "--dry-run", "--until", "train"
    ).stdout
    blocks = [b for b in text.split("\n\n") if "rule train:" in b]
    assert len(blocks) == 2 and all("gpu=1" in b for b in blocks)
