"""What an EE5179 PA2 notebook holds, found without names and computed once per submission:
its classifiers and their measured accuracy, its split, the figures that show test digits,
filters, activations, an occlusion map and adversarial images.

Every finding keeps where it was found (a variable, a figure's cell) for the report.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch

from checks.engine.exchange_records import FigureRecord
from checks.engine.notebook import cell_number
from checks.finders.architecture import ConvSpec, PrescribedArchitecture
from checks.finders.classifiers import (
    AS_GIVEN,
    MNIST_INPUT,
    FoundModel,
    InputScaling,
    Measured,
    classifier_of,
    find_classifiers,
    measure_classifiers,
)
from checks.finders.dataset_images import ImageIndex
from checks.finders.figures import (
    Axes,
    Figure,
    figure_place,
    plot_axes,
    survey,
    title_template,
    with_cell_groups,
)
from checks.finders.panels import panel_arrays
from checks.finders.printed_output import cell_output_text
from checks.finders.title_numbers import class_digits, confidences, named_digit
from checks.grading.check_api import CheckFailed
from reference.ee5179_pa2 import TrainedModel, TrainingRecipe, reference_model, to_tensor_scale

PRESCRIBED = PrescribedArchitecture(
    convs=(ConvSpec(32, 3, 1, 1, 28), ConvSpec(32, 3, 1, 1, 14)), hidden=(500,), classes=10
)
TARGET_WORDS = "target|goal|desired|wanted"
CLASS_WORDS = "class|label|digit|pred|classified|output"
TRUTH_WORDS = r"true|actual|ground|\bgt\b|real|correct|(?<!pred )(?<!predicted )(?<!predicted: )label"
PREDICTION_WORDS = "pred|output|model|guess|classified"
TARGET_LIST = re.compile(TARGET_WORDS, re.IGNORECASE)
LABEL_SEGMENT = re.compile(r"\n|(?=pred)", re.IGNORECASE)  # one list of labels per line, "... Predicted: ..." split
PREDICTED = re.compile(r"pred", re.IGNORECASE)
MAX_PRINTED_LINES = 200  # lines of a cell's output read for labels
ATTACK_SIZES = range(10, 13)  # panels of one attack figure: ten targets, maybe the source digit or noise
MAX_REASONS = 4  # figures passed over named in a message
RESEMBLANCE = 0.6  # mean correlation of panels with their average: one source digit, not noise


def mnist(ctx, split: str = "test") -> tuple[torch.Tensor, torch.Tensor]:
    """The real MNIST ``split`` ("test" or "training") as ToTensor values and labels."""

    def load():
        images, labels = ctx.data.mnist_arrays(train=split == "training")
        return to_tensor_scale(images), labels

    return ctx.remember(f"mnist_{split}", load)


def mnist_index(ctx, split: str = "test") -> ImageIndex:
    return ctx.remember(f"mnist_index_{split}", lambda: ImageIndex(mnist(ctx, split)[0]))


def classifiers(ctx) -> list[FoundModel]:
    return ctx.remember("classifiers", lambda: find_classifiers(ctx.student, MNIST_INPUT, PRESCRIBED))


def measured(ctx) -> list[Measured]:
    """Every classifier's accuracy on the real test set, best first."""

    def measure():
        images, labels = mnist(ctx)
        return measure_classifiers(ctx.student, classifiers(ctx), images, labels)

    return ctx.remember("measured", measure)


def measured_at(ctx, cell: int) -> list[Measured]:
    """Every classifier's accuracy with the weights it had at the end of ``cell``, best first."""

    def measure():
        images, labels = mnist(ctx)
        models = find_classifiers(ctx.student, MNIST_INPUT, PRESCRIBED, as_of_cell=cell)
        return measure_classifiers(ctx.student, models, images, labels)

    return ctx.remember(f"measured@{cell}", measure)


def no_classifier() -> CheckFailed:
    return CheckFailed(
        "no model in the notebook's namespace maps a (N, 1, 28, 28) batch to 10 class scores",
        expected="a trained nn.Module, e.g. `model = Net()` trained in the notebook",
        found="none",
        cause="the model may be defined inside a function and never kept in a variable",
    )


def plain_model(ctx) -> Measured:
    """The question-1 model: the most accurate one without batch norm that matches the prescription,
    else the most accurate without batch norm, else the most accurate."""
    found = measured(ctx)
    if not found:
        raise no_classifier()
    plain = [item for item in found if not item.model.comparison.batch_norm]
    matching = [item for item in plain if item.model.comparison.matches]
    return (matching or plain or found)[0]


def batch_norm_models(ctx) -> list[Measured]:
    return [item for item in measured(ctx) if item.model.comparison.batch_norm]


def reference_trained(ctx) -> TrainedModel:
    """The trained reference CNN, from the cache (trained once per cache folder)."""
    return ctx.reference_model("prescribed_cnn", lambda data, cache: reference_model(data, cache, TrainingRecipe()))


@dataclass(frozen=True)
class ShownDigits:
    figure: Figure
    panels: list[tuple[Axes, int]]  # the panel and the test image it shows
    labels_from: str = ""  # where labels written once for a whole grid were read, if they were


@dataclass(frozen=True)
class GridLabels:
    true: list[int]
    predicted: list[int]
    where: str


def printed_by(ctx, figure: Figure) -> str:
    """What the figure's cell printed ("" for a grader call's figure)."""
    cell = figure["cell"]
    return (
        cell_output_text(ctx.executed.cells[cell]) if isinstance(cell, int) and cell < len(ctx.executed.cells) else ""
    )


def label_lists(ctx, figure: Figure, grid: Axes, count: int) -> tuple[list[tuple[str, list[int]]], str] | None:
    """The lists of ``count`` class digits a notebook wrote once for a grid of ``count`` images (a
    ``make_grid`` image or a strip has no title per image), each with the text it came from, and
    where they were read: the grid's title or axis labels, the figure's title, or what the figure's
    cell printed; the first of these that holds any. Confidences written beside them are no labels."""
    sources = [
        ("\n".join((grid["title"], grid["xlabel"])), "the grid's title and labels"),
        (figure["suptitle"], "the figure's title"),
        (printed_by(ctx, figure), f"the printed output of {cell_number(figure['cell'])}"),
    ]
    for text, where in sources:
        lists = [(segment, class_digits(segment)) for segment in LABEL_SEGMENT.split(text)]
        lists = [(segment, digits) for segment, digits in lists if len(digits) == count]
        if lists:
            return lists, where
    return None


def grid_labels(ctx, figure: Figure, grid: Axes, count: int) -> GridLabels | None:
    """The true and predicted labels a notebook wrote once for a grid of ``count`` digits: two
    lists (see ``label_lists``). The list that mentions "pred" is the predictions; without that word
    the first is the truth."""
    found = label_lists(ctx, figure, grid, count)
    if found is None or len(found[0]) < 2:
        return None
    lists, where = found
    named = [position for position, (segment, _) in enumerate(lists) if PREDICTED.search(segment)]
    predicted = named[0] if named else 1
    true = next(position for position in range(len(lists)) if position != predicted)
    return GridLabels(lists[true][1], lists[predicted][1], where)


def with_printed_lines(ctx, shown: ShownDigits) -> ShownDigits:
    """Panels of one-image figures drawn in a loop whose cell printed one line of labels per
    figure (``print(f"true {y}")`` beside ``plt.title(f"pred {p}")``): each panel's title with its
    line added, when there are exactly as many such lines as panels."""
    if "parts" not in shown.figure:
        return shown
    lines = [line for line in printed_by(ctx, shown.figure).splitlines()[:MAX_PRINTED_LINES] if class_digits(line)]
    if len(lines) != len(shown.panels):
        return shown
    panels = [
        ({**axes, "title": f"{axes['title']} {line}".strip()}, index)
        for (axes, index), line in zip(shown.panels, lines)
    ]
    return replace(shown, panels=panels, labels_from=f"the lines {cell_number(shown.figure['cell'])} printed")


def stated_labels(axes: Axes) -> tuple[int, int] | None:
    """The true and the predicted label a panel's title (or x label) states, confidences left out:
    each after its word (``Label: 7, Pred: 2 (0.98)``), else the first and the last digit."""
    text = "\n".join((axes["title"], axes.get("xlabel", "")))
    digits = class_digits(text)
    true = named_digit(text, TRUTH_WORDS)
    predicted = named_digit(text, PREDICTION_WORDS)
    if true is not None and predicted is not None:
        return true, predicted
    if len(digits) < 2:
        return None
    return (true if true is not None else digits[0]), (predicted if predicted is not None else digits[-1])


def _with_grid_labels(ctx, shown: ShownDigits) -> ShownDigits:
    """Tiles of a grid titled from the labels written for the whole grid, where there are some."""
    panels, sources = [], []
    for axes, index in shown.panels:
        labels = grid_labels(ctx, shown.figure, axes["tile_of"], axes["tiles"]) if "tile_of" in axes else None
        if labels is not None:
            axes = {**axes, "title": f"true {labels.true[axes['tile']]}, predicted {labels.predicted[axes['tile']]}"}
            sources.append(labels.where)
        panels.append((axes, index))
    return replace(shown, panels=panels, labels_from=" and ".join(dict.fromkeys(sources)))


def drawn_figures(ctx) -> list[Figure]:
    """The notebook's figures with each cell's one-image figures also taken together."""
    return ctx.remember("drawn_figures", lambda: with_cell_groups(ctx.figures))


def shown_test_digits(ctx) -> list[ShownDigits]:
    """Figures whose 28 x 28 panels are MNIST test images (at least four of them)."""

    def find():
        found = []
        for figure in drawn_figures(ctx):
            panels = [
                (axes, index)
                for axes, array in panel_arrays(figure, ctx.figure_dir, 28)
                if (index := mnist_index(ctx).identify(array)) is not None
            ]
            if len(panels) >= 4:
                shown = _with_grid_labels(ctx, ShownDigits(figure, panels))
                if not all(stated_labels(axes) for axes, _ in shown.panels):
                    shown = with_printed_lines(ctx, shown)
                found.append(shown)
        return found

    return ctx.remember("shown_digits", find)


def resemblance(arrays: list[np.ndarray]) -> float:
    """Mean correlation of each image with the images' average."""
    average = np.mean(arrays, axis=0)
    return float(np.mean([correlation(array, average) for array in arrays]))


@dataclass(frozen=True)
class AttackFigure:
    figure: Figure
    panels: list[tuple[Axes, np.ndarray, int]]  # the panel, its image, its target class
    resemblance: float
    targeted: bool
    why: str  # why it is taken for a targeted or non-targeted attack
    stated_confidence: tuple[float, ...] = ()  # the model's confidence the titles state, one per titled panel


def target_of(axes: Axes, position: int) -> int:
    """The target class a generated image's title names: after a word for the target, else for a
    class (``Pred: 3 (98.7%)``), else its first digit, confidences left out; else its place."""
    title = axes["title"]
    for words in (TARGET_WORDS, CLASS_WORDS):
        named = named_digit(title, words)
        if named is not None:
            return named
    digits = class_digits(title)
    return digits[0] if digits else position % 10


def _strip_targets(ctx, figure: Figure, panels: list[tuple[Axes, np.ndarray]]) -> list[int] | None:
    """The targets written once for a strip or grid of generated images (``plt.title("targets: 0 1 2
    ...")``, or printed): the list named as targets, else the first list of as many digits as tiles."""
    grid = panels[0][0].get("tile_of")
    if grid is None or any(axes.get("tile_of") is not grid for axes, _ in panels):
        return None
    found = label_lists(ctx, figure, grid, len(panels))
    if found is None:
        return None
    lists, _ = found
    named = [digits for segment, digits in lists if TARGET_LIST.search(segment)]
    return (named or [lists[0][1]])[0]


def attack_runs(panels: list[tuple[Axes, np.ndarray, int]]) -> list[list[tuple[Axes, np.ndarray, int]]]:
    """Runs of panels that each name a target once: a cell that draws both attacks' ten figures,
    one after the other, drew two attacks; a run ends where a target comes again."""
    runs: list[list[tuple[Axes, np.ndarray, int]]] = [[]]
    for panel in panels:
        if any(panel[2] == target for _, _, target in runs[-1]):
            runs.append([])
        runs[-1].append(panel)
    return runs


@dataclass(frozen=True)
class Candidates:
    """Figures of generated images, and every other figure of 28 x 28 images with why it was not one."""

    found: list[tuple[Figure, list[tuple[Axes, np.ndarray, int]]]]
    passed_over: list[tuple[Figure, str]]


def parts_of(figure: Figure) -> list[FigureRecord]:
    return figure["parts"] if "parts" in figure else [figure]


def _runs(figure: Figure, panels: list[tuple[Axes, np.ndarray, int]]) -> list[tuple[Figure, list]]:
    """The attacks a figure shows: all its panels when they are ten to twelve; else, for a loop's
    one-image figures all titled alike (``target 0`` ... ``target 9`` twice), each run of distinct
    targets, as a group of its own figures."""
    if len(panels) in ATTACK_SIZES:
        return [(figure, panels)]
    parts = figure.get("parts", [])
    alike = len({title_template(axes["title"]) for axes, _, _ in panels}) == 1
    if len(parts) != len(panels) or not alike:
        return []
    runs, start = [], 0
    for run in attack_runs(panels):
        chosen = parts[start : start + len(run)]
        start += len(run)
        if len(run) in ATTACK_SIZES:
            group = {**figure, "parts": chosen, "axes": [axes for axes, _, _ in run]}
            runs.append((group, run))
    return runs


def _generated_panels(ctx) -> Candidates:
    """Figures of ten to twelve 28 x 28 panels that are not dataset images, in notebook order (see
    ``_runs``), each figure drawn once; the other figures of 28 x 28 images, with why they are not."""
    shown = {id(item.figure) for item in shown_test_digits(ctx)}
    grouped = {id(part) for figure in drawn_figures(ctx) if "parts" in figure for part in figure["parts"]}
    found, passed_over, taken = [], [], set()
    for figure in drawn_figures(ctx):
        arrays = panel_arrays(figure, ctx.figure_dir, 28)
        if not arrays or any(id(part) in taken for part in parts_of(figure)):
            continue
        if id(figure) in grouped and len(arrays) not in ATTACK_SIZES:
            continue  # judged with the other one-image figures of its cell
        if id(figure) in shown:
            passed_over.append((figure, "shows test digits"))
            continue
        if sum(mnist_index(ctx).identify(array) is not None for _, array in arrays) > len(arrays) // 2:
            many = f"most of its {len(arrays)} images are MNIST images"
            passed_over.append((figure, "it shows an MNIST image" if len(arrays) == 1 else many))
            continue
        targets = _strip_targets(ctx, figure, arrays) or [target_of(axes, n) for n, (axes, _) in enumerate(arrays)]
        runs = _runs(figure, [(axes, array, target) for (axes, array), target in zip(arrays, targets)])
        for run_figure, _ in runs:
            taken.update(id(part) for part in parts_of(run_figure))
        found += runs
        if not runs:
            passed_over.append((figure, f"{len(arrays)} generated 28 x 28 image(s), not ten to twelve"))
    return Candidates(found, passed_over)


def attack_figures(ctx) -> list[AttackFigure]:
    """Generated digits, each figure taken for a targeted attack when its images resemble one
    another (one source digit shows through), otherwise for a non-targeted one. A notebook whose
    targeted images lost their source (beta too small) still shows two attacks: the later one,
    in the assignment's order, is then taken for 3.2."""

    def find():
        found = []
        for figure, panels in _generated_panels(ctx).found:
            score = resemblance([array for _, array, _ in panels])
            targeted = score >= RESEMBLANCE
            why = (
                f"the images {'' if targeted else 'do not '}resemble one another (correlation {score:.2f} with "
                "their average)"
            )
            stated = tuple(value for axes, _, _ in panels for value in confidences(axes["title"])[-1:])
            found.append(AttackFigure(figure, panels, score, targeted, why, stated))
        if len(found) >= 2 and not any(item.targeted for item in found):
            found[-1] = replace(
                found[-1],
                targeted=True,
                why="the notebook's later figure of generated images, though "
                f"they do not resemble one another (correlation {found[-1].resemblance:.2f} with their "
                "average)",
            )
        return found

    return ctx.remember("attack_figures", find)


def attacks_looked_at(ctx, targeted: bool) -> str:
    """What the grader looked at for an attack it did not find: the figures by kind, the figures
    of 28 x 28 images and why none was taken."""
    others = [item for item in attack_figures(ctx) if item.targeted != targeted]
    reasons = [f"{figure_place(figure)}: {why}" for figure, why in _generated_panels(ctx).passed_over]
    reasons += [
        f"{figure_place(item.figure)}: taken for the {'targeted' if item.targeted else 'non-targeted'} attack, "
        f"{item.why}"
        for item in others
    ]
    shown = "; ".join(reasons[:MAX_REASONS]) + ("; ..." if len(reasons) > MAX_REASONS else "")
    return f"looked at {survey(ctx.figures)}" + (f"; of those with 28 x 28 images, {shown}" if reasons else "")


@dataclass(frozen=True)
class SourceDigit:
    name: str  # e.g. "test image 1"
    label: int
    image: np.ndarray
    correlation: float  # of the attack's average image with it


def source_digit(ctx, attack: AttackFigure) -> SourceDigit | None:
    """The MNIST image a targeted attack kept close to: the one its images' average correlates
    with best, over the test and training sets; None for a blank or non-finite average."""

    def find():
        average = np.mean([array for _, array, _ in attack.panels], axis=0)
        nearest = [
            (found.correlation, split, found.index)
            for split in ("test", "training")
            if (found := mnist_index(ctx, split).nearest(average)) is not None
        ]
        if not nearest:
            return None
        score, split, index = max(nearest)
        images, labels = mnist(ctx, split)
        return SourceDigit(f"{split} image {index}", int(labels[index]), images[index, 0].numpy(), score)

    return ctx.remember(f"source_digit_{id(attack.figure)}", find)


def correlation(first: np.ndarray, second: np.ndarray) -> float:
    first, second = np.ravel(first).astype(np.float64), np.ravel(second).astype(np.float64)
    if first.std() == 0 or second.std() == 0:
        return 0.0
    return float(np.corrcoef(first, second)[0, 1])


def model_inputs(images: torch.Tensor, scaling: InputScaling) -> list[torch.Tensor]:
    """Generated images as the model may have seen them: pixel units / 255 or [0, 1] values put
    through the notebook's input scaling, or the drawn values themselves (an attack done in the
    model's input space)."""
    return [scaling.apply(images / 255), scaling.apply(images), images]


def hits_on_target(ctx, attack: AttackFigure) -> tuple[int, list[str], str]:
    """How many panels a model of the notebook classifies as their target (the model the attack
    fooled best: the notebook's attacks aim at one of its models), the misses, and that model."""
    if not measured(ctx):
        raise no_classifier()
    images = torch.stack([torch.from_numpy(array).reshape(MNIST_INPUT.shape) for _, array, _ in attack.panels])
    targets = torch.tensor([target for _, _, target in attack.panels])
    outcomes = []
    for model in measured(ctx):
        classifier = classifier_of(ctx.student, model.model, AS_GIVEN)
        with torch.no_grad():
            for batch in model_inputs(images, model.scaling):
                predicted = classifier(batch).argmax(dim=1)
                outcomes.append((int((predicted == targets).sum()), predicted, model.model.where))
    hits, predicted, _ = max(outcomes, key=lambda outcome: outcome[0])
    misses = [f"target {int(t)} classified as {int(p)}" for t, p in zip(targets, predicted) if t != p]
    return hits, misses, best_models(outcomes)


def best_models(outcomes: list[tuple[int, Any, str]]) -> str:
    """Every model with the best score, named: when two models agree, crediting one would mislead."""
    best = max(score for score, _, _ in outcomes)
    return " and ".join(dict.fromkeys(where for score, _, where in outcomes if score == best))


def line_axes(ctx) -> list[tuple[Figure, Axes]]:
    return [(figure, axes) for figure in ctx.figures for axes in plot_axes(figure) if axes["lines"]]
