"""TA overrides: marks for written answers and corrections of automatic checks, from a plain CSV.

``overrides.csv`` has one row per decision: ``student,item,marks,comment``. The item is a
task id (marks for that task's written answer) or a check name (the check's score is
replaced). Rows with empty marks are ignored, so ``xaigrader grade`` can write a template
listing every written answer. Stored results are never changed: overrides are applied
when pages and exports are made, so a TA can revise them and re-render at any time.
"""

from __future__ import annotations

import copy
import csv
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from checks.data.class_folder import OVERRIDES_FILE
from checks.data.files import write_text_atomically
from checks.grading.results import FAILED, PARTIAL, PASSED, CheckResult, score_tasks
from checks.grading.scheme import Assignment

COLUMNS = ["student", "item", "marks", "comment"]
GUIDE_COLUMNS = ["max", "about"]


class OverrideError(ValueError):
    """The overrides file cannot be applied; the message lists every bad line."""


@dataclass(frozen=True)
class Override:
    student: str
    item: str
    marks: float
    comment: str
    line: int


def read_overrides(path: Path) -> list[Override]:
    if not path.is_file():
        return []
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as error:
        raise OverrideError(f"{path}: not UTF-8 text ({error.reason}); save it as CSV UTF-8") from None
    reader = csv.DictReader(io.StringIO(text))
    missing = [column for column in COLUMNS if column not in (reader.fieldnames or [])]
    if missing:
        raise OverrideError(
            f"{path}: the header must name the columns {', '.join(COLUMNS)}; missing {', '.join(missing)}"
        )
    overrides, problems = [], []
    for row in reader:
        line = reader.line_num
        marks = (row.get("marks") or "").strip()
        if not marks:
            continue
        try:
            value = float(marks)
        except ValueError:
            problems.append(f"line {line}: marks {marks!r} is not a number")
            continue
        overrides.append(
            Override(
                (row["student"] or "").strip(),
                (row["item"] or "").strip(),
                value,
                (row.get("comment") or "").strip(),
                line,
            )
        )
    if problems:
        raise OverrideError(f"{path}: " + "; ".join(problems))
    return overrides


def _check_limits(override: Override, payloads: dict[str, dict[str, Any]], assignment: Assignment) -> str | None:
    payload = payloads.get(override.student)
    if payload is None:
        return f"line {override.line}: no graded student {override.student!r}"
    tasks = {task.id: task for task in assignment.tasks}
    checks = {check["name"]: check for check in payload["checks"]}
    if override.item in tasks:
        limit = tasks[override.item].written
        if not limit:
            return f"line {override.line}: task {override.item} has no written answer; name one of its checks instead"
    elif override.item in checks:
        limit = checks[override.item]["max_score"]
    else:
        return f"line {override.line}: {override.item!r} is neither a task id nor a check of {override.student}"
    if not 0 <= override.marks <= limit:
        return f"line {override.line}: {override.marks:g} marks for {override.item} is outside 0-{limit:g}"
    return None


def validate(overrides: list[Override], payloads: list[dict[str, Any]], assignment: Assignment) -> None:
    by_student = {payload["student"]: payload for payload in payloads}
    problems = [problem for override in overrides if (problem := _check_limits(override, by_student, assignment))]
    seen: dict[tuple[str, str], int] = {}
    for override in overrides:
        key = (override.student, override.item)
        if key in seen:
            problems.append(f"line {override.line}: {override.student} {override.item} already set on line {seen[key]}")
        seen[key] = override.line
    if problems:
        raise OverrideError(f"{OVERRIDES_FILE}: " + "; ".join(problems))


def apply_overrides(payload: dict[str, Any], assignment: Assignment, overrides: list[Override]) -> dict[str, Any]:
    """The final result: automatic marks, corrected checks and the TA's written marks."""
    final = copy.deepcopy(payload)
    own = {override.item: override for override in overrides if override.student == payload["student"]}
    for check in final["checks"]:
        override = own.get(check["name"])
        if override:
            check["override"] = {"automatic": check["score"], "comment": override.comment}
            check["score"] = override.marks
            check["status"] = PASSED if override.marks >= check["max_score"] else PARTIAL if override.marks else FAILED
    checks = [CheckResult(**{k: v for k, v in check.items() if k != "override"}) for check in final["checks"]]
    tasks = score_tasks(assignment, checks)
    for task in assignment.tasks:
        entry = final["tasks"][task.id]
        entry["score"], entry["status"] = tasks[task.id].score, tasks[task.id].status
        override = own.get(task.id)
        if override:
            entry["ta"] = {"marks": override.marks, "comment": override.comment}
            entry["score"] = round(entry["score"] + override.marks, 4)
            entry["status"] = PASSED if entry["score"] >= task.marks else PARTIAL if entry["score"] else FAILED
    final["automatic_score"] = payload["score"]
    final["score"] = round(sum(entry["score"] for entry in final["tasks"].values()), 4)
    final["ta_marks"] = sum(o.marks for o in own.values() if o.item in final["tasks"])
    final["overridden"] = sorted(own)
    return final


def write_template(path: Path, payloads: list[dict[str, Any]], assignment: Assignment) -> bool:
    """A row per written answer per student for a TA to fill in; never overwrites a TA's file."""
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
    write_text_atomically(path, buffer.getvalue())
    return True
