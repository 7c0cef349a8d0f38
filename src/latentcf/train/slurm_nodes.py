"""Training on several nodes of a SLURM allocation (`train.distributed.nodes` > 1).

The training job (profiles/slurm: ``--nodes=N --ntasks=N``) runs the rule on the allocation's
first node; :func:`srun_command` starts one task per node with ``srun``, and each task
(``python -m latentcf.train.slurm_nodes``, :func:`main`) becomes torchrun with its node's rank
(SLURM_NODEID) and static rendezvous at the first node: node k runs the global ranks
k*P .. k*P+P-1 (P = processes per node), the same order on every run, so data slices and rank 0
are the same as on one node. Nodes reach the first node by its host name; the files (spec,
checkpoints) must be on a file system every node sees, as Snakemake's outputs already are.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import sys
from pathlib import Path

from latentcf.errors import ConfigError


def slurm_job_id() -> str:
    """The SLURM job this process runs in; ConfigError outside one (several nodes need one)."""
    job_id = os.environ.get("SLURM_JOB_ID", "")
    if not job_id or shutil.which("srun") is None:
        raise ConfigError(
            "train.distributed.nodes",
            "expected to run inside a SLURM job (SLURM_JOB_ID set, srun on PATH) to train on "
            f"several nodes, got {'no srun' if job_id else 'no SLURM job'}",
            "Run the workflow with --profile profiles/slurm (the training job then asks for the "
            "nodes), or set train.distributed.nodes: 1 to train on this machine",
        )
    return job_id


def free_port() -> int:
    """A TCP port free on this host now (the rendezvous port on the first node)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("", 0))
        return int(sock.getsockname()[1])


def srun_command(
    nodes: int, processes: int, threads: int, gpus: bool, spec_path: Path, master: str
) -> list[str]:
    """The srun line that starts one torchrun per node of this job.

    threads: CPUs per node (the rule's threads); gpus: one GPU per process on each node;
    master: "host:port" of the rendezvous (this, the first, node).
    """
    return [
        "srun",
        f"--jobid={slurm_job_id()}",
        f"--nodes={nodes}",
        f"--ntasks={nodes}",
        "--ntasks-per-node=1",
        f"--cpus-per-task={threads}",
        *([f"--gpus-per-node={processes}"] if gpus else []),
        "--kill-on-bad-exit=1",  # one node failing stops the others (no hung rendezvous)
        sys.executable,
        "-m",
        "latentcf.train.slurm_nodes",
        f"--nodes={nodes}",
        f"--processes={processes}",
        f"--master={master}",
        str(spec_path),
    ]


def torchrun_arguments(
    nodes: int, processes: int, node_rank: int, master: str, spec_path: Path
) -> list[str]:
    """torchrun's arguments for node `node_rank` (static rendezvous at `master`)."""
    host, port = master.rsplit(":", 1)
    return [
        f"--nnodes={nodes}",
        f"--nproc-per-node={processes}",
        f"--node-rank={node_rank}",
        f"--master-addr={host}",
        f"--master-port={port}",
        "-m",
        "latentcf.train.worker",
        str(spec_path),
    ]


def main(argv: list[str] | None = None) -> None:
    """One srun task: become torchrun for this node (its rank from SLURM_NODEID)."""
    parser = argparse.ArgumentParser(prog="python -m latentcf.train.slurm_nodes")
    parser.add_argument("--nodes", type=int, required=True)
    parser.add_argument("--processes", type=int, required=True)
    parser.add_argument("--master", required=True, help="host:port of the rendezvous")
    parser.add_argument("spec", type=Path)
    args = parser.parse_args(argv)
    node_rank = int(os.environ["SLURM_NODEID"])
    arguments = torchrun_arguments(args.nodes, args.processes, node_rank, args.master, args.spec)
    node = os.environ.get("SLURMD_NODENAME", socket.gethostname())
    print(f"node {node_rank} ({node}): torchrun {' '.join(arguments)}", flush=True)
    os.execv(sys.executable, [sys.executable, "-m", "torch.distributed.run", *arguments])


if __name__ == "__main__":
    main()
