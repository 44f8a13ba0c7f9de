"""A one-node SLURM cluster on localhost, for testing the workflow's SLURM profile for real.

Needs root and Debian's ``slurm-wlm`` and ``munge`` packages (``.ci/run`` installs
them where it can). :class:`LocalSlurm` writes a minimal ``slurm.conf`` into a
temporary directory, starts ``munged``, ``slurmctld`` and ``slurmd`` there, and
stops them again; nothing outside that directory is configured. The node is this
machine under its own host name, with partitions ``cpu`` and ``gpu`` (the names
``profiles/slurm`` uses) on it. Without accounting ``sacct`` cannot answer, so
jobs are followed with ``squeue``.

One path outside that directory is touched: the executor plugin clears ``SLURM_*``
variables, so the ``srun`` inside each job finds its configuration only at the
default ``/etc/slurm/slurm.conf``. :class:`LocalSlurm` links it there while the
cluster runs, and refuses to start where a slurm.conf already exists.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

#: Programs the cluster needs, and where Debian puts the daemons.
PROGRAMS = ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "sinfo", "scontrol")
SEARCH_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])


def missing_requirements() -> list[str]:
    """What this machine lacks to run the cluster (empty when it can)."""
    missing = [p for p in PROGRAMS if shutil.which(p, path=SEARCH_PATH) is None]
    if os.geteuid() != 0:
        missing.append("root")
    return missing


SLURM_CONF = """\
ClusterName=odebench
SlurmctldHost={host}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={root}/munge.socket
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
ReturnToService=2
SlurmctldPort={ctld_port}
SlurmdPort={d_port}
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool
SlurmctldPidFile={root}/slurmctld.pid
SlurmdPidFile={root}/slurmd.pid
SlurmctldLogFile={root}/slurmctld.log
SlurmdLogFile={root}/slurmd.log
NodeName={host} CPUs={cpus} RealMemory={memory_mb} State=UNKNOWN
PartitionName=cpu Nodes={host} Default=YES MaxTime=INFINITE State=UP
PartitionName=gpu Nodes={host} MaxTime=INFINITE State=UP
"""


class LocalSlurm:
    """Start and stop munged, slurmctld and slurmd with their state under ``root``."""

    def __init__(self, root: Path, cpus: int | None = None, memory_mb: int = 16_000):
        self.root = Path(root)
        self.host = socket.gethostname()
        self.cpus = cpus or os.cpu_count() or 1
        self.memory_mb = memory_mb
        self.conf = self.root / "slurm.conf"
        self.socket = self.root / "munge.socket"
        self.system_conf = Path("/etc/slurm/slurm.conf")
        self._munged: subprocess.Popen | None = None

    @property
    def env(self) -> dict[str, str]:
        """The environment in which SLURM's commands talk to this cluster."""
        return os.environ | {"SLURM_CONF": str(self.conf), "PATH": SEARCH_PATH}

    def _run(self, *command: str, timeout: float = 30) -> subprocess.CompletedProcess:
        return subprocess.run(command, env=self.env, capture_output=True, text=True,
                              timeout=timeout, check=True)  # fmt: skip

    def start(self, timeout: float = 60) -> None:
        for sub in ("state", "spool", "munge"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        key = self.root / "munge" / "munge.key"
        key.write_bytes(os.urandom(1024))
        key.chmod(0o400)
        self._munged = subprocess.Popen(
            [shutil.which("munged", path=SEARCH_PATH), "--foreground", "--force",
             f"--key-file={key}", f"--socket={self.socket}",
             f"--pid-file={self.root / 'munge' / 'munged.pid'}",
             f"--log-file={self.root / 'munge' / 'munged.log'}",
             f"--seed-file={self.root / 'munge' / 'munged.seed'}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        self._wait(lambda: self.socket.exists(), timeout, "munged did not create its socket")
        ctld_port, d_port = _free_port(), _free_port()
        self.conf.write_text(SLURM_CONF.format(
            host=self.host, root=self.root, cpus=self.cpus, memory_mb=self.memory_mb,
            ctld_port=ctld_port, d_port=d_port,
        ))  # fmt: skip
        if self.system_conf.exists() or self.system_conf.is_symlink():
            raise RuntimeError(f"{self.system_conf} exists: not a machine for a throwaway cluster")
        self.system_conf.parent.mkdir(parents=True, exist_ok=True)
        self.system_conf.symlink_to(self.conf)
        self._run("slurmctld", "-c")
        self._run("slurmd", "-c")
        self._wait(self._node_idle, timeout, "the node did not become idle")

    def _node_idle(self) -> bool:
        try:
            state = self._run("sinfo", "--noheader", "--format=%T").stdout
        except subprocess.CalledProcessError:
            return False
        return "idle" in state

    def _wait(self, ready, timeout: float, message: str) -> None:
        deadline = time.monotonic() + timeout
        while not ready():
            if time.monotonic() > deadline:
                raise RuntimeError(f"{message} within {timeout:.0f} s; logs in {self.root}")
            time.sleep(0.5)

    def stop(self) -> None:
        try:
            self._run("scontrol", "shutdown")
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired, FileNotFoundError):
            pass
        for pid_file in ("slurmd.pid", "slurmctld.pid"):
            pid = self.root / pid_file
            if pid.is_file():
                try:
                    os.kill(int(pid.read_text().strip()), 15)
                except (ProcessLookupError, ValueError):
                    pass
        if self._munged is not None:
            self._munged.terminate()
            self._munged.wait(timeout=10)
        if self.system_conf.is_symlink() and self.system_conf.resolve() == self.conf.resolve():
            self.system_conf.unlink()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("", 0))
        return s.getsockname()[1]
