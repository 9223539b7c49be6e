"""The EE5179 PA2 check suite. The assignment names no functions, so every check works from
what the notebook left behind (see ``findings``): the models in its kernel, re-measured on
the real test set; its datasets; the figures it drew and the arrays behind them; the numbers
it printed or wrote. Each message says where the grader found what it judged.

Numbers a student states about their network (1.3-1.5) are compared with their own network
when it differs from the prescribed one, so a wrong architecture costs question 1 only.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np
import torch

from checks.engine.notebook import cell_number
from checks.finders.classifiers import MNIST_INPUT, classifier_of
from checks.finders.curves import require_curves
from checks.finders.data_split import judge_split
from checks.finders.figures import figure_kind, label_summary, load_image, missing_labels, plot_axes, survey
from checks.finders.filters import kernel_layers
from checks.finders.network_numbers import NetworkNumbers, own_numbers
from checks.finders.output_disagreements import compare_with_submitted
from checks.finders.panels import filter_grids, occlusion_maps, panel_arrays
from checks.finders.stated_numbers import (
    AccuracyClaims,
    integers,
    judge_accuracy_claims,
    shapes,
    stated_text,
    states_shape,
)
from checks.grading.check_api import CheckFailed, CheckSuite, NeedsTA
from checks.grading.cut_cells import TRAINING
from checks.grading.reference_figures import Panel
from reference.ee5179_pa2 import (
    NEURON_DEFINITIONS,
    PrescribedCNN,
    filters,
    layer_shapes,
    non_targeted_attack,
    occlusion_map,
)
from reference.ee5179_pa2 import neuron_counts as reference_neuron_counts
from reference.ee5179_pa2 import parameter_counts as reference_parameter_counts
from reference.ee5179_pa2.occlusion import GREY, occlusion_grid_size

from .findings import (
    PRESCRIBED,
    attack_figures,
    attacks_looked_at,
    batch_norm_models,
    best_models,
    classifiers,
    correlation,
    drawn_figures,
    figure_place,
    hits_on_target,
    line_axes,
    measured,
    measured_at,
    mnist,
    mnist_index,
    no_classifier,
    parts_of,
    plain_model,
    reference_trained,
    shown_test_digits,
    source_digit,
    stated_labels,
)

suite = CheckSuite(output_comparison=compare_with_submitted)

ACCURACY_TARGET = 0.97  # the prescribed CNN passes 98% after one epoch of Adam
OCCLUSION_TOLERANCE = 0.02
IMAGE_SIZE = 28
OCCLUDER_PATCHES = range(1, 6)  # pixels; the assignment asks for a small patch
SOURCE_MATCH = 0.5  # the targeted images' average against an MNIST image; averaged noise stays below 0.25
CLOSE_TO_SOURCE = 0.5  # a targeted image's correlation with its source digit; beta 0.001 leaves 0.2-0.4 here
OCCLUDER_FILLS = (GREY, 0.0, 1.0, 0.1307)
EARLIER_FIGURES = 3  # single-image figures before an occlusion map searched for the digit it occludes
NEGATED_PROSE = re.compile(
    r"negat\w*\s+(?:of\s+)?(?:the\s+)?(?:cost|logit|objective|score)"
    r"|(?:cost|logit|objective|score)\w*\s+(?:is\s+|was\s+)?negated"
    r"|minimi[sz]\w*\s+(?:the\s+)?(?:negative|-\s*\w)"
    r"|-\s*(?:cost|logit)\b",
    re.IGNORECASE,
)
NEGATED_CODE = re.compile(
    r"^[ \t]*\w*(?:loss|cost|obj)\w*[ \t]*=[ \t]*-[ \t]*[\w(]"
    r"|\([ \t]*-[^\n]{0,80}?\)[ \t]*\.backward\(",
    re.IGNORECASE | re.MULTILINE,
)
MAX_STATEMENT = 20_000  # characters of a cell read for a statement that the cost was negated
NEARBY_CELLS = 3  # cells before a cost plot that may define the negated cost
DURATION = re.compile(r"\d+(?:\.\d+)?\s*(?:s|sec|secs|seconds|min|minutes)\b", re.IGNORECASE)


def statements(ctx) -> str:
    """What the notebook printed and wrote: the places a student reports a number."""
    return stated_text(ctx.executed)


# ---- 1: the network, 1.0: the split ---------------------------------------------------


@suite.check(
    "1",
    10,
    "The network is the prescribed CNN (found by its structure)",
    needs="full",
    inputs="every nn.Module in the notebook, run on a (2, 1, 28, 28) batch of zeros",
)
def architecture(ctx):
    found = classifiers(ctx)
    if not found:
        raise no_classifier()
    plain = [model for model in found if not model.comparison.batch_norm] or found
    best = min(plain, key=lambda model: len(model.comparison.differences))
    if best.refused is not None:
        raise NeedsTA(
            f"{best.where} could not be exported ({best.refused}), so its layers were read in the notebook's "
            "kernel and need a TA's confirmation: " + " -> ".join(best.comparison.layers)
        )
    if best.comparison.matches:
        others = len(found) - 1
        return f"{best.where} matches the prescription" + (f"; {others} other classifier(s) found" if others else "")
    raise CheckFailed(
        f"{best.where} differs from the prescribed network: " + "; ".join(best.comparison.differences),
        expected="conv 32 3x3 s1 p1 -> pool 2x2 -> conv 32 3x3 s1 p1 -> pool 2x2 -> fc 500 -> fc 10",
        found=" -> ".join(best.comparison.layers),
    )


@suite.check(
    "1.0",
    4,
    "Train / validation / test split of 50,000 / 10,000 / 10,000 (found by size)",
    needs="full",
    inputs="every Dataset and DataLoader in the notebook's namespace",
)
def split(ctx):
    survey = ctx.student.datasets()
    ctx.flags.extend(survey.dropped)
    finding = judge_split(survey.records)
    if finding.correct:
        return f"train {finding.train}; validation {finding.validation}; test {finding.test}"
    raise CheckFailed(
        "; ".join(finding.problems),
        expected="disjoint 50,000 / 10,000 subsets of MNIST train, and test",
        found=", ".join(
            f"{role} {label}"
            for role, label in (("train", finding.train), ("validation", finding.validation), ("test", finding.test))
            if label
        )
        or "no split",
    )


# ---- 1.1: curves and the test accuracy -------------------------------------------------

CURVE_KINDS = {
    "training error": lambda text: "train" in text and ("err" in text or "loss" in text),
    "validation error": lambda text: "val" in text and ("err" in text or "loss" in text),
    "accuracy": lambda text: "acc" in text,
}


@suite.check("1.1", 4, "Training error, validation error and accuracy plotted with labelled axes", needs="full")
def training_curves(ctx):
    curves = require_curves(ctx, CURVE_KINDS, "three curves over iterations or epochs, axes labelled")
    return "; ".join(f"{kind} in {figure_place(figure)}" for kind, (figure, _) in curves.found.items())


@suite.check(
    "1.1",
    4,
    f"Test accuracy of the trained network re-measured on the 10,000 test images (>= {ACCURACY_TARGET:.0%})",
    needs="full",
    inputs="the real MNIST test set, through the notebook's own model",
    rests_on=(TRAINING,),
)
def test_accuracy(ctx):
    model = plain_model(ctx)
    if model.accuracy < ACCURACY_TARGET:
        raise CheckFailed(
            f"{model.where} classifies {model.accuracy:.2%} of the test images correctly",
            expected=f">= {ACCURACY_TARGET:.0%}",
            found=f"{model.accuracy:.2%}, {model.model.measured_how}",
            cause="the model may be untrained, or trained on badly scaled inputs",
            fraction=max(0.0, (model.accuracy - 0.5) / (ACCURACY_TARGET - 0.5)) / 2,
        )
    return f"{model.where}: {model.accuracy:.2%} {model.model.measured_how}"


@suite.check(
    "1.1", 2, "The reported test accuracy agrees with the grader's measurement", needs="full", rests_on=(TRAINING,)
)
def reported_accuracy(ctx):
    model = plain_model(ctx)
    stated = judge_accuracy_claims(ctx.executed, [item.accuracy for item in measured(ctx)])
    if not stated.claims:
        raise CheckFailed(
            "no test accuracy is reported",
            expected=f"about {model.accuracy:.2%}",
            found=f"no percentage or fraction stated as an accuracy in the printed output and markdown of the "
            f"notebook's {len(ctx.executed.cells)} cells",
        )
    if stated.agree:
        return None
    claim = stated.reported_claim
    if claim.cell is not None:
        then = measured_at(ctx, claim.cell)
        if AccuracyClaims(stated.stated, [item.accuracy for item in then]).agree:
            return (
                f"{claim.percent:.2f}% reported in {cell_number(claim.cell)} agrees with the model as that cell "
                "left it; the notebook changed its weights later"
            )
    ctx.flags.append(f"reported accuracy {stated.reported:.2f}% but the grader measured {model.accuracy:.2%}")
    raise CheckFailed(
        "no reported accuracy is what the notebook's models achieve",
        expected=" or ".join(f"{value * 100:.2f}%" for value in stated.measurements),
        found=", ".join(f"{claim:.2f}%" for claim in stated.claims),
    )


# ---- 1.2: random test images -----------------------------------------------------------


@suite.check(
    "1.2",
    4,
    "Random test images shown with their true and predicted labels",
    needs="full",
    inputs="the arrays behind each 28 x 28 panel, looked up among the 10,000 test images",
)
def labelled_test_images(ctx):
    shown = shown_test_digits(ctx)
    if not shown:
        raise CheckFailed(
            "no figure shows at least four MNIST test images",
            expected="a grid of test digits",
            found=f"none of the plotted 28 x 28 images is a test image; looked at {survey(ctx.figures)}",
        )
    _, labels = mnist(ctx)
    best = max(shown, key=lambda item: sum(stated_labels(axes) is not None for axes, _ in item.panels))
    ctx.cite(best.figure)
    titled = [(axes, index, stated) for axes, index in best.panels if (stated := stated_labels(axes)) is not None]
    if len(titled) < len(best.panels):
        raise CheckFailed(
            f"{len(best.panels) - len(titled)} of {len(best.panels)} test images in "
            f"{figure_place(best.figure)} lack a title with the true and the predicted label",
            expected="e.g. 'true 7, predicted 7'",
            found=best.panels[0][0]["title"] or "no title",
            fraction=0.5 * len(titled) / len(best.panels),
        )
    read_from = f" (labels read from {best.labels_from})" if best.labels_from else ""
    wrong = [
        f"test image {index} labelled {axes['title']!r}, its label is {int(labels[index])}"
        for axes, index, (true, _) in titled
        if true != int(labels[index])
    ]
    if wrong:
        raise CheckFailed(
            f"the true labels in the titles are not the images' labels{read_from}",
            expected="the dataset's labels",
            found="; ".join(wrong[:3]),
            fraction=0.5,
        )
    stated = torch.tensor([predicted for _, _, (_, predicted) in titled])
    agreement, model = predictions_agreement(ctx, [index for _, index, _ in titled], stated)
    if agreement < len(titled):
        raise CheckFailed(
            f"{len(titled) - agreement} predicted label(s) in {figure_place(best.figure)} are not what "
            f"the notebook's models predict (closest: {model}){read_from}",
            expected="the model's own predictions",
            found=f"{agreement} of {len(titled)} agree",
            fraction=0.75,
        )
    return (
        f"{len(titled)} test images in {figure_place(best.figure)}{read_from}: true labels verified, predicted "
        f"labels are those of {model}"
    )


def predictions_agreement(ctx, indices: list[int], stated: torch.Tensor) -> tuple[int, str]:
    """How many of the stated predictions the notebook's best-agreeing model(s) make, and which they are.

    Every input scaling is tried: the one chosen by accuracy is a guess for a model that has
    barely learnt, and eight labels all matching under another scaling is no coincidence."""
    images, _ = mnist(ctx)
    outcomes = []
    for model in measured(ctx):
        for scaling in MNIST_INPUT.scalings:
            with torch.no_grad():
                predicted = classifier_of(ctx.student, model.model, scaling)(images[indices]).argmax(dim=1)
            outcomes.append((int((predicted == stated).sum()), predicted, model.model.where))
    if not outcomes:
        raise no_classifier()
    return max(score for score, _, _ in outcomes), best_models(outcomes)


# ---- 1.3-1.5: stated dimensions, parameters, neurons -----------------------------------


def reference_numbers() -> NetworkNumbers:
    """What 1.3-1.5 should state about the prescribed network."""
    network = PrescribedCNN()
    sizes = [shape.output_shape for shape in layer_shapes(network) if shape.output_shape != (10,)]
    counts = reference_parameter_counts(network)
    return NetworkNumbers(
        "the prescribed network",
        list(dict.fromkeys(sizes)),
        {"convolutional": counts.conv, "fully connected": counts.fc, "total": counts.total},
        {
            count.definition: {"convolutional": count.conv, "fully connected": count.fc, "total": count.total}
            for count in reference_neuron_counts(network)
        },
    )


def expected_numbers(ctx) -> NetworkNumbers:
    """The prescribed network's numbers, or the notebook's own network's when it differs."""
    model = plain_model(ctx).model
    if model.comparison.matches:
        return reference_numbers()
    return own_numbers(
        model.description,
        f"the notebook's own network {model.where}, which differs from the prescribed one",
        PRESCRIBED.classes,
        NEURON_DEFINITIONS,
    )


def stated_size(size: tuple[int, ...], numbers: set[int], written: set[tuple[int, ...]]) -> bool:
    return size[0] in numbers if len(size) == 1 else states_shape(written, size)


@suite.check("1.3", 4, "The input and output dimensions of each layer are stated", needs="full")
def stated_dimensions(ctx):
    expected = expected_numbers(ctx)
    text = statements(ctx)
    numbers, written = integers(text), shapes(text)
    missing = [size for size in expected.sizes if not stated_size(size, numbers, written)]
    if missing:
        raise CheckFailed(
            f"dimensions of {expected.basis} are missing from the notebook's outputs and markdown",
            expected=", ".join(" x ".join(map(str, size)) for size in expected.sizes),
            found="missing: " + ", ".join(" x ".join(map(str, size)) for size in missing),
            fraction=1 - len(missing) / len(expected.sizes),
        )
    return f"all {len(expected.sizes)} layer sizes of {expected.basis} stated"


@suite.check("1.4", 4, "Parameter counts stated: total, convolutional and fully connected", needs="full")
def stated_parameters(ctx):
    expected = expected_numbers(ctx)
    numbers = integers(statements(ctx))
    missing = {kind: count for kind, count in expected.parameters.items() if count not in numbers}
    if missing:
        raise CheckFailed(
            f"parameter counts of {expected.basis} are not all stated",
            expected=", ".join(f"{kind} {count:,}" for kind, count in expected.parameters.items()),
            found="missing: " + ", ".join(f"{kind} {count:,}" for kind, count in missing.items()),
            fraction=1 - len(missing) / len(expected.parameters),
        )
    return ", ".join(f"{kind} {count:,}" for kind, count in expected.parameters.items()) + f" ({expected.basis})"


@suite.check("1.5", 4, "Neuron counts stated: total, convolutional and fully connected", needs="full")
def stated_neurons(ctx):
    expected = expected_numbers(ctx)
    numbers = integers(statements(ctx))
    scored = {
        name: [kind for kind, count in counts.items() if count in numbers] for name, counts in expected.neurons.items()
    }
    name, found = max(scored.items(), key=lambda item: len(item[1]))
    if len(found) == 3:
        return f"counted as {name}: " + ", ".join(f"{k} {v:,}" for k, v in expected.neurons[name].items())
    distinct: dict[tuple, str] = {}
    for definition, counts in expected.neurons.items():
        distinct.setdefault(tuple(counts.items()), definition)
    raise CheckFailed(
        f"neuron counts of {expected.basis} are not all stated",
        expected=" or ".join(f"{n}: " + ", ".join(f"{k} {v:,}" for k, v in counts) for counts, n in distinct.items()),
        found=f"stated: {', '.join(found) or 'none'}",
        fraction=len(found) / 3,
        cause="another definition of a neuron may be valid; a TA can override this mark",
    )


# ---- 1.6: batch normalisation ----------------------------------------------------------


@suite.check("1.6", 3, "A network with batch normalisation is kept in the notebook", needs="full")
def batch_norm_model(ctx):
    found = [model for model in classifiers(ctx) if model.comparison.batch_norm]
    if not found:
        raise CheckFailed(
            "no classifier with BatchNorm layers is left in the notebook's namespace",
            expected="the prescribed network with nn.BatchNorm2d / nn.BatchNorm1d layers",
            found=", ".join(model.where for model in classifiers(ctx)) or "no classifiers",
        )
    return f"{found[0].where}: " + " -> ".join(found[0].comparison.layers)


@suite.check(
    "1.6",
    2,
    f"The batch-norm network reaches {ACCURACY_TARGET:.0%} on the test set (re-measured)",
    needs="full",
    inputs="the real MNIST test set, through the notebook's batch-norm model",
    rests_on=(TRAINING,),
)
def batch_norm_accuracy(ctx):
    found = batch_norm_models(ctx)
    if not found:
        raise CheckFailed(
            "there is no batch-norm network to measure", expected="a trained batch-norm model", found="none"
        )
    best = found[0]
    if best.accuracy < ACCURACY_TARGET:
        raise CheckFailed(
            f"{best.where} classifies {best.accuracy:.2%} of the test images correctly",
            expected=f">= {ACCURACY_TARGET:.0%}",
            found=f"{best.accuracy:.2%}, {best.model.measured_how}",
        )
    return (
        f"{best.where}: {best.accuracy:.2%} {best.model.measured_how} "
        f"(without batch norm: {plain_model(ctx).accuracy:.2%})"
    )


@suite.check("1.6", 1, "Training times are reported for the comparison", needs="full")
def training_times(ctx):
    durations = DURATION.findall(statements(ctx))
    if len(durations) < 2:
        raise CheckFailed(
            "the training times with and without batch norm are not both reported",
            expected="two durations, e.g. '41.2 s' and '46.0 s'",
            found=", ".join(durations) or "none",
        )


# ---- 2.1-2.3: filters and activations --------------------------------------------------


def conv_weights(ctx) -> list[tuple[str, list[np.ndarray]]]:
    """Each classifier's convolution weights, in the order the layers were registered."""

    def fetch():
        found = []
        for model in classifiers(ctx):
            ctx.student.run(
                f"__xaigrader_convs = [m.weight.detach().cpu() for m in {model.name}.modules() "
                "if type(m).__name__ == 'Conv2d']",
                label="reading conv weights",
            )
            found.append(
                (model.name, [np.asarray(w, dtype=np.float64) for w in ctx.student.evaluate("__xaigrader_convs")])
            )
        return found

    return ctx.remember("conv_weights", fetch)


def filter_layers(ctx, figure) -> dict[str, int]:
    """The layers whose 3 x 3 kernels a filter figure shows ('conv1 of `model`': panels of it), see
    ``kernel_layers``."""

    def match() -> dict[str, int]:
        panels = [array for _, array in panel_arrays(figure, ctx.figure_dir, 3)]
        return kernel_layers(panels, conv_weights(ctx)) if panels else {}

    return ctx.remember(f"filter_layers_{id(figure)}", match)


def show_reference_filters(ctx) -> None:
    conv1 = filters(reference_trained(ctx).model.conv1)
    rows = [[Panel(conv1[row * 8 + col, 0], "", "gray") for col in range(8)] for row in range(4)]
    ctx.show_reference(
        "conv1-filters", "conv1 of the reference CNN (3 epochs of Adam)", rows, "32 conv1 filters, 3 x 3"
    )


def shown_layer(ctx, figures: list, wanted, least: int) -> tuple | None:
    """The first figure showing at least ``least`` kernels of a layer ``wanted`` accepts, with the
    layer and the message naming it (and any other layer drawn beside it)."""
    for figure in figures:
        shown = filter_layers(ctx, figure)
        for layer, count in shown.items():
            if wanted(layer) and count >= least:
                beside = [other for other in shown if other != layer]
                return figure, f"{layer} in {figure_place(figure)}" + (
                    f", beside {', '.join(beside)}" if beside else ""
                )
    return None


def filters_looked_at(ctx) -> str:
    """The largest set of 3 x 3 panels one figure shows, for a filter bank that was not found."""
    counts = [(len(panel_arrays(figure, ctx.figure_dir, 3)), figure) for figure in drawn_figures(ctx)]
    most, figure = max(counts, key=lambda item: item[0], default=(0, None))
    shown = f"at most {most} 3 x 3 panels in one figure ({figure_place(figure)})" if most else "no 3 x 3 panels"
    return f"{shown}; looked at {survey(ctx.figures)}"


def is_conv1(layer: str) -> bool:
    return layer.startswith("conv1 ")


@suite.check(
    "2.1",
    3,
    "The 32 conv1 filters (3 x 3) are plotted",
    needs="full",
    inputs="the arrays behind each 3 x 3 panel, compared with the models' conv weights",
)
def conv1_filters(ctx):
    grids = filter_grids(drawn_figures(ctx), ctx.figure_dir, 3, 32)
    show_reference_filters(ctx)
    found = shown_layer(ctx, grids, is_conv1, math.ceil(0.9 * 32))
    if found:
        ctx.cite(found[0])
        return found[1]
    if grids:
        ctx.cite(grids[0])
        shown = filter_layers(ctx, grids[0])
        conv1 = {layer: count for layer, count in shown.items() if is_conv1(layer)}
        problem = (
            f"shows only {', '.join(f'{count} kernels of {layer}' for layer, count in conv1.items())}"
            if conv1
            else "shows 32 3 x 3 panels, but they are not conv1 kernels of any model in the notebook"
        )
        raise CheckFailed(
            f"{figure_place(grids[0])} {problem}",
            expected="model.conv1.weight[i, 0] for i in 0..31",
            found=", ".join(f"{layer}: {count} panels" for layer, count in shown.items()) or "unmatched kernels",
            fraction=2 / 3,
        )
    raise CheckFailed(
        "no figure shows 32 panels of 3 x 3 filters",
        expected="a 4 x 8 grid of conv1 kernels",
        found=filters_looked_at(ctx),
    )


@suite.check(
    "2.2",
    3,
    "Filters of a higher convolution layer are plotted",
    needs="full",
    inputs="the arrays behind each 3 x 3 panel, compared with the models' conv weights",
)
def higher_filters(ctx):
    grids = filter_grids(drawn_figures(ctx), ctx.figure_dir, 3, 8)
    found = shown_layer(ctx, grids, lambda layer: not is_conv1(layer), 8)
    if found:
        ctx.cite(found[0])
        return found[1]
    unmatched = [figure for figure in grids if not filter_layers(ctx, figure)]
    if unmatched:
        ctx.cite(unmatched[0])
        raise CheckFailed(
            f"{figure_place(unmatched[0])} shows 3 x 3 filters that are not a higher layer's kernels",
            expected="e.g. model.conv2.weight[i, 0]",
            found="unmatched kernels",
            fraction=0.5,
        )
    raise CheckFailed(
        "no figure shows the kernels of a convolution layer after conv1",
        expected="a grid of conv2 kernels",
        found="only conv1 filters" if grids else filters_looked_at(ctx),
    )


@suite.check("2.3", 3, "Activations of the convolution layers are plotted", needs="full")
def activation_maps(ctx):
    excluded = {id(part) for item in [*shown_test_digits(ctx), *attack_figures(ctx)] for part in parts_of(item.figure)}
    candidates = [figure for figure in drawn_figures(ctx) if not any(id(part) in excluded for part in parts_of(figure))]
    first = [figure for figure in candidates if len(panel_arrays(figure, ctx.figure_dir, 28)) >= 8]
    deeper = [
        figure for figure in candidates if any(len(panel_arrays(figure, ctx.figure_dir, size)) >= 8 for size in (14, 7))
    ]
    ctx.cite(*first[:1], *deeper[:1])
    found = bool(first) + bool(deeper)
    if found < 2:
        raise CheckFailed(
            "the activations of both convolution layers are not plotted",
            expected="at least 8 feature maps of 28 x 28 (conv1) and of 14 x 14 or 7 x 7 (conv2)",
            found=(
                "conv1 maps only"
                if first
                else "deeper maps only"
                if deeper
                else f"no figure of 8 or more 28 x 28, 14 x 14 or 7 x 7 maps; looked at {survey(ctx.figures)}"
            ),
            fraction=found / 2,
        )
    return f"conv1 maps in {figure_place(first[0])}; deeper maps in {figure_place(deeper[0])}"


# ---- 2.4: occlusion --------------------------------------------------------------------


def maps_looked_at(ctx) -> str:
    """The square 2-D images the notebook plotted, by size and cell, for a map that was not found."""
    sizes: dict[int, set] = {}
    for figure in ctx.figures:
        for axes in plot_axes(figure):
            for image in axes["images"]:
                shape = tuple(image["shape"])
                if len(shape) == 2 and shape[0] == shape[1]:
                    sizes.setdefault(shape[0], set()).add(cell_number(figure["cell"]))
    listed = "; ".join(
        f"{size} x {size} in {', '.join(sorted(cells)[:4])}" for size, cells in sorted(sizes.items(), reverse=True)
    )
    return f"looked at {survey(ctx.figures)}" + (f"; square 2-D images: {listed}" if listed else "")


def occlusion_candidate(ctx):
    """The occlusion map: a fitting grid that is not itself a test digit (28 x 28 with patch 1)."""
    found = [
        candidate
        for candidate in occlusion_maps(ctx.figures, ctx.figure_dir, occlusion_grid_size, IMAGE_SIZE, OCCLUDER_PATCHES)
        if mnist_index(ctx).identify(load_image(ctx.figure_dir, candidate.axes)) is None
    ]
    if not found:
        raise CheckFailed(
            "no occlusion map found",
            expected="a square grid of (28 - patch) // stride + 1 cells "
            "for a patch of 1-5 pixels, or a map titled as an occlusion map",
            found=f"no plotted 2-D map of such a size or title; {maps_looked_at(ctx)}",
        )
    return found[0]


@dataclass(frozen=True)
class OccludedImage:
    split: str  # "test" or "training"
    index: int
    where: str  # the figure that shows it
    beside: bool  # shown in the map's own cell, not only earlier


def _shown_digit(ctx, figure) -> tuple[str, int] | None:
    """The MNIST image (test set first) a figure shows among its panels, at any scale: the notebook
    may have normalised it or picked it from the training set."""
    for axes in plot_axes(figure):
        for position in range(len(axes["images"])):
            array = load_image(ctx.figure_dir, axes, position)
            for split in ("test", "training"):
                index = mnist_index(ctx, split).identify(array)
                if index is not None:
                    return split, index
    return None


def occluded_image(ctx, candidate) -> OccludedImage | None:
    """The digit an occlusion map was made of: shown beside the map, else in another figure of the
    map's cell (``plt.imshow(image)`` before ``plt.imshow(heatmap)``), else in the last few
    single-image figures before it (the digit picked and shown in an earlier cell)."""
    cell = candidate.figure["cell"]
    place = ctx.figures.index(candidate.figure) if candidate.figure in ctx.figures else len(ctx.figures)
    same_cell = [figure for figure in ctx.figures if figure["cell"] == cell and figure is not candidate.figure]
    earlier = [
        figure
        for figure in reversed(ctx.figures[:place])
        if figure["cell"] != cell and figure_kind(figure)[0] == "single image"
    ][:EARLIER_FIGURES]
    for figure, beside in [(candidate.figure, True), *((f, True) for f in same_cell), *((f, False) for f in earlier)]:
        found = _shown_digit(ctx, figure)
        if found is not None:
            return OccludedImage(found[0], found[1], figure_place(figure), beside)
    return None


def occluder_fills(scaling) -> tuple[float, ...]:
    """Occluder values in ToTensor's scale: grey, black, white, the mean, and black, grey and white
    in the model's own input scale (a notebook that occludes the normalised image with zeros)."""
    if isinstance(scaling.mean, tuple) or isinstance(scaling.std, tuple):
        return OCCLUDER_FILLS
    own = (scaling.mean + scaling.std * value for value in (0.0, 0.5, 1.0))
    return tuple(dict.fromkeys((*OCCLUDER_FILLS, *(round(value, 4) for value in own))))


@suite.check("2.4", 3, "An occlusion map whose grid fits a 1-5 pixel patch", needs="full")
def occlusion_grid(ctx):
    candidate = occlusion_candidate(ctx)
    ctx.cite(candidate.figure)
    if not candidate.allowed:
        patch, stride = candidate.fits[0]
        raise CheckFailed(
            f"the {candidate.size} x {candidate.size} map in {figure_place(candidate.figure)} needs a "
            f"patch larger than 5 pixels (e.g. {patch} with stride {stride})",
            expected="a patch of 1-5 pixels: (28 - patch) // stride + 1 cells a side",
            found=f"{candidate.size} cells a side",
        )
    fits = ", ".join(f"patch {patch} stride {stride}" for patch, stride in candidate.allowed)
    return f"{candidate.size} x {candidate.size} map in {figure_place(candidate.figure)} ({fits})"


@suite.check("2.4", 2, "The map shows probabilities in [0, 1]", needs="full")
def occlusion_range(ctx):
    candidate = occlusion_candidate(ctx)
    if not candidate.in_unit_range:
        values = load_image(ctx.figure_dir, candidate.axes)
        raise CheckFailed(
            "the occlusion map's values are not probabilities",
            expected="softmax probabilities in [0, 1]",
            found="no array saved" if values is None else f"[{values.min():.3g}, {values.max():.3g}]",
            cause="plot softmax(model(x))[target], not the logit",
        )


@suite.check(
    "2.4",
    4,
    "The map equals the grader's recomputation with the notebook's model",
    needs="full",
    inputs="the test image shown beside the map, each patch/stride the grid fits, grey/black/white occluders",
)
def occlusion_recomputed(ctx):
    candidate = occlusion_candidate(ctx)
    ctx.cite(candidate.figure)
    occluded = occluded_image(ctx, candidate)
    if occluded is None:
        raise NeedsTA(
            f"the occluded image of the map in {figure_place(candidate.figure)} is not an MNIST image the grader "
            "can identify, so the map cannot be recomputed; compare it with the reference by eye (looked at "
            f"the map's figure, the other figures of its cell and the {EARLIER_FIGURES} single images before "
            "it, among the test and training images)"
        )
    index = occluded.index
    images, labels = mnist(ctx, occluded.split)
    name = f"{occluded.split} image {index}"
    drawn = load_image(ctx.figure_dir, candidate.axes)
    gaps = {}
    for model in measured(ctx):
        classifier = classifier_of(ctx.student, model.model, model.scaling)
        with torch.no_grad():
            predicted = int(classifier(images[index : index + 1]).argmax())
        for patch, stride in candidate.allowed or candidate.fits:
            for target in dict.fromkeys((int(labels[index]), predicted)):
                for fill in occluder_fills(model.scaling):
                    grid = occlusion_map(classifier, images[index], target, patch, stride, fill)
                    gaps[(model.model.where, patch, stride, target, fill)] = float(np.abs(grid - drawn).max())
    if not gaps:
        raise no_classifier()
    (where, patch, stride, target, fill), gap = min(gaps.items(), key=lambda item: item[1])
    reference = occlusion_map(reference_trained(ctx).model, images[index], int(labels[index]), patch, stride)
    ctx.show_reference(
        "occlusion",
        f"the reference CNN on {name}, patch {patch}, stride {stride}",
        [
            [
                Panel(images[index, 0].numpy(), name, "gray"),
                Panel(reference, f"P({int(labels[index])})", "hot", colorbar=True),
            ]
        ],
    )
    shown = "" if occluded.where == figure_place(candidate.figure) else f" (shown in {occluded.where})"
    if gap > OCCLUSION_TOLERANCE and not occluded.beside:
        raise NeedsTA(
            f"the map in {figure_place(candidate.figure)} differs from the recomputation of {name}{shown}, the "
            f"last digit shown before it (largest gap {gap:.3f}): it may be of another image; compare it with "
            "the reference by eye"
        )
    if gap > OCCLUSION_TOLERANCE:
        raise CheckFailed(
            f"the map of {name}{shown} differs from the recomputation with every model in the "
            f"notebook (closest: {where})",
            expected=f"within {OCCLUSION_TOLERANCE} of the grader's map",
            found=f"largest gap {gap:.3f}",
            cause="the map may be transposed, or computed with another model or image",
        )
    return (
        f"{name}{shown}, class {target}, patch {patch}, stride {stride}, occluder {fill:g}, model {where}: "
        f"largest gap {gap:.1e}"
    )


# ---- 3: adversarial images -------------------------------------------------------------


def attack(ctx, targeted: bool):
    found = [item for item in attack_figures(ctx) if item.targeted == targeted]
    if not found:
        kind = "targeted (images resembling one source digit)" if targeted else "non-targeted"
        raise CheckFailed(
            f"no figure of {kind} generated images",
            expected="ten 28 x 28 images, one per target class: one figure, one figure each, or one strip",
            found=attacks_looked_at(ctx, targeted),
        )
    return found[0]


def judge_hits(ctx, found, kind: str) -> str:
    hits, misses, where = hits_on_target(ctx, found)
    stated = found.stated_confidence
    claimed = f"; the titles state confidences {min(stated):.2f}-{max(stated):.2f}" if stated else ""
    if misses:
        raise CheckFailed(
            f"{len(misses)} of {len(found.panels)} {kind} images in {figure_place(found.figure)} are not "
            f"classified as their target by {where}",
            expected="every image classified as its target",
            found="; ".join(misses[:4]) + claimed,
            fraction=hits / len(found.panels),
        )
    return f"all {hits} classified as their targets by {where}{claimed}"


def show_reference_attack(ctx) -> None:
    model = reference_trained(ctx).model
    results = [non_targeted_attack(model, target, torch.Generator().manual_seed(target)) for target in range(10)]
    ctx.show_reference(
        "non-targeted",
        "the reference attack on the reference CNN (100 steps of 1000, pixel units)",
        [
            [
                Panel(result.image[0, 0].numpy(), f"{result.target_class}: p={result.target_probability:.2f}", "gray")
                for result in results[row * 5 : row * 5 + 5]
            ]
            for row in range(2)
        ],
    )


@suite.check("3.1", 3, "Ten generated images, one per target class", needs="full")
def non_targeted_images(ctx):
    found = attack(ctx, targeted=False)
    ctx.cite(found.figure)
    show_reference_attack(ctx)
    targets = sorted({target for _, _, target in found.panels})
    if targets != list(range(10)):
        raise CheckFailed(
            f"{figure_place(found.figure)} does not cover every target class",
            expected="targets 0-9",
            found=f"targets {targets}",
            fraction=len(targets) / 10,
        )
    return f"{len(found.panels)} images in {figure_place(found.figure)}"


@suite.check(
    "3.1",
    4,
    "Each generated image is classified as its target by the notebook's model",
    needs="full",
    inputs="the arrays behind each panel, through each of the notebook's models",
    rests_on=(TRAINING,),
)
def non_targeted_hits(ctx):
    return judge_hits(ctx, attack(ctx, targeted=False), "generated")


def negation_statement(ctx, figure, axes) -> str | None:
    """Where the notebook says the cost it plotted is the negative of the cost (it minimised
    ``-logit[t]``): the plot's own title, labels or legend, or the text, comments or code of the
    plot's cell, the cells just before it, or the cells under task 3.1 (``loss = -cost``,
    "we plot the negative of the cost"); None when it does not say so."""
    own = " ".join((axes["title"], axes["ylabel"], figure["suptitle"], *axes["legend"]))
    if NEGATED_PROSE.search(own[:MAX_STATEMENT]):
        return f"the plot is labelled {own.strip()[:60]!r}"
    cell = figure["cell"]
    nearby = range(max(0, cell - NEARBY_CELLS), cell + 1) if isinstance(cell, int) else range(0)
    for index in dict.fromkeys([*nearby, *ctx.task_cells.get("3.1", [])]):
        if not 0 <= index < len(ctx.executed.cells):
            continue
        source = ctx.executed.cells[index].source[:MAX_STATEMENT]
        match = NEGATED_PROSE.search(source) or NEGATED_CODE.search(source)
        if match:
            line = source[source.rfind("\n", 0, match.start()) + 1 :].split("\n", 1)[0].strip()
            return f"{cell_number(index)} says {line[:80]!r}"
    return None


@suite.check("3.1", 3, "The cost is plotted against the iterations and increases", needs="full")
def cost_curve(ctx):
    for figure, axes in line_axes(ctx):
        text = " ".join((axes["title"], axes["ylabel"], figure["suptitle"])).lower()
        if not re.search(r"cost|logit|objective", text) or re.search(r"train|valid", text):
            continue
        ctx.cite(figure)
        curves = [line for line in axes["lines"] if len(line["y"]) >= 2 and None not in (line["y"][0], line["y"][-1])]
        rising = [line for line in curves if line["y"][-1] > line["y"][0]]
        falling = [line for line in curves if line["y"][-1] < line["y"][0]]
        negated = negation_statement(ctx, figure, axes) if len(rising) * 2 < len(axes["lines"]) else None
        if negated is not None and len(falling) * 2 >= len(axes["lines"]):
            shown = f"{len(falling)} falling curve(s) of the negated cost in {figure_place(figure)} ({negated})"
        elif len(rising) * 2 < len(axes["lines"]):
            raise CheckFailed(
                "the plotted cost does not increase",
                expected="gradient ascent raises the cost (or, plotted negated and said so, lowers its negative)",
                found=f"{len(rising)} of {len(axes['lines'])} curves end higher than they start; the notebook "
                "does not say it plotted the negative of the cost",
                cause="the update must be X = X + step_size * dC/dX",
                fraction=0.5,
            )
        else:
            shown = f"{len(rising)} rising curve(s) in {figure_place(figure)}"
        if missing_labels(axes, title=False):
            raise CheckFailed(
                "the cost plot's axes are not labelled",
                expected="iteration and cost",
                found=label_summary(axes, title=False),
                fraction=2 / 3,
            )
        return shown
    plots = [
        " / ".join(text for text in (axes["title"], axes["ylabel"]) if text) or "untitled" for _, axes in line_axes(ctx)
    ]
    raise CheckFailed(
        "no plot of the attack's cost",
        expected="a line plot titled or labelled 'cost'",
        found=f"looked at {len(plots)} line plot(s)"
        + (f", titled or labelled: {', '.join(repr(text[:40]) for text in plots[:6])}" if plots else ""),
    )


@suite.check("3.2", 2, "Targeted images shown for the target classes", needs="full")
def targeted_images(ctx):
    found = attack(ctx, targeted=True)
    ctx.cite(found.figure)
    return f"{len(found.panels)} images in {figure_place(found.figure)}, taken as the targeted attack: {found.why}"


@suite.check(
    "3.2",
    3,
    "Each targeted image is classified as its target by the notebook's model",
    needs="full",
    inputs="the arrays behind each panel, through each of the notebook's models",
    rests_on=(TRAINING,),
)
def targeted_hits(ctx):
    return judge_hits(ctx, attack(ctx, targeted=True), "targeted")


@suite.check(
    "3.2",
    2,
    "The targeted images stay close to the source digit",
    needs="full",
    inputs="the arrays behind each panel: the MNIST image their average resembles most (test and training "
    "sets), and each image's correlation with it",
)
def targeted_closeness(ctx):
    found = attack(ctx, targeted=True)
    ctx.cite(found.figure)
    source = source_digit(ctx, found)
    if source is None:
        raise CheckFailed(
            "the targeted images cannot be compared with any digit",
            expected="finite images that keep the source digit's shape",
            found="their average is blank or holds NaN or infinite values",
        )
    average = np.mean([array for _, array, _ in found.panels], axis=0)
    ctx.show_reference(
        "targeted-source",
        "the MNIST image the grader traced the targeted images to, beside their average",
        [
            [
                Panel(source.image, f"{source.name}: a {source.label}", "gray"),
                Panel(average, "the images' average", "gray"),
            ]
        ],
    )
    if source.correlation < SOURCE_MATCH:
        raise CheckFailed(
            "no digit shows through the targeted images",
            expected="images that keep the source digit's "
            f"shape: their average correlating at least {SOURCE_MATCH} with an MNIST image",
            found=f"the closest is {source.name}, a {source.label}, correlation {source.correlation:.2f}",
            cause="beta too small, or the MSE term left out of the cost",
        )
    scores = [correlation(array, source.image) for _, array, _ in found.panels]
    far = [
        f"target {target}: {score:.2f}"
        for (_, _, target), score in zip(found.panels, scores)
        if score < CLOSE_TO_SOURCE
    ]
    if far:
        raise CheckFailed(
            f"{len(far)} of {len(scores)} targeted images drift away from the source digit "
            f"({source.name}, a {source.label})",
            expected=f"each image correlating at least {CLOSE_TO_SOURCE} with the source digit",
            found="; ".join(far[:5]),
            cause="beta too small: the MSE term no longer holds the image near the source",
            fraction=1 - len(far) / len(scores),
        )
    return (
        f"every image stays close to {source.name}, a {source.label}: correlation "
        f"{min(scores):.2f}-{max(scores):.2f} with it"
    )
