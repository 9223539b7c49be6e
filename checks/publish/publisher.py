"""Everything people read, made from stored results plus the TA's overrides, never by re-running.

``xaigrader grade`` calls this at the end of a batch and ``xaigrader report`` calls it
alone, so a TA's marks show up in every page and export after one command.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from checks.data.class_folder import GRADEBOOK_FILE, OVERRIDES_FILE, RESULTS_FILE
from checks.grading.scheme import load_assignment
from checks.publish.exports import write_gradebook, write_gradescope
from checks.publish.overrides import apply_overrides, read_overrides, validate, write_template
from checks.publish.report import render_index, render_student


def load_results(out: Path) -> list[dict[str, Any]]:
    paths = sorted(out.glob(f"*/{RESULTS_FILE}"))
    if not paths:
        raise FileNotFoundError(f"no */{RESULTS_FILE} under {out}: grade the class first")
    payloads = []
    for path in paths:
        try:
            payloads.append(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError) as error:
            raise FileNotFoundError(f"{path} cannot be read ({error}); regrade that student") from None
    assignments = sorted({payload["assignment"] for payload in payloads})
    if len(assignments) > 1:
        raise FileNotFoundError(f"{out} mixes results of {', '.join(assignments)}; keep one assignment per folder")
    return payloads


def publish(out: Path, payloads: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """Write every report, gradescope.json, grades.csv and index.html; returns the final results.

    Raises ``OverrideError`` before writing anything when the overrides file is wrong.
    """
    payloads = payloads if payloads is not None else load_results(out)
    assignment = load_assignment(payloads[0]["assignment"])
    overrides = read_overrides(out / OVERRIDES_FILE)
    validate(overrides, payloads, assignment)
    finals = [apply_overrides(payload, assignment, overrides) for payload in payloads]
    for final in finals:
        render_student(final, assignment, out / final["student"])
        write_gradescope(final, assignment, out / final["student"])
    write_gradebook(finals, assignment, out / GRADEBOOK_FILE)
    render_index(finals, assignment, out)
    write_template(out / OVERRIDES_FILE, finals, assignment)
    return finals
