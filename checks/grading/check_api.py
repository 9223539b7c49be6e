"""How a check is written: a small function registered with its task, points and title.

A check passes by returning, fails by raising ``CheckFailed`` (with what was expected,
what was found and the likely cause), earns part of its points with ``fraction``, or
hands over to a TA with ``NeedsTA``. Checks marked ``needs="full"`` are reported as
"needs a full run" in quick mode. While a check runs, ``context.evidence`` collects the
student's figures it judged and the reference figures drawn for them, so a report can
show the two side by side under the check's task.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from checks.engine.call_errors import GradingTimeUp, StudentCallError
from checks.grading.results import FAILED, NEEDS_TA, NOT_RUN, PARTIAL, PASSED, UNVERIFIABLE, CheckResult
from checks.grading.scheme import Assignment, AssignmentError

if TYPE_CHECKING:
    from checks.grading.context import GradingContext

Check = Callable[["GradingContext"], str | None]
"""A check reads the submission through its context; it returns a note, or raises to fail."""


class CheckFailed(Exception):
    def __init__(
        self, message: str, expected: Any = None, found: Any = None, cause: str | None = None, fraction: float = 0.0
    ) -> None:
        super().__init__(message)
        self.message = message
        self.expected = None if expected is None else str(expected)
        self.found = None if found is None else str(found)
        self.cause = cause
        self.fraction = max(0.0, min(1.0, fraction))


class NeedsTA(Exception):
    """The grader cannot decide; a TA must (the message says what to look at)."""


@dataclass
class Evidence:
    """Figures one check looked at: the student's (by file stem) and references drawn for them."""

    figures: list[str] = field(default_factory=list)
    references: list[dict[str, str]] = field(default_factory=list)
    considered: list[dict[str, str]] = field(default_factory=list)  # {"png", "why"}: looked at, not accepted


@dataclass(frozen=True)
class CheckSpec:
    name: str
    task: str
    points: float
    title: str
    needs: str
    inputs: str
    function: Check
    rests_on: tuple[str, ...] = ()  # assets whose stand-ins leave it unverifiable; "training": see cut_cells


OutputComparison = Callable[[Any, Any, list, dict[str, Any]], Any]
"""(submitted outputs, executed notebook, run cells, the checks' memo) -> what the submitted notebook printed
differently from its re-execution (``checks.finders.output_disagreements``, which this layer cannot import)."""


class CheckSuite:
    """The checks of one assignment, in the order they were declared, and how its gradings compare the
    submitted outputs with the re-executed ones."""

    def __init__(self, output_comparison: OutputComparison | None = None) -> None:
        self.specs: list[CheckSpec] = []
        self.stand_in_finder: Callable[[GradingContext], dict[str, str]] | None = None
        self.output_comparison = output_comparison

    def check(
        self,
        task: str,
        points: float,
        title: str,
        needs: str = "quick",
        inputs: str = "",
        rests_on: tuple[str, ...] = (),
    ):
        """``inputs`` tells a student what the check called their code with (hidden values stay hidden);
        ``rests_on`` names the assets whose meaning the verdict needs (see ``stand_ins``), and ``TRAINING``
        (``checks.grading.cut_cells``) a verdict that needs the notebook's training to have finished."""
        if needs not in ("quick", "full"):
            raise ValueError("needs is 'quick' or 'full'")

        def register(function: Check) -> Check:
            self.specs.append(CheckSpec(function.__name__, task, points, title, needs, inputs, function, rests_on))
            return function

        return register

    def stand_ins(self, finder: Callable[[GradingContext], dict[str, str]]) -> Callable:
        """Register how this grading learns which assets are stand-ins ({asset: note}), in the grader's
        process: checks resting on one are not verifiable and claim no marks either way."""
        self.stand_in_finder = finder
        return finder


def validate_suite(suite: CheckSuite, assignment: Assignment) -> None:
    """Refuse a suite that disagrees with assignment.toml, so marks cannot drift: each task's check points must equal
    its automatic marks (they are never rescaled) and each check must name a task or a markless advisory."""
    problems = []
    for spec in suite.specs:
        if spec.task in assignment.advisory_ids:
            if spec.points:
                problems.append(
                    f"check {spec.name} of advisory {spec.task} is worth {spec.points:g} points, "
                    f"but advisories carry no marks"
                )
        elif all(spec.task != task.id for task in assignment.tasks):
            problems.append(f"check {spec.name} names {spec.task!r}, neither a task nor an advisory")
    for task in assignment.tasks:
        points = sum(spec.points for spec in suite.specs if spec.task == task.id)
        if abs(points - task.automatic) > 1e-9:
            problems.append(
                f"task {task.id}: its checks are worth {points:g} points but its automatic marks are "
                f"{task.automatic:g} ({task.marks:g} marks less {task.written:g} written)"
            )
    if problems:
        raise AssignmentError(
            f"{assignment.id}: the checks do not match {assignment.scheme_file}: " + "; ".join(problems)
        )


def run_check(spec: CheckSpec, context: GradingContext) -> CheckResult:
    result = CheckResult(spec.name, spec.task, spec.title, spec.points, needs=spec.needs, inputs=spec.inputs)
    if spec.needs == "full" and context.mode == "quick":
        result.message = "needs a full run (xaigrader check --full, or the instructor's grading run)"
        return result
    context.evidence = evidence = Evidence()
    _, refused_before = context.kernel_stopped()
    try:
        _judge(spec, context, result)
        _not_run_once_refused(context, refused_before, result)
        _unverifiable_on_stand_ins(spec, context, result)
    finally:
        result.figures, result.references = evidence.figures, evidence.references
        result.considered = [entry for entry in evidence.considered if entry["png"] not in evidence.figures]
    return result


def _judge(spec: CheckSpec, context: GradingContext, result: CheckResult) -> None:
    try:
        note = spec.function(context)
    except CheckFailed as failure:
        result.score = round(spec.points * failure.fraction, 4)
        result.status = PARTIAL if failure.fraction > 0 else FAILED
        result.message, result.expected, result.found, result.cause = (
            failure.message,
            failure.expected,
            failure.found,
            failure.cause,
        )
    except NeedsTA as handover:
        result.status, result.message = NEEDS_TA, str(handover)
    except GradingTimeUp as stopped:
        result.status, result.message = NOT_RUN, f"not run: {stopped}"
    except StudentCallError as error:
        result.status = FAILED
        result.message = f"calling {error.target} raised {error.kind}: {error.detail}"
        result.cause = error.cause
    except Exception as error:
        result.status = FAILED
        result.message = f"the check could not evaluate this submission: {type(error).__name__}: {error}"
        result.found = traceback.format_exc(limit=-3)[-1500:]
    else:
        result.score, result.status, result.message = spec.points, PASSED, note or "ok"


def _not_run_once_refused(context: GradingContext, refused_before: int, result: CheckResult) -> None:
    """A check whose calls the kernel refused (it had died, ignored an interrupt, or the time ran out) found nothing
    because of that, not because of the student's work, even where a finder took the refusal for an absence; a
    check that judged without the kernel keeps its verdict."""
    stopped, refused = context.kernel_stopped()
    if refused > refused_before and result.status in (FAILED, PARTIAL):
        result.status, result.score, result.message = NOT_RUN, 0.0, f"not run: {stopped}"


def _unverifiable_on_stand_ins(spec: CheckSpec, context: GradingContext, result: CheckResult) -> None:
    assets = [asset for asset in spec.rests_on if asset in context.stand_in_assets]
    if not assets or result.status not in (PASSED, FAILED, PARTIAL):
        return
    verdict = result.status
    result.status, result.score = UNVERIFIABLE, 0.0
    result.message = (
        f"not verifiable: the {' and '.join(assets)} were stand-ins in this grading, so the check's verdict "
        f"({verdict}: {result.message}) claims no marks either way; an instructor decides"
    )


def run_suite(suite: CheckSuite, context: GradingContext) -> list[CheckResult]:
    if suite.stand_in_finder is not None:
        context.stand_in_assets.update(suite.stand_in_finder(context))
    return [run_check(spec, context) for spec in suite.specs]
