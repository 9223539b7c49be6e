"""The cats-vs-dogs XAI assignment graded end to end: its sample class (each notebook trains a small
CNN on 64 px photos for a minute), and two cheap notebooks that cover what the samples do not."""

import nbformat
import pytest

from checks.grading.submission import load_suite
from tests.grading.catsdogs_mutant import ANOTHER_WAY, CONSTANT, FORGED, UNTRAINED
from tests.grading.conftest import (
    CD_CORRECT,
    CD_FGSM_SUBTRACTED,
    CD_GRADCAM,
    CD_KERAS_SUMMARY,
    CD_TEST_FROM_TRAIN,
    CD_TWO_MASKS,
    grade_samples,
)
from tests.grading.ee5179_mutant import code_notebook
from tests.grading.test_cs411_grading import checks_of, differing_tasks, task_scores

AUTOMATIC_TOTAL = 95
pytestmark = pytest.mark.slow


def test_the_correct_submission_gets_every_automatic_mark_and_says_where_it_looked(catsdogs_graded):
    _, results = catsdogs_graded
    correct = results[CD_CORRECT]
    assert correct["score"] == AUTOMATIC_TOTAL and correct["problem"] is None
    checks = checks_of(correct)
    assert [name for name, check in checks.items() if check["status"] != "passed"] == []
    assert checks["model_summary"]["message"] == "printed by cell 6"
    assert "test `test_loader`: 301 images" in checks["data_split"]["message"]
    assert checks["test_accuracy"]["message"].startswith("`model` (CatDogCNN, 548,258 parameters), inputs ToTensor's")
    assert "measured by the grader on its own copy of the model" in checks["test_accuracy"]["message"]
    assert checks["stated_accuracy"]["message"] == "63.79% stated; the grader measured 63.79%"
    assert "[[53, 92], [17, 139]]" in checks["confusion_matrix"]["message"]
    assert "cat: P 0.757 R 0.366 F1 0.493" in checks["classification_report"]["message"]
    assert checks["gradcam_layers"]["message"] == "9 overlays of layers conv1, conv2, conv3"
    assert checks["gradcam_maps"]["message"].startswith("9 maps agree")
    assert (
        "16 x 16, fill 0.5: 63.46% stated, 63.46% recomputed (centred, pixel value 0.5)"
        in (checks["occlusion_accuracies"]["message"])
    )
    assert "epsilon 0.03: 18.60% stated, 18.60% recomputed" in checks["fgsm_accuracies"]["message"]
    answers = {answer["task"]: answer for answer in correct["written_answers"]}
    assert "conv1" in answers["2.1"]["text"]


def test_each_planted_difference_costs_its_task_and_names_the_cause(catsdogs_graded):
    _, results = catsdogs_graded
    correct = results[CD_CORRECT]

    keras = results[CD_KERAS_SUMMARY]
    assert differing_tasks(keras, correct) == {"1"} and task_scores(keras)["1"] == 30
    summary = checks_of(keras)["model_summary"]
    assert "raised AttributeError: 'CatDogCNN' object has no attribute 'summary'" in summary["found"]
    assert summary["cause"].startswith("model.summary() is Keras")

    gradcam = results[CD_GRADCAM]
    assert differing_tasks(gradcam, correct) == {"2.1"}
    maps = checks_of(gradcam)["gradcam_maps"]
    assert maps["status"] == "failed" and maps["message"].startswith("9 of 9 Grad-CAM maps differ")
    assert "computed on conv2, not on conv3 as titled" in maps["cause"]
    assert "no ReLU" in maps["cause"]

    subtracted = results[CD_FGSM_SUBTRACTED]
    assert differing_tasks(subtracted, correct) == {"3"}
    attack = checks_of(subtracted)["fgsm_accuracies"]
    assert "epsilon 0.1: 99.67% stated, 0.00% recomputed" in attack["found"]
    assert attack["cause"].startswith("the stated numbers are what FGSM gives with the sign subtracted")

    two_masks = results[CD_TWO_MASKS]
    assert differing_tasks(two_masks, correct) == {"2.2"}
    assert checks_of(two_masks)["occlusion_masks"]["message"] == "accuracy is stated for 2 occlusion mask(s), not 3"
    assert checks_of(two_masks)["occlusion_heatmaps"]["message"] == "2 occlusion heatmap(s) drawn for 3 masks"

    leaked = results[CD_TEST_FROM_TRAIN]
    assert differing_tasks(leaked, correct) == {"1"}
    assert checks_of(leaked)["data_split"]["message"] == (
        "the test set (test_loader) shares 211 of its 211 images with the training set (train_loader): "
        "it was drawn from the training images"
    )


@pytest.fixture(scope="module")
def tried(catsdogs, data_root, tmp_path_factory) -> dict[str, dict]:
    """The cheap notebooks graded in full mode in one batch: their checks by name."""
    folder = tmp_path_factory.mktemp("catsdogs-tried")
    notebooks = {"Untrained_R1": UNTRAINED, "Another_Way_R2": ANOTHER_WAY, "Forged_R3": FORGED, "Constant_R4": CONSTANT}
    for name, cells in notebooks.items():
        nbformat.write(code_notebook(cells), folder / f"{name}.ipynb")
    _, results = grade_samples(folder, catsdogs, data_root, tmp_path_factory.mktemp("catsdogs-tried-out"))
    return {student: checks_of(payload) for student, payload in results.items()}


def test_every_check_passes_on_one_notebook_and_fails_on_another(catsdogs_graded, catsdogs, tried):
    _, results = catsdogs_graded
    untrained = tried["Untrained_R1"]
    assert untrained["test_accuracy"]["status"] in ("failed", "partial")
    assert untrained["stated_accuracy"]["found"] == "93.12%"
    assert "is not what the model predicts" in untrained["confusion_matrix"]["message"]
    assert "cat precision 0.950" in untrained["classification_report"]["message"]
    assert untrained["training_curves"]["message"].startswith("no training loss, no validation loss")
    assert untrained["gradcam_layers"]["found"] == "overlays of conv2"
    assert untrained["occlusion_accuracies"]["message"] == "3 of 3 occlusion accuracies differ from the grader's"
    assert untrained["occlusion_heatmaps"]["status"] == "failed"
    assert untrained["fgsm_epsilons"]["message"] == "adversarial accuracy is stated for 1 epsilon(s), not 3"
    assert untrained["adversarial_images"]["found"] == "no colour image titled with an epsilon"
    correct = checks_of(results[CD_CORRECT])
    for spec in load_suite(catsdogs).specs:
        assert correct[spec.name]["status"] == "passed", spec.name
        seen_failing = [
            p for p in [untrained, *map(checks_of, results.values())] if p[spec.name]["status"] in ("failed", "partial")
        ]
        assert seen_failing, f"{spec.name} never fails"


def test_a_single_logit_model_on_normalised_96_pixel_images_is_found_and_its_mistakes_named(tried):
    checks = tried["Another_Way_R2"]
    assert checks["test_accuracy"]["status"] == "passed"
    assert checks["test_accuracy"]["message"].startswith(
        "`net` (OneLogit, 1,969 parameters), inputs normalised to [-1, 1]"
    )
    assert checks["stated_accuracy"]["status"] == "passed"
    assert checks["gradcam_layers"]["message"] == "3 overlays of layers features.0, features.3"
    assert checks["gradcam_maps"]["status"] == "passed", checks["gradcam_maps"]
    assert checks["gradcam_maps"]["message"].startswith("3 maps agree")  # the blended one taken out of its photo
    attack = checks["fgsm_accuracies"]
    assert attack["status"] == "failed"
    assert "epsilon applied to the normalised pixels (normalised to [-1, 1])" in attack["cause"]


def test_a_constant_model_on_a_one_class_test_set_earns_none_of_the_recomputed_marks(tried):
    checks = tried["Forged_R3"]
    split = checks["data_split"]
    assert split["status"] == "failed" and "the test set (test_ds) is 100% one class" in split["message"]
    for name in ("test_accuracy", "stated_accuracy", "confusion_matrix", "occlusion_accuracies", "fgsm_accuracies"):
        assert checks[name]["status"] == "failed", name
        assert "is 100% one class, so numbers measured on it say nothing" in checks[name]["message"], name


def test_explanations_and_attacks_on_a_model_that_ignores_its_input_earn_nothing(tried):
    checks = tried["Constant_R4"]
    assert checks["data_split"]["status"] == "passed"
    for name in ("gradcam_maps", "occlusion_accuracies", "fgsm_accuracies"):
        assert checks[name]["status"] == "failed", name
        assert (
            "gives every test image the same scores: its output does not depend on its input"
            in (checks[name]["message"])
        ), name
