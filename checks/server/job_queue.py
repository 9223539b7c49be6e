"""The grading queue as rows of the store: taken with a conditional update, so no job is graded twice, and
found again after a crash, so none is lost.

An upload whose grading key (its bytes, its student, the assignment, the grader's code, the data, the
mode) matches a job already queued, running or done is answered with that job: the same notebook sent
twice is graded once.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from checks.server.store import DONE, FAILED, QUEUED, RUNNING, Job, Upload, now

MAX_ATTEMPTS = 3


class QueueFull(Exception):
    """The member already has as many jobs waiting as the server allows, or has used today's full runs;
    ``retry_after`` is the seconds until they may try again, when known."""

    def __init__(self, message: str, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def _midnight_utc() -> datetime:
    return now().replace(hour=0, minute=0, second=0, microsecond=0)


@dataclass(frozen=True)
class GradingRequest:
    member_id: str
    assignment: str
    mode: str
    filename: str
    kind: str
    content: bytes
    digest: str
    grading_key: str


@dataclass(frozen=True)
class Submitted:
    job_id: int
    reused: bool  # an identical upload's job was returned instead of a new one


class JobQueue:
    def __init__(self, store: sessionmaker, waiting_per_member: int, full_per_day: int) -> None:
        self.store = store
        self.waiting_per_member = waiting_per_member
        self.full_per_day = full_per_day
        self.arrived = threading.Event()  # set on each new job, so idle workers wake at once
        self._submitting = threading.Lock()

    def _full_runs_retry_after(self, session: Session, member_id: str) -> int | None:
        midnight = _midnight_utc()
        today = session.scalar(
            select(func.count(Job.id)).where(Job.member_id == member_id, Job.mode == "full", Job.created_at >= midnight)
        )
        if today < self.full_per_day:
            return None
        return int((midnight + timedelta(days=1) - now()).total_seconds()) + 1

    def full_runs_retry_after(self, member_id: str) -> int | None:
        """Seconds until the member may ask for another full run (days are UTC), or None when they may now."""
        with self.store() as session:
            return self._full_runs_retry_after(session, member_id)

    def submit(self, request: GradingRequest) -> Submitted:
        with self._submitting, self.store.begin() as session:
            same = session.scalar(
                select(Job.id)
                .where(Job.grading_key == request.grading_key, Job.status.in_((QUEUED, RUNNING, DONE)))
                .order_by(Job.id)
                .limit(1)
            )
            if same is not None:
                return Submitted(same, True)
            waiting = session.scalar(
                select(func.count(Job.id)).where(Job.member_id == request.member_id, Job.status.in_((QUEUED, RUNNING)))
            )
            if waiting >= self.waiting_per_member:
                raise QueueFull(f"{waiting} of your uploads are still being graded; wait for one to finish")
            retry_after = self._full_runs_retry_after(session, request.member_id) if request.mode == "full" else None
            if retry_after:
                raise QueueFull(f"you have used today's {self.full_per_day} full runs", retry_after)
            if session.get(Upload, request.digest) is None:
                session.add(
                    Upload(digest=request.digest, kind=request.kind, size=len(request.content), content=request.content)
                )
                session.flush()  # the job's foreign key needs the upload's row first
            job = Job(
                member_id=request.member_id,
                assignment=request.assignment,
                mode=request.mode,
                filename=request.filename,
                upload_digest=request.digest,
                grading_key=request.grading_key,
                status=QUEUED,
                attempts=0,
            )
            session.add(job)
            session.flush()
            job_id = job.id
        self.arrived.set()
        return Submitted(job_id, False)

    def claim(self) -> int | None:
        """The oldest queued job, now running and ours, or None when there is none left to take."""
        while True:
            with self.store.begin() as session:
                job_id = session.scalar(select(Job.id).where(Job.status == QUEUED).order_by(Job.id).limit(1))
                if job_id is None:
                    return None
                taken = session.execute(
                    update(Job)
                    .where(Job.id == job_id, Job.status == QUEUED)
                    .values(status=RUNNING, started_at=now(), attempts=Job.attempts + 1)
                ).rowcount
            if taken == 1:
                return job_id

    def finish(self, job_id: int, result_json: str | None, score: float | None, error: str | None = None) -> None:
        with self.store.begin() as session:
            session.execute(
                update(Job)
                .where(Job.id == job_id)
                .values(
                    status=DONE if error is None else FAILED,
                    finished_at=now(),
                    result_json=result_json,
                    score=score,
                    error=error,
                )
            )

    def recover(self) -> int:
        """After a crash: every job left running goes back to the queue, or fails once it has been tried
        ``MAX_ATTEMPTS`` times (a notebook that kills the server must not kill it forever). Returns how many
        were requeued."""
        with self.store.begin() as session:
            session.execute(
                update(Job)
                .where(Job.status == RUNNING, Job.attempts >= MAX_ATTEMPTS)
                .values(
                    status=FAILED,
                    finished_at=now(),
                    error=f"the server stopped while grading this upload {MAX_ATTEMPTS} times; a TA will look",
                )
            )
            return session.execute(
                update(Job).where(Job.status == RUNNING).values(status=QUEUED, started_at=None)
            ).rowcount
