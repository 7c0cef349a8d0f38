"""A real single-node SLURM cluster (Debian slurm-wlm + munge) started for a test and stopped after it.

:func:`missing_requirements` says why one cannot start here (not root, binaries absent, a foreign
/etc/slurm/slurm.conf); :func:`single_node_cluster` starts munged, slurmctld and slurmd with every
file in a private folder under /tmp, one partition ``debug`` and one GPU declared as a generic
resource (backed by a regular file: scheduling only, no device), and stops every daemon it started
on the way out, also when the test fails. Finished jobs stay listed (`squeue -t all`) for an hour
(MinJobAge), so that a test can check what each job asked for. Facts this relies on:
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
    return None


def _write_config(root: Path, host: str) -> Path:
    cpus = os.cpu_count() or 1
    mem_mb = int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**20 * 0.8)
    (root / "gpu0").write_text("")  # gres File= must exist; no device behind it
    (root / "gres.conf").write_text(f"Name=gpu File={root / 'gpu0'}\n")
    (root / "cgroup.conf").write_text("CgroupPlugin=cgroup/v1\n")  # slurmd needs a valid one
    for folder in ("state", "spool"):
        (root / folder).mkdir()
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
SlurmdSpoolDir={root / "spool"}
SlurmctldPidFile={root / "slurmctld.pid"}
SlurmdPidFile={root / "slurmd.pid"}
SlurmctldLogFile={root / "slurmctld.log"}
SlurmdLogFile={root / "slurmd.log"}
NodeName={host} CPUs={cpus} RealMemory={mem_mb} Gres=gpu:1 State=UNKNOWN
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
    state = ""
    while time.monotonic() < deadline:
        result = subprocess.run(
            ["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, env=env, check=False
        )
        state = result.stdout.strip()
        if state == "idle":
            return
        time.sleep(0.5)
    logs = "\n".join(
        f"--- {name}\n{(root / name).read_text()[-2000:]}"
        for name in ("slurmctld.log", "slurmd.log")
        if (root / name).exists()
    )
    raise RuntimeError(f"the test cluster's node is {state!r} after {seconds} s, not idle\n{logs}")


@contextlib.contextmanager
def single_node_cluster() -> Iterator[dict[str, str]]:
    """Start the cluster; yield the environment (SLURM_CONF set) that its clients need."""
    root = Path(tempfile.mkdtemp(prefix="latentcf-slurm-"))
    root.chmod(0o755)  # munged (user munge) must reach its socket folder
    host = socket.gethostname().split(".")[0]
    conf = _write_config(root, host)
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
        subprocess.run(["slurmd", "-f", str(conf)], check=True, env=env)
        _wait_idle(env, root)
        yield env
    finally:
        for pid_file in ("slurmd.pid", "slurmctld.pid", "munge/munged.pid"):
            _stop(root / pid_file)
        if linked:
            SYSTEM_CONF.unlink()
        shutil.rmtree(root, ignore_errors=True)
