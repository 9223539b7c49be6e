"""A class holding a notebook that forges the grader's measurements from inside its kernel,
a submission named like a class file and an archive that cannot be extracted: the forgery
earns nothing, and the rest of the class is still graded and published."""

import csv

import pytest

from checks.cli import main

pytestmark = pytest.mark.slow
FORGED_CHECKS = (
    "trained_accuracy",
    "printed_accuracy",
    "digits_shown",
    "loss_curve",
    "counterfactual_frozen",
    "counterfactual_result",
    "counterfactual_history",
)


def test_forged_measurements_earn_nothing(forged_class):
    _, results = forged_class
    forger = results["Forger_R1"]
    checks = {check["name"]: check for check in forger["checks"]}
    assert {name: checks[name]["score"] for name in FORGED_CHECKS} == dict.fromkeys(FORGED_CHECKS, 0)
    assert "could not be exported" in checks["trained_accuracy"]["found"]
    assert "returned its input unchanged" in checks["counterfactual_result"]["message"]
    assert sum(1 for flag in forger["flags"] if "matches no image the notebook displayed" in flag) == 2
    assert "1 malformed events written by the kernel were ignored" in forger["flags"]


def test_the_rest_of_the_class_is_graded_and_published(forged_class):
    out, results = forged_class
    assert set(results) == {"Forger_R1", "Mutant_R2", "grades.csv-refused", "Broken_R3", "Trainer_R4"}
    assert results["Mutant_R2"]["problem"] is None and results["Mutant_R2"]["score"] > 0
    assert "collides" in results["grades.csv-refused"]["problem"]
    assert "file and a folder" in results["Broken_R3"]["problem"]
    rows = list(csv.DictReader((out / "grades.csv").open()))
    assert {row["student"] for row in rows} == set(results)
    assert (out / "index.html").is_file() and (out / "Forger_R1" / "report.html").is_file()
    assert main(["report", str(out)]) == 0


def test_a_later_function_that_trains_the_model_costs_only_the_later_tasks(forged_class):
    """find_counterfactual (2.4) also steps the SmallCNN's weights: 2.2 measured its model as 2.2 left
    it, the change is named, and the later tasks that fail on the changed model point to the cell."""
    _, results = forged_class
    trainer = results["Trainer_R4"]
    checks = {check["name"]: check for check in trainer["checks"]}
    assert trainer["tasks"]["2.2"]["score"] == 8
    assert "with the weights it had after cell" in checks["trained_accuracy"]["message"]
    assert "its weights were changed later, in cell" in checks["trained_accuracy"]["message"]
    assert checks["printed_accuracy"]["status"] == "passed"
    assert checks["counterfactual_frozen"]["status"] == "failed"
    assert any(flag.startswith("the weights of cnn changed after task 2.2 ended") for flag in trainer["flags"])
    later = [check for check in trainer["checks"] if check["task"] in ("2.5", "2.6") and check["status"] == "failed"]
    assert later and all(check["first_cause"] for check in later)
