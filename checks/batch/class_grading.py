"""Grade a whole class: every submission found, results reused whose grading key is unchanged,
as many at once as the machine allows, then publish the pages."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

from checks.batch.capacity import default_jobs, threads_per_job
from checks.batch.cluster_grading import ClusterBatch, ClusterLost
from checks.batch.progress import BatchProgress
from checks.batch.result_cache import grading_key, stored_result
from checks.data.assets import DataDir
from checks.engine.intake import Submission, discover
from checks.grading.scheme import Assignment
from checks.grading.submission import (
    GradeOptions,
    grade_submission,
    grader_failure,
    load_suite,
    repository_rules,
)
from checks.publish.publisher import publish


def sized_for(options: GradeOptions, waiting: int) -> GradeOptions:
    """Unset jobs take what cores and memory allow but never outnumber the notebooks waiting,
    so a lone notebook gets every core instead of one job's share."""
    if options.jobs is not None:
        return options
    jobs = max(1, min(default_jobs(options.limits.memory_bytes), waiting))
    return replace(options, jobs=jobs, limits=replace(options.limits, threads=threads_per_job(jobs)))


class BatchStopped(RuntimeError):
    """The batch could not go on (its cluster went away); what was graded is stored and the same command
    resumes from it."""


def grade_class(
    paths: list[Path],
    assignment: Assignment,
    options: GradeOptions,
    out: Path,
    regrade: bool = False,
    scheduler: str | None = None,
) -> list[dict[str, Any]]:
    """Grade every submission found, reusing results whose grading key is unchanged, then publish; on this
    machine's pool, or as tasks of the Dask scheduler at ``scheduler``.

    Raises ``AssignmentError`` before any notebook runs when the suite does not match its mark scheme."""
    load_suite(assignment)
    out.mkdir(parents=True, exist_ok=True)
    submissions = discover(paths, out / ".intake", data_dir=options.data_dir, repository=repository_rules(assignment))
    data = DataDir(options.data_dir)
    keys = {s.student_id: grading_key(s, assignment, data, options.settings()) for s in submissions}
    results: dict[str, dict[str, Any]] = {}
    if not regrade:
        for submission in submissions:
            stored = stored_result(out / submission.student_id, keys[submission.student_id])
            if stored is not None:
                results[submission.student_id] = stored
    pending = [s for s in submissions if s.student_id not in results]
    if scheduler is None:
        options = sized_for(options, len(pending))
        if pending:
            print(
                f"grading with {options.jobs} job(s) at once, {options.limits.threads} thread(s) per kernel", flush=True
            )
    progress = BatchProgress(len(pending), len(results), summary_line)

    def store(payload: dict[str, Any]) -> None:
        results[payload["student"]] = payload

    def one(submission: Submission) -> dict[str, Any]:
        progress.began(submission.student_id)
        folder = out / submission.student_id
        try:
            payload = grade_submission(submission, assignment, options, folder, keys[submission.student_id])
        except Exception as error:
            payload = grader_failure(submission, assignment, options, folder, error)
        progress.finished(payload)
        return payload

    try:
        if scheduler is not None:
            if pending:
                ClusterBatch(scheduler, assignment, options, keys, out).grade(pending, progress, store)
        else:
            with ThreadPoolExecutor(max_workers=options.jobs) as pool:
                for payload in pool.map(one, pending):
                    store(payload)
    except ClusterLost as error:
        raise BatchStopped(
            f"{error}. {len(results)} of {len(submissions)} results are stored in {out}; run the same command "
            "again to grade the rest (here, or with --scheduler on a cluster)"
        ) from None
    finally:
        progress.close()
    ordered = [results[s.student_id] for s in submissions]
    publish(out, ordered)
    return ordered


def summary_line(payload: dict[str, Any]) -> str:
    problem = f"  [{payload['problem']}]" if payload["problem"] else ""
    return f"{payload['student']:<28} {payload['score']:>6.1f} / {payload['max_score']:g}{problem}"
