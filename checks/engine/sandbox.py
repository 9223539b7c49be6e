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
import stat
import subprocess
import sys
import threading
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path

from checks.engine.job_cgroup import JobCgroup
from checks.engine.seccomp_filter import (
    SECCOMP_FD,
    UnsupportedArchitecture,
    bwrap_supports,
    open_on_fd_prefix,
    seccomp_program,
    write_program,
)
from checks.engine.seccomp_filter import describe as describe_seccomp

PROBE_SOURCE = Path(__file__).parent.parent / "probe"
PROBE_PACKAGE = "xaigrader_probe"
INSIDE_JOB = Path("/job")
INSIDE_CONTENT = Path("/content")
INSIDE_DATA = Path("/data")
INSIDE_EXCHANGE = Path("/exchange")
INSIDE_INBOX = Path("/inbox")
INSIDE_RUNTIME = Path("/kernel")
INSIDE_SUBMISSION = Path("/submission")
INSIDE_PROBE_ROOT = Path("/opt/xaigrader")
FIRST_SANDBOX_UID = 60000
FALLBACK_WARNING = (
    "WARNING: bubblewrap is unavailable, so student code ran in the weaker fallback sandbox "
    "(rlimits and a separate uid only): it can read world-readable files and may reach the network"
)
OPTIONS_FD = 4
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
    exchange_inodes: int = 50_000

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


@dataclass(frozen=True)
class JobPaths:
    """Host folders of one job, under a root the kernel can neither see nor write.

    ``inbox`` carries the grader's files to the kernel (probe configuration, requests) and
    is read-only inside; ``submission`` is a copy of the files handed in, so no path of the
    grader's output appears inside the sandbox.
    """

    root: Path
    inbox: Path
    submission: Path | None = None

    @classmethod
    def create(cls, root: Path, submission: Path | None = None) -> JobPaths:
        inbox = root / "inbox"
        (inbox / "calls").mkdir(parents=True, exist_ok=True)
        copy = None
        if submission is not None:
            copy = root / "submission"
            shutil.copytree(submission, copy, ignore=not_plain, dirs_exist_ok=True)
        return cls(root, inbox, copy)


def not_plain(folder: str, names: list[str]) -> list[str]:
    """Names ``shutil.copytree`` must skip: links, and anything neither a file nor a folder (a fifo's copy would
    wait for a writer forever)."""
    skipped = []
    for name in names:
        mode = os.lstat(os.path.join(folder, name)).st_mode
        if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
            skipped.append(name)
    return skipped


def readable(path: Path, uid: int | None) -> None:
    """Let the job's uid read a file or folder the grader made, and nobody else."""
    if uid is not None:
        os.chown(path, 0, uid)
        os.chmod(path, 0o750 if path.is_dir() else 0o640)


@dataclass(frozen=True)
class Generation:
    """The folders one kernel start may write: fresh each time, so nothing a dead kernel
    left behind (a link where a folder was) is used again."""

    number: int
    exchange: Path
    runtime: Path


@dataclass(frozen=True)
class InsideView:
    """Where the sandboxed process finds things; host paths in fallback mode."""

    workdir: Path
    content: Path
    data: Path
    exchange: Path
    inbox: Path
    runtime: Path
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


@lru_cache(maxsize=1)
def seccomp_available() -> bool:
    """The filter exists for this machine's architecture (x86_64 and aarch64)."""
    try:
        seccomp_program()
    except UnsupportedArchitecture:
        return False
    return True


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
        # The seccomp filter then refuses new user namespaces inside.
        return common
    nested = ["--disable-userns"] if bwrap_supports("--disable-userns") else []
    return ["--unshare-user", *nested, *common]


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
            "seccomp": describe_seccomp() if self.mode == "bubblewrap" and seccomp_available() else None,
            "warning": self.warning,
        }

    def inside_view(self, job: JobPaths, generation: Generation, data_dir: Path | None) -> InsideView:
        if self.mode == "bubblewrap":
            return InsideView(
                workdir=INSIDE_JOB,
                content=INSIDE_CONTENT,
                data=INSIDE_DATA if data_dir else Path("/nonexistent-data"),
                exchange=INSIDE_EXCHANGE,
                inbox=INSIDE_INBOX,
                runtime=INSIDE_RUNTIME,
                submission=INSIDE_SUBMISSION if job.submission else None,
                probe_root=INSIDE_PROBE_ROOT,
            )
        return InsideView(
            workdir=job.root / "work",
            content=job.root / "content",
            data=data_dir or Path("/nonexistent-data"),
            exchange=generation.exchange,
            inbox=job.inbox,
            runtime=generation.runtime,
            submission=job.submission,
            probe_root=job.root / "probe",
        )

    def prepare(self, job: JobPaths, uid: int | None) -> None:
        """Host-side folders and ownership the sandboxed uid needs: it may read the inbox and
        the submission, and write only its own work folders (and each generation's)."""
        if self.mode == "fallback":
            for folder in (job.root / "work", job.root / "content"):
                folder.mkdir(parents=True, exist_ok=True)
            probe_link = job.root / "probe" / PROBE_PACKAGE
            probe_link.parent.mkdir(parents=True, exist_ok=True)
            if not probe_link.exists():
                probe_link.symlink_to(PROBE_SOURCE, target_is_directory=True)
        if uid is not None:
            os.chmod(job.root, 0o711)
            readable(job.inbox, uid)
            readable(job.inbox / "calls", uid)
            if self.mode == "fallback":
                for folder in (job.root / "work", job.root / "content"):
                    os.chown(folder, uid, uid)
                    os.chmod(folder, 0o700)

    def wrap(
        self,
        argv: list[str],
        job: JobPaths,
        generation: Generation,
        data_dir: Path | None,
        environment: dict[str, str],
        uid: int | None,
        job_cgroup: JobCgroup | None = None,
    ) -> list[str]:
        """The command line that runs ``argv`` confined, with exactly ``environment``; inside the
        job's cgroup when there is one, so memory and processes are limited for the job as a whole."""
        joined = job_cgroup.command_prefix() if job_cgroup is not None else []
        drop_privileges = []
        if uid is not None:
            drop_privileges = [
                "/usr/bin/setpriv",
                f"--reuid={uid}",
                f"--regid={uid}",
                "--clear-groups",
                "--bounding-set=-all",
                "--inh-caps=-all",
                "--no-new-privs",
                "--",
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
            view = self.inside_view(job, generation, data_dir)
            env_pairs = [f"{key}={value}" for key, value in environment.items()]
            return joined + ["/usr/bin/env", "-i", "-C", str(view.workdir), *env_pairs, *inner]
        # bwrap reads its options and its seccomp filter from descriptors the command line opens
        # (jupyter_client closes inherited ones), so the sandbox's pid 1 shows no host path.
        options = self._bubblewrap_options(job, generation, data_dir, environment)
        options_file = job.root / f"bwrap-{generation.number}.args"
        options_file.write_bytes(b"".join(option.encode() + b"\0" for option in options))
        os.chmod(options_file, 0o600)
        bwrap = [shutil.which("bwrap") or "bwrap", "--args", str(OPTIONS_FD)]
        opened = open_on_fd_prefix(options_file, OPTIONS_FD)
        filter_file = job.root / "seccomp.bpf"
        if seccomp_available():
            if not filter_file.exists():
                write_program(filter_file)
            opened += open_on_fd_prefix(filter_file, SECCOMP_FD)
            bwrap += ["--seccomp", str(SECCOMP_FD)]
        return joined + opened + bwrap + ["--", *inner]

    def _bubblewrap_options(
        self, job: JobPaths, generation: Generation, data_dir: Path | None, environment: dict[str, str]
    ) -> list[str]:
        args = [*namespace_flags()]
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
        args += ["--bind", str(generation.runtime), str(INSIDE_RUNTIME)]
        args += ["--bind", str(generation.exchange), str(INSIDE_EXCHANGE)]
        args += ["--ro-bind", str(job.inbox), str(INSIDE_INBOX)]
        if data_dir is not None:
            args += ["--ro-bind", str(data_dir), str(INSIDE_DATA)]
        if job.submission is not None:
            args += ["--ro-bind", str(job.submission), str(INSIDE_SUBMISSION)]
        traversable_parents(INSIDE_PROBE_ROOT / PROBE_PACKAGE)
        args += ["--ro-bind", str(PROBE_SOURCE), str(INSIDE_PROBE_ROOT / PROBE_PACKAGE)]
        args += ["--clearenv"]
        for key, value in environment.items():
            args += ["--setenv", key, value]
        args += ["--chdir", str(INSIDE_JOB), "--remount-ro", "/"]
        return args
