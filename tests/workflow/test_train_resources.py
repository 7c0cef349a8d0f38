"""What a training job asks the scheduler for with train.distributed (checked on a dry run)."""

from __future__ import annotations

import re

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


@pytest.mark.parametrize(
    ("device", "on_gpus"),
    [("cuda", ["gres=gpu:2", "tasks_per_gpu=0"]), ("cpu", [])],
)
def test_training_on_several_nodes_asks_for_the_nodes_and_one_task_on_each(
    tiny_run, tmp_path, device, on_gpus
):
    """What snakemake-executor-plugin-slurm turns into --nodes=3 --ntasks=3 (and --gres=gpu:2 per
    node); `mpi` makes it run the rule on the first node, which starts srun itself."""
    train = {"device": device, "distributed": {"nodes": 3, "processes": 2}, "batch_size": 6}
    text = run_snakemake(
        tiny_run, variant(tmp_path, train=train), "--dry-run", "--until", "train"
    ).stdout
    blocks = [b for b in text.split("\n\n") if "rule train:" in b]
    assert len(blocks) == 2
    for block in blocks:
        resources = re.search(r"resources: (.*)", block).group(1).split(", ")
        assert {"nodes=3", "tasks=3", "mpi=srun", *on_gpus} <= set(resources), resources
        assert not any(r.startswith(("gpu=", "gres=")) for r in resources if r not in on_gpus)
