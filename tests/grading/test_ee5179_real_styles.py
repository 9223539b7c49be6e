"""EE5179 PA2 evidence drawn as real notebooks draw it: one figure per image, the model's
confidence in the titles, each generated image beside its cost curve, a strip, a cost the student
negated and said so, an occlusion map of a digit the notebook normalised and drew on its own. The
finders are tested on figure records here; two notebooks (tests/grading/ee5179_real_styles.py) are
graded in full, marked slow."""

import nbformat
import pytest

from checks.assignments.ee5179_pa2.checks import NEGATED_CODE, NEGATED_PROSE
from checks.assignments.ee5179_pa2.findings import attack_runs, stated_labels, target_of
from checks.batch.class_grading import grade_class
from checks.engine.exchange_records import figure
from checks.engine.sandbox import SandboxLimits
from checks.finders.figures import survey, with_cell_groups
from checks.finders.title_numbers import class_digits, confidences, named_digit
from checks.grading.submission import GradeOptions
from tests.grading.ee5179_real_styles import FAILING, PASSING, real_style_notebook
from tests.grading.test_cs411_grading import checks_of


def test_a_confidence_in_a_title_is_read_as_a_confidence_not_as_a_class():
    assert confidences("target 3, conf 0.98") == [0.98] and class_digits("target 3, conf 0.98") == [3]
    assert confidences("Pred: 3 (98.7%)") == [pytest.approx(0.987)] and class_digits("Pred: 3 (98.7%)") == [3]
    assert class_digits("98.7% : 3") == [3], "the 7 of a percentage is no class"
    assert class_digits("target 10, step 250") == [], "longer numbers are no classes"
    assert named_digit("Confidence 0.99 | label 4", "label") == 4
    assert named_digit("target class = 6\nconf: 1.00", "target") == 6
    assert named_digit("p = 0.97", "target") is None


def panel(title: str, xlabel: str = "") -> dict:
    return {"title": title, "xlabel": xlabel}


def test_a_title_with_a_label_a_prediction_and_a_confidence_states_both_labels():
    assert stated_labels(panel("Label: 7, Pred: 2 (0.98)")) == (7, 2), "not the 0 of 0.98"
    assert stated_labels(panel("Predicted label: 3, true label: 7")) == (7, 3), "each after its word"
    assert stated_labels(panel("", "true 1, predicted 1")) == (1, 1), "an x label serves"
    assert stated_labels(panel("pred 3")) is None, "one label only"
    assert stated_labels(panel("image 12 (0.99)")) is None


def test_an_attack_images_target_is_read_after_its_word_or_from_its_place():
    assert target_of(panel("target 4, conf 0.91"), 0) == 4
    assert target_of(panel("Pred: 6 (99.2%)"), 0) == 6
    assert target_of(panel("99.2% : 5"), 0) == 5
    assert target_of(panel("p=0.93"), 13) == 3, "no class stated: its place in the figure"


def record(cell: int, number: int, *panels: dict, suptitle: str = "") -> dict:
    return figure({"figure": number, "cell": cell, "png": f"f{number}.png", "suptitle": suptitle, "axes": list(panels)})


def image(title: str = "", size: int = 28) -> dict:
    return {"title": title, "images": [{"shape": [size, size], "array": None}]}


def line(title: str = "cost") -> dict:
    return {"title": title, "lines": [{"label": "", "x": [0, 1], "y": [1.0, 2.0]}]}


def test_each_generated_image_beside_its_cost_curve_is_read_with_the_others_of_its_cell():
    figures = [record(4, n, image(f"target {n}, conf 0.9{n}"), line()) for n in range(10)]
    groups = with_cell_groups(figures)[10:]
    assert len(groups) == 1 and [axes["title"] for axes in groups[0]["axes"]][:2] == [
        "target 0, conf 0.90",
        "target 1, conf 0.91",
    ]
    two_images = [record(5, n, image(), image()) for n in range(10)]
    assert with_cell_groups(two_images) == two_images, "a figure of two images is no one-image figure"


def test_a_one_image_figure_is_named_by_its_figure_title_and_a_cell_of_two_kinds_makes_a_group_of_each():
    figures = [
        record(6, 2 * n + part, image(), suptitle=title)
        for n in range(10)
        for part, title in enumerate(("starting noise", f"target {n}"))
    ]
    groups = with_cell_groups(figures)[20:]
    assert [len(group["axes"]) for group in groups] == [20, 10, 10]
    assert [axes["title"] for axes in groups[2]["axes"]] == [f"target {n}" for n in range(10)]


def test_two_attacks_drawn_by_one_loop_split_where_a_target_comes_again():
    panels = [(panel(f"target {t}"), None, t) for t in [*range(10), *range(10)]]
    assert [[target for _, _, target in run] for run in attack_runs(panels)] == [list(range(10))] * 2


def test_a_survey_counts_the_figures_looked_at_by_kind_and_cell():
    figures = [record(30 + n, n, image("target")) for n in range(10)]
    figures += [record(11, 20, line("loss")), record(11, 21, line("accuracy")), record(4, 22, *[image()] * 8)]
    assert survey(with_cell_groups(figures)) == (
        "13 figures: 10 single images (cells 31-40), 2 line plots (cell 12), 1 figure of 8 images (cell 5)"
    )
    assert survey([]) == "no figures"


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("We minimise -logit[t], so we plot the negative of the cost.", True),
        ("    loss = -cost", True),
        ("loss = -model(x)[0, target]  # gradient descent on the negated logit", True),
        ("(-output[0, t]).backward()", True),
        ("The plotted cost is negated.", True),
        ("cost = model(x)[0, target]\nx = x - 0.1 * grad", False),
        ("loss = criterion(output, labels)\nx_grad = x - lr * g", False),
        ("The cost increases over the iterations.", False),
    ],
)
def test_a_negated_cost_is_recognised_only_where_the_notebook_says_so(text, says):
    assert bool(NEGATED_PROSE.search(text) or NEGATED_CODE.search(text)) is says


@pytest.fixture(scope="session")
def real_styles(ee5179, data_root, tmp_path_factory) -> dict[str, dict]:
    """The two real-style notebooks graded in full, one at a time: their checks by name."""
    folder = tmp_path_factory.mktemp("real-styles")
    for name, cells in (("Passing_R1", PASSING), ("Failing_R2", FAILING)):
        nbformat.write(real_style_notebook(cells), folder / f"{name}.ipynb")
    settings = GradeOptions(
        mode="full", data_dir=data_root, jobs=1, limits=SandboxLimits(threads=1), cell_timeout_s=240
    )
    results = grade_class([folder], ee5179, settings, tmp_path_factory.mktemp("real-styles-out"))
    return {payload["student"]: checks_of(payload) for payload in results}


@pytest.mark.slow
def test_evidence_drawn_one_figure_at_a_time_with_confidences_a_strip_and_a_negated_cost_earns_its_marks(
    real_styles,
):
    checks = real_styles["Passing_R1"]
    for name in (
        "labelled_test_images",
        "occlusion_recomputed",
        "cost_curve",
        "non_targeted_images",
        "non_targeted_hits",
        "targeted_images",
        "targeted_hits",
        "targeted_closeness",
    ):
        assert checks[name]["status"] == "passed", (name, checks[name])
    assert checks["labelled_test_images"]["message"].startswith("8 test images in the 8 one-image figures of cell 3")
    assert checks["occlusion_recomputed"]["message"].startswith(
        "test image 7 (shown in the figure of cell 4 (test digit 7)), class 9, patch 4, stride 2, occluder 0.1307"
    ), "the digit the notebook normalised itself, drawn in the cell before the map"
    cost = checks["cost_curve"]["message"]
    assert "falling curve(s) of the negated cost" in cost and "we plot the negative of the cost" in cost, cost
    assert checks["non_targeted_images"]["message"].startswith("10 images in the 10 one-image figures of cell 8")
    assert len(checks["non_targeted_images"]["figures"]) == 10, "each image's figure, cost curve beside it"
    assert "the titles state confidences" in checks["non_targeted_hits"]["message"]
    assert checks["targeted_images"]["message"].startswith("10 images in the figure of cell 9 (targeted images"), (
        "the strip"
    )


@pytest.mark.slow
def test_the_same_styles_done_wrong_fail_and_a_figure_not_found_says_what_was_looked_at(real_styles):
    checks = real_styles["Failing_R2"]
    digits = checks["labelled_test_images"]
    assert digits["status"] == "partial" and digits["message"].startswith(
        "8 predicted label(s) in the 8 one-image figures of cell 3"
    ), digits
    occlusion = checks["occlusion_recomputed"]
    assert occlusion["status"] == "needs_ta", occlusion
    assert "differs from the recomputation of test image 7 (shown in the figure of cell 4" in occlusion["message"]
    cost = checks["cost_curve"]
    assert cost["message"] == "the plotted cost does not increase"
    assert "does not say it plotted the negative of the cost" in cost["found"]
    assert checks["non_targeted_images"]["status"] == "passed", "targets read from 'Pred: 3 (0.0%)'"
    assert "are not classified as their target" in checks["non_targeted_hits"]["message"]
    targeted = checks["targeted_images"]
    assert targeted["status"] == "failed" and targeted["message"].startswith("no figure of targeted")
    assert targeted["found"].startswith(
        "looked at 20 figures: 10 single images (cells 3-5), 10 single images beside a line plot (cell 7); of those "
        "with 28 x 28 images, the figure of cell 4 (test digit 7): it shows an MNIST image; the 8 one-image figures "
        "of cell 3 (Label: 7, Pred: 8 (1.00) |"
    ), targeted["found"]
    assert "): shows test digits; the 10 one-image figures of cell 7 (Pred: 0 (0.0%)" in targeted["found"]
    assert "taken for the non-targeted attack" in targeted["found"]
