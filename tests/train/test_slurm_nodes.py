"""train.distributed.nodes > 1: the srun line, each node's torchrun, and the refusal outside a
SLURM job (the real two-node run: tests/workflow/test_slurm_multinode.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from vq_settings import TINY_MODEL, TINY_TRAIN

from latentcf.errors import ConfigError
from latentcf.train import TrainOutputs, slurm_nodes, train_model
from latentcf.train.distributed import check_batch

SPEC = Path("/shared/run/checkpoints/distributed-spec.json")


@pytest.fixture
def in_slurm_job(monkeypatch):
    monkeypatch.setenv("SLURM_JOB_ID", "4242")
    monkeypatch.setattr(slurm_nodes.shutil, "which", lambda name: f"/usr/bin/{name}")


def test_srun_starts_one_task_per_node_in_this_job(in_slurm_job):
    command = slurm_nodes.srun_command(3, 2, 8, False, SPEC, "node7:29511")
    assert command[:6] == [
        "srun", "--jobid=4242", "--nodes=3", "--ntasks=3", "--ntasks-per-node=1", "--cpus-per-task=8",
    ]  # fmt: skip
    assert not any(arg.startswith("--gpus") for arg in command)
    assert command[-5:] == [
        "latentcf.train.slurm_nodes", "--nodes=3", "--processes=2", "--master=node7:29511", str(SPEC),
    ]  # fmt: skip


def test_on_gpus_each_node_asks_for_one_gpu_per_process(in_slurm_job):
    assert "--gpus-per-node=4" in slurm_nodes.srun_command(2, 4, 16, True, SPEC, "n1:1")


@pytest.mark.parametrize("node_rank", [0, 1])
def test_each_task_becomes_torchrun_with_its_nodes_rank(monkeypatch, node_rank):
    monkeypatch.setenv("SLURM_NODEID", str(node_rank))
    started = []
    monkeypatch.setattr(slurm_nodes.os, "execv", lambda path, argv: started.append(argv))
    slurm_nodes.main(["--nodes=2", "--processes=3", "--master=n1:29500", str(SPEC)])
    assert started == [
        [
            sys.executable, "-m", "torch.distributed.run", "--nnodes=2", "--nproc-per-node=3",
            f"--node-rank={node_rank}", "--master-addr=n1", "--master-port=29500",
            "-m", "latentcf.train.worker", str(SPEC),
        ]
    ]  # fmt: skip


def test_the_rendezvous_port_is_free_here():
    import socket

    port = slurm_nodes.free_port()
    with socket.socket() as sock:
        sock.bind(("", port))  # OSError if taken


def test_a_batch_the_nodes_cannot_share_is_refused():
    with pytest.raises(ConfigError, match=r"nodes x processes \(2 x 2 = 4\), got 6"):
        check_batch(6, {"nodes": 2, "processes": 2})
    assert check_batch(8, {"nodes": 2, "processes": 2}) == 2


def test_several_nodes_outside_a_slurm_job_are_refused_before_anything_is_written(
    synthetic_4mm, tmp_path, monkeypatch
):
    monkeypatch.delenv("SLURM_JOB_ID", raising=False)
    images, masks = synthetic_4mm
    outputs = TrainOutputs(
        tmp_path / "model.pt", tmp_path / "training.tsv", tmp_path / "training.png", tmp_path / "ck"
    )
    train = {**TINY_TRAIN, "distributed": {"nodes": 2, "processes": 1}}
    with pytest.raises(ConfigError, match=r"'train.distributed.nodes'.*no SLURM job") as error:
        train_model(images[:4], images[4:], masks[4:], TINY_MODEL, train, 7, outputs)
    assert "--profile profiles/slurm" in str(error.value)
    assert not any(tmp_path.iterdir())
