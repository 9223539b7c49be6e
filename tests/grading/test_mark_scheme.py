"""A mark scheme that cannot drift: check points equal each task's automatic marks, advisories come from the TOML."""

import importlib
from dataclasses import replace

import pytest

from checks.cli import main
from checks.grading.check_api import CheckSuite, validate_suite
from checks.grading.results import PASSED, CheckResult, SubmissionResult
from checks.grading.scheme import AssignmentError, available_assignments, load_assignment, load_assignment_file
from checks.grading.submission import load_suite
from checks.publish.exports import gradescope_results
from checks.publish.overrides import apply_overrides
from checks.publish.page_images import PageImages
from checks.publish.report import render_student
from checks.publish.self_check import render_summary

SCHEME = """id = "x"
title = "X"
reference = "reference.x"
total = 10

[limits]
cell_timeout_s = 1
notebook_timeout_s = 2

[[advisories]]
id = "style"
title = "Every plot has a title"

[[tasks]]
id = "1"
title = "one"
marks = 6
written = 2
question = { prompt = "Why?", keywords = ["why"], sentences = "1-2" }

[[tasks]]
id = "2"
title = "two"
marks = 4
"""


@pytest.fixture
def assignment(tmp_path):
    path = tmp_path / "assignment.toml"
    path.write_text(SCHEME)
    return load_assignment_file(path)


def suite_of(*checks: tuple[str, float]) -> CheckSuite:
    suite = CheckSuite()
    for number, (task, points) in enumerate(checks):

        def passes(ctx) -> None:
            return None

        passes.__name__ = f"check_{number}"
        suite.check(task, points, f"check {number}")(passes)
    return suite


def test_the_advisory_is_read_from_the_toml(assignment):
    assert [(item.id, item.title) for item in assignment.advisories] == [("style", "Every plot has a title")]
    assert assignment.advisory_ids == {"style"} and [task.id for task in assignment.tasks] == ["1", "2"]
    cs411 = load_assignment("cs411-a2")
    assert [advisory.id for advisory in cs411.advisories] == ["plots"]
    assert {spec.name for spec in load_suite(cs411).specs if spec.task == "plots"} == {"plots_labelled"}


def test_an_advisory_may_not_reuse_a_task_id(tmp_path):
    path = tmp_path / "assignment.toml"
    path.write_text(SCHEME.replace('id = "style"', 'id = "2"'))
    with pytest.raises(AssignmentError, match="advisory ids repeat, or repeat a task id"):
        load_assignment_file(path)


def test_a_suite_that_adds_up_is_accepted(assignment):
    validate_suite(suite_of(("1", 3), ("1", 1), ("2", 4), ("style", 0)), assignment)


def test_points_that_differ_from_a_tasks_automatic_marks_are_refused_naming_the_task(assignment):
    with pytest.raises(AssignmentError) as refused:
        validate_suite(suite_of(("1", 3), ("2", 4)), assignment)
    message = str(refused.value)
    assert message.startswith("x: the checks do not match ") and "assignment.toml" in message
    assert "task 1: its checks are worth 3 points but its automatic marks are 4 (6 marks less 2 written)" in message
    assert "task 2" not in message


@pytest.mark.parametrize(
    "checks, problem",
    [
        ((("1", 4), ("2", 4), ("all", 0)), "check check_2 names 'all', neither a task nor an advisory"),
        (
            (("1", 4), ("2", 4), ("style", 1)),
            "check check_2 of advisory style is worth 1 points, but advisories carry no marks",
        ),
        ((("1", 4),), "task 2: its checks are worth 0 points but its automatic marks are 4"),
    ],
)
def test_checks_must_name_a_declared_task_or_a_markless_advisory(assignment, checks, problem):
    with pytest.raises(AssignmentError, match=problem):
        validate_suite(suite_of(*checks), assignment)


def test_both_real_suites_load_cleanly():
    assert {assignment.id for assignment in available_assignments()} >= {"cs411-a2", "ee5179-pa2"}
    for assignment in available_assignments():
        assert load_suite(assignment).specs


def test_load_suite_refuses_a_suite_that_drifted(monkeypatch):
    cs411 = load_assignment("cs411-a2")
    module = importlib.import_module(f"{cs411.module}.checks")
    drifted = CheckSuite()
    drifted.specs = [
        replace(spec, points=spec.points + 1) if spec.name == "viridis_saved" else spec for spec in module.suite.specs
    ]
    monkeypatch.setattr(module, "suite", drifted)
    with pytest.raises(
        AssignmentError,
        match="cs411-a2: .*task 1.5: its checks are worth 6 points but its "
        r"automatic marks are 5 \(5 marks less 0 written\)",
    ):
        load_suite(cs411)


def test_list_checks_names_every_check_with_its_points_under_its_task(capsys):
    assert main(["list", "--checks"]) == 0
    lines = capsys.readouterr().out.splitlines()
    for assignment in available_assignments():
        start = lines.index(f"{assignment.id}  {assignment.title}  ({assignment.total:g} marks)")
        own = lines[start:]
        for spec in load_suite(assignment).specs:
            line = next(line for line in own if f"  {spec.name}: " in line)
            assert line.split()[:2] == [f"{spec.points:g}", spec.needs] and line.endswith(spec.title)
            heading = next(text for text in reversed(own[: own.index(line)]) if not text.startswith(" " * 9))
            assert heading.split()[0] == spec.task
        for task in assignment.tasks:
            assert any(line.split()[0] == task.id and line.endswith(f"(automatic {task.automatic:g})") for line in own)


def test_plain_list_is_unchanged_by_the_checks_option(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "automatic" not in out and "advisory" not in out and "plots_labelled" not in out


def test_pages_show_an_advisory_note_through_the_scheme(tmp_path):
    cs411 = load_assignment("cs411-a2")
    note = CheckResult(
        "plots_labelled",
        "plots",
        "Every plot has a title and labelled axes",
        0,
        status="needs_ta",
        message="figure in cell 3: no title",
    )
    passed = CheckResult("viridis_saved", "1.5", "saved", 1, score=1, status=PASSED)
    payload = SubmissionResult("Asha", "cs411-a2", "full", checks=[passed, note]).as_json(cs411)
    assert "plots" not in payload["tasks"] and payload["score"] == 1
    assert "  note: figure in cell 3: no title" in render_summary(payload, cs411).splitlines()
    final = apply_overrides(payload, cs411, [])
    exported = gradescope_results(final, cs411)
    tags = {test["name"]: test["tags"] for test in exported["tests"]}
    assert "plots Every plot has a title and labelled axes" not in tags and tags["1.5 saved"] == ["task:1.5"]
    assert "figure in cell 3: no title" in exported["output"]
    page = render_student(final, cs411, tmp_path, PageImages(tmp_path)).read_text()
    advisory = page[page.index('<details class="banner note advisory">') :]
    assert "Every plot has a title and labelled axes: 1 item(s) to look at" in advisory
    assert "<li>figure in cell 3: no title</li>" in advisory
