"""What the cats-vs-dogs suite reads from a notebook's text and figures without running it: the
layer a Grad-CAM panel's title names, how two maps are compared, the patch and fill an occlusion
line states, the epsilon an FGSM line states."""

import pytest
import torch

from checks.assignments.catsdogs_xai.checks import OTHER_ACCURACIES, REPORT_ROW
from checks.assignments.catsdogs_xai.fgsm import _epsilon
from checks.assignments.catsdogs_xai.findings import FIGURE_REPR, accuracy_in
from checks.assignments.catsdogs_xai.gradcam import layer_outputs, titled_layer
from checks.assignments.catsdogs_xai.occlusion import _fill, _patch
from checks.finders.cam_overlays import map_correlation
from checks.finders.curves import curve_kinds

LAYERS = ["conv1", "conv2", "conv3"]


@pytest.mark.parametrize(
    ("title", "layer"),
    [
        ("Grad-CAM conv3", "conv3"),
        ("GradCAM - Conv_2 (dog)", "conv2"),
        ("Layer 1", "conv1"),
        ("conv block 3 heatmap", "conv3"),
        ("Grad-CAM features.3", None),
        ("Layer 7", None),
        ("Grad-CAM", None),
        ("Grad-CAM Conv2d layer 3", "conv3"),
        ("Grad-CAM of conv2.", "conv2"),
    ],
)
def test_a_panel_title_names_a_layer_by_its_name_or_its_position(title, layer):
    assert titled_layer(title, LAYERS) == layer


def test_sequential_layer_names_are_matched_whole():
    assert titled_layer("Grad-CAM features.3", ["features.0", "features.3"]) == "features.3"
    assert titled_layer("Grad-CAM features.30", ["features.3", "features.30"]) == "features.30"
    numbered = ["0", "3", "6"]
    assert titled_layer("layer 3 (pred dog 0.61)", numbered) == "6", "a bare number is a position, not a name"
    assert titled_layer("conv layer 2", numbered) == "3"


def test_maps_are_compared_by_correlation_and_two_empty_maps_agree():
    ramp = torch.linspace(0, 1, 64).reshape(8, 8)
    assert map_correlation(ramp, 3 * ramp + 1) == pytest.approx(1.0)
    assert map_correlation(ramp, -ramp) == pytest.approx(-1.0)
    assert map_correlation(torch.zeros(8, 8), torch.zeros(8, 8)) == 1.0, "a ReLU that left nothing, twice"
    assert map_correlation(torch.zeros(8, 8), ramp) == 0.0, "an empty map agrees with no real one"


@pytest.mark.parametrize(
    ("line", "patch", "fill"),
    [
        ("Occlusion mask 16x16, fill 0.5, centred: test accuracy 0.6346", 16, 0.5),
        ("<Figure size 900x400 with 3 Axes>Occlusion mask 8x8, fill 0.0: test accuracy 0.57", 8, 0.0),
        ("patch size = 24, black occluder -> accuracy 61.2%", 24, 0.0),
        ("Grey mask (32 x 32): accuracy 0.70", 32, 0.5),
        ("mask 16x8 accuracy 0.6", None, None),
        ("Mask 2: patch size 24, fill 0.0 -> accuracy 0.62", 24, 0.0),
        ("Occlusion (patch=16, image 64x64, black)", 16, 0.0),
    ],
)
def test_an_occlusion_line_gives_its_patch_and_fill(line, patch, fill):
    line = FIGURE_REPR.sub("", line)
    assert (_patch(line, image_size=64), _fill(line)) == (patch, fill)


@pytest.mark.parametrize(
    ("line", "epsilon"),
    [
        ("FGSM epsilon=0.03: adversarial accuracy 0.1860", 0.03),
        ("eps: 0.1 -> acc 12%", 0.1),
        ("Epsilon 1e-2, accuracy 0.44", 0.01),
        ("ε = .05 accuracy 0.2", 0.05),
        ("adversarial accuracy 0.2", None),
        ("eps = 8/255: accuracy 0.31", 8 / 255),
        ("steps=1, eps=0.1, accuracy 0.2", 0.1),
    ],
)
def test_an_fgsm_line_gives_its_epsilon(line, epsilon):
    assert _epsilon(line) == epsilon


@pytest.mark.parametrize(
    ("line", "accuracy"),
    [
        ("FGSM eps=0.1: adversarial acc 0.05 (clean acc 0.72)", 0.05),
        ("ε = 0.01: 38.87%", 0.3887),
        ("Occlusion mask 16x16, fill 0.5, centred: test accuracy 0.6346", 0.6346),
        ("eps 0.1", None),
    ],
)
def test_a_line_states_its_accuracy_not_the_clean_one_beside_it(line, accuracy):
    assert accuracy_in(line) == pytest.approx(accuracy) if accuracy is not None else accuracy_in(line) is None


def test_a_convolution_owns_the_relu_and_pooling_its_output_goes_through_before_the_next():
    model = torch.fx.symbolic_trace(
        torch.nn.Sequential(
            torch.nn.Conv2d(3, 4, 3),
            torch.nn.ReLU(),
            torch.nn.MaxPool2d(2),
            torch.nn.Conv2d(4, 4, 3),
            torch.nn.ReLU(),
            torch.nn.Flatten(),
            torch.nn.LazyLinear(2),
        )
    )
    assert [(name, conv) for name, conv, _ in layer_outputs(model)] == [
        ("0", "0"),
        ("1", "0"),
        ("2", "0"),
        ("3", "3"),
        ("4", "3"),
    ], "the flatten and the classifier belong to no convolution"


def test_a_report_printed_from_a_dataframe_and_test_lines_with_trained_or_evaluation_are_read():
    rows = REPORT_ROW.findall("cat   0.61  0.64  0.62  297.000000\ndog 0.70 0.66 0.68 304")
    assert [row[0] for row in rows] == ["cat", "dog"] and rows[0][4] == "297"
    kept = ["Test accuracy of the trained model: 71.43%", "Evaluation on test set -> accuracy 0.7143"]
    dropped = ["Epoch 3: train acc 0.61", "val acc 0.6", "FGSM eps=0.1 accuracy 0.2", "Occlusion 16x16: acc 0.5"]
    assert [bool(OTHER_ACCURACIES.search(line)) for line in kept + dropped] == [False, False, True, True, True, True]


def test_a_curve_labelled_only_training_is_read_with_its_panels_title():
    figure = {"suptitle": ""}
    axes = {"title": "Loss", "ylabel": ""}
    kinds = {"training loss": lambda text: "train" in text and "loss" in text}
    assert curve_kinds(figure, axes, {"label": "Training", "y": [0.7, 0.5]}, kinds) == ["training loss"]
    assert curve_kinds(figure, axes, {"label": "Validation", "y": [0.7, 0.5]}, kinds) == []
