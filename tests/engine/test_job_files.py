"""Counting and deleting hostile job folders: deep chains, symlinks out, fifos, 0000 folders."""

from __future__ import annotations

import os
import resource
import shutil
import sys
import tempfile
import threading
from pathlib import Path

import pytest

from checks.engine.job_files import remove_tree, usage

SANDBOX_UID = 60123
DEPTH = 1100


def make_chain(top: Path, depth: int) -> None:
    """A folder chain too long for one path: each level made relative to its parent's fd."""
    fd = os.open(top, os.O_RDONLY | os.O_DIRECTORY)
    for _ in range(depth):
        os.mkdir("d", dir_fd=fd)
        child = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
        os.close(fd)
        fd = child
    leaf = os.open("leaf", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd)
    os.write(leaf, b"x" * 4096)
    os.close(leaf)
    os.close(fd)


def in_child(action, uid: int | None = None, open_files: int | None = None) -> int:
    """Run ``action`` in a forked child (as ``uid``, with few fds); its exit status."""
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            if open_files is not None:
                resource.setrlimit(resource.RLIMIT_NOFILE, (open_files, open_files))
            if uid is not None:
                os.setgroups([])
                os.setgid(uid)
                os.setuid(uid)
            code = 0 if action() else 2
        finally:
            os._exit(code)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


def test_deep_chain_is_counted_and_removed_with_few_fds(tmp_path: Path) -> None:
    job = tmp_path / "job"
    job.mkdir()
    make_chain(job, DEPTH)
    if sys.version_info < (3, 12):  # os.walk became iterative in 3.12
        with pytest.raises(RecursionError):
            list(os.walk(job))  # what a quota watchdog built on os.walk hits today
    counted = usage(job)
    assert counted.inodes == 1 + DEPTH + 1 and not counted.truncated
    assert counted.bytes >= 4096
    # 64 descriptors in all, far fewer than the chain's depth.
    assert in_child(lambda: usage(job).inodes == DEPTH + 2, open_files=64) == 0
    assert in_child(lambda: remove_tree(job) is None, open_files=64) == 0
    assert not job.exists()


def test_symlinks_out_are_neither_counted_nor_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    canary = outside / "canary"
    canary.write_bytes(b"c" * (1 << 20))
    job = tmp_path / "job"
    (job / "sub").mkdir(parents=True)
    (job / "to_folder").symlink_to(outside, target_is_directory=True)
    (job / "sub" / "to_file").symlink_to(canary)
    (job / "sub" / "to_parent").symlink_to("../..", target_is_directory=True)
    counted = usage(job)
    assert counted.inodes == 5
    assert counted.bytes < 1 << 20
    remove_tree(job)
    assert not job.exists()
    assert canary.read_bytes() == b"c" * (1 << 20)


def test_a_symlinked_job_folder_is_unlinked_not_emptied(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "canary").write_text("keep")
    link = tmp_path / "job"
    link.symlink_to(outside, target_is_directory=True)
    remove_tree(link)
    assert not link.is_symlink()
    assert (outside / "canary").read_text() == "keep"


def test_fifo_locked_and_read_only_folders_are_removed(tmp_path: Path) -> None:
    job = hostile_tree(tmp_path / "job")
    assert usage(job).inodes == 7
    remove_tree(job)
    assert not job.exists()


def test_the_owner_removes_its_own_locked_tree_without_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to hand the tree to another uid")
    with tempfile.TemporaryDirectory() as folder:
        parent = Path(folder)
        parent.chmod(0o777)  # pytest's tmp_path sits under a 0700 folder the uid cannot enter
        job = hostile_tree(parent / "job")
        for path in [job, *job.rglob("*")]:
            os.chown(path, SANDBOX_UID, SANDBOX_UID, follow_symlinks=False)
        assert in_child(lambda: remove_tree(job) is None, uid=SANDBOX_UID) == 0
        assert not job.exists()


def hostile_tree(job: Path) -> Path:
    """A fifo, a 0000 folder with content and a read-only folder with a file: 7 inodes."""
    (job / "locked" / "inner").mkdir(parents=True)
    (job / "locked" / "inner" / "file").write_text("x")
    (job / "read_only").mkdir()
    (job / "read_only" / "file").write_text("x")
    os.mkfifo(job / "pipe")
    (job / "read_only").chmod(0o555)
    (job / "locked").chmod(0o000)
    return job


def test_counting_stops_at_its_cap(tmp_path: Path) -> None:
    job = tmp_path / "job"
    job.mkdir()
    for index in range(50):
        (job / f"f{index}").touch()
    capped = usage(job, max_entries=10)
    assert capped.truncated and capped.inodes == 10
    full = usage(job)
    assert not full.truncated and full.inodes == 51


def test_hard_links_count_once(tmp_path: Path) -> None:
    job = tmp_path / "job"
    job.mkdir()
    (job / "big").write_bytes(b"b" * (1 << 20))
    for index in range(5):
        os.link(job / "big", job / f"link{index}")
    counted = usage(job)
    assert counted.inodes == 7
    assert counted.bytes < 2 << 20


def test_usage_survives_a_tree_changing_under_it(tmp_path: Path) -> None:
    job = tmp_path / "job"
    job.mkdir()
    stop = threading.Event()

    def churn() -> None:
        while not stop.is_set():
            for index in range(20):
                (job / f"d{index}" / "sub").mkdir(parents=True, exist_ok=True)
            for index in range(20):
                shutil.rmtree(job / f"d{index}", ignore_errors=True)

    worker = threading.Thread(target=churn)
    worker.start()
    try:
        for _ in range(200):
            assert usage(job).inodes >= 1
    finally:
        stop.set()
        worker.join()
    remove_tree(job)
    assert not job.exists()


def test_a_missing_folder_is_already_removed(tmp_path: Path) -> None:
    remove_tree(tmp_path / "never-made")
    assert not (tmp_path / "never-made").exists()
