"""The tiny workflow through profiles/slurm on a real single-node SLURM cluster (slurm_cluster.py):
every job goes through sbatch, and every image and latent equals the local run's.

The SLURM run builds one of the tiny config's two models (vqvae), so that every stage runs but CI
stays short: on 2 cores it took 13.5 min with one model and 17 min with both (each job re-enters
snakemake on the node, and status checks back off while jobs run).

Needs root, Debian slurm-wlm + munge and the optional extra (make venv-slurm); without them the
test skips and says why, except under CI, where it fails.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import yaml

from .slurm_cluster import missing_requirements, single_node_cluster
from .snakemake_runner import REPO, TINY, run_snakemake, variant

pytestmark = pytest.mark.workflow
#: Rules that must have run as SLURM jobs (one log folder each under .snakemake/slurm_logs).
SUBMITTED_RULES = {"simulate_demo", "ingest", "preprocess_native", "preprocess_register", "train", "encode",
                   "fit_scm", "counterfactual", "segment_counterfactuals", "evaluate", "forecast"}  # fmt: skip


def _cluster_unavailable() -> str | None:
    reason = missing_requirements()
    if reason is None:
        try:
            import snakemake_executor_plugin_slurm  # noqa: F401
        except ImportError:
            reason = "snakemake-executor-plugin-slurm is not installed (make venv-slurm)"
    return reason


@pytest.fixture(scope="module")
def slurm_env():
    reason = _cluster_unavailable()
    if reason:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must run the SLURM test, but no cluster can start: {reason}")
        pytest.skip(f"no SLURM cluster can start here: {reason}")
    with single_node_cluster() as env:
        yield env


def output_digests(results: Path) -> dict[str, str]:
    """{path relative to `results`: sha256 of the voxels and affine} of every NIfTI and .npy file."""
    digests = {}
    for path in sorted(results.rglob("*")):
        if path.name.endswith((".nii", ".nii.gz")):
            image = nib.load(path)
            arrays = [np.asarray(image.dataobj), image.affine]
        elif path.suffix == ".npy":
            arrays = [np.load(path)]
        else:
            continue
        digest = hashlib.sha256()
        for array in arrays:
            digest.update(np.ascontiguousarray(array).tobytes())
        digests[str(path.relative_to(results))] = digest.hexdigest()
    return digests


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
    logs = workdir / ".snakemake" / "slurm_logs"
    submitted = {p.name.removeprefix("rule_") for p in logs.iterdir()}
    assert SUBMITTED_RULES <= submitted, f"never submitted: {SUBMITTED_RULES - submitted}"
    on_slurm = output_digests(workdir / "results")
    local = output_digests(tiny_run / "results")
    assert len(on_slurm) > 100 and set(on_slurm) <= set(local)
    assert any(name.startswith("vqvae/segment/") for name in on_slurm)
    differing = [name for name in on_slurm if on_slurm[name] != local[name]]
    assert not differing, f"{len(differing)} of {len(on_slurm)} images differ, e.g. {differing[:5]}"


def test_training_asks_the_scheduler_for_a_gpu_with_device_cuda(tiny_run, tmp_path):
    """gpu=1 is what the plugin turns into --gpus=1 (checked on the dry run's resources)."""
    text = run_snakemake(
        tiny_run, variant(tmp_path, train={"device": "cuda"}), "--dry-run", "--until", "train"
    ).stdout
    blocks = [b for b in text.split("\n\n") if "rule train:" in b]
    assert len(blocks) == 2 and all("gpu=1" in b for b in blocks)
