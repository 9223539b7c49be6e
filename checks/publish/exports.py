"""Files other systems read: the gradebook CSV and Gradescope's results.json per student.

Both take final results (``apply_overrides``). Gradescope's autograder format
(https://gradescope-autograders.readthedocs.io/en/latest/specs/) knows a test's optional
``status`` only as "passed" or "failed" and otherwise judges a test by its score against its
``max_score``; a test without score information is informational. So marks nobody has decided
yet (an unmarked written answer, a check resting on a stand-in asset or handed to a TA) are
exported without ``score``, ``max_score`` or ``status`` and named "not yet graded", partial
marks carry no status, and the 0-point advisories are a section of the top-level output
rather than tests. Outputs are markdown, with everything a student's notebook can influence
escaped, so it cannot add links, images or HTML to the page Gradescope shows.
"""

from __future__ import annotations

import csv
import html
import io
import re
from pathlib import Path
from typing import Any

from checks.data.class_folder import GRADESCOPE_FILE
from checks.data.files import write_json, write_text_atomically
from checks.grading.results import CUT, NEEDS_TA, PASSED, UNVERIFIABLE
from checks.grading.scheme import Assignment, Task
from checks.publish.overrides import is_undecided

GRADEBOOK_FIXED = ["student", "total", "automatic", "ta", "pending", "final", "max", "mode", "problem"]
MARKDOWN = "md"
TEXT_LIMIT = 2000
CODE_LIMIT = 1500
ADVISORY_LIMIT = 500
LISTED_STAND_INS = 10
MARKDOWN_SPECIALS = re.compile(r"([\\`*_{}\[\]()#+\-.!|~])")
BACKTICK_RUNS = re.compile(r"`+")


def write_gradebook(results: list[dict[str, Any]], assignment: Assignment, path: Path) -> None:
    """Decided marks (automatic, corrected, TA) per student and per task, and what is still pending."""
    task_ids = [task.id for task in assignment.tasks]
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(GRADEBOOK_FIXED + [f"task {task_id}" for task_id in task_ids])
    for final in sorted(results, key=lambda p: p["student"]):
        writer.writerow(
            [
                final["student"],
                final["score"],
                final["automatic_score"],
                final["ta_marks"],
                final["pending"],
                "yes" if final["final"] else "no",
                final["max_score"],
                final["mode"],
                final["problem"] or "",
            ]
            + [final["tasks"][t]["score"] for t in task_ids]
        )
    write_text_atomically(path, buffer.getvalue())


def gradescope_results(final: dict[str, Any], assignment: Assignment) -> dict[str, Any]:
    """Gradescope's autograder format: the decided score, one test per check and per written answer."""
    advisories = [check for check in final["checks"] if check["task"] in assignment.advisory_ids]
    graded = [check for check in final["checks"] if check["task"] not in assignment.advisory_ids]
    tests = []
    for task in assignment.tasks:
        tests += [_check_test(check) for check in graded if check["task"] == task.id]
        if task.written:
            tests.append(_written_test(task, final["tasks"][task.id]))
    task_ids = {task.id for task in assignment.tasks}
    tests += [_check_test(check) for check in graded if check["task"] not in task_ids]
    return {
        "score": final["score"],
        "execution_time": final["execution_time"],
        "output": _overall_output(final, advisories),
        "output_format": MARKDOWN,
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "tests": tests,
    }


def write_gradescope(final: dict[str, Any], assignment: Assignment, student_dir: Path) -> Path:
    target = student_dir / GRADESCOPE_FILE
    write_json(target, gradescope_results(final, assignment))
    return target


def _scored_test(name: str, score: float, max_score: float, output: str, tags: list[str]) -> dict[str, Any]:
    """A decided test; partial marks get no status, as Gradescope has none between passed and failed."""
    test: dict[str, Any] = {"name": name, "score": score, "max_score": max_score}
    if score >= max_score:
        test["status"] = "passed"
    elif score == 0:
        test["status"] = "failed"
    return test | {"output": output, "output_format": MARKDOWN, "tags": tags, "visibility": "visible"}


def _ungraded_test(name: str, output: str, tags: list[str]) -> dict[str, Any]:
    """Marks not decided yet: no score information, so Gradescope shows neither a pass nor a failure."""
    return {
        "name": f"{name} (not yet graded)",
        "output": output,
        "output_format": MARKDOWN,
        "tags": [*tags, "pending"],
        "visibility": "visible",
    }


def _check_test(check: dict[str, Any]) -> dict[str, Any]:
    name, tags = f"{check['task']} {check['title']}", [f"task:{check['task']}"]
    if is_undecided(check):
        return _ungraded_test(name, _undecided_output(check), tags)
    if check["max_score"] == 0:
        test = _scored_test(name, 0, 0, _check_output(check), tags)
        return test | {"status": "passed" if check["status"] == PASSED else "failed"}
    return _scored_test(name, check["score"], check["max_score"], _check_output(check), tags)


def _undecided_output(check: dict[str, Any]) -> str:
    marks = _marks(check["max_score"])
    why = {
        UNVERIFIABLE: f"Not yet graded: the evidence rests on a stand-in asset, so this check claims none of its "
        f"{marks} either way until an instructor decides.",
        CUT: f"Not yet graded: the time budget cut a cell this check rests on, so it claims none of its {marks} "
        f"either way until a TA decides (the saved output, where there is one, is the student's unverified claim).",
        NEEDS_TA: f"Not yet graded: the grader handed this check to a TA, who decides its {marks}.",
    }[check["status"]]
    return f"{why}\n\n{_markdown_text(check['message'])}"


def _check_output(check: dict[str, Any]) -> str:
    parts = [_markdown_text(check["message"])]
    cause = check.get("first_cause")
    if cause:
        how = "Follows from" if cause.get("certain", True) else "May follow from"
        error = _markdown_code(cause["error"])
        parts.append(f"{how} an earlier error in {_markdown_text(cause['label'])}: {error}")
    parts += [_labelled_code(label, check.get(key)) for label, key in (("Expected", "expected"), ("Found", "found"))]
    if check.get("cause"):
        parts.append(f"Likely cause: {_markdown_text(check['cause'])}")
    if check.get("inputs") and check["status"] != PASSED:
        parts.append(f"Inputs: {_markdown_text(check['inputs'])}")
    if check.get("override"):
        override = check["override"]
        comment = f": {_markdown_text(override['comment'])}" if override["comment"] else "."
        parts.append(f"Set by a TA (automatic: {override['automatic']:g}){comment}")
    return "\n\n".join(part for part in parts if part)


def _written_test(task: Task, entry: dict[str, Any]) -> dict[str, Any]:
    name, tags = f"{task.id} written answer", [f"task:{task.id}", "written"]
    ta = entry.get("ta")
    if not ta:
        return _ungraded_test(name, f"Not yet graded: a TA will mark this answer ({_marks(task.written)}).", tags)
    output = _markdown_text(ta["comment"]) if ta["comment"] else "Marked by a TA."
    return _scored_test(name, ta["marks"], task.written, output, tags)


def _overall_output(final: dict[str, Any], advisories: list[dict[str, Any]]) -> str:
    parts = [_markdown_text(final["output"])]
    if final["pending"]:
        parts.append(_pending_note(final))
    if final["stand_ins"]:
        parts.append(_stand_in_warning(final["stand_ins"]))
    if advisories:
        notes = "\n".join(f"- {_advisory_line(check)}" for check in advisories)
        parts.append(f"**Notes on the whole notebook (no marks):**\n\n{notes}")
    return "\n\n".join(parts)


def _pending_note(final: dict[str, Any]) -> str:
    pending = final["pending"]
    verb = "awaits" if pending == 1 else "await"
    shares = [
        (final["pending_written"], "written answers"),
        (final["pending_unverifiable"], "checks resting on stand-in assets"),
        (final.get("pending_cut", 0), "checks resting on cells the time budget cut"),
        (final["pending_needs_ta"], "checks handed to a TA"),
    ]
    detail = "; ".join(f"{label}: {marks:g}" for marks, label in shares if marks)
    return f"**{_marks(pending)} {verb} a TA** ({detail}). The score counts only the marks decided so far."


def _stand_in_warning(stand_ins: list[str]) -> str:
    listed = "\n".join(f"- {_markdown_text(stand_in)}" for stand_in in stand_ins[:LISTED_STAND_INS])
    more = len(stand_ins) - LISTED_STAND_INS
    if more > 0:
        listed += f"\n- and {more} more"
    return (
        "**Graded with stand-in assets:** the grader had no real copy of these, so results that depend on them "
        f"may differ from a run with the real ones.\n\n{listed}"
    )


def _advisory_line(check: dict[str, Any]) -> str:
    title = _markdown_text(check["title"])
    if check["status"] == PASSED:
        return f"{title}: yes"
    return f"{title}: {_markdown_text(check['message'], ADVISORY_LIMIT)}"


def _marks(marks: float) -> str:
    return f"{marks:g} mark" if marks == 1 else f"{marks:g} marks"


def _bounded(text: str, limit: int) -> str:
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text) - limit} more characters)"


def _markdown_text(text: Any, limit: int = TEXT_LIMIT) -> str:
    """Text shown as written: markdown punctuation backslash-escaped, HTML as entities, newlines kept as spaces."""
    flat = " ".join(_bounded(str(text), limit).split())
    return html.escape(MARKDOWN_SPECIALS.sub(r"\\\1", flat), quote=False)


def _markdown_code(text: Any, limit: int = CODE_LIMIT) -> str:
    """A value shown verbatim: a code span, or a fenced block when it has several lines; nothing inside is markup."""
    body = _bounded(str(text), limit)
    fence = "`" * (max((len(run) for run in BACKTICK_RUNS.findall(body)), default=0) + 1)
    if "\n" in body:
        fence = fence if len(fence) >= 3 else "```"
        return f"\n\n{fence}\n{body}\n{fence}"
    if not body.strip():
        return "*(empty)*"
    pad = " " if body.startswith("`") or body.endswith("`") else ""
    return f"{fence}{pad}{body}{pad}{fence}"


def _labelled_code(label: str, value: Any) -> str:
    return "" if value is None else f"{label}: {_markdown_code(value)}"
