"""The submitted outputs beside the re-executed ones in a student's report, rendered from stored results."""

import base64
import re
from dataclasses import asdict

import nbformat
import pytest
from PIL import Image

from checks.cli import main
from checks.engine.intake import intake_one
from checks.engine.kernel import CellRecord
from checks.grading.results import CheckResult
from checks.grading.scheme import load_assignment
from checks.grading.submission import GradeOptions, grade_submission
from tests.grading.stored_results import PNG, write_student

HOSTILE = "<script>alert('x')</script><img src=x onerror=alert(1)>"
DISAGREEMENT = (
    "cell 9 (In [5]): the submitted notebook printed 99.22 %; re-executed within the budget it printed 97.9 %; "
    "the grader measured 97.8 % on the model it left"
)


def evidence() -> dict:
    """Cell 7 (task 1.5) ran and drew figure-001; cell 8 (1.5) was cut by its timeout; cell 3 (1.2) ran to its
    end; cell 20 is under no task."""
    return {
        "task_cells": {"1.2": [3], "1.5": [7, 8]},
        "cells": [
            asdict(CellRecord(3, "ok", 1.0, execution_count=2)),
            asdict(CellRecord(7, "ok", 2.0, execution_count=4)),
            asdict(CellRecord(8, "timeout", 300.4, "CellTimeoutError", "cut", execution_count=5, limit_s=300.0)),
            asdict(CellRecord(20, "timeout", 120.0, "CellTimeoutError", "cut", execution_count=9)),
        ],
        "budget": {"cell_timeout_s": 900, "notebook_timeout_s": 2400, "overtime_cell_s": 60, "overtime_s": 600},
        "submitted": {
            "code_cells": 12,
            "has_outputs": True,
            "cells": [
                {"cell": 3, "execution_count": 3, "text": "shape (1, 3, 224, 224)", "images": [], "cut": False},
                {"cell": 7, "execution_count": 8, "text": HOSTILE, "images": ["cell8-1.png"], "cut": False},
                {"cell": 8, "execution_count": 9, "text": "epoch 15\nTest accuracy: 99.22%", "images": [], "cut": True},
                {"cell": 20, "execution_count": 30, "text": "done", "images": [], "cut": False},
            ],
            "dropped": [{"cell": 7, "what": "output 2", "why": "image/jpeg: only PNG figures are kept"}],
            "dropped_more": 0,
        },
        "reexecuted": [
            {"cell": 3, "text": "shape (1, 3, 224, 224)"},
            {"cell": 7, "text": "a map"},
            {"cell": 8, "text": "epoch 3\nTest accuracy: 97.9%"},
            {"cell": 20, "text": ""},
        ],
        "output_disagreements": [
            {"cell": 8, "quantity": "accuracy", "submitted": 99.22, "reexecuted": 97.9, "message": DISAGREEMENT}
        ],
        "submitted_pngs": ["cell8-1.png"],
    }


def section(page: str, start: str, end: str) -> str:
    return page[page.index(start) : page.index(end)]


def test_each_task_shows_its_cells_as_submitted_and_as_re_executed(tmp_path):
    cut = {"cell": 8, "label": "cell 9 (In [5])", "ran_s": 300.4, "limit_s": 300.0, "training": True}
    checks = [
        CheckResult("viridis_layout", "1.5", "layout", 2, score=2, status="passed"),
        CheckResult("viridis_values", "1.5", "values", 2, status="cut", message="held", cut=cut),
    ]
    write_student(tmp_path, "Asha_R1", checks, flags=[DISAGREEMENT], **evidence())
    assert main(["report", str(tmp_path)]) == 0
    page = (tmp_path / "Asha_R1" / "report.html").read_text()
    task_15 = section(page, 'id="task-1.5"', 'id="task-1.6"')
    details = re.search(r'<details class="submitted" id="submitted-1.5"([^>]*)>', task_15)
    assert details and details.group(1) == " open", "a task with a cut cell opens on its evidence"
    assert "Submitted vs re-executed (2 cells, 1 cut by the time budget)" in task_15
    assert '<span class="cut-marker">cut at 300 s of 300 s</span>' in task_15
    assert 'cell 9 (In [5])</a> <span class="muted">(submitted as In [9])</span>' in task_15
    assert (
        "<pre>epoch 15\nTest accuracy: 99.22%</pre>" in task_15
        and "<pre>epoch 3\nTest accuracy: 97.9%</pre>" in task_15
    )
    assert f"<li>{DISAGREEMENT}</li>" in task_15
    held = section(task_15, 'id="check-viridis_values"', 'class="submitted"')
    assert "<a href=\"#submitted-1.5\">The task's submitted output</a> is the student's own, unverified claim" in held
    cell_8 = section(task_15, 'id="submitted-cell-7"', 'id="submitted-cell-8"')
    assert 'src="submitted-figures/web/cell8-1.' in cell_8 and 'loading="lazy"' in cell_8
    assert 'alt="submitted figure from cell 8 (In [4])"' in cell_8
    assert 'src="figures/web/figure-001.' in cell_8, "the re-executed figure of the same cell beside it"
    assert "Not shown: output 2 (image/jpeg: only PNG figures are kept)." in cell_8
    task_12 = section(page, 'id="task-1.2"', 'id="task-1.3"')
    assert '<details class="submitted" id="submitted-1.2">' in task_12, "collapsed when nothing was cut"
    other = page[page.index("Submitted outputs of cells under no task") :]
    assert "cut at 120 s of 900 s" in other, "the run's budget when the cell's own limit is not stored"
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;" in task_15
    assert "<script>" not in page and "onerror=alert" not in page.replace("&lt;img src=x onerror=alert", "")
    assert 'id="no-outputs"' not in page
    single = (tmp_path / "Asha_R1" / "report-single.html").read_text()
    cell_8_single = section(single, 'id="submitted-cell-7"', 'id="submitted-cell-8"')
    assert cell_8_single.count("data:image/") == 1, "the submitted figure inlined, the re-executed one not twice"
    assert "1 figure(s), shown with the notebook's figures." in cell_8_single


def test_a_notebook_submitted_without_outputs_gets_a_banner_and_no_section(tmp_path):
    flag = "submitted without outputs: nothing the student ran can be shown beside the re-execution"
    bare = {"code_cells": 5, "has_outputs": False, "cells": [], "dropped": [], "dropped_more": 0}
    write_student(tmp_path, "Ben_R2", [], flags=[flag], submitted=bare, task_cells={"1.5": [7]})
    write_student(tmp_path, "Cai_R3", [])
    assert main(["report", str(tmp_path)]) == 0
    page = (tmp_path / "Ben_R2" / "report.html").read_text()
    assert 'id="no-outputs"><strong>Submitted without outputs.</strong>' in page
    assert page.count("nothing the student ran can be shown") == 1, "the banner stands for the flag"
    assert 'class="submitted"' not in page
    plain = (tmp_path / "Cai_R3" / "report.html").read_text()
    assert 'id="no-outputs"' not in plain and 'class="submitted"' not in plain
    assert "Ben_R2" in section((tmp_path / "index.html").read_text(), "attention", "</ul>")


@pytest.mark.slow
def test_a_graded_notebook_keeps_its_submitted_outputs_beside_the_run(tmp_path, data_root):
    """Read before the run overwrites them: the saved text, the saved figure as a fresh PNG, and the accuracy
    the re-execution no longer prints, through results.json to the page."""
    folder = tmp_path / "Dan_R4"
    folder.mkdir()
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_markdown_cell("## 2.2 Training"),
        nbformat.v4.new_code_cell("print('Test accuracy: 97.9%')"),
        nbformat.v4.new_code_cell("import matplotlib.pyplot as plt\nplt.plot([1, 2])\nplt.show()"),
    ]
    notebook.cells[1].outputs = [nbformat.v4.new_output("stream", name="stdout", text="Test accuracy: 99.22%\n")]
    notebook.cells[1].execution_count = 4
    figure = {"image/png": base64.b64encode(PNG).decode(), "text/plain": "<Figure size 640x480 with 1 Axes>"}
    notebook.cells[2].outputs = [nbformat.v4.new_output("display_data", data=figure)]
    nbformat.write(notebook, folder / "A2.ipynb")
    options = GradeOptions(mode="full", data_dir=data_root, cell_timeout_s=60)
    out = tmp_path / "out"
    payload = grade_submission(
        intake_one(folder, tmp_path / "intake"), load_assignment("cs411-a2"), options, out / "Dan_R4"
    )
    assert payload["submitted"]["cells"][0] == {
        "cell": 1,
        "execution_count": 4,
        "text": "Test accuracy: 99.22%",
        "images": [],
        "cut": False,
    }
    assert payload["submitted"]["cells"][1]["images"] == ["cell3-1.png"]
    assert Image.open(out / "Dan_R4" / "submitted-figures" / "cell3-1.png").size == (1, 1)
    assert payload["task_cells"]["2.2"] == [0, 1, 2]
    assert {"cell": 1, "text": "Test accuracy: 97.9%"} in payload["reexecuted"]
    message = "cell 2 (In [1]): the submitted notebook printed 99.22 %; re-executed it printed 97.9 %"
    assert [entry["message"] for entry in payload["output_disagreements"]] == [message]
    assert message in payload["flags"]
    assert main(["report", str(out)]) == 0
    task_22 = section((out / "Dan_R4" / "report.html").read_text(), 'id="task-2.2"', 'id="task-2.3"')
    assert f"<li>{message}</li>" in task_22 and 'src="submitted-figures/web/cell3-1.' in task_22
