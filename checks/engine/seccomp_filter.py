"""A seccomp filter for the sandboxed kernel, handed to bubblewrap's ``--seccomp FD``.

As root the grader does not give bwrap ``--unshare-user`` (it switches to the job's uid
with setpriv instead), so bwrap's ``--disable-userns`` is unavailable (it requires
``--unshare-user``) and the job's uid could otherwise create a user namespace in which
it holds every capability (``unshare -Ur`` succeeds). This filter is that guard: it
refuses new namespaces and a set of kernel interfaces no notebook needs, and lets
everything else through. It is a classic BPF program built with ``struct`` so that no
dependency (libseccomp) is needed.
"""

from __future__ import annotations

import errno
import os
import platform
import shutil
import struct
import subprocess
import sys
from functools import cache
from pathlib import Path

# Syscall numbers as (x86_64, aarch64). x86_64: the kernel's
# arch/x86/entry/syscalls/syscall_64.tbl (the "common"/"64" rows); aarch64 uses the
# generic table, include/uapi/asm-generic/unistd.h. Numbers from 424 on are shared by
# every architecture. tests/engine/test_seccomp_filter.py checks them against the
# installed headers when present.
SYSCALL_NUMBERS: dict[str, tuple[int, int]] = {
    "acct": (163, 89),
    "add_key": (248, 217),
    "adjtimex": (159, 171),
    "bpf": (321, 280),
    "clock_adjtime": (305, 266),
    "clock_settime": (227, 112),
    "clone": (56, 220),
    "clone3": (435, 435),
    "delete_module": (176, 106),
    "finit_module": (313, 273),
    "fsconfig": (431, 431),
    "fsmount": (432, 432),
    "fsopen": (430, 430),
    "fspick": (433, 433),
    "init_module": (175, 105),
    "io_uring_enter": (426, 426),
    "io_uring_register": (427, 427),
    "io_uring_setup": (425, 425),
    "kcmp": (312, 272),
    "kexec_file_load": (320, 294),
    "kexec_load": (246, 104),
    "keyctl": (250, 219),
    "lookup_dcookie": (212, 18),
    "mount": (165, 40),
    "mount_setattr": (442, 442),
    "move_mount": (429, 429),
    "name_to_handle_at": (303, 264),
    "open_by_handle_at": (304, 265),
    "open_tree": (428, 428),
    "perf_event_open": (298, 241),
    "personality": (135, 92),
    "pidfd_getfd": (438, 438),
    "pivot_root": (155, 41),
    "process_madvise": (440, 440),
    "process_vm_readv": (310, 270),
    "process_vm_writev": (311, 271),
    "ptrace": (101, 117),
    "quotactl": (179, 60),
    "quotactl_fd": (443, 443),
    "reboot": (169, 142),
    "request_key": (249, 218),
    "setns": (308, 268),
    "settimeofday": (164, 170),
    "swapoff": (168, 225),
    "swapon": (167, 224),
    "syslog": (103, 116),
    "umount2": (166, 39),
    "unshare": (272, 97),
    "userfaultfd": (323, 282),
}

# Refused with EPERM whatever the arguments. unshare is refused outright: neither
# Python, ipykernel nor torch call it, and its only use here would be a new namespace.
DENIED_SYSCALLS: tuple[str, ...] = (
    "acct",
    "add_key",
    "adjtimex",
    "bpf",
    "clock_adjtime",
    "clock_settime",
    "delete_module",
    "finit_module",
    "fsconfig",
    "fsmount",
    "fsopen",
    "fspick",
    "init_module",
    "io_uring_enter",
    "io_uring_register",
    "io_uring_setup",
    "kcmp",
    "kexec_file_load",
    "kexec_load",
    "keyctl",
    "lookup_dcookie",
    "mount",
    "mount_setattr",
    "move_mount",
    "name_to_handle_at",
    "open_by_handle_at",
    "open_tree",
    "perf_event_open",
    "pidfd_getfd",
    "pivot_root",
    "process_madvise",
    "process_vm_readv",
    "process_vm_writev",
    "ptrace",
    "quotactl",
    "quotactl_fd",
    "reboot",
    "request_key",
    "setns",
    "settimeofday",
    "swapoff",
    "swapon",
    "syslog",
    "umount2",
    "unshare",
    "userfaultfd",
)
# Refused with EPERM only for some arguments.
ARGUMENT_CHECKED_SYSCALLS: dict[str, str] = {
    "clone": "with any CLONE_NEW* namespace flag",
    "personality": "other than the default or a query",
}
# Answered ENOSYS so that glibc falls back to clone, whose flags a filter can read
# (clone3 passes them in memory, out of the filter's reach).
UNAVAILABLE_SYSCALLS: tuple[str, ...] = ("clone3",)

AUDIT_ARCH = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}
X32_SYSCALL_BIT = 0x40000000
# CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER |
# CLONE_NEWPID | CLONE_NEWNET (CLONE_NEWTIME is only reachable through clone3/unshare).
CLONE_NAMESPACE_FLAGS = 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000
# personality(2) values Docker's default profile also allows: PER_LINUX, UNAME26,
# PER_LINUX32, PER_LINUX32|UNAME26 and 0xffffffff (query only).
ALLOWED_PERSONALITIES = (0x0, 0x0008, 0x20000, 0x20008, 0xFFFFFFFF)

# bwrap reads the program from this fd (``--seccomp 3``) and closes it before the exec.
SECCOMP_FD = 3

SECCOMP_RET_KILL_PROCESS = 0x80000000
SECCOMP_RET_ERRNO = 0x00050000
SECCOMP_RET_ALLOW = 0x7FFF0000

_LD_ABS_W = 0x20  # BPF_LD | BPF_W | BPF_ABS
_JEQ_K = 0x15  # BPF_JMP | BPF_JEQ | BPF_K
_JGE_K = 0x35  # BPF_JMP | BPF_JGE | BPF_K
_JSET_K = 0x45  # BPF_JMP | BPF_JSET | BPF_K
_RET_K = 0x06  # BPF_RET | BPF_K

# struct seccomp_data: int nr; __u32 arch; __u64 instruction_pointer; __u64 args[6].
_NR_OFFSET = 0
_ARCH_OFFSET = 4
_ARG0_LOW_OFFSET = 16  # the low 32 bits of args[0] on a little-endian machine

_Target = int | str  # 0 = the next instruction, or a label


class UnsupportedArchitecture(RuntimeError):
    """No syscall table for this machine: run without the filter and say so."""


def seccomp_program(machine: str | None = None) -> bytes:
    """The raw ``struct sock_filter`` array bwrap reads from its ``--seccomp`` fd."""
    machine = machine or platform.machine()
    if machine not in AUDIT_ARCH or sys.byteorder != "little":
        raise UnsupportedArchitecture(f"no seccomp syscall table for {machine}")
    column = 0 if machine == "x86_64" else 1

    def number(name: str) -> int:
        return SYSCALL_NUMBERS[name][column]

    code: list[tuple[int, _Target, _Target, int]] = [
        (_LD_ABS_W, 0, 0, _ARCH_OFFSET),
        (_JEQ_K, 0, "kill", AUDIT_ARCH[machine]),
        (_LD_ABS_W, 0, 0, _NR_OFFSET),
    ]
    if machine == "x86_64":
        code.append((_JGE_K, "kill", 0, X32_SYSCALL_BIT))
    code += [(_JEQ_K, "eperm", 0, number(name)) for name in DENIED_SYSCALLS]
    code += [(_JEQ_K, "enosys", 0, number(name)) for name in UNAVAILABLE_SYSCALLS]
    code += [
        (_JEQ_K, "clone", 0, number("clone")),
        (_JEQ_K, "personality", 0, number("personality")),
        (_RET_K, 0, 0, SECCOMP_RET_ALLOW),
    ]
    labels = {"clone": len(code)}
    # Only the low 32 bits of clone's flags reach the kernel (kernel_clone_args).
    code += [(_LD_ABS_W, 0, 0, _ARG0_LOW_OFFSET), (_JSET_K, "eperm", "allow", CLONE_NAMESPACE_FLAGS)]
    labels["personality"] = len(code)
    code.append((_LD_ABS_W, 0, 0, _ARG0_LOW_OFFSET))
    code += [(_JEQ_K, "allow", 0, value) for value in ALLOWED_PERSONALITIES]
    labels["eperm"] = len(code)
    code.append((_RET_K, 0, 0, SECCOMP_RET_ERRNO | errno.EPERM))
    labels["allow"] = len(code)
    code.append((_RET_K, 0, 0, SECCOMP_RET_ALLOW))
    labels["enosys"] = len(code)
    code.append((_RET_K, 0, 0, SECCOMP_RET_ERRNO | errno.ENOSYS))
    labels["kill"] = len(code)
    code.append((_RET_K, 0, 0, SECCOMP_RET_KILL_PROCESS))
    return b"".join(_encode(index, instruction, labels) for index, instruction in enumerate(code))


def _encode(index: int, instruction: tuple[int, _Target, _Target, int], labels: dict[str, int]) -> bytes:
    """One ``struct sock_filter``; a jump is an offset from the next instruction, 0-255."""
    opcode, jump_true, jump_false, k = instruction

    def offset(target: _Target) -> int:
        if isinstance(target, int):
            return target
        distance = labels[target] - index - 1
        if not 0 <= distance <= 255:
            raise ValueError(f"jump to {target} from {index} is out of a BPF jump's range")
        return distance

    return struct.pack("=HBBI", opcode, offset(jump_true), offset(jump_false), k)


def write_program(path: Path, machine: str | None = None) -> Path:
    """The program in a root-only file, for ``open_on_fd_prefix`` to hand to bwrap."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(descriptor, "wb") as program:
        program.write(seccomp_program(machine))
    return path


def open_on_fd_prefix(path: Path, fd: int = SECCOMP_FD) -> list[str]:
    """An argv prefix that opens ``path`` on ``fd`` and execs the rest (``bwrap ... --seccomp 3``).

    jupyter_client starts the kernel command with ``close_fds=True``, so the fd cannot be
    inherited from the grader: the command line opens it itself.
    """
    return ["/bin/sh", "-c", f'exec {fd}<"$1"; shift; exec "$@"', "xaigrader-seccomp", str(path)]


def describe(machine: str | None = None) -> dict[str, object]:
    """What the filter refuses, for run.json."""
    return {
        "architecture": machine or platform.machine(),
        "denied_eperm": list(DENIED_SYSCALLS),
        "denied_eperm_by_argument": dict(ARGUMENT_CHECKED_SYSCALLS),
        "enosys": list(UNAVAILABLE_SYSCALLS),
        "foreign_architecture": "process killed",
    }


@cache
def bwrap_supports(flag: str) -> bool:
    """Whether the installed bwrap lists ``flag`` (e.g. ``--disable-userns``) in its help."""
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        return False
    try:
        done = subprocess.run([bwrap, "--help"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return flag in (done.stdout + done.stderr).split()
