"""Training across two nodes through profiles/slurm on a real two-node SLURM cluster (two slurmd
daemons on this host, slurm_cluster.py): train.distributed {nodes: 2, processes: 1} makes the
training job ask for two nodes, srun starts torchrun on each, and the weights equal the local
one-process run's (tiny_run: same global batch of 2) to float tolerance.

Needs root, Debian slurm-wlm + munge and the optional extra (make venv-slurm); without them the
test skips and says why, except under CI, where it fails.
"""

from __future__ import annotations

import re
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest
import torch

from .slurm_cluster import cluster_for_test
from .snakemake_runner import REPO, run_snakemake, variant

pytestmark = pytest.mark.workflow
MODEL = "results/vqvae/model/model.pt"
CHECKPOINTS = "results/vqvae/model/checkpoints"
#: EMA statistics of the codebook (compared through the codebook `embed` itself).
NOT_COMPARED = ("quantiser.cluster_size", "quantiser.embed_avg")


@pytest.fixture(scope="module")
def two_nodes():
    with cluster_for_test(nodes=2) as env:
        yield env


def _weights(path):
    state = torch.load(path, map_location="cpu", weights_only=True)["state_dict"]
    return {
        k: v.double()
        for k, v in state.items()
        if v.is_floating_point() and not k.startswith(NOT_COMPARED)
    }


def _norm(tensors) -> float:
    return float(sum((t**2).sum() for t in tensors) ** 0.5)


def _retrain(tiny_run, folder, layout, *args, env=None):
    """Copy the tiny run to `folder` and retrain its vqvae with train settings `layout` (fp32 and
    one thread per process, so the two runs differ only in how the batch is shared)."""
    shutil.copytree(tiny_run, folder / "run", symlinks=True)
    train = {"precision": "fp32", "threads": 1, **layout}
    run_snakemake(folder / "run", variant(folder, train=train), MODEL, *args, env=env)
    return folder / "run"


def test_training_on_two_nodes_trains_the_weights_of_one_process(two_nodes, tiny_run, tmp_path):
    (tmp_path / "nodes").mkdir()
    (tmp_path / "one").mkdir()
    # two nodes with one CPU each (two slurmd on this host), one process on each
    two = _retrain(
        tiny_run, tmp_path / "nodes", {"distributed": {"nodes": 2, "processes": 1}},
        "--profile", str(REPO / "profiles" / "slurm"),
        "--slurm-init-seconds-before-status-checks", "1", "--slurm-keep-successful-logs",
        env=two_nodes,
    )  # fmt: skip
    one = _retrain(tiny_run, tmp_path / "one", {})  # here, no SLURM, one process

    # One SLURM job ran the training, on two nodes, one torchrun on each with its node rank.
    jobs = subprocess.run(
        ["squeue", "-h", "-t", "all", "-o", "%k|%D|%N|%T"],
        capture_output=True, text=True, env=two_nodes, check=True,
    ).stdout.split()  # fmt: skip
    assert jobs == ["rule_train_wildcards_vqvae|2|node[1-2]|COMPLETED"], jobs
    train_log = (two / "logs" / "vqvae" / "train.log").read_text()
    started = sorted(re.findall(r"^node (\d) \((node\d)\): torchrun", train_log, re.M))
    assert started == [("0", "node1"), ("1", "node2")], train_log

    # Same seed, data order and global batch (2: one scan per node): the same training table
    # (columns too) and weights, to float rounding (the sums run in another order).
    tables = [pd.read_csv(run / "results/vqvae/model/training.tsv", sep="\t") for run in (two, one)]
    assert list(tables[0].columns) == list(tables[1].columns)
    assert len(tables[0]) == 6
    np.testing.assert_allclose(tables[0]["loss"], tables[1]["loss"], rtol=1e-5)
    on_nodes, in_one = _weights(two / MODEL), _weights(one / MODEL)
    # the scale: how far the one-process run moved its weights from its step-3 checkpoint
    (step3,) = {p.name for p in (one / CHECKPOINTS).glob("step-0000003-*.pt")} - {
        p.name for p in (tiny_run / CHECKPOINTS).glob("*.pt")
    }
    at_step3 = torch.load(one / CHECKPOINTS / step3, map_location="cpu", weights_only=True)
    at_step3 = {k: v.double() for k, v in at_step3["model"]["state_dict"].items() if k in in_one}
    difference = _norm(on_nodes[k] - in_one[k] for k in in_one)
    moved = _norm(in_one[k] - at_step3[k] for k in in_one)
    print(f"two nodes vs one process: {difference:.2e} apart; steps 4-6 moved {moved:.2e}")
    assert difference < 1e-3 * moved
