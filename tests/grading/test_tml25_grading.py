"""TML25 A4 graded end to end from team repositories: the sample class of seven teams, each differing from the
complete team by one planted difference, which costs its own task with a message naming what was found."""

import pytest

from checks.grading.submission import load_suite
from tests.grading.conftest import (
    TML25_COMPLETE,
    TML25_CONSTANT_TARGET,
    TML25_LIVE_OBJECTS,
    TML25_MISSPELT,
    TML25_NO_REPORT,
    TML25_OWN_FUNCTION,
    TML25_UNNORMALISED,
)
from tests.grading.test_cs411_grading import checks_of, differing_tasks

AUTOMATIC_TOTAL = 55
HELD_FOR_TA = 5  # the ScoreCAM and AblationCAM cell, cut by the half minute a cell gets here
pytestmark = pytest.mark.slow


def test_the_complete_team_gets_every_mark_the_grader_can_decide(tml25_graded):
    _, results = tml25_graded
    complete = results[TML25_COMPLETE]
    checks = checks_of(complete)
    assert complete["problem"] is None and complete["score"] == AUTOMATIC_TOTAL - HELD_FOR_TA
    assert {name for name, check in checks.items() if check["status"] != "passed"} == {"other_cams"}
    assert checks["other_cams"]["status"] == "needs_ta"
    assert (
        "ran past the time limit here: the notebook was handed in without its output" in checks["other_cams"]["message"]
    )
    assert "layer4: all 512 neurons labelled" in checks["dissection_outputs"]["message"]
    assert checks["gradcam_maps"]["message"].startswith("the Grad-CAM maps of all ten images agree")
    lime = checks["lime_explanations"]
    assert lime["message"].startswith("LIME explanations of all ten images are drawn")
    assert (
        "; recomputed from lime_params.pkl for 10 images and drawn beside them: the team's drawn superpixels"
        in lime["message"]
    )
    assert [reference["png"] for reference in lime["references"]] == ["reference-lime.png"]
    assert checks["lime_parameters"]["message"] == "lime_params.pkl is valid"
    assert checks["lime_score"]["message"].startswith("lime_params.pkl: avg_iou ")
    assert checks["iou_values"]["message"].startswith("IoUs of all ten images, computed in cell ")
    assert (
        "; recomputed from the team's Grad-CAM maps and the LIME regions of lime_params.pkl under the team's "
        "threshold (map >= percentile 80), 10 images average " in checks["iou_values"]["message"]
    )
    assert checks["documentation"]["message"].startswith("report/TML25_A4_01_report.pdf: 4 page(s)")
    assert checks["documentation"]["message"].endswith("README.md: every link resolves")
    assert [check["name"] for check in checks.values() if check["figures"]] == [
        "gradcam_maps",
        "lime_explanations",
    ]


def test_every_check_passes_for_one_team_and_fails_for_another(tml25, tml25_graded):
    _, results = tml25_graded
    for spec in load_suite(tml25).specs:
        statuses = {checks_of(payload)[spec.name]["status"] for payload in results.values()}
        if spec.name != "other_cams":
            assert "passed" in statuses, spec.name
        if spec.name not in ("dissection_outputs", "lime_explanations", "iou_values", "other_cams"):
            assert statuses & {"failed", "partial"}, spec.name


def test_live_objects_in_the_pickle_are_rebuilt_and_scored(tml25_graded):
    _, results = tml25_graded
    live = results[TML25_LIVE_OBJECTS]
    assert differing_tasks(live, results[TML25_COMPLETE]) == set()
    parameters = checks_of(live)["lime_parameters"]
    assert parameters["status"] == "passed" and "fitted state" in parameters["message"]
    assert checks_of(live)["lime_score"]["status"] == "passed"


def test_a_function_of_the_notebook_in_the_pickle_is_refused_by_name_and_costs_task_4(tml25_graded):
    _, results = tml25_graded
    own = results[TML25_OWN_FUNCTION]
    assert differing_tasks(own, results[TML25_COMPLETE]) == {"4"}
    checks = checks_of(own)
    assert checks["lime_parameters"]["status"] == "failed"
    assert "__main__.my_segmenter" in checks["lime_parameters"]["found"]
    assert checks["lime_score"]["message"] == "no valid pickle of LIME parameters to score (see the check above)"
    assert checks["lime_explanations"]["message"].endswith("; no valid Deliverable 4 pickle to recompute them from")
    assert "recomputed" not in checks["iou_values"]["message"]


def test_nine_keys_and_a_misspelt_one_are_named_and_cost_task_4(tml25_graded):
    _, results = tml25_graded
    misspelt = results[TML25_MISSPELT]
    assert differing_tasks(misspelt, results[TML25_COMPLETE]) == {"4"}
    found = checks_of(misspelt)["lime_parameters"]["found"]
    assert "'Tiger_Shark'" in found and "did you mean 'tiger_shark'?" in found


def test_a_constant_target_is_named_and_costs_task_2(tml25_graded):
    _, results = tml25_graded
    constant = results[TML25_CONSTANT_TARGET]
    assert differing_tasks(constant, results[TML25_COMPLETE]) == {"2"}
    maps = checks_of(constant)["gradcam_maps"]
    assert maps["status"] == "failed" and maps["message"].startswith("0 of the ten images have a Grad-CAM map")
    assert "every map explains class 0, not the image's predicted class: a constant target" in maps["found"]
    assert "class 0 for every image" in maps["cause"]  # what the code states, quoted


def test_unnormalised_input_is_named_and_costs_task_2(tml25_graded):
    _, results = tml25_graded
    unnormalised = results[TML25_UNNORMALISED]
    assert differing_tasks(unnormalised, results[TML25_COMPLETE]) == {"2"}
    maps = checks_of(unnormalised)["gradcam_maps"]  # on some images the two inputs give one map: those agree
    assert maps["status"] in ("failed", "partial") and maps["score"] < maps["max_score"]
    assert "the model was given pixels without ImageNet's normalisation" in maps["found"]


def test_each_written_task_shows_the_report_page_that_discusses_it(tml25_graded):
    _, results = tml25_graded
    answers = {answer["task"]: answer for answer in results[TML25_COMPLETE]["written_answers"]}
    pages = {task: answer["source"] for task, answer in answers.items()}
    assert pages == {
        task: f"report/TML25_A4_01_report.pdf, page {page}" for task, page in (("1", 1), ("2", 2), ("3", 3), ("5", 4))
    }
    assert answers["3"]["text"].startswith("Task 3: LIME") and answers["3"]["length_ok"]


def test_a_missing_report_costs_the_documentation_task_beside_the_readmes_dead_link(tml25_graded):
    _, results = tml25_graded
    missing = results[TML25_NO_REPORT]
    assert differing_tasks(missing, results[TML25_COMPLETE]) == {"6"}
    documentation = checks_of(missing)["documentation"]
    assert documentation["status"] == "failed" and documentation["score"] == 0
    assert documentation["message"].startswith("no report PDF the grader could read; ")
    assert (
        "the README points at report/TML25_A4_07_report.pdf, which is not in the submission" in documentation["message"]
    )
    assert "the README points at report/TML25_A4_07_report.pdf" in " ".join(missing["flags"])
    assert all(answer["source"] == "" for answer in missing["written_answers"])
