"""A class's pending submissions graded on a Dask cluster: each submission one task, fed to the scheduler a
few per kernel at a time (so 400 intakes never sit in its memory at once), each result folder written under
``--out`` as it arrives, exactly where and how a local batch writes it.

Workers are admitted by their data (``cluster_worker.admit_worker``); a worker that joins later is admitted
when it appears. A task whose worker died is retried by the scheduler on another worker up to its
``allowed-failures``, then becomes a grader failure for that student alone. A scheduler that goes away
stops the batch: what arrived is stored, and the same command resumes from it.
"""

from __future__ import annotations

import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from checks.batch.cluster_worker import (
    KERNELS,
    ClusterTask,
    Fingerprint,
    GradedFolder,
    admit_worker,
    grade_task,
    pack_task,
)
from checks.batch.folder_transfer import TransferRefused, replace_folder
from checks.batch.progress import BatchProgress
from checks.data.assets import MANIFEST_NAME, DataDir
from checks.engine.intake import Submission
from checks.grading.scheme import Assignment
from checks.grading.submission import GradeOptions, grader_failure

CONNECT_S = 20
POLL_S = 1.0
WORKERS_WAIT_S = 120.0  # how long a batch waits for its first admitted worker (a batch system starts them late)
CONNECTED = ("running", "connecting", "newly-created")  # the client's states in which the scheduler is there
TASKS_PER_KERNEL = 2  # queued at the scheduler per admitted kernel, so a kernel never waits for the client


class ClusterLost(RuntimeError):
    """The scheduler could not be reached, went away, or has no worker this batch may use."""


@dataclass
class Admissions:
    """The workers this batch has asked, and what each said. A worker counts as admitted only while the
    scheduler sees it hold the batch's resource, so one restarted at the same address is asked again."""

    client: Any
    assignment_id: str
    wanted: Fingerprint
    report: Callable[[str], None]
    asked: dict[str, dict[str, Any]] = field(default_factory=dict)
    unanswered: set[str] = field(default_factory=set)  # reported once each, asked again every refresh

    def refresh(self) -> None:
        """Asks every worker that appeared (or lost its grant) since the last call, and forgets those that left."""
        present = self.client.scheduler_info(n_workers=-1)["workers"]
        for address, answer in list(self.asked.items()):
            holds = present.get(address, {}).get("resources", {}).get(self.wanted.resource, 0) > 0
            if address not in present or (answer["admitted"] and not holds):
                del self.asked[address]
        new = sorted(set(present) - set(self.asked))
        if not new:
            return
        answers = self.client.run(
            admit_worker, assignment_id=self.assignment_id, wanted=self.wanted, workers=new, on_error="return"
        )
        for address in new:
            answer = answers.get(address)
            if not isinstance(answer, dict):
                if address not in self.unanswered:
                    self.unanswered.add(address)
                    self.report(f"worker {address} could not be asked whether it may grade: {answer!r}")
                continue
            self.unanswered.discard(address)
            self.asked[address] = answer
            if not answer["admitted"]:
                self.report(_refusal(address, answer, self.wanted))

    @property
    def kernels(self) -> int:
        return sum(answer["kernels"] for answer in self.asked.values() if answer["admitted"])

    @property
    def workers(self) -> int:
        return sum(answer["admitted"] for answer in self.asked.values())


def _refusal(address: str, answer: dict[str, Any], wanted: Fingerprint) -> str:
    if answer["kernels"] <= 0:
        return (
            f"worker {address} is not used: it declares no '{KERNELS}' resource "
            "(start it with --resources kernels=N, N its cores for grading)"
        )
    if answer["data"] != wanted.data:
        return (
            f"worker {address} is refused: its data directory {answer['data_dir']} does not match this batch's "
            f"(checksums file digest {answer['data'][:12]} against {wanted.data[:12]}); give it the same data "
            "(XAIGRADER_DATA on the worker)"
        )
    return (
        f"worker {address} is refused: it runs other grading code than this batch (digest {answer['grader'][:12]} "
        f"against {wanted.grader[:12]}); install the same xaigrader version on it"
    )


@dataclass
class ClusterBatch:
    """One batch's conversation with the scheduler."""

    address: str
    assignment: Assignment
    options: GradeOptions
    keys: dict[str, str]
    out: Path
    report: Callable[[str], None] = print
    transfers_s: list[float] = field(default_factory=list)  # per result folder: received, unpacked, swapped in

    def grade(
        self, pending: list[Submission], progress: BatchProgress, store: Callable[[dict[str, Any]], None]
    ) -> None:
        """Grades ``pending``, handing each result to ``store`` as it arrives."""
        from distributed import Client

        data = DataDir(self.options.data_dir)
        if not (data.root / MANIFEST_NAME).is_file():
            raise ClusterLost(
                f"the data directory {data.root} has no {MANIFEST_NAME}, so no worker's data can be checked against it"
            )
        try:
            client = Client(self.address, timeout=CONNECT_S)
        except (OSError, TimeoutError) as error:
            raise ClusterLost(f"no Dask scheduler answers at {self.address} ({error})") from None
        with client:
            wanted = Fingerprint.of(self.assignment, data)
            admissions = Admissions(client, self.assignment.id, wanted, self.report)
            self._await_workers(client, admissions)
            self.report(
                f"grading on the Dask cluster at {self.address}: {admissions.workers} worker(s), "
                f"{admissions.kernels} kernel(s)"
            )
            self._feed(client, admissions, deque(pending), progress, store)
        if self.transfers_s:
            self.report(
                f"{len(self.transfers_s)} result folder(s) received and written, "
                f"{sum(self.transfers_s) / len(self.transfers_s):.3f} s each on average"
            )

    def _await_workers(self, client: Any, admissions: Admissions) -> None:
        deadline = time.monotonic() + WORKERS_WAIT_S
        while True:
            self._check_connected(client)
            self._refresh(admissions)
            if admissions.kernels or time.monotonic() > deadline:
                break
            time.sleep(POLL_S)
        if not admissions.kernels:
            raise ClusterLost(
                f"no worker of the scheduler at {self.address} may grade this batch "
                f"({len(admissions.asked)} asked in {WORKERS_WAIT_S:g} s; see the lines above)"
            )

    def _feed(
        self,
        client: Any,
        admissions: Admissions,
        waiting: deque[Submission],
        progress: BatchProgress,
        store: Callable[[dict[str, Any]], None],
    ) -> None:
        from distributed import CancelledError, wait

        running: dict[Any, Submission] = {}
        while waiting or running:
            self._check_connected(client)
            self._refresh(admissions)
            if not admissions.kernels:
                self._await_workers(client, admissions)  # every admitted worker has left: wait for one, within bounds
            progress.set_place(f"cluster: {admissions.workers} worker(s), {admissions.kernels} kernel(s)")
            while waiting and len(running) < max(1, admissions.kernels) * TASKS_PER_KERNEL:
                submission = waiting.popleft()
                progress.began(submission.student_id)
                try:
                    task = pack_task(submission, self.assignment.id, self.options, self.keys[submission.student_id])
                except (OSError, ValueError) as error:  # the student's files: unreadable, or named so no zip holds them
                    folder = self.out / submission.student_id
                    _finish(grader_failure(submission, self.assignment, self.options, folder, error), progress, store)
                    continue
                running[self._submit(client, task, admissions.wanted.resource)] = submission
            try:
                done = wait(list(running), timeout=POLL_S, return_when="FIRST_COMPLETED").done
            except TimeoutError:
                continue
            except (OSError, CancelledError) as error:  # the client cancels every future when the scheduler goes
                raise self._lost(error) from None
            for future in done:
                _finish(self._collect(future, running.pop(future), client), progress, store)

    @staticmethod
    def _submit(client: Any, task: ClusterTask, resource: str) -> Any:
        key = f"xaigrader-{task.submission.student_id}-{uuid.uuid4().hex[:8]}"
        return client.submit(grade_task, task, key=key, resources={resource: 1}, pure=False)

    def _lost(self, error: BaseException | None = None) -> ClusterLost:
        why = f" ({type(error).__name__}: {error})" if error is not None else ""
        return ClusterLost(f"the Dask scheduler at {self.address} went away{why}")

    def _refresh(self, admissions: Admissions) -> None:
        try:
            admissions.refresh()
        except (OSError, TimeoutError) as error:
            raise self._lost(error) from None

    def _check_connected(self, client: Any) -> None:
        if client.status not in CONNECTED:
            raise self._lost()

    def _collect(self, future: Any, submission: Submission, client: Any) -> dict[str, Any]:
        """The student's result, its folder written under ``out``; a task that failed, or a folder that is not
        this student's result for this batch, is that student's grader failure, without a grading key, so the
        next run grades them again."""
        from distributed import CancelledError, KilledWorker

        folder = self.out / submission.student_id
        started = time.perf_counter()
        try:
            graded: GradedFolder = future.result()
        except CancelledError as error:
            raise self._lost(error) from None
        except KilledWorker as error:
            lost = RuntimeError(f"every worker that took it stopped while grading it ({error})")
            return grader_failure(submission, self.assignment, self.options, folder, lost)
        except (OSError, TimeoutError) as error:  # the task's own (a full disk on the worker), or the connection's
            if client.status not in CONNECTED:
                raise self._lost(error) from None
            return grader_failure(submission, self.assignment, self.options, folder, error)
        except Exception as error:
            return grader_failure(submission, self.assignment, self.options, folder, error)
        mismatch = self._mismatch(graded.payload, submission)
        if mismatch:
            return grader_failure(submission, self.assignment, self.options, folder, RuntimeError(mismatch))
        try:
            replace_folder(graded.folder, folder)
        except (TransferRefused, OSError) as error:
            return grader_failure(submission, self.assignment, self.options, folder, error)
        self.transfers_s.append(time.perf_counter() - started)
        return graded.payload

    def _mismatch(self, payload: Any, submission: Submission) -> str | None:
        """Why a worker's result cannot be this student's for this batch, or None."""
        expected = {
            "student": submission.student_id,
            "assignment": self.assignment.id,
            "mode": self.options.mode,
        }
        if not isinstance(payload, dict):
            return f"the worker returned {type(payload).__name__}, not a result"
        wrong = [f"{key} {payload.get(key)!r}" for key, value in expected.items() if payload.get(key) != value]
        if payload.get("grading_key") not in (self.keys[submission.student_id], None):
            wrong.append("another grading key")
        return f"the worker's result is not this batch's: {', '.join(wrong)}" if wrong else None


def _finish(payload: dict[str, Any], progress: BatchProgress, store: Callable[[dict[str, Any]], None]) -> None:
    store(payload)
    progress.finished(payload)
