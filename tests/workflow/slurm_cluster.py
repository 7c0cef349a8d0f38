"""A real SLURM cluster (Debian slurm-wlm + munge) started for a test and stopped after it.

:func:`missing_requirements` says why one cannot start here (not root, binaries absent, a foreign
/etc/slurm/slurm.conf, the executor plugin absent); :func:`cluster` starts munged, slurmctld and
one slurmd per node with every file in a private folder under /tmp, one partition ``debug`` and
one GPU per node declared as a generic resource (backed by a regular file: scheduling only, no
device), and stops every daemon it started on the way out, also when the test fails. One node is
this host under its own name; N > 1 nodes are N slurmd daemons on this host (node1..nodeN, own
ports, the machine's CPUs and memory shared out), which SLURM schedules as separate nodes: a job
can span them and srun starts one task on each. Finished jobs stay listed (`squeue -t all`) for
an hour (MinJobAge), so that a test can check what each job asked for. Facts this relies on:
../shared/notes/SLURM.md.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

DAEMONS = ("munged", "mungekey", "slurmctld", "slurmd", "sbatch", "squeue", "sinfo")
#: The plugin's job step strips SLURM_CONF before `srun`, so srun finds the config only here.
SYSTEM_CONF = Path("/etc/slurm/slurm.conf")


def missing_requirements() -> str | None:
    """Why a cluster cannot be started on this machine, or None."""
    if os.geteuid() != 0:
        return "starting slurmctld/slurmd needs root"
    absent = [name for name in DAEMONS if shutil.which(name) is None]
    if absent:
        return f"{', '.join(absent)} not installed (Debian packages slurm-wlm and munge)"
    if SYSTEM_CONF.exists() and not SYSTEM_CONF.is_symlink():
        return f"{SYSTEM_CONF} exists: this machine has its own SLURM configuration"
    try:
        import snakemake_executor_plugin_slurm  # noqa: F401
    except ImportError:
        return "snakemake-executor-plugin-slurm is not installed (make venv-slurm)"
    return None


def _write_config(root: Path, host: str, nodes: list[str]) -> Path:
    cpus = max(1, (os.cpu_count() or 1) // len(nodes))
    mem_mb = int(
        os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**20 * 0.8 / len(nodes)
    )
    gres = []
    for name in nodes:
        (root / f"gpu-{name}").write_text("")  # gres File= must exist; no device behind it
        gres.append(f"NodeName={name} Name=gpu File={root / f'gpu-{name}'}")
    (root / "gres.conf").write_text("\n".join(gres) + "\n")
    (root / "cgroup.conf").write_text("CgroupPlugin=cgroup/v1\n")  # slurmd needs a valid one
    for folder in ("state", "spool"):
        (root / folder).mkdir()
    if nodes == [host]:
        node_lines = [f"NodeName={host} CPUs={cpus} RealMemory={mem_mb} Gres=gpu:1 State=UNKNOWN"]
    else:  # several slurmd on this host: each its own name, port, spool, pid and log file (%n)
        node_lines = [
            f"NodeName={name} NodeHostname={host} NodeAddr=127.0.0.1 Port={17000 + i} "
            f"CPUs={cpus} RealMemory={mem_mb} Gres=gpu:1 State=UNKNOWN"
            for i, name in enumerate(nodes)
        ]
    conf = root / "slurm.conf"
    conf.write_text(
        f"""ClusterName=latentcf-test
SlurmctldHost={host}
SlurmUser=root
AuthType=auth/munge
AuthInfo=socket={root / "munge" / "munge.socket.2"}
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
MinJobAge=3600
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
GresTypes=gpu
ReturnToService=2
StateSaveLocation={root / "state"}
SlurmdSpoolDir={root / "spool" / "%n"}
SlurmctldPidFile={root / "slurmctld.pid"}
SlurmdPidFile={root / "slurmd-%n.pid"}
SlurmctldLogFile={root / "slurmctld.log"}
SlurmdLogFile={root / "slurmd-%n.log"}
{chr(10).join(node_lines)}
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
"""
    )
    return conf


def _start_munge(root: Path) -> None:
    folder = root / "munge"
    folder.mkdir(mode=0o755)
    shutil.chown(folder, "munge", "munge")
    key = folder / "munge.key"
    subprocess.run(["mungekey", "--create", "--keyfile", str(key)], check=True)
    shutil.chown(key, "munge", "munge")
    key.chmod(0o600)
    subprocess.run(
        [
            "runuser", "-u", "munge", "--", "munged", "--key-file", str(key),
            "--socket", str(folder / "munge.socket.2"), "--pid-file", str(folder / "munged.pid"),
            "--log-file", str(folder / "munged.log"), "--seed-file", str(folder / "munged.seed"),
        ],
        check=True,
    )  # fmt: skip


def _stop(pid_file: Path) -> None:
    """SIGTERM the daemon named in `pid_file`, then wait (SIGKILL after 10 s)."""
    with contextlib.suppress(FileNotFoundError, ValueError, ProcessLookupError):
        pid = int(pid_file.read_text().strip())
        os.kill(pid, signal.SIGTERM)
        for _ in range(100):
            os.kill(pid, 0)  # ProcessLookupError once it is gone
            time.sleep(0.1)
        os.kill(pid, signal.SIGKILL)


def _wait_idle(env: dict[str, str], root: Path, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    states: set[str] = set()
    while time.monotonic() < deadline:
        result = subprocess.run(
            ["sinfo", "-h", "-N", "-o", "%T"], capture_output=True, text=True, env=env, check=False
        )
        states = set(result.stdout.split())
        if states == {"idle"}:
            return
        time.sleep(0.5)
    logs = "\n".join(
        f"--- {path.name}\n{path.read_text()[-2000:]}" for path in sorted(root.glob("slurm*.log"))
    )
    raise RuntimeError(
        f"the test cluster's nodes are {states}, not all idle after {seconds} s\n{logs}"
    )


@contextlib.contextmanager
def cluster(nodes: int = 1) -> Iterator[dict[str, str]]:
    """Start a cluster of `nodes` nodes; yield the environment (SLURM_CONF set) its clients need."""
    root = Path(tempfile.mkdtemp(prefix="latentcf-slurm-"))
    root.chmod(0o755)  # munged (user munge) must reach its socket folder
    host = socket.gethostname().split(".")[0]
    names = [host] if nodes == 1 else [f"node{i + 1}" for i in range(nodes)]
    conf = _write_config(root, host, names)
    env = {**os.environ, "SLURM_CONF": str(conf)}
    linked = False
    try:
        _start_munge(root)
        SYSTEM_CONF.parent.mkdir(parents=True, exist_ok=True)
        if SYSTEM_CONF.is_symlink():
            SYSTEM_CONF.unlink()  # left behind by a killed earlier run
        SYSTEM_CONF.symlink_to(conf)
        linked = True
        subprocess.run(["slurmctld", "-f", str(conf)], check=True, env=env)
        for name in names:
            node = [] if nodes == 1 else ["-N", name]
            subprocess.run(["slurmd", "-f", str(conf), *node], check=True, env=env)
        _wait_idle(env, root)
        yield env
    finally:
        for name in names:
            _stop(root / f"slurmd-{name}.pid")
        for pid_file in ("slurmctld.pid", "munge/munged.pid"):
            _stop(root / pid_file)
        if linked:
            SYSTEM_CONF.unlink()
        shutil.rmtree(root, ignore_errors=True)


@contextlib.contextmanager
def cluster_for_test(nodes: int = 1) -> Iterator[dict[str, str]]:
    """:func:`cluster`, or skip the test saying why none can start here (fail it under CI)."""
    reason = missing_requirements()
    if reason:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must run the SLURM tests, but no cluster can start: {reason}")
        pytest.skip(f"no SLURM cluster can start here: {reason}")
    with cluster(nodes) as env:
        yield env
