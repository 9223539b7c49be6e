"""The terminal summary a student reads after ``xaigrader check``: per task, what to fix."""

from __future__ import annotations

from typing import Any

from checks.grading.scheme import Assignment

SYMBOLS = {
    "passed": "ok",
    "failed": "FAIL",
    "partial": "part",
    "needs_ta": "TA",
    "not_run": "--",
    "unverifiable": "??",
    "cut": "cut",
}


def render_summary(payload: dict[str, Any], assignment: Assignment) -> str:
    lines = [f"{assignment.title} - {payload['student']} ({payload['mode']} mode)"]
    if payload["problem"]:
        lines.append(f"  {payload['problem']}")
    for task in assignment.tasks:
        score = payload["tasks"][task.id]
        lines.append(
            f"  {task.id:>4}  {score['score']:>5.1f}/{task.marks:<4g} {SYMBOLS[score['status']]:<4}  {task.title}"
        )
        for check in payload["checks"]:
            if check["task"] != task.id or check["status"] == "passed":
                continue
            lines.append(f"          - {check['title']}: {check['message']}")
            if check.get("expected") is not None:
                lines.append(f"            expected {check['expected']}; found {check['found']}")
            cause = check.get("first_cause")
            if cause:
                how = "follows from" if cause.get("certain", True) else "may follow from"
                lines.append(f"            {how} {cause['label']}: {cause['error']}")
            if check.get("cause"):
                lines.append(f"            likely cause: {check['cause']}")
            if check.get("inputs") and check["status"] in ("failed", "partial"):
                lines.append(f"            inputs: {check['inputs']}")
    for check in payload["checks"]:
        if check["task"] in assignment.advisory_ids and check["status"] != "passed":
            lines.append(f"  note: {check['message']}")
    lines.append(
        f"  automatic marks: {payload['score']:.1f} of {assignment.total:g} (written answers are graded by a TA)"
    )
    return "\n".join(lines)
