"""What a model's training step needs from the other processes of a distributed run.

Under `train.distributed` each process sees its slice of the global batch (the same number of
scans per process, in rank order). These helpers make the parts of a training step that are not
gradients (EMA codebooks, k-means initialisation, posterior noise) see the global batch, so a run
with P processes takes the same steps as one process with the whole batch. Without an initialised
process group (every single-process run) each is the identity.
"""

from __future__ import annotations

import torch
import torch.distributed as dist


def world() -> tuple[int, int]:
    """(rank, world size) of this process; (0, 1) without an initialised process group."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def sum_across_ranks_(t: torch.Tensor) -> torch.Tensor:
    """Sum `t` over the processes, in place (e.g. EMA counts of the global batch)."""
    if world()[1] > 1:
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t


def gather_rows(t: torch.Tensor) -> torch.Tensor:
    """The processes' `t` (N, ...) stacked in rank order (P * N, ...): the global batch's rows.

    Every process must pass the same shape (equal slices of the batch)."""
    _, size = world()
    if size == 1:
        return t
    parts = [torch.empty_like(t) for _ in range(size)]
    dist.all_gather(parts, t.contiguous())
    return torch.cat(parts)


def global_randn_like(t: torch.Tensor) -> torch.Tensor:
    """Standard normal noise shaped like `t` (B, ...): this process's rows of one draw for the
    global batch (P * B, ...), so the noise of every scan is the single-process run's.

    Every process keeps the same torch RNG state (same seed, same draws).
    """
    rank, size = world()
    if size == 1:
        return torch.randn_like(t)
    b = t.shape[0]
    noise = torch.randn((size * b, *t.shape[1:]), dtype=t.dtype, device=t.device)
    return noise[rank * b : (rank + 1) * b]
