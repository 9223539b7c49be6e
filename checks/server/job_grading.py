"""One queued job graded exactly as ``xaigrader check`` / ``grade`` would: intake, the same sandbox, the same
checks, the result stored in the job's row and its figures in the job's own folder.

Every path here is made from the job's number or a roster id the roster reader checked, never from what a
request said. An upload's bytes live once, in the store; they are written out only into the job's scratch
folder while it is graded.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from checks.batch.capacity import threads_per_job
from checks.batch.result_cache import content_grading_key
from checks.data.assets import DataDir
from checks.data.model_cache import resolve_cache_dir
from checks.engine.intake import intake_one
from checks.engine.sandbox import SandboxLimits
from checks.grading.scheme import load_assignment
from checks.grading.submission import GradeOptions, grade_submission, grader_failure, repository_rules
from checks.server.settings import ServerSettings
from checks.server.store import Job, Upload

RESULTS, WORK = "results", "work"


@dataclass(frozen=True)
class JobFolders:
    """Where the server keeps each job's result folder and its scratch space."""

    root: Path

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


def upload_grading_key(
    settings: ServerSettings, digest: str, member_id: str, assignment_id: str, mode: str, workers: int
) -> str:
    """The batch's own grading key for an upload with this SHA-256 as this member's submission."""
    options = grade_options(settings, mode, workers)
    return content_grading_key(
        digest, member_id, load_assignment(assignment_id), DataDir(settings.data_dir), options.settings()
    )


def grade_job(job: Job, upload: Upload, settings: ServerSettings, workers: int) -> dict[str, Any]:
    """The job's results.json payload; a grader bug becomes the payload's problem, as in a batch."""
    folders = JobFolders(settings.folder)
    assignment = load_assignment(job.assignment)
    options = grade_options(settings, job.mode, workers)
    work, out = folders.work(job.id), folders.result(job.id)
    shutil.rmtree(work, ignore_errors=True)
    shutil.rmtree(out, ignore_errors=True)
    source = work / "upload" / f"{job.member_id}.{upload.kind}"
    try:
        source.parent.mkdir(parents=True)
        source.write_bytes(upload.content)
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
