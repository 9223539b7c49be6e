"""Per-job cgroup limits hold across processes and tmpfs mounts, and close() leaves nothing."""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator

import pytest

from checks.engine.job_cgroup import JobCgroup, remove_abandoned

MiB = 1 << 20
_names = itertools.count()

THREE_CHILDREN = textwrap.dedent(
    """
    import json, os, time
    children = []
    for _ in range(3):
        pid = os.fork()
        if pid == 0:
            try:
                held = b"x" * (150 << 20)
            except MemoryError:
                os._exit(2)
            time.sleep(2)
            os._exit(0)
        children.append(pid)
    print(json.dumps([os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) for pid in children]))
    """
)

FORK_LOOP = textwrap.dedent(
    """
    import os, time
    forked, refused = 0, False
    for _ in range(60):
        try:
            pid = os.fork()
        except BlockingIOError:
            refused = True
            break
        if pid == 0:
            os.closerange(0, 3)  # let the test read the parent's output to its end
            time.sleep(60)
            os._exit(0)
        forked += 1
    print(forked, refused)
    """
)


@pytest.fixture
def make_cgroup() -> Iterator[Callable[[int, int], JobCgroup]]:
    if os.geteuid() != 0:
        pytest.skip("job cgroups need root")
    made: list[JobCgroup] = []

    def make(memory_bytes: int, processes: int = 64) -> JobCgroup:
        job = JobCgroup.create(f"test-{os.getpid()}-{next(_names)}", memory_bytes, processes)
        if job is None:
            pytest.skip("no writable memory and pids cgroups here")
        made.append(job)
        return job

    yield make
    for job in made:
        job.close()


def running(pid: int) -> bool:
    """Alive and not a zombie waiting for its parent."""
    try:
        stat = open(f"/proc/{pid}/stat").read()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def run_in(job: JobCgroup, command: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*job.command_prefix(), *command], capture_output=True, text=True, timeout=30)


def in_bwrap(shell: str) -> list[str]:
    if shutil.which("bwrap") is None:
        pytest.skip("bwrap is not installed")
    return [
        "bwrap",
        "--ro-bind",
        "/",
        "/",
        "--dev",
        "/dev",
        "--proc",
        "/proc",
        "--tmpfs",
        "/tmp",
        "--tmpfs",
        "/dev/shm",
        "--",
        "/bin/sh",
        "-c",
        shell,
    ]


def test_three_children_cannot_each_hold_150_mib_under_256(make_cgroup) -> None:
    job = make_cgroup(256 * MiB)
    done = run_in(job, [sys.executable, "-c", THREE_CHILDREN])
    assert done.returncode == 0, done.stderr
    codes = json.loads(done.stdout)
    assert codes.count(0) <= 1, codes
    assert job.oom_killed() or 2 in codes
    assert job.peak_memory_bytes() <= 256 * MiB


def test_tmpfs_pages_are_charged_to_the_writer(make_cgroup) -> None:
    job = make_cgroup(256 * MiB)
    done = run_in(job, in_bwrap("dd if=/dev/zero of=/tmp/fill bs=1M count=200 status=none && echo written"))
    assert "written" in done.stdout, done.stderr
    assert job.peak_memory_bytes() >= 200 * MiB, "the tmpfs file counts against the job"


def test_tmpfs_mounts_add_up_against_the_limit(make_cgroup) -> None:
    job = make_cgroup(256 * MiB)
    fill = (
        "dd if=/dev/zero of=/tmp/fill bs=1M count=150 status=none && echo tmp-full; "
        "dd if=/dev/zero of=/dev/shm/fill bs=1M count=150 status=none && echo shm-full"
    )
    done = run_in(job, in_bwrap(fill))
    assert "tmp-full" in done.stdout and "shm-full" not in done.stdout
    assert job.oom_killed()


def test_400_mib_in_an_unlimited_tmpfs_is_stopped(make_cgroup) -> None:
    job = make_cgroup(256 * MiB)
    done = run_in(job, in_bwrap("dd if=/dev/zero of=/tmp/fill bs=1M count=400 status=none && echo written"))
    assert "written" not in done.stdout
    assert job.oom_killed()


def test_pids_max_stops_a_fork_loop_and_close_ends_the_rest(make_cgroup) -> None:
    job = make_cgroup(512 * MiB, processes=20)
    done = run_in(job, [sys.executable, "-c", FORK_LOOP])
    forked, refused = done.stdout.split()
    assert refused == "True" and int(forked) < 20
    left = job.pids()
    assert left, "the sleeping children outlive their parent inside the cgroup"
    assert job.close()
    assert not any(running(pid) for pid in left)
    assert not any(folder.exists() for folder in job.folders)


def test_describe_names_mode_paths_and_limits(make_cgroup) -> None:
    job = make_cgroup(300 * MiB, processes=33)
    described = job.describe()
    assert described["mode"] in ("cgroup v1", "cgroup v2")
    assert described["memory_bytes"] == 300 * MiB and described["processes"] == 33
    assert all(os.path.isdir(path) for path in described["paths"])
    with job:
        pass
    assert not any(os.path.isdir(path) for path in described["paths"])


def test_refuses_a_name_that_is_a_path() -> None:
    with pytest.raises(ValueError):
        JobCgroup.create("../escape", MiB, 1)


def test_cgroups_a_killed_grader_left_behind_are_removed_once_empty_and_old(make_cgroup) -> None:
    abandoned, running = make_cgroup(64 * MiB), make_cgroup(64 * MiB)
    names = {abandoned.folders[0].name, running.folders[0].name}
    sleeper = subprocess.Popen([*running.command_prefix(), "sleep", "30"])
    try:
        deadline = time.monotonic() + 10
        while not running.pids() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert remove_abandoned(lambda name: name not in names) == []
        removed = remove_abandoned(lambda name: name not in names, older_than_s=0)
        assert removed.count(abandoned.folders[0].name) == len(abandoned.folders)
        assert not any(folder.exists() for folder in abandoned.folders)
        assert all(folder.exists() for folder in running.folders)
    finally:
        sleeper.kill()
        sleeper.wait()
