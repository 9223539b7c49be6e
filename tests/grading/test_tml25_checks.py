"""The TML25 A4 checks the sample class never fails, each failed by a repository that lacks what it looks for:
judged from a real grading context over a small repository and an executed notebook (no kernel needed)."""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat
import numpy as np
import pytest

from checks.assignments.tml25_a4.checks import region_rule
from checks.data.assets import DataDir
from checks.engine.exchange_records import FigureRecord, figure
from checks.engine.kernel import CellRecord, RunResult
from checks.grading.check_api import run_check
from checks.grading.context import GradingContext
from checks.grading.scheme import load_assignment
from checks.grading.submission import load_suite
from reference.tml25_a4 import IMAGE_KEYS, display_image, image_map, resnet50
from reference.tml25_a4.images import load_image

SPECS = {spec.name: spec for spec in load_suite(load_assignment("tml25-a4")).specs}
SAMPLE_RESULTS = Path(__file__).resolve().parents[2] / "student_submissions" / "tml25-a4"


def printing(source: str, printed: str) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell(source)
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=printed)]
    return nbformat.v4.new_notebook(cells=[cell])


def judged(
    name: str,
    repository: Path,
    notebook: nbformat.NotebookNode,
    data: DataDir,
    tmp_path: Path,
    figures: list[FigureRecord] | None = None,
    run: RunResult | None = None,
    saved_outputs: frozenset[int] = frozenset(),
):
    context = GradingContext(
        mode="full",
        student=None,
        executed=notebook,
        run=run or RunResult(sandbox={}),
        saved_outputs=saved_outputs,
        figures=figures or [],
        figure_dir=tmp_path / "figures",
        data=data,
        cache_dir=tmp_path / "cache",
        repository=repository,
    )
    return run_check(SPECS[name], context)


IOU_TABLE = "".join(f"{key}: IoU = 0.{number + 1}\n" for number, key in enumerate(IMAGE_KEYS))


def test_iou_values_drawn_at_random_fail_and_computed_ones_pass(tmp_path, data):
    computed = printing("for key in keys:\n    print(f'{key}: IoU = {np.logical_and(a, b).sum() / union}')", IOU_TABLE)
    assert judged("iou_values", tmp_path, computed, data, tmp_path).status == "passed"
    drawn = printing(
        "ious = np.random.uniform(0, 1, 10)\nfor key, iou in zip(keys, ious):\n    print(key, iou)", IOU_TABLE
    )
    result = judged("iou_values", tmp_path, drawn, data, tmp_path)
    assert (result.status, result.message) == (
        "failed",
        "the IoU values are drawn at random, not computed from the maps",
    )
    half = printing("print(table)", "".join(IOU_TABLE.splitlines(keepends=True)[:5]))
    result = judged("iou_values", tmp_path, half, data, tmp_path)
    assert (result.status, result.score) == ("partial", 2.5)


@pytest.mark.parametrize(
    "source",
    [
        "from numpy.random import uniform\nious = uniform(0, 1, 10)\nprint(table(ious))",
        "import random as r\nious = [r.betavariate(2, 2) for _ in keys]  # np.logical_and(a, b)\nprint(table(ious))",
        "rng = np.random.default_rng(0)\nprint(table(rng.random(10)))",
        "ious = torch.rand(10)\nprint(table(ious))",
    ],
)
def test_iou_values_drawn_by_any_random_source_fail(source, tmp_path, data):
    result = judged("iou_values", tmp_path, printing(source, IOU_TABLE), data, tmp_path)
    assert (result.status, result.message) == (
        "failed",
        "the IoU values are drawn at random, not computed from the maps",
    )


def test_iou_values_typed_into_the_code_or_computed_by_no_intersection_go_to_a_ta(tmp_path, data):
    typed = "# intersection over union of the two regions\nious = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]\n"
    result = judged("iou_values", tmp_path, printing(typed + "print(table(ious))", IOU_TABLE), data, tmp_path)
    assert (result.status, result.message) == (
        "needs_ta",
        "9 of the printed IoUs are written in the code as numbers, not computed there",
    )
    uncomputed = printing("mask = cam > 0.5  # intersection\nprint(table)", IOU_TABLE)
    result = judged("iou_values", tmp_path, uncomputed, data, tmp_path)
    assert (result.status, result.message) == (
        "needs_ta",
        "IoUs of all ten images are printed, but no code intersects two regions",
    )


def test_a_repository_without_clip_dissect_outputs_or_lime_panels_fails_those_checks(tmp_path, data):
    empty = nbformat.v4.new_notebook()
    result = judged("dissection_outputs", tmp_path, empty, data, tmp_path)
    assert result.status == "failed" and result.found == "no CLIP-dissect output"
    result = judged("lime_explanations", tmp_path, empty, data, tmp_path)
    assert result.status == "failed"
    assert (
        result.message
        == "LIME explanations of 0 of the ten images are drawn; no valid Deliverable 4 pickle to recompute them from"
    )


@pytest.fixture
def one_model(tmp_path: Path) -> Path:
    """The complete team's ImageNet dissection alone, unzipped from its sample repository."""
    shutil.unpack_archive(SAMPLE_RESULTS / "TML25_A4_01.zip", tmp_path / "unzipped")
    repository = tmp_path / "repository"
    source = tmp_path / "unzipped" / "TML25_A4_01-main" / "results" / "resnet18_imagenet"
    shutil.copytree(source, repository / "results" / "resnet18_imagenet")
    return repository


def test_one_model_dissected_of_two_earns_half(one_model, tmp_path, data):
    result = judged("dissection_outputs", one_model, nbformat.v4.new_notebook(), data, tmp_path)
    assert (result.status, result.score) == ("partial", 2.5)
    assert result.message == "1 of the two models has its last three layers labelled by committed CLIP-dissect outputs"


def panel_figure(folder: Path, number: int, cell: int, panels: list[tuple[str, list[np.ndarray]]]) -> FigureRecord:
    """A figure of titled image panels as the grader holds it: validated records, arrays in ``folder``."""
    folder.mkdir(exist_ok=True)
    axes = []
    for position, (title, arrays) in enumerate(panels):
        images = []
        for layer, array in enumerate(arrays):
            name = f"figure{number}_{position}_{layer}.npy"
            np.save(folder / name, array)
            images.append({"array": name, "shape": list(array.shape)})
        axes.append({"title": title, "images": images})
    return {**figure({"figure": number, "cell": cell, "png": "", "axes": axes}), "png": None}


def comparison_notebook(tmp_path: Path, data: DataDir, lime_on) -> tuple[nbformat.NotebookNode, list[FigureRecord]]:
    """LIME panels drawn on ``lime_on(key)``, Grad-CAM maps over the centre crop, and an IoU table computed by
    intersecting the two."""
    notebook = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_code_cell(
                "explanation = explainer.explain_instance(image, f)\nplt.imshow(mark_boundaries(t, m))"
            ),
            nbformat.v4.new_code_cell("with GradCAM(model=model, target_layers=[model.layer4[-1]]) as cam:\n    pass"),
            printing("print(table(np.logical_and(cam_region, lime_mask).sum() / union))", IOU_TABLE).cells[0],
        ]
    )
    crops = {key: display_image(data, key).astype(np.float64) / 255 for key in IMAGE_KEYS}
    smooth = np.outer(np.hanning(224), np.hanning(224))
    figures = [
        panel_figure(tmp_path / "figures", 1, 0, [(f"LIME {key}", [lime_on(key)]) for key in IMAGE_KEYS]),
        panel_figure(tmp_path / "figures", 2, 1, [(f"Grad-CAM {key}", [crops[key], smooth]) for key in IMAGE_KEYS]),
    ]
    return notebook, figures


def test_lime_drawn_on_the_squashed_photo_against_grad_cam_on_the_crop_goes_to_a_ta(tmp_path, data):
    def squashed(key: str) -> np.ndarray:
        return np.asarray(load_image(data, key).resize((224, 224))) / 255

    notebook, figures = comparison_notebook(tmp_path, data, squashed)
    result = judged("iou_values", tmp_path, notebook, data, tmp_path, figures)
    assert (result.status, result.message) == (
        "needs_ta",
        "IoUs of all ten images are printed, but the LIME explanations are drawn on the whole photo squashed to "
        "224 x 224 and the Grad-CAM maps are drawn on the 224 x 224 centre crop (IMAGENET1K_V2): their regions "
        "cover different pixels unless the code aligns them",
    )
    assert judged("lime_explanations", tmp_path, notebook, data, tmp_path, figures).status == "passed"


def test_lime_and_grad_cam_drawn_on_one_crop_are_aligned(tmp_path, data):
    notebook, figures = comparison_notebook(tmp_path, data, lambda key: display_image(data, key) / 255)
    result = judged("iou_values", tmp_path, notebook, data, tmp_path, figures)
    assert result.status == "passed", result.message


@pytest.mark.parametrize(
    ("threshold", "rule"),
    [(">= percentile 80", "top20"), ("> quantile 0.9", "top10"), ("> 0.5", 0.5), ("> 127", 127 / 255)],
)
def test_a_threshold_read_from_the_code_becomes_the_grader_s_region_rule(threshold, rule):
    assert region_rule(threshold) == rule


@pytest.mark.parametrize("threshold", ["> mean", "> otsu", "> unknown", ">= percentile 150", "> 0", "> 300"])
def test_a_threshold_the_grader_cannot_apply_gives_no_rule(threshold):
    assert region_rule(threshold) is None


def ablation_figures(tmp_path: Path, data: DataDir, target: int | None) -> list[FigureRecord]:
    """AblationCAM panels of the ten images: each crop under the map the reference gives for ``target``."""
    network = resnet50(data)
    panels = []
    for key in IMAGE_KEYS:
        cam, _ = image_map(data, network, key, "ablationcam", target=target, cache_dir=tmp_path / "cache")
        panels.append((f"AblationCAM {key}", [display_image(data, key) / 255, cam]))
    return [panel_figure(tmp_path / "figures", 1, 0, panels)]


ABLATION_CELL = "cam = AblationCAM(model=model, target_layers=[model.layer4[-1]])\nplt.imshow(cam(x)[0])"


def test_ablation_cam_maps_of_the_predicted_class_agree_and_scorecam_left_undrawn_costs_its_half(tmp_path, data):
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(ABLATION_CELL)])
    result = judged("other_cams", tmp_path, notebook, data, tmp_path, ablation_figures(tmp_path, data, None))
    assert (result.status, result.score) == ("partial", 2.5)
    assert result.found.startswith("AblationCAM: 10 of 10 images drawn, 10 agreeing; ScoreCAM: 0 of 10 images drawn")


def test_ablation_cam_maps_of_a_constant_target_are_named(tmp_path, data):
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(ABLATION_CELL)])
    result = judged("other_cams", tmp_path, notebook, data, tmp_path, ablation_figures(tmp_path, data, 0))
    assert (result.status, result.score) == ("failed", 0)
    assert "AblationCAM: 10 of 10 images drawn, 0 agreeing" in result.found
    assert "every map explains class 0, not the image's predicted class: a constant target" in result.found


@pytest.mark.parametrize(
    ("saved", "then"),
    [
        (frozenset({0}), "cell 1 ran past the time limit here: a TA judges the saved output beside it"),
        (frozenset(), "cell 1 ran past the time limit here: the notebook was handed in without its output, so grading"),
    ],
)
def test_a_cam_cell_cut_by_the_time_limit_goes_to_a_ta_who_is_told_whether_an_output_was_saved(
    saved, then, tmp_path, data
):
    cell = "cams = {name: cls(model=model, target_layers=[model.layer4[-1]]) for name, cls in (('a', AblationCAM), ('s', ScoreCAM))}"
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(cell)])
    run = RunResult(sandbox={}, cells=[CellRecord(0, "timeout")])
    result = judged("other_cams", tmp_path, notebook, data, tmp_path, run=run, saved_outputs=saved)
    assert result.status == "needs_ta" and then in result.message
