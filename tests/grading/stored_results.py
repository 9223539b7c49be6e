"""Stored results written without a kernel, for tests of pages, exports and overrides."""

import base64
import json

from checks.grading.results import SubmissionResult, WrittenAnswer
from checks.grading.scheme import load_assignment

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)


def write_student(
    out, student, checks, problem=None, flags=(), answer="Hot is clearest. It hides weak gradients.", **evidence
):
    """``evidence``: more run cells (``cells``), the run's ``budget``, and the stored result's ``task_cells``,
    ``submitted``, ``reexecuted`` and ``output_disagreements``, with the PNGs ``submitted_pngs`` names
    written to ``submitted-figures/``."""
    assignment = load_assignment("cs411-a2")
    folder = out / student
    (folder / "figures").mkdir(parents=True)
    (folder / "figures" / "figure-001.png").write_bytes(PNG)
    (folder / "figures" / "figure-002.png").write_bytes(PNG)
    (folder / "figures" / "reference-viridis.png").write_bytes(PNG)
    figures = [
        {"png": "figure-001.png", "cell": 7, "title": "tabby cat", "task": "1.5", "placed_by": "judged by a check"},
        {"png": "figure-002.png", "cell": 12, "title": "stray", "task": None, "placed_by": ""},
    ]
    result = SubmissionResult(
        student,
        "cs411-a2",
        "full",
        checks=checks,
        problem=problem,
        flags=list(flags),
        figures=figures,
        sandbox={"mode": "bubblewrap", "warning": None},
        written_answers=[WrittenAnswer("1.6", "Which colormap?", 2, 9, answer, 2, "2-3", True)],
        run={
            "cells": [
                {
                    "index": 1,
                    "status": "error",
                    "duration_s": 0.5,
                    "error_name": "ZeroDivisionError",
                    "error_value": "division by zero",
                    "execution_count": 1,
                    "traceback": ["Cell In[1], line 1", "ZeroDivisionError: division by zero"],
                }
            ],
            "events": [{"kind": "shim", "cell": 1, "shim": "pip", "command": "pip install torch"}],
        },
        task_cells=evidence.get("task_cells", {}),
        submitted=evidence.get("submitted", {}),
        reexecuted=evidence.get("reexecuted", []),
        output_disagreements=evidence.get("output_disagreements", []),
    )
    result.run["cells"] += evidence.get("cells", [])
    if "budget" in evidence:
        result.run["budget"] = evidence["budget"]
    if evidence.get("submitted_pngs"):
        (folder / "submitted-figures").mkdir()
        for name in evidence["submitted_pngs"]:
            (folder / "submitted-figures" / name).write_bytes(PNG)
    (folder / "results.json").write_text(json.dumps(result.as_json(assignment)))
