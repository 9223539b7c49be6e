"""The grading key covers the code that decides marks and nothing else, so a change to pages or
to another assignment re-renders stored results, while a change to grading code regrades."""

from __future__ import annotations

import shutil
from pathlib import Path

import jinja2
import pytest

from checks.batch import class_grading
from checks.batch.result_cache import graded_code, grader_digest
from checks.engine.sandbox import SandboxLimits
from checks.grading.scheme import load_assignment_file
from checks.grading.submission import GradeOptions
from checks.publish import report
from tests.grading.conftest import CORRECT, SAMPLES

REPO = Path(__file__).resolve().parents[2]
LEFT_OUT = [
    "checks/publish/templates/student.html.j2",
    "checks/publish/report.py",
    "checks/batch/progress.py",
    "checks/cli.py",
    "checks/assignments/ee5179_pa2/checks.py",
    "reference/ee5179_pa2/network.py",
]
COVERED = [
    "checks/engine/kernel.py",
    "checks/probe/shims.py",
    "checks/finders/figures.py",
    "checks/grading/check_api.py",
    "checks/data/assets.py",
    "checks/assignments/cs411_a2/checks.py",
    "checks/assignments/cs411_a2/assignment.toml",
    "checks/assignments/__init__.py",
    "reference/cs411_a2/saliency.py",
    "reference/torch_tools.py",
]


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    for package in ("checks", "reference"):
        shutil.copytree(REPO / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path


def cs411_key(root: Path) -> str:
    assignment = load_assignment_file(root / "checks/assignments/cs411_a2/assignment.toml")
    grader_digest.cache_clear()
    return grader_digest(tuple(graded_code(assignment, root / "checks", root / "reference")))


@pytest.mark.parametrize("changed", LEFT_OUT + COVERED)
def test_only_code_that_decides_marks_changes_the_key(tree, changed):
    before = cs411_key(tree)
    with (tree / changed).open("a", encoding="utf-8") as handle:
        handle.write("\n# edited\n")
    after = cs411_key(tree)
    if changed in COVERED:
        assert after != before, f"{changed} decides marks: editing it must regrade"
    else:
        assert after == before, f"{changed} does not decide CS411 marks: editing it must not regrade"


@pytest.mark.slow
def test_a_template_edit_re_renders_the_class_without_running_a_notebook(
    graded, assignment, data_root, tmp_path, monkeypatch
):
    stored, results = graded
    out = tmp_path / "class"
    shutil.copytree(stored, out)
    edited = (REPO / "checks/publish/templates/student.html.j2").read_text(encoding="utf-8")
    edited = edited.replace("</body>", "<p>edited by the course staff</p></body>")
    monkeypatch.setattr(
        report.TEMPLATES,
        "loader",
        jinja2.ChoiceLoader([jinja2.DictLoader({"student.html.j2": edited}), report.TEMPLATES.loader]),
    )
    report.TEMPLATES.cache.clear()

    def no_run(*args, **kwargs):
        raise AssertionError("an unchanged submission was graded again")

    monkeypatch.setattr(class_grading, "grade_submission", no_run)
    options = GradeOptions(mode="full", data_dir=data_root, jobs=2, cell_timeout_s=240, limits=SandboxLimits(threads=1))
    again = {payload["student"]: payload for payload in class_grading.grade_class([SAMPLES], assignment, options, out)}
    report.TEMPLATES.cache.clear()
    assert again == results
    assert "edited by the course staff" in (out / CORRECT / "report.html").read_text(encoding="utf-8")
    assert "edited by the course staff" not in (stored / CORRECT / "report.html").read_text(encoding="utf-8")
