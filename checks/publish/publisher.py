"""Everything people read, made from stored results plus the TA's overrides, never by re-running.

``xaigrader grade`` calls this at the end of a batch and ``xaigrader report`` calls it
alone, so a TA's marks show up in every page and export after one command.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from checks.data.class_folder import GRADEBOOK_FILE, OVERRIDES_FILE, RESULTS_FILE
from checks.grading.scheme import load_assignment
from checks.publish.exports import write_gradebook, write_gradescope
from checks.publish.overrides import apply_overrides, load_overrides, write_template
from checks.publish.page_images import PageImages
from checks.publish.report import render_index, render_student_pages
from checks.publish.similarity import find_similar


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


@dataclass(frozen=True)
class Published:
    """The final results (automatic plus TA) and the lines of the TA's file that could not be applied."""

    finals: list[dict[str, Any]]
    override_problems: list[str]


def publish(out: Path, payloads: list[dict[str, Any]] | None = None) -> Published:
    """Write every report, gradescope.json, grades.csv and index.html from the stored results and every
    valid line of the overrides file; the invalid lines are listed on the index and returned."""
    payloads = payloads if payloads is not None else load_results(out)
    assignment = load_assignment(payloads[0]["assignment"])
    overrides = load_overrides(out / OVERRIDES_FILE, payloads, assignment)
    finals = [apply_overrides(payload, assignment, overrides.valid) for payload in payloads]
    images = PageImages(out)
    for final in finals:
        render_student_pages(final, assignment, out, images)
        write_gradescope(final, assignment, out / final["student"])
    write_gradebook(finals, assignment, out / GRADEBOOK_FILE)
    render_index(finals, assignment, out, overrides.problems, find_similar(out, finals, assignment))
    write_template(out / OVERRIDES_FILE, finals, assignment)
    return Published(finals, overrides.problems)
