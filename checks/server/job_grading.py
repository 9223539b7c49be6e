"""One queued job graded exactly as ``xaigrader check`` / ``grade`` would: intake, the same sandbox, the same
checks, the result stored in the job's row and its figures in the job's own folder.

Every path here is made from the job's number, the upload's digest or a roster id the roster reader
checked, never from what a request said.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from checks.batch.capacity import threads_per_job
from checks.batch.result_cache import grading_key
from checks.data.assets import DataDir
from checks.data.model_cache import resolve_cache_dir
from checks.engine.intake import Submission, intake_one
from checks.engine.sandbox import SandboxLimits
from checks.grading.scheme import load_assignment
from checks.grading.submission import GradeOptions, grade_submission, grader_failure, repository_rules
from checks.server.settings import ServerSettings
from checks.server.store import Job, Upload

UPLOADS, RESULTS, WORK = "uploads", "results", "work"


@dataclass(frozen=True)
class JobFolders:
    """Where the server keeps uploads (by digest), each job's result folder and its scratch space."""

    root: Path

    def upload(self, digest: str, member_id: str, kind: str) -> Path:
        return self.root / UPLOADS / digest / f"{member_id}.{kind}"

    def result(self, job_id: int) -> Path:
        return self.root / RESULTS / str(job_id)

    def work(self, job_id: int) -> Path:
        return self.root / WORK / str(job_id)


def grade_options(settings: ServerSettings, mode: str, workers: int) -> GradeOptions:
    return GradeOptions(
        mode=mode,
        data_dir=settings.data_dir,
        cache_dir=resolve_cache_dir(None),
        jobs=workers,
        limits=SandboxLimits(threads=threads_per_job(workers)),
    )


def saved_upload(folders: JobFolders, digest: str, member_id: str, kind: str, content: bytes) -> Path:
    path = folders.upload(digest, member_id, kind)
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".partial")
        partial.write_bytes(content)
        partial.replace(path)
    return path


def upload_grading_key(
    settings: ServerSettings, path: Path, member_id: str, assignment_id: str, mode: str, workers: int
) -> str:
    """The batch's own grading key for this upload as this member's submission."""
    options = grade_options(settings, mode, workers)
    return grading_key(
        Submission(member_id, path), load_assignment(assignment_id), DataDir(settings.data_dir), options.settings()
    )


def grade_job(job: Job, upload: Upload, settings: ServerSettings, workers: int) -> dict[str, Any]:
    """The job's results.json payload; a grader bug becomes the payload's problem, as in a batch."""
    folders = JobFolders(settings.folder)
    assignment = load_assignment(job.assignment)
    options = grade_options(settings, job.mode, workers)
    source = saved_upload(folders, upload.digest, job.member_id, upload.kind, upload.content)
    work, out = folders.work(job.id), folders.result(job.id)
    shutil.rmtree(work, ignore_errors=True)
    shutil.rmtree(out, ignore_errors=True)
    submission = intake_one(
        source,
        work / "intake",
        student_id=job.member_id,
        data_dir=options.data_dir,
        repository=repository_rules(assignment),
    )
    try:
        payload = grade_submission(submission, assignment, options, out, job.grading_key)
    except Exception as error:
        payload = grader_failure(submission, assignment, options, out, error)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return json.loads(json.dumps(payload, default=str))
