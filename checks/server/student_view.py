"""What a student may read of their own result: every mark and what to fix, nothing of the answer key.

Left out: the reference's figures, its computed values (a number with a fractional part in an expected
text), the hidden inputs' description beyond what the check's title says, the TA's view of written
answers. A TA reads the full result.
"""

from __future__ import annotations

import re
from typing import Any

REFERENCE_VALUE = re.compile(r"[-+]?\d*\.\d+(?:[eE][-+]?\d+)?|\d+[eE][-+]?\d+")
KEPT_FOR_TAS = "a value the grader computed (kept for TAs)"
CHECK_FIELDS = ("name", "task", "title", "max_score", "score", "status", "message", "found", "cause", "needs")


def student_expected(expected: str | None) -> str | None:
    """An expected text with its reference-computed numbers hidden; shapes, counts and names stay."""
    if not expected:
        return expected
    return REFERENCE_VALUE.sub(KEPT_FOR_TAS, expected)


def _student_check(check: dict[str, Any]) -> dict[str, Any]:
    view = {field: check.get(field) for field in CHECK_FIELDS}
    view["expected"] = student_expected(check.get("expected"))
    view["message"] = student_expected(check.get("message"))
    cause = check.get("first_cause")
    view["first_cause"] = {"label": cause.get("label"), "error": cause.get("error")} if cause else None
    view["figures"] = list(check.get("figures") or [])
    return view


def student_result(payload: dict[str, Any]) -> dict[str, Any]:
    """The student's view of a results.json payload."""
    return {
        "student": payload.get("student"),
        "assignment": payload.get("assignment"),
        "mode": payload.get("mode"),
        "score": payload.get("score"),
        "max_score": payload.get("max_score"),
        "problem": payload.get("problem"),
        "flags": list(payload.get("flags") or []),
        "tasks": payload.get("tasks") or {},
        "checks": [_student_check(check) for check in payload.get("checks") or []],
        "errors": [
            {
                "label": group.get("label"),
                "error": group.get("error"),
                "hint": group.get("hint"),
                "marks_lost": group.get("marks_lost"),
                "tasks": group.get("tasks"),
            }
            for group in payload.get("error_groups") or []
        ],
        "figures": [figure.get("png") for figure in payload.get("figures") or [] if figure.get("png")],
    }
