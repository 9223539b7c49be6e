"""TA overrides: marks for written answers and decisions on automatic checks, from a plain CSV.

``overrides.csv`` has one row per decision: ``student,item,marks,comment``. The item is a
task id (marks for that task's written answer) or a check, named by its id, by its exact
title when no other check of that student shares it, or as ``"<task id> <title>"`` (how
the reports and Gradescope name it); the check's score is replaced. Rows with empty marks
are ignored, so ``xaigrader grade`` can write a template listing every decision a TA owes.
Each row is judged on its own: a wrong row is reported with its line and the others still
count. Stored results are never changed: overrides are applied when pages and exports are
made, so a TA can revise them and re-render at any time.
"""

from __future__ import annotations

import copy
import csv
import io
import math
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from checks.data.files import write_text_atomically
from checks.grading.results import CUT, FAILED, NEEDS_TA, PARTIAL, PASSED, UNVERIFIABLE, CheckResult, score_tasks
from checks.grading.scheme import Assignment

COLUMNS = ["student", "item", "marks", "comment"]
GUIDE_COLUMNS = ["max", "about"]
UNDECIDED = frozenset({UNVERIFIABLE, CUT, NEEDS_TA})
"""Check statuses that claim no marks either way: the marks wait for a person's decision."""
ABOUT_LIMIT = 400
CHECK_FIELDS = frozenset(field.name for field in fields(CheckResult))


@dataclass(frozen=True)
class Override:
    """One applied decision; ``item`` is canonical: a task id for written marks, else a check's name."""

    student: str
    item: str
    marks: float
    comment: str
    line: int


@dataclass(frozen=True)
class OverrideSet:
    """The rows that apply, and one message per row (or for the whole file) that does not."""

    valid: list[Override]
    problems: list[str]


@dataclass(frozen=True)
class _Row:
    student: str
    item: str
    marks: str
    comment: str
    line: int


def load_overrides(path: Path, payloads: list[dict[str, Any]], assignment: Assignment) -> OverrideSet:
    """Every row judged on its own against the graded students, so one typo cannot hold back the rest."""
    rows, problem = _read_rows(path)
    if problem:
        return OverrideSet([], [problem])
    by_student = {payload["student"]: payload for payload in payloads}
    valid: list[Override] = []
    problems: list[str] = []
    first_line: dict[tuple[str, str], int] = {}
    for row in rows:
        override, problem = _judge_row(row, by_student, assignment)
        if override is not None:
            key = (override.student, override.item)
            if key in first_line:
                problem = f"{override.student} {override.item} already set on line {first_line[key]}"
            else:
                first_line[key] = row.line
                valid.append(override)
        if problem:
            problems.append(f"line {row.line}: {problem}")
    return OverrideSet(valid, problems)


def _read_rows(path: Path) -> tuple[list[_Row], str | None]:
    """The rows that carry marks, or why the file as a whole cannot be read."""
    if not path.is_file():
        return [], None
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as error:
        return [], f"{path}: not UTF-8 text ({error.reason}); save it as CSV UTF-8"
    except OSError as error:
        return [], f"{path}: cannot be read ({error.strerror})"
    if not text.strip():
        return [], None
    reader = csv.DictReader(io.StringIO(text))
    try:
        reader.fieldnames = [name.strip() for name in reader.fieldnames or []]
        missing = [column for column in COLUMNS if column not in reader.fieldnames]
        if missing:
            return [], f"{path}: the header must name the columns {', '.join(COLUMNS)}; missing {', '.join(missing)}"
        rows = [
            _Row(*(_cell(record, column) for column in COLUMNS), reader.line_num)
            for record in reader
            if _cell(record, "marks")
        ]
    except csv.Error as error:
        return [], f"{path}: not a readable CSV file (line {reader.line_num}: {error})"
    return rows, None


def _cell(record: dict[str | None, Any], column: str) -> str:
    return (record.get(column) or "").strip()


def _judge_row(
    row: _Row, by_student: dict[str, dict[str, Any]], assignment: Assignment
) -> tuple[Override | None, str | None]:
    payload = by_student.get(row.student)
    if payload is None:
        return None, f"no graded student {row.student!r}"
    item, limit, problem = _resolve_item(row.item, payload, assignment)
    if problem:
        return None, problem
    try:
        marks = float(row.marks)
    except ValueError:
        marks = math.nan
    if not math.isfinite(marks):
        return None, f"marks {row.marks!r} is not a number"
    if not 0 <= marks <= limit:
        return None, f"{marks:g} marks for {row.item} is outside 0-{limit:g}"
    return Override(row.student, item, marks, row.comment, row.line), None


def _resolve_item(item: str, payload: dict[str, Any], assignment: Assignment) -> tuple[str, float, str | None]:
    """The canonical item a row names (task id or check name) and its maximum marks, or why it names none."""
    tasks = {task.id: task for task in assignment.tasks}
    if item in tasks:
        task = tasks[item]
        if not task.written:
            return item, 0, f"task {item} has no written answer; name one of its checks instead"
        return item, task.written, None
    checks = payload["checks"]
    matches = [check for check in checks if check["name"] == item] or [
        check for check in checks if item in (check["title"], f"{check['task']} {check['title']}")
    ]
    if len(matches) > 1:
        ids = ", ".join(check["name"] for check in matches)
        return item, 0, f"{item!r} is the title of {len(matches)} checks of {payload['student']}; use an id: {ids}"
    if not matches:
        return item, 0, f"{item!r} is neither a task id nor a check of {payload['student']}"
    return matches[0]["name"], matches[0]["max_score"], None


def _status(score: float, max_score: float) -> str:
    return PASSED if score >= max_score else PARTIAL if score else FAILED


def is_undecided(check: dict[str, Any]) -> bool:
    """Whether a check's marks still wait for a person: it claims none either way and no TA has set them."""
    return check["status"] in UNDECIDED and "override" not in check


def apply_overrides(payload: dict[str, Any], assignment: Assignment, overrides: list[Override]) -> dict[str, Any]:
    """The final result: automatic marks, TA decisions, and the marks still waiting for one.

    Adds ``automatic_score``, ``ta_marks`` (written marks), ``corrected_checks`` and
    ``corrected_marks`` (how much the corrections changed), ``pending`` with its parts
    ``pending_written``, ``pending_unverifiable``, ``pending_cut`` and ``pending_needs_ta``, ``final``
    (nothing pending) and ``overridden``; each task gets ``pending`` too. ``score`` counts
    only decided marks.
    """
    final = copy.deepcopy(payload)
    own = {override.item: override for override in overrides if override.student == payload["student"]}
    corrected_marks = 0.0
    for check in final["checks"]:
        if check["name"] in own:
            corrected_marks += _correct_check(check, own[check["name"]])
    checks = [CheckResult(**{k: v for k, v in check.items() if k in CHECK_FIELDS}) for check in final["checks"]]
    tasks = score_tasks(assignment, checks)
    pending_written = 0.0
    for task in assignment.tasks:
        entry = final["tasks"][task.id]
        entry["score"], entry["status"] = tasks[task.id].score, tasks[task.id].status
        undecided = [check for check in final["checks"] if check["task"] == task.id and is_undecided(check)]
        entry["pending"] = float(sum(check["max_score"] for check in undecided))
        override = own.get(task.id)
        if override:
            entry["ta"] = {"marks": override.marks, "comment": override.comment}
            entry["score"] = round(entry["score"] + override.marks, 4)
            entry["status"] = _status(entry["score"], task.marks)
        elif task.written:
            entry["pending"] += task.written
            pending_written += task.written
    final["automatic_score"] = payload["score"]
    final["score"] = round(sum(entry["score"] for entry in final["tasks"].values()), 4)
    final["ta_marks"] = round(float(sum(own[task.id].marks for task in assignment.tasks if task.id in own)), 4)
    final["corrected_checks"] = sum(1 for check in final["checks"] if "override" in check)
    final["corrected_marks"] = round(corrected_marks, 4)
    final["pending_written"] = pending_written
    final["pending_unverifiable"] = _undecided_marks(final["checks"], UNVERIFIABLE)
    final["pending_cut"] = _undecided_marks(final["checks"], CUT)
    final["pending_needs_ta"] = _undecided_marks(final["checks"], NEEDS_TA)
    undecided = final["pending_unverifiable"] + final["pending_cut"] + final["pending_needs_ta"]
    final["pending"] = round(pending_written + undecided, 4)
    final["final"] = final["pending"] == 0
    final["overridden"] = sorted(own)
    return final


def _correct_check(check: dict[str, Any], override: Override) -> float:
    """Sets the TA's score on a check; returns how much it changed the automatic score."""
    check["override"] = {"automatic": check["score"], "automatic_status": check["status"], "comment": override.comment}
    change = override.marks - check["score"]
    check["score"] = override.marks
    check["status"] = _status(override.marks, check["max_score"])
    return change


def _undecided_marks(checks: list[dict[str, Any]], status: str) -> float:
    return round(float(sum(c["max_score"] for c in checks if c["status"] == status and is_undecided(c))), 4)


def write_template(path: Path, payloads: list[dict[str, Any]], assignment: Assignment) -> bool:
    """A row per decision a TA owes each student (written answers, undecided checks); never overwrites a TA's file."""
    if path.exists():
        return False
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(COLUMNS + GUIDE_COLUMNS)
    for payload in sorted(payloads, key=lambda p: p["student"]):
        for task in assignment.tasks:
            if task.written:
                prompt = task.question.prompt if task.question else task.title
                writer.writerow([payload["student"], task.id, "", "", f"{task.written:g}", prompt])
            for check in payload["checks"]:
                if check["task"] == task.id and check["max_score"] and is_undecided(check):
                    about = f"{check['title']}: {check['message']}"
                    about = about if len(about) <= ABOUT_LIMIT else about[: ABOUT_LIMIT - 1] + "…"
                    writer.writerow([payload["student"], check["name"], "", "", f"{check['max_score']:g}", about])
    write_text_atomically(path, buffer.getvalue())
    return True
