"""The cats-vs-dogs XAI check suite. The assignment names no functions, so every check works from
what the notebook left behind (see ``findings``): its model, re-measured by the grader on the
grader's own copies of the notebook's test images; its split, by the image files each dataset
reads; the figures it drew and the arrays behind them; the numbers it printed. Grad-CAM maps,
occlusion accuracies and FGSM accuracies are recomputed with the reference on the student's own
model, so a check judges the student's method, not how well their model trained.
"""

from __future__ import annotations

import re

import numpy as np
import torch

from checks.engine.notebook import cell_number
from checks.finders.curves import require_curves
from checks.finders.figures import load_image, plot_axes, plot_title, survey
from checks.finders.output_disagreements import compare_with_submitted
from checks.finders.printed_output import cell_output_text
from checks.finders.stated_numbers import AccuracyClaims, stated_accuracies
from checks.grading.check_api import CheckFailed, CheckSuite, NeedsTA
from checks.grading.cut_cells import TRAINING
from reference.catsdogs_xai import TrainedModel, TrainingRecipe, confusion, reference_model, report

from . import fgsm, gradcam, occlusion
from .findings import best_model, canonical_files, measured, predictions, split, test_images, unrepresentative

suite = CheckSuite(output_comparison=compare_with_submitted)

ACCURACY_TARGET = 0.6  # clearly above chance; the reference CNN reaches about 0.71 on 64 px images in 12 epochs
CLAIM_TOLERANCE = 1.0  # points: the grader's copies of the test images are the notebook's, pixel for pixel
MATRIX_TOLERANCE = 2  # images per cell of the confusion matrix
REPORT_TOLERANCE = 0.02
SUMMARY_PRINTED = re.compile(r"Total params|Trainable params|Param #|Conv2d\(")
OTHER_ACCURACIES = re.compile(
    r"occlu|mask|patch|(?<![a-z])eps|ε|fgsm|adversar|attack|\bval(?:id\w*)?\b|\btrain(?:ing)?\b|\bepoch\b",
    re.IGNORECASE,
)
PRINTED_MATRIX = re.compile(r"\[\[\s*(\d+)[\s,]+(\d+)\s*\]\s*,?\s*\[\s*(\d+)[\s,]+(\d+)\s*\]\]")
REPORT_ROW = re.compile(r"^\s*(\S+)\s+(\d?\.\d+)\s+(\d?\.\d+)\s+(\d?\.\d+)\s+(\d+)(?:\.0+)?\s*$", re.MULTILINE)
NO_VALIDATION = "no validation set was found: the train-vs-validation curves the assignment asks for need one"
CLASS_NAMES = {"cat": 0, "cats": 0, "0": 0, "dog": 1, "dogs": 1, "1": 1}


def reference_trained(ctx) -> TrainedModel:
    """The trained reference CNN, from the cache (trained once per cache folder)."""
    return ctx.reference_model("catsdogs_cnn", lambda data, cache: reference_model(data, cache, TrainingRecipe()))


def errors(ctx) -> list[tuple[int, str, str]]:
    """(cell, exception name, message) of every error the notebook raised."""
    return [
        (index, output.get("ename", ""), output.get("evalue", ""))
        for index, cell in enumerate(ctx.executed.cells)
        if cell.cell_type == "code"
        for output in cell.get("outputs", [])
        if output.get("output_type") == "error"
    ]


# ---- Task 1: the CNN ---------------------------------------------------------------------


@suite.check("1", 5, "A model summary is printed (torchinfo.summary, print(model) or a parameter table)", needs="full")
def model_summary(ctx):
    for index, cell in enumerate(ctx.executed.cells):
        if cell.cell_type == "code" and SUMMARY_PRINTED.search(cell_output_text(cell)):
            return f"printed by {cell_number(index)}"
    keras = [
        (cell, message) for cell, name, message in errors(ctx) if name == "AttributeError" and "summary" in message
    ]
    raise CheckFailed(
        "no model summary is printed",
        expected="the layers with their output shapes and parameter counts",
        found=f"{cell_number(keras[0][0])} raised AttributeError: {keras[0][1][:120]}" if keras else "no summary",
        cause=(
            "model.summary() is Keras; a PyTorch nn.Module has none: use torchinfo.summary(model, "
            "input_size=(1, 3, H, W)) or print(model)"
        )
        if keras
        else None,
    )


CURVE_KINDS = {
    "training loss": lambda text: "train" in text and "loss" in text,
    "validation loss": lambda text: "val" in text and "loss" in text,
    "training accuracy": lambda text: "train" in text and "acc" in text,
    "validation accuracy": lambda text: "val" in text and "acc" in text,
}


@suite.check("1", 5, "Training and validation loss and accuracy curves with labelled axes", needs="full")
def training_curves(ctx):
    curves = require_curves(
        ctx, CURVE_KINDS, "train and validation loss, train and validation accuracy, over epochs, axes labelled"
    )
    return curves.places()


@suite.check(
    "1",
    5,
    "Train, validation and test sets are disjoint subsets of the dataset (found by the files they read)",
    needs="full",
    inputs="every Dataset and DataLoader in the notebook's namespace",
)
def data_split(ctx):
    finding = split(ctx)
    problems = list(finding.problems)
    if finding.test is not None and finding.test.indices:
        files = canonical_files(ctx)
        problem = unrepresentative(torch.tensor([files[index][1] for index in finding.test.indices]))
        problems += [f"the test set ({finding.test.name}) {problem}"] if problem else []
    if not problems and finding.unknown:
        raise NeedsTA("; ".join(finding.unknown) + f" ({finding.describe()}), so a TA judges the split")
    if not problems and finding.validation is not None:
        return finding.describe()
    missing_validation = [] if finding.validation is not None else [NO_VALIDATION]
    raise CheckFailed(
        "; ".join([*problems, *missing_validation]),
        expected="disjoint train / validation / test subsets of the 2,002 images, the test set of both classes",
        found=finding.describe(),
        fraction=0.0 if problems else 0.5,
    )


@suite.check(
    "1",
    6,
    f"The model's accuracy re-measured by the grader on the notebook's own test images (>= {ACCURACY_TARGET:.0%})",
    needs="full",
    inputs="the grader's copies of the notebook's test images at the model's input size",
    rests_on=(TRAINING,),
)
def test_accuracy(ctx):
    best = best_model(ctx)
    where = f"{best.where}, on {test_images(ctx).where}"
    if best.accuracy < ACCURACY_TARGET:
        raise CheckFailed(
            f"{where} classifies {best.accuracy:.2%} of the test images correctly",
            expected=f">= {ACCURACY_TARGET:.0%} (the reference CNN reaches {reference_trained(ctx).test_accuracy:.0%})",
            found=f"{best.accuracy:.2%}, {best.model.measured_how}",
            cause="the model may be untrained, or trained on badly scaled inputs",
            fraction=max(0.0, (best.accuracy - 0.5) / (ACCURACY_TARGET - 0.5)) / 2,
        )
    return f"{where}: {best.accuracy:.2%} {best.model.measured_how}"


def stated_test_text(ctx) -> str:
    """What the notebook printed and wrote, without the lines about validation, training, occlusion or attacks."""
    texts = [cell_output_text(cell) if cell.cell_type == "code" else str(cell.source) for cell in ctx.executed.cells]
    return "\n".join(line for text in texts for line in text.splitlines() if not OTHER_ACCURACIES.search(line))


@suite.check(
    "1", 4, "The stated test accuracy agrees with the grader's measurement", needs="full", rests_on=(TRAINING,)
)
def stated_accuracy(ctx):
    measurements = [item.accuracy for item in measured(ctx)]
    stated = AccuracyClaims(stated_accuracies(stated_test_text(ctx)), measurements, CLAIM_TOLERANCE)
    if stated.agree:
        return f"{stated.reported:.2f}% stated; the grader measured {measurements[0]:.2%}"
    raise CheckFailed(
        "no test accuracy is stated"
        if not stated.claims
        else "the stated test accuracy is not what the model achieves",
        expected=" or ".join(f"{value:.2%}" for value in measurements),
        found=", ".join(f"{claim:.2f}%" for claim in stated.claims) or "no accuracy outside training and attack lines",
    )


def printed_matrices(ctx) -> list[tuple[str, np.ndarray, dict | None]]:
    found = []
    for index, cell in enumerate(ctx.executed.cells):
        if cell.cell_type == "code":
            found.extend(
                (
                    f"printed by {cell_number(index)}",
                    np.array([int(value) for value in match.groups()]).reshape(2, 2),
                    None,
                )
                for match in PRINTED_MATRIX.finditer(cell_output_text(cell))
            )
    return found


def drawn_matrices(ctx) -> list[tuple[str, np.ndarray, dict | None]]:
    """2 x 2 images the notebook drew (ConfusionMatrixDisplay, imshow), each with its figure to cite."""
    found = []
    for figure in ctx.figures:
        for axes in plot_axes(figure):
            for position, image in enumerate(axes["images"]):
                if list(image["shape"]) == [2, 2]:
                    array = load_image(ctx.figure_dir, axes, position)
                    if array is not None:
                        found.append((f"drawn in {cell_number(figure['cell'])}", array, figure))
    return found


@suite.check("1", 5, "A confusion matrix that agrees with the model's predictions on the test set", needs="full")
def confusion_matrix(ctx):
    expected = confusion(test_images(ctx).labels.numpy(), predictions(ctx).numpy())
    candidates = printed_matrices(ctx) + drawn_matrices(ctx)
    if not candidates:
        heatmaps = [
            figure
            for figure in ctx.figures
            for axes in plot_axes(figure)
            if "confusion" in plot_title(axes, figure).lower() or "confusion" in figure["suptitle"].lower()
        ]
        if heatmaps:
            ctx.cite(*heatmaps)
            raise NeedsTA("a confusion matrix is drawn, but not as values the grader can read: compare it by eye")
        raise CheckFailed("no confusion matrix is printed or drawn", expected=str(expected.tolist()), found="none")
    for where, matrix, figure in reversed(candidates):
        counts = matrix if matrix.sum() > 2 else matrix * expected.sum(axis=1, keepdims=True)
        if np.abs(np.asarray(counts, dtype=float) - expected).max() <= MATRIX_TOLERANCE:
            ctx.cite(*([figure] if figure is not None else []))
            return f"{where}: {np.asarray(matrix).tolist()}"
    where, matrix, figure = candidates[-1]
    ctx.cite(*([figure] if figure is not None else []))
    raise CheckFailed(
        "the confusion matrix is not what the model predicts on the test set",
        expected=f"{expected.tolist()} (rows true cat, dog; columns predicted), from the grader's predictions",
        found=f"{where}: {np.asarray(matrix).tolist()}",
    )


def printed_report(ctx) -> tuple[str, dict[int, tuple[float, float, float, int]]] | None:
    """The last classification report printed: per class precision, recall, F1 and support."""
    found = None
    for index, cell in enumerate(ctx.executed.cells):
        if cell.cell_type != "code":
            continue
        rows = {
            CLASS_NAMES[match.group(1).lower()]: tuple(float(value) for value in match.groups()[1:4])
            + (int(match.group(5)),)
            for match in REPORT_ROW.finditer(cell_output_text(cell))
            if match.group(1).lower() in CLASS_NAMES
        }
        if len(rows) == 2:
            found = (f"printed by {cell_number(index)}", rows)
    return found


@suite.check("1", 5, "A classification report whose precision, recall and F1 agree with the grader's", needs="full")
def classification_report(ctx):
    expected = report(test_images(ctx).labels.numpy(), predictions(ctx).numpy())
    wanted = {
        label: (expected[name]["precision"], expected[name]["recall"], expected[name]["f1-score"])
        for label, name in enumerate(("cat", "dog"))
    }
    shown = "; ".join(
        f"{name}: P {p:.3f} R {r:.3f} F1 {f:.3f}" for name, (p, r, f) in zip(("cat", "dog"), wanted.values())
    )
    found = printed_report(ctx)
    if found is None:
        raise CheckFailed("no classification report with a row per class is printed", expected=shown, found="none")
    where, rows = found
    off = [
        f"{('cat', 'dog')[label]} {measure} {rows[label][position]:.3f}"
        for label in (0, 1)
        for position, measure in enumerate(("precision", "recall", "F1"))
        if abs(rows[label][position] - wanted[label][position]) > REPORT_TOLERANCE
    ]
    if off:
        raise CheckFailed(
            "the classification report disagrees with the model's predictions on the test set: " + ", ".join(off),
            expected=shown,
            found=where,
        )
    return f"{where} agrees with the grader's ({shown})"


# ---- Task 2.1: Grad-CAM ------------------------------------------------------------------


@suite.check("2.1", 6, "Grad-CAM overlays for more than one convolutional layer", needs="full")
def gradcam_layers(ctx):
    judged = gradcam.located(ctx)
    ctx.cite(*{id(item.overlay.figure): item.overlay.figure for item in judged}.values())
    layers = sorted({item.layer for item in judged if item.layer is not None})
    if len(layers) >= 2:
        return f"{len(judged)} overlays of layers {', '.join(layers)}"
    if len({item.overlay.title for item in judged}) >= 2:
        raise NeedsTA(
            f"{len(judged)} heatmap overlays are drawn but their titles name no layer of the model: "
            + "; ".join(item.describe() for item in judged[:4])
        )
    raise CheckFailed(
        "Grad-CAM is not shown for more than one convolutional layer",
        expected="a heatmap over an image for each convolutional layer, titled with the layer",
        found=f"overlays of {', '.join(layers)}" if layers else f"no heatmap overlays; looked at {survey(ctx.figures)}",
        fraction=0.5 if layers else 0.0,
    )


@suite.check(
    "2.1",
    14,
    "Each Grad-CAM map agrees with the grader's Grad-CAM of the same image and layer on the student's model",
    needs="full",
    inputs="the student's model, the dataset image each overlay shows, the layer its title names",
)
def gradcam_maps(ctx):
    judged = [item for item in gradcam.judged_overlays(ctx) if item.judged]
    unjudged = [item.describe() for item in gradcam.judged_overlays(ctx) if not item.judged]
    not_compared = f"; not compared: {'; '.join(unjudged[:3])}" if unjudged else ""
    gradcam.show_beside(ctx, judged)
    if not judged:
        overlays = gradcam.judged_overlays(ctx)
        if overlays:
            raise NeedsTA(
                "no overlay could be matched to a dataset image and a layer: "
                + "; ".join(item.describe() for item in overlays[:4])
            )
        raise CheckFailed("no Grad-CAM overlays to compare", expected="heatmaps over test images", found="none")
    wrong = [item for item in judged if not item.agrees]
    if not wrong:
        return f"{len(judged)} maps agree (correlation >= {gradcam.AGREEMENT}){not_compared}"
    causes = sorted({cause for item in wrong for cause in item.causes})
    raise CheckFailed(
        f"{len(wrong)} of {len(judged)} Grad-CAM maps differ from the grader's: "
        + "; ".join(item.describe() for item in wrong[:4]),
        expected=f"correlation >= {gradcam.AGREEMENT} with ReLU(sum_c mean(dy/dA_c) A_c) of the titled layer",
        found="; ".join(item.describe() for item in judged[:6]),
        cause="; ".join(causes) or None,
        fraction=(len(judged) - len(wrong)) / len(judged),
    )


# ---- Task 2.2: occlusion -----------------------------------------------------------------


def enough_stated(stated: list[str], asked: int, problem: str, each: str, none: str) -> str:
    """The numbers a notebook states, listed, when there are as many as the assignment asks for;
    else a failure that earns the share stated (``problem`` formatted with count and asked)."""
    if len(stated) >= asked:
        return "; ".join(stated)
    raise CheckFailed(
        problem.format(count=len(stated), asked=asked),
        expected=f"{asked} {each}",
        found="; ".join(stated) or none,
        fraction=len(stated) / asked,
    )


@suite.check("2.2", 5, f"Test accuracy stated for at least {occlusion.MASKS_ASKED} occlusion masks", needs="full")
def occlusion_masks(ctx):
    masks = occlusion.stated_masks(ctx)
    return enough_stated(
        [f"{mask.describe()} ({mask.line.where})" for mask in masks],
        occlusion.MASKS_ASKED,
        "accuracy is stated for {count} occlusion mask(s), not {asked}",
        "masks of different sizes or fills, an accuracy for each",
        "no printed line states an accuracy with a mask",
    )


@suite.check("2.2", 4, "A heatmap is drawn for each occlusion mask", needs="full")
def occlusion_heatmaps(ctx):
    heatmaps = occlusion.heatmaps(ctx)
    ctx.cite(*{id(figure): figure for figure, _ in heatmaps}.values())
    wanted = max(occlusion.MASKS_ASKED, len(occlusion.stated_masks(ctx)))
    if len(heatmaps) >= wanted:
        return f"{len(heatmaps)} heatmaps: " + "; ".join(title[:50] for _, title in heatmaps[:6])
    raise CheckFailed(
        f"{len(heatmaps)} occlusion heatmap(s) drawn for {wanted} masks",
        expected=f"a heatmap per mask, at least {occlusion.MASKS_ASKED}",
        found="; ".join(title[:50] or "untitled" for _, title in heatmaps) or f"none; looked at {survey(ctx.figures)}",
        fraction=len(heatmaps) / wanted,
    )


@suite.check(
    "2.2",
    6,
    "Each occlusion accuracy agrees with the grader's, with the mask the line describes on the student's model",
    needs="full",
    inputs="the grader's copies of the notebook's test images, the patch and fill each line states",
)
def occlusion_accuracies(ctx):
    readings = occlusion.recomputed(ctx)
    identified = [item for item in readings if item.accuracy is not None]
    if not identified:
        raise NeedsTA(
            "no occlusion line gives both a patch size and a fill, so the grader cannot recompute them: "
            + ("; ".join(f"{item.mask.line.where} ({item.how})" for item in readings[:4]) or "no lines")
        )
    wrong = [item for item in identified if not item.agrees and item.placed]
    unplaced = [item for item in identified if not item.agrees and not item.placed]
    said = "; ".join(
        f"{item.mask.describe()} stated, {item.accuracy:.2%} recomputed ({item.how})" for item in identified
    )
    if not wrong and unplaced:
        raise NeedsTA(
            f"{len(unplaced)} occlusion accuracies differ from the grader's with the patch centred or in the corner, "
            f"and the lines do not say where the patch was: {said}"
        )
    if not wrong:
        return said
    raise CheckFailed(
        f"{len(wrong)} of {len(identified)} occlusion accuracies differ from the grader's",
        expected="; ".join(f"{item.mask.describe().rsplit(':', 1)[0]}: {item.accuracy:.2%}" for item in wrong),
        found=said,
        cause="the mask may be applied elsewhere than the line says (position, fill, before or after normalising)",
        fraction=(len(identified) - len(wrong)) / len(identified),
    )


# ---- Task 3: FGSM ------------------------------------------------------------------------


@suite.check("3", 5, f"Adversarial accuracy stated for at least {fgsm.EPSILONS_ASKED} epsilons", needs="full")
def fgsm_epsilons(ctx):
    attacks = fgsm.stated_attacks(ctx)
    return enough_stated(
        [f"epsilon {item.epsilon:g}: {item.accuracy:.2%} ({item.line.where})" for item in attacks],
        fgsm.EPSILONS_ASKED,
        "adversarial accuracy is stated for {count} epsilon(s), not {asked}",
        "epsilons above 0, an accuracy for each",
        "no printed line states an epsilon with an accuracy",
    )


@suite.check(
    "3",
    15,
    "Each adversarial accuracy agrees with the reference FGSM on the student's model and test images",
    needs="full",
    inputs="the grader's copies of the notebook's test images; FGSM on [0, 1] pixels, clamped, model in eval mode",
)
def fgsm_accuracies(ctx):
    readings = fgsm.recomputed(ctx)
    if not readings:
        unread = fgsm.unread_lines(ctx)
        if unread:
            raise NeedsTA(
                "the notebook prints about FGSM, but no line pairs an epsilon with an accuracy the grader can read: "
                + "; ".join(line.where for line in unread[:4])
            )
        raise CheckFailed("no adversarial accuracy to recompute", expected="accuracy per epsilon", found="none")
    said = "; ".join(
        f"epsilon {item.attack.epsilon:g}: {item.attack.accuracy:.2%} stated, {item.accuracy:.2%} recomputed"
        for item in readings
    )
    wrong = [item for item in readings if not item.agrees]
    if not wrong:
        return said
    mistakes = sorted({item.mistake for item in wrong if item.mistake})
    raise CheckFailed(
        f"{len(wrong)} of {len(readings)} adversarial accuracies differ from the reference FGSM's",
        expected="; ".join(f"epsilon {item.attack.epsilon:g}: {item.accuracy:.2%}" for item in wrong),
        found=said,
        cause=("the stated numbers are what FGSM gives with " + " and ".join(mistakes)) if mistakes else None,
        fraction=(len(readings) - len(wrong)) / len(readings),
    )


@suite.check("3", 5, "Adversarial images shown for each epsilon", needs="full")
def adversarial_images(ctx):
    shown = fgsm.shown_epsilons(ctx)
    ctx.cite(*{id(figure): figure for figure in shown.values()}.values())
    stated = {item.epsilon for item in fgsm.stated_attacks(ctx)}
    missing = sorted(stated - set(shown))
    if len(shown) >= fgsm.EPSILONS_ASKED and not missing:
        return "images titled with epsilon " + ", ".join(f"{epsilon:g}" for epsilon in sorted(shown))
    raise CheckFailed(
        "adversarial images are not shown for every epsilon",
        expected="colour images titled with each epsilon: "
        + (", ".join(f"{e:g}" for e in sorted(stated)) or "3 epsilons"),
        found=("epsilon " + ", ".join(f"{epsilon:g}" for epsilon in sorted(shown)))
        if shown
        else "no colour image titled with an epsilon",
        fraction=min(1.0, len(shown) / fgsm.EPSILONS_ASKED) * (0.5 if missing else 1.0),
    )
