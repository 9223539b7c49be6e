"""EE5179 PA2 graded end to end: an assignment whose students name nothing, so the grader finds
models, datasets and figures by structure. Long: the sample class trains twelve CNNs."""

import json
import re

import nbformat
import pytest

from checks.engine.submitted_outputs import WITHOUT_OUTPUTS
from checks.grading.submission import load_suite
from tests.grading.conftest import (
    EE_COLAB,
    EE_CORRECT,
    EE_NO_ATTACKS,
    EE_NO_BATCH_NORM,
    EE_TEST_AS_VALIDATION,
    EE_WRONG_NETWORK,
    grade_samples,
)
from tests.grading.ee5179_mutant import CELLS as MUTANT_CELLS
from tests.grading.ee5179_mutant import UNTRAINED_WIDE_MODEL, code_notebook
from tests.grading.test_cs411_grading import checks_of, differing_tasks, task_scores

AUTOMATIC_TOTAL = 81
pytestmark = pytest.mark.slow


def test_the_correct_submission_gets_every_automatic_mark_and_says_where_it_looked(ee5179_graded):
    _, results = ee5179_graded
    correct = results[EE_CORRECT]
    assert correct["score"] == AUTOMATIC_TOTAL and correct["problem"] is None
    assert correct["flags"] == [WITHOUT_OUTPUTS], "the sample is saved without outputs, and nothing else is amiss"
    checks = checks_of(correct)
    assert [name for name, check in checks.items() if check["status"] != "passed"] == []
    assert checks["architecture"]["message"].startswith("`model` (Net, 799,078 parameters) matches")
    assert "train train_set: 50,000 images; validation val_set: 10,000 images" in checks["split"]["message"]
    assert "measured by the grader" in checks["test_accuracy"]["message"]
    assert checks["stated_parameters"]["message"].startswith(
        "convolutional 9,568, fully connected 789,510, total 799,078"
    )
    assert "total 31,870" in checks["stated_neurons"]["message"]
    assert checks["batch_norm_model"]["message"].startswith("`bn_model` (Net, 800,206 parameters)")
    assert checks["conv1_filters"]["message"].startswith("conv1 of `model`")
    assert checks["higher_filters"]["message"].startswith("conv2 of `model`")
    assert "patch 4, stride 2" in checks["occlusion_recomputed"]["message"]
    assert "taken as the targeted attack: the images resemble one another" in checks["targeted_images"]["message"]
    assert checks["targeted_closeness"]["message"].startswith(
        "every image stays close to test image 1, a 2: correlation"
    )
    answers = {answer["task"]: answer for answer in correct["written_answers"]}
    assert sorted(answers) == ["1.6", "2.1", "2.2", "2.3", "2.4", "3.1", "3.2"]
    assert answers["2.1"]["text"].startswith("**Do you observe interesting patterns?**")
    assert answers["2.2"]["text"].startswith("**Compare with conv1.**")
    assert answers["3.2"]["text"].startswith("**Does the generated image resemble a digit?**")


def test_each_planted_difference_costs_its_sub_question_and_says_what_was_found(ee5179_graded):
    _, results = ee5179_graded
    correct = results[EE_CORRECT]
    wrong = results[EE_WRONG_NETWORK]
    assert differing_tasks(wrong, correct) == {"1"} and task_scores(wrong)["1"] == 0
    network = checks_of(wrong)["architecture"]
    assert "conv1 has 64 filters instead of 32" in network["message"]
    assert (
        "fc1 takes 6272 inputs instead of 1568: the 2x2 pooling after the last convolution is missing"
        in network["message"]
    )
    assert "differs from the prescribed one" in checks_of(wrong)["stated_parameters"]["message"]

    validation = results[EE_TEST_AS_VALIDATION]
    assert differing_tasks(validation, correct) == {"1.0"}
    assert "is the test set" in checks_of(validation)["split"]["message"]

    no_batch_norm = results[EE_NO_BATCH_NORM]
    assert differing_tasks(no_batch_norm, correct) == {"1.6"} and task_scores(no_batch_norm)["1.6"] == 0
    assert "no classifier with BatchNorm layers" in checks_of(no_batch_norm)["batch_norm_model"]["message"]

    no_attacks = results[EE_NO_ATTACKS]
    assert differing_tasks(no_attacks, correct) == {"3.1", "3.2"}
    assert task_scores(no_attacks)["3.1"] == 0 and task_scores(no_attacks)["3.2"] == 0
    assert "no figure of non-targeted generated images" in checks_of(no_attacks)["non_targeted_images"]["message"]
    assert [result["score"] for result in results.values()] == [81, 71, 77, 75, 64, 81]


def test_the_colab_notebook_runs_to_the_end_on_this_cpu(ee5179_graded):
    out, results = ee5179_graded
    colab = results[EE_COLAB]
    assert colab["score"] == AUTOMATIC_TOTAL and colab["problem"] is None
    run = json.loads((out / EE_COLAB / "results.json").read_text())["run"]
    statuses = [cell["status"] for cell in run["cells"]]
    assert statuses.count("error") == 1 and statuses[-1] == "ok"
    failed = next(cell for cell in run["cells"] if cell["status"] == "error")
    assert failed["error_name"] == "EOFError" and "input() is not available while grading" in failed["error_value"]
    shims = {shim["shim"] for shim in run["shims"]}
    assert {"pip", "drive.mount", "input", "cuda", "dataset"} <= shims
    assert any("out of order" in flag for flag in colab["flags"])
    assert any("EOFError" in flag for flag in colab["flags"])


def test_the_report_shows_where_each_passed_check_looked_and_the_reference_figures(ee5179_graded):
    out, results = ee5179_graded
    page = (out / EE_CORRECT / "report.html").read_text()
    assert (
        "The network is the prescribed CNN (found by its structure): <code>model</code> (Net, 799,078 parameters) matches"
        in page
    )
    assert re.search(
        r"predicted labels are those of <code>(bn_)?model</code> \(Net, [\d,]+ parameters\) and <code>(bn_)?model</code>",
        page,
    ), "both models predict the titles' labels, so both are named"
    checks = checks_of(results[EE_CORRECT])
    for name, reference in (
        ("conv1_filters", "reference-conv1-filters.png"),
        ("occlusion_recomputed", "reference-occlusion.png"),
        ("non_targeted_images", "reference-non-targeted.png"),
        ("targeted_closeness", "reference-targeted-source.png"),
    ):
        assert checks[name]["figures"], name
        assert [item["png"] for item in checks[name]["references"]] == [reference]
        assert (out / EE_CORRECT / "figures" / reference).is_file()


def notebook_name(cells: list[str]) -> str:
    """A student id for a notebook of these cells, the same in the fixture that grades it and the test that reads it."""
    return f"Tried_R{tried_notebooks().index(cells)}"


@pytest.fixture(scope="module")
def tried(ee5179, data_root, tmp_path_factory) -> dict[str, dict]:
    """Every notebook these tests try, graded in full mode in one batch (two at a time): its checks by name."""
    folder = tmp_path_factory.mktemp("tried")
    for cells in tried_notebooks():
        nbformat.write(code_notebook(cells), folder / f"{notebook_name(cells)}.ipynb")
    _, results = grade_samples(folder, ee5179, data_root, tmp_path_factory.mktemp("tried-out"), cell_timeout_s=120)
    return {student: checks_of(payload) for student, payload in results.items()}


def test_every_check_passes_on_one_notebook_and_fails_on_another(ee5179_graded, ee5179, tried):
    _, results = ee5179_graded
    mutant = tried[notebook_name(MUTANT_CELLS)]
    assert mutant["architecture"]["status"] == "failed" and "64 filters" in mutant["architecture"]["message"]
    assert "differs from the recomputation" in mutant["occlusion_recomputed"]["message"]
    assert "not probabilities" in mutant["occlusion_range"]["message"]
    assert "needs a patch larger than 5 pixels (e.g. 9 with stride 1)" in mutant["occlusion_grid"]["message"]
    assert "does not increase" in mutant["cost_curve"]["message"]
    assert "not the images' labels" in mutant["labelled_test_images"]["message"]
    assert "the notebook's later figure of generated images" in mutant["targeted_images"]["message"], (
        "two attacks whose images do not resemble one another: the later is 3.2's"
    )
    closeness = mutant["targeted_closeness"]
    assert closeness["message"] == "8 of 10 targeted images drift away from the source digit (test image 1, a 2)"
    assert closeness["status"] == "partial" and closeness["score"] == pytest.approx(0.2 * closeness["max_score"])
    correct = checks_of(results[EE_CORRECT])
    for spec in load_suite(ee5179).specs:
        assert correct[spec.name]["status"] == "passed", spec.name
        seen_failing = [
            p for p in [mutant, *map(checks_of, results.values())] if p[spec.name]["status"] in ("failed", "partial")
        ]
        assert seen_failing, f"{spec.name} never fails"


ASCEND = """def ascend(target):
    x = (0.5 + 0.1 * torch.randn(1, 1, 28, 28, generator=torch.Generator().manual_seed(target))).requires_grad_(True)
    for step in range(100):
        grad, = torch.autograd.grad(model(x)[0, target], x)
        x = (x + 20 * grad).detach().requires_grad_(True)
    return x.detach()[0, 0]"""

LOOP_FIGURES_CELLS = [
    """for i in range(8):
    image, label = test_set[i]
    with torch.no_grad():
        predicted = int(model(image.unsqueeze(0)).argmax())
    plt.figure(figsize=(2, 2))
    plt.imshow(image[0], cmap="gray")
    plt.title(f"true {label}, predicted {predicted}")
    plt.show()""",
    f"""{ASCEND}
for target in range(10):
    plt.figure(figsize=(2, 2))
    plt.imshow(ascend(target), cmap="gray")
    plt.title(f"target {{target}}")
    plt.show()""",
]


def test_images_drawn_one_figure_at_a_time_in_a_loop_are_judged_together(tried):
    checks = tried[notebook_name([*UNTRAINED_WIDE_MODEL, *LOOP_FIGURES_CELLS])]
    for name, drawn in (
        ("labelled_test_images", "8 test images in the 8 one-image figures of cell 3"),
        ("non_targeted_images", "10 images in the 10 one-image figures of cell 4"),
    ):
        assert checks[name]["status"] == "passed" and checks[name]["message"].startswith(drawn), checks[name]["message"]
    assert len(checks["non_targeted_images"]["figures"]) == 10, "each of the ten figures is shown under the task"
    assert checks["non_targeted_hits"]["status"] == "passed", checks["non_targeted_hits"]


def grid_cells(labels: str) -> list[str]:
    """Eight test digits, an attack, activations, each shown as one image, and both filter banks
    side by side in one figure."""
    return [
        f"""shown = torch.stack([test_set[i][0] for i in range(8)])
truth = [test_set[i][1] for i in range(8)]
with torch.no_grad():
    predicted = model(shown).argmax(dim=1).tolist()
plt.imshow(torchvision.utils.make_grid(shown, nrow=4).permute(1, 2, 0))
{labels}
plt.show()""",
        f"""{ASCEND}
plt.imshow(torch.cat([ascend(target) for target in range(10)], dim=1), cmap="gray")
plt.title("generated images for targets 0-9")
plt.show()""",
        """with torch.no_grad():
    first = torch.relu(model.conv1(test_set[0][0].unsqueeze(0)))
    second = torch.relu(model.conv2(torch.max_pool2d(first, 2)))
fig, (left, right) = plt.subplots(1, 2)
left.imshow(torchvision.utils.make_grid(first[0].unsqueeze(1), nrow=8, normalize=True).permute(1, 2, 0))
right.imshow(torchvision.utils.make_grid(second[0].unsqueeze(1), nrow=8, normalize=True).permute(1, 2, 0))
plt.show()""",
        """fig, (left, right) = plt.subplots(1, 2)
left.imshow(torchvision.utils.make_grid(model.conv1.weight.detach(), nrow=8, normalize=True, padding=1)[0])
left.set_title("conv1")
right.imshow(torchvision.utils.make_grid(model.conv2.weight.detach()[:, :1], nrow=8, normalize=True, padding=1)[0])
right.set_title("conv2, first input channel")
plt.show()""",
    ]


GRID_CASES = [
    (
        'print("GroundTruth:", *truth)\nprint("Predicted:  ", *predicted)',
        "passed",
        "8 test images in the figure of cell 3 (labels read from the printed output of cell 3): true labels verified, "
        "predicted labels are those of `model` (Wide, 3,160,614 parameters)",
    ),
    (
        'plt.title(f"predicted {predicted}\\nlabels {truth[1:] + truth[:1]}")',
        "partial",
        "the true labels in the titles are not the images' labels (labels read from the grid's title and labels)",
    ),
    (
        'plt.title("eight test images")',
        "failed",
        "8 of 8 test images in the figure of cell 3 (eight test images) lack a title with the true and the predicted "
        "label",
    ),
]


@pytest.mark.parametrize(
    ("labels", "status", "message"),
    GRID_CASES,
    ids=["printed", "title-shifted", "unlabelled"],
)
def test_images_shown_side_by_side_in_one_image_are_judged_one_by_one(labels, status, message, tried):
    checks = tried[notebook_name([*UNTRAINED_WIDE_MODEL, *grid_cells(labels)])]
    digits = checks["labelled_test_images"]
    assert (digits["status"], digits["message"]) == (status, message), digits
    assert checks["non_targeted_images"]["message"].startswith("10 images in the figure of cell 4")
    assert checks["non_targeted_hits"]["status"] == "passed", checks["non_targeted_hits"]
    assert checks["activation_maps"]["message"] == (
        "conv1 maps in the figure of cell 5; deeper maps in the figure of cell 5"
    ), checks["activation_maps"]
    place = "in the figure of cell 6 (conv1 | conv2, first input channel)"
    assert checks["conv1_filters"]["message"] == f"conv1 of `model` {place}, beside conv2 of `model`"
    assert checks["higher_filters"]["message"] == f"conv2 of `model` {place}, beside conv1 of `model`"


HALF_BANKS = """fig, axes = plt.subplots(4, 8)
kernels = [*model.conv1.weight.detach()[:16, 0], *model.conv2.weight.detach()[:16, 0]]
for ax, kernel in zip(axes.flat, kernels):
    ax.imshow(kernel, cmap="gray")
plt.show()"""


def test_a_figure_of_two_half_banks_shows_conv2_but_too_few_conv1_filters(tried):
    checks = tried[notebook_name([*UNTRAINED_WIDE_MODEL, HALF_BANKS])]
    conv1 = checks["conv1_filters"]
    assert (conv1["status"], conv1["message"]) == (
        "partial",
        "the figure of cell 3 shows only 16 kernels of conv1 of `model`",
    ), conv1
    assert conv1["found"] == "conv1 of `model`: 16 panels, conv2 of `model`: 16 panels"
    assert checks["higher_filters"]["message"] == "conv2 of `model` in the figure of cell 3, beside conv1 of `model`"


def attack_figure(image: str) -> str:
    return f"""fig, axes = plt.subplots(2, 5)
for t, ax in enumerate(axes.flat):
    ax.imshow({image}, cmap="gray")
    ax.set_title(f"target {{t}}")
plt.show()"""


NOISE = "128 + 32 * np.random.RandomState(seed + t).randn(28, 28)"


def no_digit_cells(targeted: str) -> list[str]:
    return [*UNTRAINED_WIDE_MODEL, "seed = 0", attack_figure(NOISE), "seed = 50", attack_figure(targeted)]


NO_DIGIT_CASES = [
    (
        NOISE,
        "no digit shows through the targeted images",
        r"the closest is (test|training) image \d+, a \d, correlation 0\.[0-2]\d",
    ),
    (
        f"np.where(np.arange(784).reshape(28, 28) % 7 == 0, np.nan, {NOISE})",
        "the targeted images cannot be compared with any digit",
        "their average is blank or holds NaN or infinite values",
    ),
]


@pytest.mark.parametrize(
    ("targeted", "message", "found"),
    NO_DIGIT_CASES,
    ids=["noise", "nan"],
)
def test_a_targeted_attack_that_keeps_no_digit_is_told_so(targeted, message, found, tried):
    checks = tried[notebook_name(no_digit_cells(targeted))]
    assert "10 images in the figure of cell 4" in checks["non_targeted_images"]["message"]
    assert "in the figure of cell 6 (target 0" in checks["targeted_images"]["message"]
    assert "taken as the targeted attack: the notebook's later figure" in checks["targeted_images"]["message"]
    closeness = checks["targeted_closeness"]
    assert closeness["status"] == "failed" and closeness["message"] == message
    assert re.fullmatch(found, closeness["found"]), closeness["found"]


def tried_notebooks() -> list[list[str]]:
    """The cells of every notebook graded by the ``tried`` fixture."""
    return [
        MUTANT_CELLS,
        [*UNTRAINED_WIDE_MODEL, *LOOP_FIGURES_CELLS],
        *([*UNTRAINED_WIDE_MODEL, *grid_cells(labels)] for labels, _, _ in GRID_CASES),
        [*UNTRAINED_WIDE_MODEL, HALF_BANKS],
        *(no_digit_cells(targeted) for targeted, _, _ in NO_DIGIT_CASES),
    ]
