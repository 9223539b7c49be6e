"""What runs on a Dask worker: one submission graded by the same ``grade_submission`` as a local batch, from
the intake the client sent, against the worker's own data directory and model cache, its result folder
returned as bytes so that no file system is shared.

A worker takes grading tasks only once it has shown that its data directory and grading code match the
client's: the client asks it (``admit_worker``) and the worker itself compares, then grants the batch's
resource, one unit per kernel it declares. A worker that differs is never given a task.
"""

from __future__ import annotations

import io
import tempfile
import zipfile
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath
from typing import Any

from checks.batch.capacity import available_cores
from checks.batch.folder_transfer import add_folder, pack_folder, unpack
from checks.batch.result_cache import data_digest, graded_code, grader_digest
from checks.data.assets import DataDir
from checks.engine.intake import Submission
from checks.grading.scheme import Assignment, load_assignment
from checks.grading.submission import GradeOptions, grade_submission, grader_failure

KERNELS = "kernels"  # the resource each worker declares: one kernel per core it gives to grading
FOLDER, NOTEBOOK = "folder", "notebook"


@dataclass(frozen=True)
class Fingerprint:
    """What a worker must share with the client to grade its batch: the data's checksums file digest and
    the digest of the code that decides this assignment's marks (both part of every grading key)."""

    data: str
    grader: str

    @classmethod
    def of(cls, assignment: Assignment, data: DataDir) -> Fingerprint:
        return cls(data_digest(data), grader_digest(tuple(graded_code(assignment))))

    @property
    def resource(self) -> str:
        """The resource a worker is granted once admitted: tasks of this batch ask for one unit of it."""
        return f"xaigrader-{self.data[:12]}-{self.grader[:12]}"


async def admit_worker(dask_worker: Any, assignment_id: str, wanted: Fingerprint) -> dict[str, Any]:
    """Run on a worker by the client: grants the batch's resource, one unit per kernel, when the worker's
    data and grader code match ``wanted``, and takes it back when they no longer do. Returns what it found,
    for the client to report."""
    own = Fingerprint.of(load_assignment(assignment_id), DataDir(None))
    kernels = int(dask_worker.state.total_resources.get(KERNELS, 0))
    admitted = own == wanted and kernels > 0
    granted = admitted * kernels
    if dask_worker.state.total_resources.get(wanted.resource, 0) != granted:
        await dask_worker.set_resources(**{wanted.resource: granted})
    return {
        "data": own.data,
        "grader": own.grader,
        "data_dir": str(DataDir(None).root),
        "kernels": kernels,
        "admitted": admitted,
    }


@dataclass(frozen=True)
class ClusterTask:
    """A submission as it travels: its fields with paths made relative, and its files as one archive."""

    submission: Submission
    files: bytes
    assignment_id: str
    options: GradeOptions
    grading_key: str


@dataclass(frozen=True)
class GradedFolder:
    payload: dict[str, Any]
    folder: bytes


def _relative(path: Path | None, root: Path | None, prefix: str) -> Path | None:
    if path is None:
        return None
    if root is not None and path.is_relative_to(root):
        return Path(prefix, path.relative_to(root))
    return Path(NOTEBOOK, path.name)


def pack_task(submission: Submission, assignment_id: str, options: GradeOptions, grading_key: str) -> ClusterTask:
    """The task for ``submission``: its intake folder, and its notebook when intake made one outside it (several
    notebooks merged into one), with host paths and the client's own directories left behind."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED, strict_timestamps=False) as archive:
        if submission.folder is not None and submission.folder.is_dir():
            add_folder(archive, submission.folder, FOLDER)
        notebook = submission.notebook
        if notebook is not None and (submission.folder is None or not notebook.is_relative_to(submission.folder)):
            archive.write(notebook, str(PurePosixPath(NOTEBOOK, notebook.name)))
    travelling = replace(
        submission,
        source=Path(submission.source.name),
        folder=Path(FOLDER) if submission.folder is not None else None,
        notebook=_relative(submission.notebook, submission.folder, FOLDER),
    )
    portable = replace(options, data_dir=None, cache_dir=None, jobs=None)
    return ClusterTask(travelling, buffer.getvalue(), assignment_id, portable, grading_key)


def _kernel_threads() -> int:
    """The thread share of one kernel on this worker: its cores over the kernels it declares, as a local batch
    gives each of its jobs the machine's cores over the jobs."""
    from distributed import get_worker

    worker = get_worker()
    kernels = max(1, int(worker.state.total_resources.get(KERNELS, 1)))
    return max(1, min(worker.state.nthreads, available_cores()) // kernels)


def grade_task(task: ClusterTask) -> GradedFolder:
    """Grades on the worker into a scratch folder and returns that folder whole."""
    assignment = load_assignment(task.assignment_id)
    options = replace(task.options, limits=replace(task.options.limits, threads=_kernel_threads()))
    with tempfile.TemporaryDirectory(prefix="xaigrader-task-") as scratch:
        root = Path(scratch)
        unpack(task.files, root / "in")
        submission = replace(
            task.submission,
            source=root / "in" / task.submission.source,
            folder=root / "in" / task.submission.folder if task.submission.folder is not None else None,
            notebook=root / "in" / task.submission.notebook if task.submission.notebook is not None else None,
        )
        out = root / "out"
        try:
            payload = grade_submission(submission, assignment, options, out, task.grading_key)
        except Exception as error:
            payload = grader_failure(submission, assignment, options, out, error)
        return GradedFolder(payload, pack_folder(out))
