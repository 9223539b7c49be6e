"""The seccomp filter: its decisions read by a small BPF interpreter, then real processes
under bwrap + setpriv (as the grader starts the kernel), with and without the filter."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest

from checks.engine.seccomp_filter import (
    AUDIT_ARCH,
    DENIED_SYSCALLS,
    SECCOMP_FD,
    SECCOMP_RET_ALLOW,
    SECCOMP_RET_ERRNO,
    SECCOMP_RET_KILL_PROCESS,
    SYSCALL_NUMBERS,
    UnsupportedArchitecture,
    bwrap_supports,
    open_on_fd_prefix,
    seccomp_program,
    write_program,
)

EPERM = SECCOMP_RET_ERRNO | 1
ENOSYS = SECCOMP_RET_ERRNO | 38
CLONE_NEWUSER = 0x10000000
THREAD_CLONE_FLAGS = 0x003D0F00  # what glibc's pthread_create passes to clone
FORK_CLONE_FLAGS = 0x01200011  # CLONE_CHILD_SETTID | CLONE_CHILD_CLEARTID | SIGCHLD
SANDBOX_UID = 60123
HEADERS = {
    "x86_64": Path("/usr/include/x86_64-linux-gnu/asm/unistd_64.h"),
    "aarch64": Path("/usr/include/asm-generic/unistd.h"),
}


def run_filter(program: bytes, arch: int, nr: int, arg0: int = 0) -> int:
    """Evaluate the classic BPF instructions the filter uses against one syscall."""
    data = struct.pack("=iIQ6Q", nr, arch, 0, arg0, 0, 0, 0, 0, 0)
    instructions = [struct.unpack_from("=HBBI", program, at) for at in range(0, len(program), 8)]
    pc = accumulator = 0
    while True:
        code, jump_true, jump_false, k = instructions[pc]
        pc += 1
        if code == 0x20:
            accumulator = struct.unpack_from("=I", data, k)[0]
        elif code == 0x06:
            return k
        else:
            taken = {0x15: accumulator == k, 0x35: accumulator >= k, 0x45: bool(accumulator & k)}[code]
            pc += jump_true if taken else jump_false


@pytest.mark.parametrize("machine", ["x86_64", "aarch64"])
def test_filter_decisions(machine: str) -> None:
    program = seccomp_program(machine)
    assert len(program) % 8 == 0 and len(program) // 8 < 4096
    arch = AUDIT_ARCH[machine]
    column = 0 if machine == "x86_64" else 1

    def decide(name: str, arg0: int = 0) -> int:
        return run_filter(program, arch, SYSCALL_NUMBERS[name][column], arg0)

    for name in DENIED_SYSCALLS:
        assert decide(name) == EPERM, name
    assert decide("clone", CLONE_NEWUSER | 17) == EPERM
    assert decide("clone", 0x40000000 | 17) == EPERM  # CLONE_NEWNET
    assert decide("clone", THREAD_CLONE_FLAGS) == SECCOMP_RET_ALLOW
    assert decide("clone", FORK_CLONE_FLAGS) == SECCOMP_RET_ALLOW
    assert decide("clone3") == ENOSYS
    assert decide("personality", 0xFFFFFFFF) == SECCOMP_RET_ALLOW
    assert decide("personality", 0x0400000) == EPERM  # READ_IMPLIES_EXEC
    getpid = 39 if machine == "x86_64" else 172
    assert run_filter(program, arch, getpid) == SECCOMP_RET_ALLOW
    foreign = AUDIT_ARCH["aarch64" if machine == "x86_64" else "x86_64"]
    assert run_filter(program, foreign, getpid) == SECCOMP_RET_KILL_PROCESS
    assert run_filter(program, 0x40000003, getpid) == SECCOMP_RET_KILL_PROCESS  # i386
    if machine == "x86_64":
        assert run_filter(program, arch, 0x40000000 | getpid) == SECCOMP_RET_KILL_PROCESS


def test_unknown_machine_is_refused() -> None:
    with pytest.raises(UnsupportedArchitecture):
        seccomp_program("riscv64")


@pytest.mark.parametrize("machine", ["x86_64", "aarch64"])
def test_syscall_numbers_match_installed_headers(machine: str) -> None:
    header = HEADERS[machine]
    if not header.exists():
        pytest.skip(f"{header} is not installed (linux-libc-dev)")
    numbers = {name: int(value) for name, value in re.findall(r"#define __NR_(\w+)\s+(\d+)\b", header.read_text())}
    column = 0 if machine == "x86_64" else 1
    assert {name: row[column] for name, row in SYSCALL_NUMBERS.items()} == {
        name: numbers.get(name) for name in SYSCALL_NUMBERS
    }


def test_bwrap_supports_reads_its_help() -> None:
    if shutil.which("bwrap") is None:
        pytest.skip("bwrap is not installed")
    assert bwrap_supports("--seccomp")
    assert not bwrap_supports("--no-such-flag")


# --- real processes ------------------------------------------------------------------

PROBE = textwrap.dedent(
    """
    import ctypes, errno, json, multiprocessing, os, subprocess, sys, threading, time
    NR = json.loads(sys.argv[1])
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long

    def outcome(result):
        return "ok" if result != -1 else errno.errorcode.get(ctypes.get_errno(), "?")

    def in_child(action):
        # Each probe runs in a child: a successful unshare or PTRACE_TRACEME must not
        # change the process that runs the next one.
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.write(write_end, action().encode())
            os._exit(0)
        os.close(write_end)
        os.waitpid(pid, 0)
        return os.read(read_end, 100).decode()

    def raw_clone():
        pid = libc.syscall(ctypes.c_long(NR["clone"]), ctypes.c_long(0x10000000 | 17), None, None, None, None)
        if pid == 0:
            os._exit(0)
        if pid > 0:
            os.waitpid(pid, 0)
        return outcome(pid)

    def session_keyring():
        # keyctl(KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, create)
        arguments = (ctypes.c_long(NR["keyctl"]), ctypes.c_long(0), ctypes.c_long(-3), ctypes.c_long(1))
        return outcome(libc.syscall(*arguments))

    class Timespec(ctypes.Structure):
        _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]

    def work(value):
        return value * value

    results = {
        "unshare_newuser": in_child(lambda: outcome(libc.unshare(0x10000000))),
        "clone_newuser": in_child(raw_clone),
        "clone3": in_child(lambda: outcome(libc.syscall(ctypes.c_long(NR["clone3"]), None, ctypes.c_long(0)))),
        "ptrace_traceme": in_child(lambda: outcome(libc.ptrace(0, 0, None, None))),
        "mount": in_child(lambda: outcome(libc.mount(b"none", b"/tmp", b"tmpfs", 0, None))),
        "keyctl": in_child(session_keyring),
        "clock_settime": in_child(lambda: outcome(libc.clock_settime(0, ctypes.byref(Timespec(int(time.time()), 0))))),
    }
    thread_result = []
    thread = threading.Thread(target=lambda: thread_result.append(sum(range(10))))
    thread.start()
    thread.join()
    results["thread"] = thread_result == [45]
    results["subprocess"] = subprocess.run(["true"]).returncode == 0
    pid = os.fork()
    if pid == 0:
        os._exit(3)
    results["fork"] = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 3
    import numpy
    results["numpy"] = int(numpy.arange(10).sum()) == 45
    with multiprocessing.get_context("fork").Pool(2) as pool:
        results["multiprocessing"] = pool.map(work, range(5)) == [0, 1, 4, 9, 16]
    print(json.dumps(results))
    """
)


def untraversable_ancestor(path: Path) -> Path | None:
    """The outermost folder above ``path`` that other uids cannot enter (e.g. a 0700 /root)."""
    for ancestor in reversed(path.parents):
        if ancestor != Path("/") and not os.stat(ancestor).st_mode & 0o001:
            return ancestor
    return None


def bwrap_base() -> list[str]:
    """A root-run bwrap like the grader's, with this test's Python visible to the job's uid."""
    args = ["bwrap", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--unshare-pid"]
    args += ["--perms", "1777", "--tmpfs", "/dev/shm", "--perms", "1777", "--tmpfs", "/tmp"]
    roots = sorted({Path(sys.base_prefix).resolve(), Path(sys.prefix).resolve()})
    for folder in sorted({hidden for root in roots if (hidden := untraversable_ancestor(root))}):
        args += ["--tmpfs", str(folder)]
    for root in roots:
        args += ["--ro-bind", str(root), str(root)]
    return args + ["--chdir", "/"]


def as_job_uid(command: list[str]) -> list[str]:
    return [
        "setpriv",
        f"--reuid={SANDBOX_UID}",
        f"--regid={SANDBOX_UID}",
        "--clear-groups",
        "--no-new-privs",
        "--",
        *command,
    ]


def sandboxed(command: list[str], with_filter: bool) -> subprocess.CompletedProcess[str]:
    """Run ``command`` as the grader will: the filter opened on fd 3 by the argv prefix."""
    with tempfile.TemporaryDirectory() as folder:
        prefix, seccomp = [], []
        if with_filter:
            prefix = open_on_fd_prefix(write_program(Path(folder) / "filter.bpf"))
            seccomp = ["--seccomp", str(SECCOMP_FD)]
        return subprocess.run(
            [*prefix, *bwrap_base(), *seccomp, "--", *as_job_uid(command)],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=120,
            env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"},
        )


@pytest.fixture(scope="module")
def sandbox_ready() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root: the grader starts bwrap as root and drops to the job's uid with setpriv")
    if shutil.which("bwrap") is None or shutil.which("setpriv") is None:
        pytest.skip("bwrap or setpriv is not installed")
    probe = subprocess.run([*bwrap_base(), "true"], capture_output=True, timeout=30)
    if probe.returncode != 0:
        pytest.skip(f"bwrap cannot create namespaces here: {probe.stderr.decode(errors='replace').strip()}")


def probe_results(with_filter: bool) -> dict[str, object]:
    column = 0 if os.uname().machine == "x86_64" else 1
    numbers = json.dumps({name: row[column] for name, row in SYSCALL_NUMBERS.items()})
    done = sandboxed([sys.executable, "-c", PROBE, numbers], with_filter)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def filtered(sandbox_ready: None) -> dict[str, object]:
    return probe_results(with_filter=True)


@pytest.fixture(scope="module")
def unfiltered(sandbox_ready: None) -> dict[str, object]:
    return probe_results(with_filter=False)


def test_unshare_user_namespace_needs_the_filter(sandbox_ready: None) -> None:
    without = sandboxed(["unshare", "-Ur", "id", "-u"], with_filter=False)
    assert without.returncode == 0 and without.stdout.strip() == "0", "control: root in a new user namespace"
    with_filter = sandboxed(["unshare", "-Ur", "id", "-u"], with_filter=True)
    assert with_filter.returncode != 0
    assert "Operation not permitted" in with_filter.stderr


def test_dangerous_calls_fail_with_eperm(filtered: dict[str, object], unfiltered: dict[str, object]) -> None:
    for name in ("unshare_newuser", "clone_newuser", "ptrace_traceme", "keyctl"):
        assert unfiltered[name] == "ok", f"control: {name} works without the filter"
        assert filtered[name] == "EPERM", name
    for name in ("mount", "clock_settime"):
        assert filtered[name] == "EPERM", name
    assert filtered["clone3"] == "ENOSYS" and unfiltered["clone3"] != "ENOSYS"


def test_ordinary_python_work_still_runs(filtered: dict[str, object]) -> None:
    for name in ("thread", "subprocess", "fork", "numpy", "multiprocessing"):
        assert filtered[name] is True, name


def test_foreign_syscall_abi_kills_the_process(sandbox_ready: None) -> None:
    if os.uname().machine != "x86_64":
        pytest.skip("the x32 ABI exists on x86_64 only")
    x32_getpid = "import ctypes; ctypes.CDLL(None).syscall(0x40000000 | 39); print('survived')"
    done = sandboxed([sys.executable, "-c", x32_getpid], with_filter=True)
    assert "survived" not in done.stdout
    assert done.returncode in (-signal.SIGSYS, 128 + signal.SIGSYS)
