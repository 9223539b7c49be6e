"""How an untrusted student process is confined.

Preferred: bubblewrap with its own mount, PID, network, IPC and UTS namespaces, an
allow-list of read-only binds (the Python runtime, the data directory, the in-kernel
probe), a size-limited tmpfs as the working folder, and a dedicated uid with rlimits.
When namespaces are unavailable a weaker fallback keeps the rlimits (and the uid when
running as root) and says so loudly in every result.
"""

from __future__ import annotations

import itertools
import os
import shutil
import signal
import subprocess
import sys
import threading
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path

PROBE_SOURCE = Path(__file__).parent / "probe"
PROBE_PACKAGE = "xaigrader_probe"
INSIDE_JOB = Path("/job")
INSIDE_CONTENT = Path("/content")
INSIDE_DATA = Path("/data")
INSIDE_EXCHANGE = Path("/exchange")
INSIDE_SUBMISSION = Path("/submission")
INSIDE_PROBE_ROOT = Path("/opt/xaigrader")
FIRST_SANDBOX_UID = 60000
FALLBACK_WARNING = (
    "WARNING: bubblewrap is unavailable, so student code ran in the weaker fallback sandbox "
    "(rlimits and a separate uid only): it can read world-readable files and may reach the network"
)
GiB = 1 << 30
MiB = 1 << 20


@dataclass(frozen=True)
class SandboxLimits:
    memory_bytes: int = 8 * GiB
    processes: int = 256
    file_size_bytes: int = 512 * MiB
    open_files: int = 1024
    threads: int = 1
    workdir_bytes: int = 1 * GiB
    exchange_bytes: int = 256 * MiB

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


@dataclass(frozen=True)
class JobPaths:
    """Host folders of one job; only these, the runtime and the data are visible inside."""

    root: Path
    exchange: Path
    runtime: Path
    submission: Path | None = None

    @classmethod
    def create(cls, root: Path, submission: Path | None = None) -> "JobPaths":
        exchange, runtime = root / "exchange", root / "runtime"
        for folder in (exchange, runtime):
            folder.mkdir(parents=True, exist_ok=True)
        return cls(root, exchange, runtime, submission)


@dataclass(frozen=True)
class InsideView:
    """Where the sandboxed process finds things; host paths in fallback mode."""

    workdir: Path
    content: Path
    data: Path
    exchange: Path
    submission: Path | None
    probe_root: Path


_uid_counter = itertools.count()
_uid_lock = threading.Lock()


def allocate_uid() -> int:
    """A uid per job so that process limits count that job alone."""
    with _uid_lock:
        return FIRST_SANDBOX_UID + (os.getpid() % 1000) * 4 + next(_uid_counter) % 4


@lru_cache(maxsize=1)
def bubblewrap_works() -> bool:
    """Start-up probe: can bubblewrap create the namespaces we need on this machine?"""
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        return False
    probe = [bwrap, *namespace_flags(), "--ro-bind", "/", "/", "--proc", "/proc", "--dev", "/dev", "true"]
    try:
        return subprocess.run(probe, capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def kill_processes_of(uid: int) -> int:
    """Without a PID namespace, a daemon the notebook started would outlive it: end them all."""
    killed = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
        except OSError:
            continue
        real_uid = next((line.split()[1] for line in status.splitlines() if line.startswith("Uid:")), None)
        if real_uid == str(uid):
            try:
                os.kill(int(entry.name), signal.SIGKILL)
                killed += 1
            except OSError:
                continue
    return killed


def namespace_flags() -> list[str]:
    common = ["--unshare-ipc", "--unshare-pid", "--unshare-uts", "--unshare-cgroup-try"]
    if os.geteuid() == 0:
        # As root we switch to a dedicated uid ourselves; a user namespace would map only uid 0.
        return common
    return ["--unshare-user", *common]


def python_runtime_roots() -> list[Path]:
    """The interpreter's install prefix and the virtual environment, if any."""
    roots = {Path(sys.base_prefix).resolve(), Path(sys.prefix).resolve()}
    return sorted(roots)


def _ancestors(path: Path) -> list[Path]:
    return [parent for parent in reversed(path.parents) if parent != Path("/")]


@dataclass
class Sandbox:
    limits: SandboxLimits = field(default_factory=SandboxLimits)
    allow_network: bool = False
    force_fallback: bool = False

    @property
    def mode(self) -> str:
        if not self.force_fallback and bubblewrap_works():
            return "bubblewrap"
        return "fallback"

    @property
    def warning(self) -> str | None:
        return FALLBACK_WARNING if self.mode == "fallback" else None

    def describe(self) -> dict[str, object]:
        return {
            "mode": self.mode,
            "limits": self.limits.as_dict(),
            "network": "allowed (--allow-network)" if self.allow_network else "disabled",
            "uid_switch": os.geteuid() == 0,
            "warning": self.warning,
        }

    def inside_view(self, job: JobPaths, data_dir: Path | None) -> InsideView:
        if self.mode == "bubblewrap":
            return InsideView(
                workdir=INSIDE_JOB,
                content=INSIDE_CONTENT,
                data=INSIDE_DATA if data_dir else Path("/nonexistent-data"),
                exchange=INSIDE_EXCHANGE,
                submission=INSIDE_SUBMISSION if job.submission else None,
                probe_root=INSIDE_PROBE_ROOT,
            )
        return InsideView(
            workdir=job.root / "work",
            content=job.root / "content",
            data=data_dir or Path("/nonexistent-data"),
            exchange=job.exchange,
            submission=job.submission,
            probe_root=job.root / "probe",
        )

    def prepare(self, job: JobPaths, uid: int | None) -> None:
        """Host-side folders and ownership the sandboxed uid needs."""
        if self.mode == "fallback":
            for folder in (job.root / "work", job.root / "content"):
                folder.mkdir(parents=True, exist_ok=True)
            probe_link = job.root / "probe" / PROBE_PACKAGE
            probe_link.parent.mkdir(parents=True, exist_ok=True)
            if not probe_link.exists():
                probe_link.symlink_to(PROBE_SOURCE, target_is_directory=True)
        if uid is not None:
            os.chmod(job.root, 0o711)
            for folder in [job.exchange, job.runtime] + (
                [job.root / "work", job.root / "content"] if self.mode == "fallback" else []
            ):
                os.chown(folder, uid, uid)
                os.chmod(folder, 0o700)

    def wrap(
        self,
        argv: list[str],
        job: JobPaths,
        data_dir: Path | None,
        environment: dict[str, str],
        uid: int | None,
    ) -> list[str]:
        """The command line that runs ``argv`` confined, with exactly ``environment``."""
        drop_privileges = []
        if uid is not None:
            drop_privileges = [
                "/usr/bin/setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups",
                "--bounding-set=-all", "--inh-caps=-all", "--no-new-privs", "--",
            ]
        limits = self.limits
        rlimits = [
            "/usr/bin/prlimit",
            f"--as={limits.memory_bytes}",
            f"--nproc={limits.processes}",
            f"--fsize={limits.file_size_bytes}",
            f"--nofile={limits.open_files}",
            "--core=0",
            "--",
        ]
        inner = rlimits + drop_privileges + argv
        if self.mode == "fallback":
            view = self.inside_view(job, data_dir)
            env_pairs = [f"{key}={value}" for key, value in environment.items()]
            return ["/usr/bin/env", "-i", "-C", str(view.workdir), *env_pairs, *inner]
        return self._bubblewrap_prefix(job, data_dir, environment) + inner

    def _bubblewrap_prefix(self, job: JobPaths, data_dir: Path | None, environment: dict[str, str]) -> list[str]:
        args = [shutil.which("bwrap") or "bwrap", *namespace_flags()]
        if not self.allow_network:
            args.append("--unshare-net")
        args += ["--die-with-parent", "--new-session"]
        if os.geteuid() != 0:
            # As root, setpriv needs CAP_SETUID to switch to the job's uid; it drops every
            # capability itself (bounding and inheritable sets) before running the kernel.
            args += ["--cap-drop", "ALL"]
        args += ["--ro-bind", "/usr", "/usr"]
        for name in ("bin", "lib", "lib64", "sbin"):
            target = Path("/") / name
            if target.is_symlink():
                args += ["--symlink", os.readlink(target), str(target)]
            elif target.is_dir():
                args += ["--ro-bind", str(target), str(target)]
        for etc_file in ("/etc/ld.so.cache", "/etc/fonts", "/etc/ssl", "/etc/localtime", "/etc/mime.types"):
            if os.path.exists(etc_file):
                args += ["--ro-bind", etc_file, etc_file]
        if self.allow_network and os.path.exists("/etc/resolv.conf"):
            args += ["--ro-bind", "/etc/resolv.conf", "/etc/resolv.conf"]
        # tmpfs mounts come before the binds: a later tmpfs would hide anything bound under it.
        size = str(self.limits.workdir_bytes)
        args += ["--proc", "/proc", "--dev", "/dev"]
        for writable in ("/tmp", str(INSIDE_JOB), str(INSIDE_CONTENT), "/dev/shm"):
            args += ["--perms", "1777", "--size", size, "--tmpfs", writable]
        created: set[Path] = set()

        def traversable_parents(path: Path) -> None:
            """bwrap would create missing parents 0700, hiding the bind from the job's uid."""
            for ancestor in _ancestors(path):
                if ancestor not in created:
                    args.extend(["--perms", "0755", "--dir", str(ancestor)])
                    created.add(ancestor)

        for root in python_runtime_roots():
            traversable_parents(root)
            args += ["--ro-bind", str(root), str(root)]
        traversable_parents(job.runtime)
        args += ["--bind", str(job.runtime), str(job.runtime)]
        args += ["--bind", str(job.exchange), str(INSIDE_EXCHANGE)]
        if data_dir is not None:
            args += ["--ro-bind", str(data_dir), str(INSIDE_DATA)]
        if job.submission is not None:
            args += ["--ro-bind", str(job.submission), str(INSIDE_SUBMISSION)]
        traversable_parents(INSIDE_PROBE_ROOT / PROBE_PACKAGE)
        args += ["--ro-bind", str(PROBE_SOURCE), str(INSIDE_PROBE_ROOT / PROBE_PACKAGE)]
        args += ["--clearenv"]
        for key, value in environment.items():
            args += ["--setenv", key, value]
        args += ["--chdir", str(INSIDE_JOB), "--remount-ro", "/", "--"]
        return args
