"""How many notebooks this machine can grade at once, and how many threads each kernel gets."""

from __future__ import annotations

import os

GRADER_RESERVE_BYTES = 2 << 30  # the grader's own process: reference models, MNIST, checks


def available_cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)


def total_memory_bytes() -> int:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def default_jobs(kernel_memory_bytes: int) -> int:
    """One job per core, as long as every kernel can have its full memory limit at once."""
    by_memory = (total_memory_bytes() - GRADER_RESERVE_BYTES) // max(kernel_memory_bytes, 1)
    return max(1, min(available_cores(), int(by_memory)))


def threads_per_job(jobs: int) -> int:
    return max(1, available_cores() // max(1, jobs))
