"""HTML reports and the class overview, rendered from stored results (no kernel needed)."""

import base64
import json

from checks.assignment import load_assignment
from checks.cli import main
from checks.report import render_class
from checks.rubric import CheckResult, SubmissionResult, WrittenAnswer

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==")


def write_student(out, student, checks, problem=None, flags=(), answer="Hot is clearest. It hides weak gradients."):
    assignment = load_assignment("cs411-a2")
    folder = out / student
    (folder / "figures").mkdir(parents=True)
    (folder / "figures" / "figure-001.png").write_bytes(PNG)
    (folder / "figures" / "figure-001.json").write_text(json.dumps(
        {"cell": 7, "png": "figure-001.png", "suptitle": "tabby cat", "axes": []}))
    result = SubmissionResult(student, "cs411-a2", "full", checks=checks, problem=problem, flags=list(flags),
                              sandbox={"mode": "bubblewrap", "warning": None},
                              written_answers=[WrittenAnswer("1.6", "Which colormap?", 2, 9, answer, 2, "2-3", True)],
                              run={"cells": [{"index": 1, "status": "error", "duration_s": 0.5,
                                              "error_name": "ZeroDivisionError", "error_value": "division by zero"}],
                                   "events": [{"kind": "shim", "cell": 1, "shim": "pip", "command": "pip install torch"}]})
    (folder / "results.json").write_text(json.dumps(result.as_json(assignment)))


def test_reports_and_overview_render_from_stored_results(tmp_path):
    write_student(tmp_path, "Asha_R1", [CheckResult("preprocess_shape", "1.2", "shape", 2, score=2, status="passed")])
    write_student(tmp_path, "Bela_R2", [CheckResult("preprocess_shape", "1.2", "shape", 2, status="failed",
                                                    message="preprocess returned shape (3, 224, 224)",
                                                    expected="(1, 3, 224, 224)", found="(3, 224, 224)",
                                                    cause="the starter code forgets .unsqueeze(0)")],
                  flags=["printed accuracy 99.50% but the grader measured 10.00%"],
                  answer="<script>alert('x')</script> Gray is clearest.")
    write_student(tmp_path, "Dev_R4", [], problem="invalid submission: broken.ipynb is empty")
    assert main(["report", str(tmp_path)]) == 0
    bela = (tmp_path / "Bela_R2" / "report.html").read_text()
    assert "forgets .unsqueeze(0)" in bela and "Expected: <code>(1, 3, 224, 224)</code>" in bela
    assert "&lt;script&gt;alert" in bela and "<script>alert" not in bela
    assert "data:image/png;base64," in bela and "cell 7 — tabby cat" in bela
    assert "ZeroDivisionError: division by zero" in bela and "pip install torch" in bela
    assert "Expected 2-3 sentences; found 2 in cell 9" in bela
    assert "0 of 1 automatic checks passed." in bela
    assert "1 of 1 automatic checks passed: shape." in (tmp_path / "Asha_R1" / "report.html").read_text()
    assert 'id="problem"' in (tmp_path / "Dev_R4" / "report.html").read_text()
    index = (tmp_path / "index.html").read_text()
    for student in ("Asha_R1", "Bela_R2", "Dev_R4"):
        assert f'<a href="{student}/report.html">{student}</a>' in index
    assert "printed accuracy 99.50%" in index and "broken.ipynb is empty" in index
    assert "1.2 shape: preprocess returned shape (3, 224, 224)" in index
    assert (tmp_path / "grades.csv").read_text().count("\n") == 4


def test_report_on_a_folder_without_results_says_so(tmp_path, capsys):
    assert main(["report", str(tmp_path)]) == 2
    assert "grade the class first" in capsys.readouterr().err


def test_render_class_returns_every_stored_result(tmp_path):
    write_student(tmp_path, "Asha_R1", [])
    assert [p["student"] for p in render_class(tmp_path)] == ["Asha_R1"]
