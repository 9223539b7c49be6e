"""Files other systems read: the gradebook CSV and Gradescope's results.json per student."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from checks.data.class_folder import GRADESCOPE_FILE
from checks.data.files import write_json, write_text_atomically
from checks.grading.scheme import Assignment

GRADEBOOK_FIXED = ["student", "total", "automatic", "ta", "max", "mode", "problem"]


def write_gradebook(results: list[dict[str, Any]], assignment: Assignment, path: Path) -> None:
    """Final marks (automatic plus TA) per student and per task."""
    task_ids = [task.id for task in assignment.tasks]
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(GRADEBOOK_FIXED + [f"task {task_id}" for task_id in task_ids])
    for payload in sorted(results, key=lambda p: p["student"]):
        writer.writerow(
            [
                payload["student"],
                payload["score"],
                payload.get("automatic_score", payload["score"]),
                payload.get("ta_marks", 0),
                payload["max_score"],
                payload["mode"],
                payload["problem"] or "",
            ]
            + [payload["tasks"][t]["score"] for t in task_ids]
        )
    write_text_atomically(path, buffer.getvalue())


def gradescope_results(payload: dict[str, Any], assignment: Assignment) -> dict[str, Any]:
    """Gradescope's autograder format: the final score and one test per check and per written answer."""
    tests = []
    for check in payload["checks"]:
        kind = "advisory" if check["task"] in assignment.advisory_ids else "task"
        output = check["message"]
        if check.get("expected") is not None or check.get("found") is not None:
            output += f"\nExpected: {check['expected']}\nFound: {check['found']}"
        if check.get("cause"):
            output += f"\nLikely cause: {check['cause']}"
        if check.get("inputs") and check["status"] != "passed":
            output += f"\nInputs: {check['inputs']}"
        if check.get("override"):
            output += f"\nSet by a TA (automatic: {check['override']['automatic']:g}). {check['override']['comment']}"
        tests.append(
            {
                "name": f"{check['task']} {check['title']}",
                "score": check["score"],
                "max_score": check["max_score"],
                "status": "passed" if check["status"] == "passed" else "failed",
                "output": output.strip(),
                "tags": [f"{kind}:{check['task']}"],
                "visibility": "visible",
            }
        )
    for task in assignment.tasks:
        if not task.written:
            continue
        ta = payload["tasks"][task.id].get("ta")
        tests.append(
            {
                "name": f"{task.id} written answer",
                "score": ta["marks"] if ta else 0.0,
                "max_score": task.written,
                "status": "passed" if ta and ta["marks"] >= task.written else "failed",
                "output": (ta["comment"] or "Marked by a TA.") if ta else "Awaiting a TA's marks.",
                "tags": [f"task:{task.id}", "written"],
                "visibility": "visible",
            }
        )
    return {
        "score": payload["score"],
        "execution_time": payload["execution_time"],
        "output": payload["output"],
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "tests": tests,
    }


def write_gradescope(payload: dict[str, Any], assignment: Assignment, student_dir: Path) -> Path:
    target = student_dir / GRADESCOPE_FILE
    write_json(target, gradescope_results(payload, assignment))
    return target
