"""Training across processes (`train.distributed`): torchrun, the process group and DDP.

A run with `processes: P > 1` re-launches training under torchrun (``torch.distributed.run
--standalone``: P processes on this node, NCCL on GPUs, gloo on CPU); with `nodes: N > 1`, one
torchrun per node of the SLURM job (latentcf.train.slurm_nodes). Every process builds the
same model from the same seed, takes its equal slice of each global batch (rank order), and
DistributedDataParallel averages the gradients; the model's non-gradient state (EMA codebooks,
posterior noise) uses the global batch (latentcf.models.collectives). So P processes train the
weights one process would with the same global batch, to float tolerance (the sums run in another
order; a near-tie in a codebook's nearest-code search can flip). One exception on CPU: batch-norm
layers (klae's patch discriminator) normalise over each process's share of the batch, as
torch's SyncBatchNorm needs GPUs; on GPUs they are converted to SyncBatchNorm. Rank 0 alone
evaluates, checkpoints and writes; a checkpoint resumes under the same number of processes
(nodes x processes).
"""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from latentcf.errors import ConfigError, LatentCFError
from latentcf.models.base import LatentAutoencoder

log = logging.getLogger(__name__)


class DistributedTrainingError(LatentCFError):
    """A process of a distributed training run failed (its own error is in the rule's log)."""


@dataclass(frozen=True)
class Ranks:
    """This process's place in the run: rank, number of processes (all nodes), GPU index and
    number of processes on its node."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0
    local_size: int = 1

    @property
    def main(self) -> bool:
        """True for the process that evaluates, checkpoints and writes (rank 0)."""
        return self.rank == 0


def under_torchrun() -> bool:
    """True inside a process started by torchrun (it sets WORLD_SIZE and LOCAL_RANK)."""
    return "WORLD_SIZE" in os.environ and "LOCAL_RANK" in os.environ


def world_size(distributed: Mapping[str, int]) -> int:
    """Processes of the whole run: train.distributed nodes x processes (per node)."""
    return distributed.get("nodes", 1) * distributed["processes"]


def check_batch(batch_size: int, distributed: Mapping[str, int]) -> int:
    """Scans per process and step: batch_size / (nodes x processes) (ConfigError if not whole)."""
    nodes, processes = distributed.get("nodes", 1), distributed["processes"]
    if batch_size % (nodes * processes):
        raise ConfigError(
            "train.batch_size",
            "expected a multiple of train.distributed.nodes x processes "
            f"({nodes} x {processes} = {nodes * processes}), got {batch_size}",
            "Every process takes an equal share of the batch: change either value",
        )
    return batch_size // (nodes * processes)


def start_process_group(backend: str, device: torch.device) -> Ranks:
    """Join torchrun's process group (Ranks() outside torchrun). backend: auto | nccl | gloo."""
    if not under_torchrun() or int(os.environ["WORLD_SIZE"]) == 1:
        return Ranks()
    if backend == "auto":
        backend = "nccl" if device.type == "cuda" else "gloo"
    local_rank = int(os.environ["LOCAL_RANK"])
    if device.type == "cuda":
        torch.cuda.set_device(local_rank)
    dist.init_process_group(backend=backend)
    local_size = int(os.environ.get("LOCAL_WORLD_SIZE", dist.get_world_size()))
    return Ranks(dist.get_rank(), dist.get_world_size(), local_rank, local_size)


def stop_process_group() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


class _Method(nn.Module):
    """`method` of a model as the forward of a module that owns only `parts` (the parameters
    DDP synchronises): DDP wraps a forward, our objectives are model methods."""

    def __init__(self, parts: Sequence[nn.Module], method: Callable[..., Any]):
        super().__init__()
        self.parts = nn.ModuleList(parts)
        self._method = method

    def forward(self, *args: Any) -> Any:
        return self._method(*args)


def objectives(
    model: LatentAutoencoder, ranks: Ranks, device: torch.device
) -> tuple[Callable[..., Any], Callable[..., Any]]:
    """(training_loss, adversary_loss) of `model`; under P > 1 processes each goes through its
    own DDP (generator parts / adversary) so that backward averages that part's gradients."""
    if ranks.size == 1:
        return model.training_loss, model.adversary_loss
    adversary = model.adversary()
    generator_parts = [m for m in model.children() if m is not adversary]
    if list(model.parameters(recurse=False)):
        raise TypeError(f"{type(model).__name__} has parameters outside its submodules")
    device_ids = [ranks.local_rank] if device.type == "cuda" else None

    def ddp(parts: Sequence[nn.Module], method: Callable[..., Any]) -> nn.Module:
        # buffers are synced once at start only: each family keeps them in step (collectives)
        return nn.parallel.DistributedDataParallel(
            _Method(parts, method), device_ids=device_ids, forward_sync_buffers=False
        )

    generator = ddp(generator_parts, model.training_loss)
    if adversary is None:
        return generator, model.adversary_loss
    if device.type == "cuda":
        # batch norm over the global batch (in place: the module keeps its parameters)
        nn.SyncBatchNorm.convert_sync_batchnorm(adversary)
    return generator, ddp([adversary], model.adversary_loss)


def mean_across_ranks(row: Mapping[str, float]) -> dict[str, float]:
    """Each value averaged over the processes (a table row of the global batch)."""
    if not (dist.is_available() and dist.is_initialized()):
        return dict(row)
    keys = list(row)  # the same order on every process: the table's column order
    values = torch.tensor(
        [float(row[k]) for k in keys], dtype=torch.float64, device=_collective_device()
    )
    dist.all_reduce(values, op=dist.ReduceOp.SUM)
    values /= dist.get_world_size()
    return dict(zip(keys, values.tolist(), strict=True))


def _collective_device() -> torch.device:
    """Where tensors of a collective must live: NCCL reduces CUDA tensors only."""
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def any_rank(flag: bool) -> bool:
    """True on every process when `flag` is true on any (e.g. one's time budget ran out), so
    that all stop at the same step."""
    if not (dist.is_available() and dist.is_initialized()):
        return flag
    value = torch.tensor([float(flag)], device=_collective_device())
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item())


def launch(
    distributed: Mapping[str, int], spec: Mapping[str, Any], spec_path: Path, gpus: bool
) -> None:
    """Run `latentcf.train.worker` under torchrun: train.distributed `processes` on this node,
    or on each of `nodes` nodes of this SLURM job (gpus: one GPU per process).

    spec: train_model's keyword arguments (JSON-serialisable), written to `spec_path`.
    The processes' output goes to this process's stderr (the rule's log).
    """
    nodes, processes = distributed.get("nodes", 1), distributed["processes"]
    if nodes == 1:
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
        command += [f"--nproc-per-node={processes}", "-m", "latentcf.train.worker", str(spec_path)]
    else:  # this process runs on the job's first node: the rendezvous is here
        from latentcf.train import slurm_nodes  # not at import: srun tasks run it as __main__

        master = f"{socket.gethostname()}:{slurm_nodes.free_port()}"
        command = slurm_nodes.srun_command(
            nodes, processes, spec["threads"], gpus, spec_path, master
        )
    spec_path.parent.mkdir(parents=True, exist_ok=True)
    spec_path.write_text(json.dumps(spec, indent=1))
    log.info("training with %d x %d processes: %s", nodes, processes, " ".join(command))
    sys.stderr.flush()
    result = subprocess.run(command, stdout=sys.stderr, stderr=sys.stderr, check=False)
    spec_path.unlink(missing_ok=True)
    if result.returncode != 0:
        launcher = "torchrun" if nodes == 1 else "srun"
        raise DistributedTrainingError(
            f"distributed training failed ({launcher} exit status {result.returncode}); "
            "the failing process's error is in the log above this line"
        )
