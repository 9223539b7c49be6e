"""A Dask cluster on this one machine, for a big machine without a batch system and for the tests: worker
processes (so a notebook that kills its worker takes no other with it), each declaring its kernels as the
``kernels`` resource and finding the data directory as a remote worker would, through ``XAIGRADER_DATA``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from checks.batch.cluster_worker import KERNELS
from checks.data.assets import DATA_ENV_VAR


def start_local_cluster(workers: int, kernels_per_worker: int = 1, data_dir: Path | None = None, port: int = 0) -> Any:
    """A running ``LocalCluster``; close it (or use it in ``with``) to stop its workers."""
    from distributed import LocalCluster

    return LocalCluster(
        n_workers=workers,
        threads_per_worker=kernels_per_worker,
        processes=True,
        resources={KERNELS: kernels_per_worker},
        scheduler_port=port,
        dashboard_address=None,
        memory_limit=0,  # each kernel has the sandbox's own limit; the worker process must not be paused for it
        env={DATA_ENV_VAR: str(data_dir.resolve())} if data_dir is not None else None,
    )
