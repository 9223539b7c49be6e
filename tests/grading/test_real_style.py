"""What a TA would give real-style EE5179 submissions, graded end to end: a training cut by the budget costs
only the checks that rest on it, and those wait for a TA beside the submitted output; a split submission
runs its training notebook first; Colab's packages, removed APIs and forced GPU cost nothing."""

import pytest

from tests.grading.real_style_notebooks import COLAB_ENVIRONMENT, LONG_TRAINER, SPLIT

pytestmark = pytest.mark.slow
AUTOMATIC = 81
BATCH_NORM_CHECKS = {"batch_norm_model", "batch_norm_accuracy", "training_times"}


def checks_by_status(payload) -> dict[str, set[str]]:
    statuses: dict[str, set[str]] = {}
    for check in payload["checks"]:
        statuses.setdefault(check["status"], set()).add(check["name"])
    return statuses


def held_marks(payload) -> float:
    return sum(check["max_score"] for check in payload["checks"] if check["status"] == "cut")


def test_a_training_cut_by_the_budget_holds_what_rests_on_it_and_fails_nothing(real_style_class):
    out, results = real_style_class
    payload = results[LONG_TRAINER]
    statuses = checks_by_status(payload)
    assert "failed" not in statuses and "partial" not in statuses, "a cut is never the student's failure"
    assert {"training_curves", "reported_accuracy"} <= statuses["cut"]
    assert payload["score"] == AUTOMATIC - held_marks(payload), "every task independent of the cut earns its marks"
    cuts = [flag for flag in payload["flags"] if flag.startswith("timeout: the training in ")]
    assert len(cuts) == 2 and all("when the 150 s it was given ran out" in flag for flag in cuts)
    held = next(check for check in payload["checks"] if check["name"] == "reported_accuracy")
    assert held["message"].startswith("not verifiable: the training in cell 5 (In [4]) was cut when ")
    assert held["cut"]["training"] and held["cut"]["limit_s"] == 150
    (disagreement,) = payload["output_disagreements"]
    assert disagreement["submitted"] == 99.22 and disagreement["measured"] is not None
    assert payload["run"]["budget"]["cell_timeout_s"] == 150
    page = (out / LONG_TRAINER / "report.html").read_text()
    assert "Submitted vs re-executed" in page and "Time budget: 150 s a cell, 600 s the notebook" in page
    assert "printed 99.22 %" in page and "resting on cells the time budget cut" in page


def test_a_split_submission_runs_its_training_notebook_before_the_probing_one_it_feeds(real_style_class):
    _, results = real_style_class
    payload = results[SPLIT]
    assert (
        "2 notebooks graded as one, in the order their files require: PA2_B_training.ipynb (writes model.pth) "
        "then PA2_A_probing.ipynb" in payload["flags"]
    )
    assert all(cell["status"] == "ok" for cell in payload["run"]["cells"])
    shims = {(event["shim"], event.get("path") or event.get("api")) for event in payload["run"]["shims"]}
    assert ("drive_folder", "/content/drive/MyDrive/EE5179") in shims
    assert ("compat", "torch.load(weights_only=False)") in shims, "the whole pickled model loads in the sandbox"
    assert checks_by_status(payload).get("failed", set()) == BATCH_NORM_CHECKS, "it has no batch-norm network"
    assert payload["score"] == AUTOMATIC - 6


def test_colabs_packages_removed_apis_and_gpu_cost_nothing_and_an_endless_attack_loop_waits_for_a_ta(
    real_style_class,
):
    _, results = real_style_class
    payload = results[COLAB_ENVIRONMENT]
    not_ok = [(cell["status"], cell["error_name"]) for cell in payload["run"]["cells"] if cell["status"] != "ok"]
    assert not_ok == [("timeout", "CellTimeoutError")], "only the attack loop that waits for certainty is cut"
    shims = {(event["shim"], event.get("api") or event.get("outcome")) for event in payload["run"]["shims"]}
    expected = {
        ("compat", "nvidia-smi"),
        ("compat", "np.asfarray"),
        ("compat", "DataLoader iterator .next()"),
        ("pip", "preinstalled"),
    }
    assert expected <= shims and any(shim == "cuda" for shim, _ in shims)
    statuses = checks_by_status(payload)
    assert statuses["cut"] == {"targeted_images", "targeted_hits", "targeted_closeness"}, "saved as if it finished"
    held = next(check for check in payload["checks"] if check["name"] == "targeted_hits")
    assert held["cut"]["claimed"] and not held["cut"]["training"]
    assert statuses["failed"] == BATCH_NORM_CHECKS, "it has no batch-norm network"
    assert payload["score"] == AUTOMATIC - 6 - held_marks(payload)
