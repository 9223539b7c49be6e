"""The pool of threads that take jobs off the queue, one kernel each, as many as the machine allows."""

from __future__ import annotations

import json
import logging
import threading

from sqlalchemy.orm import sessionmaker

from checks.batch.capacity import default_jobs
from checks.engine.sandbox import SandboxLimits
from checks.server.job_grading import grade_job
from checks.server.job_queue import JobQueue
from checks.server.settings import ServerSettings
from checks.server.store import Job, Upload

IDLE_POLL_S = 2.0  # a job queued by another server process on the same database is seen this late at worst
log = logging.getLogger("xaigrader.server")


def pool_size(settings: ServerSettings) -> int:
    return settings.workers or default_jobs(SandboxLimits().memory_bytes)


class WorkerPool:
    def __init__(self, store: sessionmaker, queue: JobQueue, settings: ServerSettings) -> None:
        self.store, self.queue, self.settings = store, queue, settings
        self.size = pool_size(settings)
        self._stopping = threading.Event()
        self._threads = [
            threading.Thread(target=self._work, name=f"xaigrader-worker-{n}", daemon=True) for n in range(self.size)
        ]

    def start(self) -> None:
        requeued = self.queue.recover()
        if requeued:
            log.info("requeued %d job(s) a stopped server left running", requeued)
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        """Stops taking jobs; a job being graded finishes, or is requeued at the next start if the process ends."""
        self._stopping.set()
        self.queue.arrived.set()

    def _work(self) -> None:
        while not self._stopping.is_set():
            job_id = self.queue.claim()
            if job_id is None:
                self.queue.arrived.wait(IDLE_POLL_S)
                self.queue.arrived.clear()
                continue
            self._grade(job_id)

    def _grade(self, job_id: int) -> None:
        with self.store() as session:
            job = session.get(Job, job_id)
            upload = session.get(Upload, job.upload_digest)
        log.info("grading job %d (%s, %s mode)", job_id, job.assignment, job.mode)
        try:
            payload = grade_job(job, upload, self.settings, self.size)
        except Exception as error:
            log.exception("job %d failed in the server", job_id)
            self.queue.finish(job_id, None, None, f"the server failed on this upload: {type(error).__name__}: {error}")
            return
        self.queue.finish(job_id, json.dumps(payload), payload.get("score"))
