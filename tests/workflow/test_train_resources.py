"""What a training job asks the scheduler for with train.distributed (checked on a dry run)."""

from __future__ import annotations

import pytest

from .snakemake_runner import run_snakemake, variant

pytestmark = pytest.mark.workflow


def test_distributed_training_on_gpus_asks_for_one_gpu_per_process(tiny_run, tmp_path):
    train = {"device": "cuda", "distributed": {"processes": 2}, "per_model": {"klae": {"distributed": {"processes": 1}}}}  # fmt: skip
    # run_snakemake allows gpu=1 as the workstation profile does; Snakemake caps a job's request
    # at what --resources allows, so allow more here (a SLURM run has no such cap)
    text = run_snakemake(
        tiny_run, variant(tmp_path, train=train), "--dry-run", "--until", "train",
        "--resources", "gpu=4",
    ).stdout  # fmt: skip
    blocks = {b.split("model=")[1].split()[0]: b for b in text.split("\n\n") if "rule train:" in b}
    assert "gpu=2" in blocks["vqvae"] and "gpu=1" in blocks["klae"]
