"""Results of grading: one CheckResult per check, rolled up per task and per submission.

The submission result holds everything the reports need; ``checks.publish.exports`` turns the
final result (with any TA overrides) into Gradescope's format.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from checks.grading.scheme import Assignment

PASSED, FAILED, PARTIAL, NEEDS_TA, NOT_RUN = "passed", "failed", "partial", "needs_ta", "not_run"
UNVERIFIABLE = "unverifiable"
"""A check whose evidence rests on a stand-in asset: no marks either way until an instructor decides."""
CUT = "cut"
"""A check whose verdict rests on a cell the time budget cut: no marks either way until a TA decides."""
HELD = frozenset({UNVERIFIABLE, CUT})


@dataclass
class CheckResult:
    name: str
    task: str
    title: str
    max_score: float
    score: float = 0.0
    status: str = NOT_RUN
    message: str = ""
    expected: str | None = None
    found: str | None = None
    cause: str | None = None
    needs: str = "quick"
    inputs: str = ""
    figures: list[str] = field(default_factory=list)
    references: list[dict[str, str]] = field(default_factory=list)
    considered: list[dict[str, str]] = field(default_factory=list)  # {"png", "why"}: figures looked at, not accepted
    first_cause: dict[str, Any] | None = None  # the earlier notebook error this failure follows from
    cut: dict[str, Any] | None = None  # the cell the time budget cut, when this check is held for it


@dataclass
class WrittenAnswer:
    task: str
    prompt: str
    max_score: float
    cell: int | None
    text: str
    sentences: int
    expected_sentences: str
    length_ok: bool
    source: str = ""  # where an answer that is no notebook cell was found: a report's page


@dataclass
class TaskScore:
    score: float
    max_score: float
    status: str
    automatic_max: float
    written_max: float


def task_status(checks: list[CheckResult], written_max: float) -> str:
    if not checks:
        return NEEDS_TA if written_max else NOT_RUN
    statuses = {check.status for check in checks}
    if statuses == {NOT_RUN}:
        return NOT_RUN
    statuses.discard(NOT_RUN)
    if statuses & HELD and statuses <= {PASSED} | HELD:
        return CUT if CUT in statuses else UNVERIFIABLE
    if statuses <= {PASSED}:
        return NEEDS_TA if written_max else PASSED
    if statuses <= {FAILED}:
        return FAILED
    return PARTIAL


def score_tasks(assignment: Assignment, checks: list[CheckResult]) -> dict[str, TaskScore]:
    """Automatic marks per task: the points its checks earned (``load_suite`` refuses a suite whose points differ
    from the task's automatic marks, so nothing is rescaled)."""
    scores = {}
    for task in assignment.tasks:
        own = [check for check in checks if check.task == task.id]
        score = float(sum(check.score for check in own))
        scores[task.id] = TaskScore(
            round(score, 4), task.marks, task_status(own, task.written), task.automatic, task.written
        )
    return scores


@dataclass
class SubmissionResult:
    student: str
    assignment: str
    mode: str
    checks: list[CheckResult] = field(default_factory=list)
    written_answers: list[WrittenAnswer] = field(default_factory=list)
    sandbox: dict[str, Any] = field(default_factory=dict)
    stand_ins: list[str] = field(default_factory=list)
    stand_in_assets: dict[str, str] = field(default_factory=dict)  # asset -> note: checks resting on them unverifiable
    substitutions: dict[str, str] = field(default_factory=dict)  # piece -> why the grader used its own
    error_groups: list[dict[str, Any]] = field(default_factory=list)  # each notebook error and the marks it cost
    flags: list[str] = field(default_factory=list)
    problem: str | None = None
    execution_time: float = 0.0
    run: dict[str, Any] = field(default_factory=dict)
    figures: list[dict[str, Any]] = field(default_factory=list)
    task_cells: dict[str, list[int]] = field(default_factory=dict)  # task -> the notebook's cells under it
    submitted: dict[str, Any] = field(default_factory=dict)  # the outputs the notebook was submitted with
    reexecuted: list[dict[str, Any]] = field(default_factory=list)  # {"cell", "text"}: those cells' text this run
    output_disagreements: list[dict[str, Any]] = field(default_factory=list)  # submitted vs re-executed numbers
    repository: dict[str, Any] = field(default_factory=dict)  # a team repository's files by kind, README's dead links

    def as_json(self, assignment: Assignment) -> dict[str, Any]:
        tasks = score_tasks(assignment, self.checks)
        score = sum(task.score for task in tasks.values())
        output = self.problem or ("; ".join(self.flags) if self.flags else "graded")
        return {
            "score": round(score, 4),
            "execution_time": round(self.execution_time, 2),
            "output": output,
            "student": self.student,
            "assignment": self.assignment,
            "mode": self.mode,
            "max_score": assignment.total,
            "sandbox": self.sandbox,
            "stand_ins": self.stand_ins,
            "stand_in_assets": self.stand_in_assets,
            "substitutions": self.substitutions,
            "error_groups": self.error_groups,
            "flags": self.flags,
            "problem": self.problem,
            "tasks": {task_id: asdict(task) for task_id, task in tasks.items()},
            "checks": [asdict(check) for check in self.checks],
            "written_answers": [asdict(answer) for answer in self.written_answers],
            "figures": self.figures,
            "run": self.run,
            "task_cells": self.task_cells,
            "submitted": self.submitted,
            "reexecuted": self.reexecuted,
            "output_disagreements": self.output_disagreements,
            "repository": self.repository,
        }
