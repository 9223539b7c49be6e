"""CS411 A2 graded end to end: the sample class in full mode, quick self-checks, and a
notebook that gets every check wrong. Long: grading the class takes several minutes."""

import csv
import json
import shutil

import pytest

from checks.batch.class_grading import grade_class
from checks.cli import main
from checks.engine.intake import intake_one
from checks.engine.sandbox import SandboxLimits
from checks.grading.submission import GradeOptions, load_suite
from checks.publish.exports import GRADEBOOK_FIXED
from tests.grading.conftest import BUGS, CORRECT, CRASH, HANG, HOSTILE, NO_TITLES, SAMPLES

AUTOMATIC_TOTAL = 84
ON_STAND_INS = {"top5_printed": 4, "viridis_title": 2, "second_class_map": 2}
"""Checks that read meaning into MobileNetV2's predictions: without its ImageNet weights (none on these
machines) they claim no marks either way."""
DECIDED = AUTOMATIC_TOTAL - sum(ON_STAND_INS.values())
pytestmark = pytest.mark.slow


def checks_of(payload):
    return {check["name"]: check for check in payload["checks"]}


def task_scores(payload):
    return {task_id: task["score"] for task_id, task in payload["tasks"].items()}


def differing_tasks(payload, reference_payload):
    own, reference = task_scores(payload), task_scores(reference_payload)
    return {task_id for task_id in own if own[task_id] != reference[task_id]}


def test_the_correct_submission_gets_every_automatic_mark(graded):
    _, results = graded
    correct = results[CORRECT]
    assert correct["score"] == DECIDED and correct["problem"] is None
    undecided = {c["name"]: c for c in correct["checks"] if c["status"] != "passed"}
    assert set(undecided) == set(ON_STAND_INS) and all(c["status"] == "unverifiable" for c in undecided.values())
    assert all("(passed: " in c["message"] for c in undecided.values())
    assert correct["stand_in_assets"] == {"pretrained weights": correct["stand_ins"][0]}
    assert correct["stand_ins"] == [
        "mobilenet_v2 IMAGENET1K_V1: stand-in weights: predicted class names are meaningless"
    ]
    answers = {answer["task"]: answer for answer in correct["written_answers"]}
    assert sorted(answers) == ["1.6", "1.7", "1.8", "2.6", "2.7", "2.8"]
    assert answers["1.6"]["text"].startswith("**Which colormap is clearest?**") and answers["1.6"]["length_ok"]


def test_the_starter_bugs_cost_exactly_their_tasks(graded):
    _, results = graded
    bugs = results[BUGS]
    assert differing_tasks(bugs, results[CORRECT]) == {"1.2", "1.8"}
    assert task_scores(bugs)["1.2"] == 2 and task_scores(bugs)["1.8"] == 0
    checks = checks_of(bugs)
    assert "unsqueeze(0)" in checks["preprocess_shape"]["cause"]
    assert "requires_grad_(True)" in checks["preprocess_shape"]["cause"]
    assert "non-leaf" in checks["smoothgrad_seeded"]["cause"]


def test_missing_titles_cost_the_plot_requirements_and_are_listed_by_cell(graded):
    _, results = graded
    plain = results[NO_TITLES]
    assert differing_tasks(plain, results[CORRECT]) == {"1.8", "2.1", "2.2", "2.6", "2.7"}
    assert (
        checks_of(plain)["viridis_title"]["message"].startswith("not verifiable")
        and "(failed: " in (checks_of(plain)["viridis_title"]["message"])
    )
    labels = checks_of(plain)["plots_labelled"]
    assert labels["status"] == "needs_ta" and "figure in cell 4, panel 1: no title" in labels["message"]
    assert "y axis not labelled" in labels["message"]


def test_crash_hang_and_hostile_submissions_each_get_a_result(graded):
    out, results = graded
    assert sorted(results) == sorted([CORRECT, BUGS, NO_TITLES, CRASH, HANG, HOSTILE])
    assert any("Conv2D" in flag for flag in results[CRASH]["flags"])
    assert checks_of(results[CRASH])["small_cnn_architecture"]["message"].startswith(
        "calling SmallCNN() raised AttributeError"
    )
    assert any("timeout" in flag for flag in results[HANG]["flags"])
    assert results[HANG]["score"] == DECIDED, "a hung cell is interrupted and the rest is graded"
    hostile = results[HOSTILE]
    assert any(flag.startswith("printed accuracy 99.50% in cell ") for flag in hostile["flags"])
    assert checks_of(hostile)["trained_accuracy"]["status"] == "failed"
    executed = (out / HOSTILE / "executed.ipynb").read_text()
    assert "could not read" in executed and "CS411 A2 question 1: vanilla-gradient saliency" not in executed


def test_gradebook_has_a_row_per_student_and_a_column_per_task(graded, assignment):
    out, results = graded
    rows = list(csv.DictReader((out / "grades.csv").open()))
    assert [row["student"] for row in rows] == sorted(results)
    assert [f"task {task.id}" for task in assignment.tasks] == list(rows[0])[len(GRADEBOOK_FIXED) :]
    correct = next(r for r in rows if r["student"] == CORRECT)
    assert float(correct["total"]) == DECIDED and correct["final"] == "no"
    assert float(correct["pending"]) == sum(ON_STAND_INS.values()) + 16, "stand-in checks and the written answers"


def test_each_figure_sits_under_its_task_with_the_reference_beside_it(graded):
    out, results = graded
    placed = {figure["task"] for figure in results[CORRECT]["figures"]}
    assert all(figure["task"] for figure in results[CORRECT]["figures"]), (
        "every figure of the correct notebook is placed"
    )
    assert placed == {"1.1", "1.5", "1.6", "1.7", "1.8", "2.1", "2.2", "2.5", "2.6", "2.7"}
    references = {ref["png"] for check in results[CORRECT]["checks"] for ref in check["references"]}
    assert references == {
        "reference-viridis.png",
        "reference-colormaps.png",
        "reference-second.png",
        "reference-smoothgrad.png",
        "reference-counterfactual-rows.png",
    }
    assert all((out / CORRECT / "figures" / name).stat().st_size > 5000 for name in references)
    report = (out / CORRECT / "report.html").read_text()
    task_25 = report[report.index('id="task-2.5"') : report.index('id="task-2.6"')]
    assert task_25.count("<img") == 4, "three student rows and one reference figure"
    plain = results[NO_TITLES]
    failing = next(c for c in plain["checks"] if c["name"] == "smoothgrad_figure")
    assert failing["status"] == "failed" and failing["references"], "a failed figure check still shows the reference"


def test_regrading_an_unchanged_class_reuses_every_result(graded, assignment, data_root, capsys):
    out, results = graded
    options = GradeOptions(mode="full", data_dir=data_root, jobs=2, cell_timeout_s=240, limits=SandboxLimits(threads=1))
    again = {payload["student"]: payload for payload in grade_class([SAMPLES], assignment, options, out)}
    assert again == results
    assert "6 unchanged submissions keep their stored results; 0 to grade" in capsys.readouterr().out
    assert all(json.loads((out / s / "gradescope.json").read_text())["score"] == results[s]["score"] for s in results)


def test_quick_self_check_agrees_with_the_full_run_on_every_function_check(graded, assignment, data_root, tmp_path):
    """The correct notebook through the student's command, the rest of the class as a quick batch."""
    _, results = graded
    report = tmp_path / f"{CORRECT}.json"
    submission = intake_one(SAMPLES / f"{CORRECT}.zip", tmp_path / "intake")
    command = ["check", str(submission.notebook), "--assignment", "cs411-a2", "--data-dir", str(data_root)]
    assert main([*command, "--json", str(report)]) == 0
    others = tmp_path / "others"
    others.mkdir()
    for zip_path in SAMPLES.glob("*.zip"):
        if zip_path.stem != CORRECT:
            shutil.copy(zip_path, others / zip_path.name)
    options = GradeOptions(mode="quick", data_dir=data_root, jobs=2, limits=SandboxLimits(threads=1))
    quick_results = {p["student"]: p for p in grade_class([others], assignment, options, tmp_path / "quick")}
    quick_results[CORRECT] = json.loads(report.read_text())
    assert sorted(quick_results) == sorted(results)
    for student, payload in quick_results.items():
        quick, full = checks_of(payload), checks_of(results[student])
        for name, check in quick.items():
            if check["needs"] == "quick":
                assert check["status"] == full[name]["status"], f"{student}: {name}"
            else:
                assert check["status"] == "not_run"


def test_every_check_passes_on_one_notebook_and_fails_on_another(graded, forged_class, assignment):
    _, results = graded
    mutant = checks_of(forged_class[1]["Mutant_R2"])
    correct = checks_of(results[CORRECT])
    trajectory = mutant["counterfactual_trajectory"]  # its loss history holds tensors: a plain fail all the same
    assert trajectory["status"] == "failed" and trajectory["found"].startswith("first losses ["), trajectory
    for spec in load_suite(assignment).specs:
        if spec.points == 0:
            continue
        others = [mutant, *map(checks_of, results.values())]
        if correct[spec.name]["status"] == "unverifiable":  # judged all the same, the verdict kept in the message
            assert "(passed: " in correct[spec.name]["message"], spec.name
            verdicts = [p[spec.name]["message"] for p in others]
            assert any("(failed: " in m or "(partial: " in m for m in verdicts), f"{spec.name} never fails"
            continue
        assert correct[spec.name]["status"] == "passed", spec.name
        seen_failing = [p for p in others if p[spec.name]["status"] in ("failed", "partial")]
        assert seen_failing, f"{spec.name} never fails"
