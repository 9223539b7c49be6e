"""What a cats-vs-dogs notebook holds, found without names and computed once per submission: the
input size its model takes, its classifiers measured on its own test images (the grader's copies of
them, found by the files the student's test set reads), its split, and the numbers it printed
about occlusion masks and FGSM epsilons.

Every finding keeps where it was found (a variable, a cell, a printed line) for the report.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

import numpy as np
import torch

from checks.engine.notebook import cell_number
from checks.finders.classifiers import (
    IMAGENET_NORMALISED,
    MINUS_ONE_TO_ONE,
    TO_TENSOR,
    DifferentiableClassifier,
    FoundModel,
    InputScaling,
    InputSpec,
    Measured,
    ScalingChoice,
    classifier_of,
    find_classifiers,
    measure_classifiers,
)
from checks.finders.dataset_images import ImageIndex
from checks.finders.figures import load_image, plot_axes
from checks.finders.image_split import ImageSplit, judge_image_split
from checks.finders.printed_output import cell_output_text
from checks.finders.stated_numbers import stated_accuracies
from checks.grading.check_api import CheckFailed, NeedsTA
from reference.catsdogs_xai import Preprocessing, load_images

RGB_SCALINGS = (
    TO_TENSOR,
    MINUS_ONE_TO_ONE,
    IMAGENET_NORMALISED,
    InputScaling("pixel values 0-255", 0.0, 1 / 255),
)
COMMON_SIZES = (64, 128, 224, 96, 32, 112, 150, 160, 256, 100, 120, 180, 200)
MAX_SIZES_TRIED = 8  # input sizes tried before the notebook is said to hold no classifier
RESIZE_CALL = re.compile(r"(?:Resize|CenterCrop|RandomResizedCrop|resize)\(\s*(?:size\s*=\s*)?[(\[]?\s*(\d{2,3})\b")
SIZE_CONSTANT = re.compile(
    r"^[ \t]*(?!\w*(?:BATCH|HIDDEN|EMBED|FEATURE|CHANNEL|LATENT))\w*(?:IMG|IMAGE|INPUT|PIXEL|SIZE|RES)\w*"
    r"[ \t]*=[ \t]*[(\[]?(\d{2,3})\b",
    re.IGNORECASE | re.MULTILINE,
)
CENTER_CROP = re.compile(r"CenterCrop\(\s*(?:size\s*=\s*)?[(\[]?\s*(\d{2,3})\b")
RESIZE_SHORTER = re.compile(r"\bResize\(\s*(?:size\s*=\s*)?(\d{2,3})\s*[,)]")
TORCHVISION_RESIZE = re.compile(r"\bResize\(")
PIL_RESIZE = re.compile(r"\.resize\(\s*\(\s*\d{2,3}\s*,\s*\d{2,3}\s*\)")
SIZES = range(16, 225)  # bounds the grader's copies: 2,002 photos at 224 px are 1.2 GB as floats
INDEX_SIZE = 64  # the size at which every dataset image is decoded for the thumbnail index
MIN_TEST_IMAGES = 100
MIN_CLASS_SHARE = 0.3  # of the test images, for each class: the dataset is half cats, half dogs
MIN_SPREAD = 1e-6  # of a model's scores across the test images: below it, the output ignores the input
MAX_RECOMPUTED = 8  # printed masks or epsilons recomputed
THUMBNAIL = 16  # pixels a side at which figures' photos are looked up among the dataset's images
PHOTO_MATCH = 0.9  # correlation with a dataset image at which a plotted photo is that image
MAX_OUTPUT_LINES = 2_000  # printed lines of one cell read for numbers
CLEAN_CLAIM = re.compile(r"\(?\b(?:clean|original|baseline|unattacked)\b[^)\n;]*\)?", re.IGNORECASE)
PERCENTAGE = re.compile(r"(?<![\w.])(\d{1,3}(?:\.\d+)?)\s*%")
FIGURE_REPR = re.compile(r"<Figure size [^>]{0,80}>")  # a displayed figure's text, run into the next printed line


def code_cells(ctx) -> list[str]:
    return [str(cell.source) for cell in ctx.executed.cells if cell.cell_type == "code"]


def input_sizes(ctx) -> list[int]:
    """The image sizes the notebook's model may take, likeliest first: what its code resizes or crops
    to, the square colour images its figures show, its size constants (``IMG_SIZE = 64``, never a
    batch or hidden size), then the sizes such notebooks use."""
    written = Counter(int(size) for source in code_cells(ctx) for size in RESIZE_CALL.findall(source))
    shown = Counter(
        tuple(image["shape"])[0]
        for figure in ctx.figures
        for axes in plot_axes(figure)
        for image in axes["images"]
        if len(image["shape"]) == 3 and image["shape"][0] == image["shape"][1] and image["shape"][2] in (3, 4)
    )
    constants = Counter(int(size) for source in code_cells(ctx) for size in SIZE_CONSTANT.findall(source))
    ordered = [size for counts in (written, shown, constants) for size, _ in counts.most_common()]
    return list(dict.fromkeys(size for size in [*ordered, *COMMON_SIZES] if size in SIZES))


def preprocessing(ctx) -> Preprocessing:
    """How the notebook's code makes its model's input, at the size the model was found to take:
    ``Resize(R)`` + ``CenterCrop(size)``, PIL's own ``image.resize`` (bicubic), else ``Resize((size, size))``."""

    def read() -> Preprocessing:
        size = classifiers(ctx).size or COMMON_SIZES[0]
        code = "\n".join(code_cells(ctx))
        crop, shorter = CENTER_CROP.search(code), RESIZE_SHORTER.search(code)
        if crop and shorter and int(crop.group(1)) == size and int(shorter.group(1)) >= size:
            return Preprocessing(size, shorter=int(shorter.group(1)))
        return Preprocessing(size, bicubic=bool(PIL_RESIZE.search(code)) and not TORCHVISION_RESIZE.search(code))

    return ctx.remember("preprocessing", read)


def spec_at(size: int) -> InputSpec:
    return InputSpec((3, size, size), classes=2, scalings=RGB_SCALINGS, single_score=True)


@dataclass(frozen=True)
class Classifiers:
    models: list[FoundModel]
    size: int | None
    tried: tuple[int, ...]


def classifiers(ctx) -> Classifiers:
    """Every module that maps colour images to two scores (or one), at the first size that any takes."""

    def find() -> Classifiers:
        tried = []
        for size in input_sizes(ctx)[:MAX_SIZES_TRIED]:
            tried.append(size)
            models = find_classifiers(ctx.student, spec_at(size))
            if models:
                return Classifiers(models, size, tuple(tried))
        return Classifiers([], None, tuple(tried))

    return ctx.remember("classifiers", find)


def no_classifier(ctx) -> CheckFailed:
    tried = ", ".join(f"{size} x {size}" for size in classifiers(ctx).tried)
    return CheckFailed(
        "no model in the notebook's namespace maps a batch of colour images to 2 class scores (or 1 logit)",
        expected="a trained nn.Module kept in a variable, e.g. `model = CatDogCNN()`",
        found=f"none at the input sizes tried ({tried})",
        cause="the model may be defined inside a function and never kept in a variable",
    )


def canonical_files(ctx) -> list[tuple[str, int]]:
    return ctx.remember("canonical_files", ctx.data.cats_vs_dogs_files)


def split(ctx) -> ImageSplit:
    def judge() -> ImageSplit:
        survey = ctx.student.datasets()
        ctx.flags.extend(survey.dropped)
        return judge_image_split(survey.records, [path for path, _ in canonical_files(ctx)])

    return ctx.remember("split", judge)


@dataclass(frozen=True)
class TestImages:
    images: torch.Tensor  # (N, 3, size, size) in [0, 1]: the grader's own copies
    labels: torch.Tensor
    where: str  # which of the notebook's datasets they are


def test_images(ctx) -> TestImages:
    """The images of the student's own test set, read by the grader from the data directory at the
    model's input size (never the tensors the kernel made), with the labels the dataset gives them."""

    def load() -> TestImages:
        found, finding = classifiers(ctx), split(ctx)
        if found.size is None:
            raise no_classifier(ctx)
        test = finding.test
        if test is None or not test.indices:
            raise NeedsTA(
                "the grader could not tell which images the notebook's test set holds (no test set reads files of "
                f"the dataset: {finding.describe()}), so the model could not be measured on them"
            )
        images, labels = load_images(ctx.data, list(test.indices), preprocessing=preprocessing(ctx))
        loaded = TestImages(images, labels, f"the notebook's test set `{test.name}` ({len(test.indices):,} images)")
        problem = unrepresentative(labels)
        if problem:
            cats = int((labels == 0).sum())
            raise CheckFailed(
                f"{loaded.where} {problem}, so numbers measured on it say nothing about the model",
                expected=f"{MIN_TEST_IMAGES} or more held-out images, each class {MIN_CLASS_SHARE:.0%} of them or more",
                found=f"{len(labels):,} images, {cats:,} cats and {len(labels) - cats:,} dogs",
            )
        return loaded

    return ctx.remember("test_images", load)


def unrepresentative(labels: torch.Tensor) -> str | None:
    """Why a test set of these labels cannot stand for the data (too few images, a class nearly
    missing), or None."""
    if len(labels) < MIN_TEST_IMAGES:
        return f"holds only {len(labels)} images"
    share = float((labels == 0).float().mean())
    if min(share, 1 - share) < MIN_CLASS_SHARE:
        return f"is {max(share, 1 - share):.0%} one class"
    return None


def measured(ctx) -> list[Measured]:
    """Every classifier's accuracy on the student's test images under the scaling it works with, best first."""

    def measure() -> list[Measured]:
        found = classifiers(ctx)
        if not found.models:
            raise no_classifier(ctx)
        test = test_images(ctx)
        return measure_classifiers(ctx.student, found.models, test.images, test.labels, ScalingChoice(probe=None))

    return ctx.remember("measured", measure)


def within_time(ctx) -> None:
    """Stop a check whose recomputations have used up the submission's grading time."""
    ctx.student.session.ensure_time()


def best_model(ctx) -> Measured:
    return measured(ctx)[0]


def predictions(ctx) -> torch.Tensor:
    """The best model's class for each test image, computed by the grader."""

    def predict() -> torch.Tensor:
        best = best_model(ctx)
        classifier = classifier_of(ctx.student, best.model, best.scaling)
        with torch.no_grad():
            return classifier(test_images(ctx).images).argmax(dim=1)

    return ctx.remember("predictions", predict)


def gradient_model(ctx) -> DifferentiableClassifier:
    """The best model as the grader rebuilt it, taking [0, 1] images, for Grad-CAM and FGSM; built and
    checked once per submission, though every overlay, mask and epsilon asks for it."""
    return ctx.remember("gradient_model", lambda: _gradient_model(ctx))


def grader_batch(ctx) -> int:
    """Images per pass of the gradient model: the batch its rebuild was checked to fit in memory at."""
    return gradient_model(ctx).model.grader_batch


def _gradient_model(ctx) -> DifferentiableClassifier:
    best = best_model(ctx)
    if best.model.rebuilt is None:
        raise NeedsTA(
            f"{best.model.where} could not be exported ({best.model.refused}), so the grader cannot recompute "
            "gradients through it; a TA compares the notebook's numbers and maps by eye"
        )
    model = DifferentiableClassifier(best.model.rebuilt, best.scaling, 2)
    scores = classifier_of(ctx.student, best.model, best.scaling)(test_images(ctx).images)
    if float((scores[:, 1] - scores[:, 0]).std()) < MIN_SPREAD:
        raise CheckFailed(
            f"{best.model.where} gives every test image the same scores: its output does not depend on its input, "
            "so recomputing an explanation or an attack on it says nothing",
            expected="a model whose scores change with the image",
            found=f"scores {scores[0].tolist()} for all {len(scores)} test images",
        )
    return model


def dataset_index(ctx) -> ImageIndex:
    """Every dataset image as a thumbnail, to look plotted photos up in."""

    def build() -> ImageIndex:
        images, _ = load_images(ctx.data, range(len(canonical_files(ctx))), INDEX_SIZE)
        return ImageIndex(images, thumbnail=THUMBNAIL)

    return ctx.remember("dataset_index", build)


def shown_image(ctx, array: np.ndarray) -> int | None:
    """The dataset image a plotted photo shows (grey copies too), or None."""
    photo = np.repeat(array[:, :, None], 3, axis=2) if array.ndim == 2 else array
    nearest = dataset_index(ctx).nearest(photo)
    return nearest.index if nearest is not None and nearest.correlation >= PHOTO_MATCH else None


def grader_images(ctx, indices: list[int]) -> torch.Tensor:
    """The grader's copies of dataset images at the model's input size."""
    images, _ = load_images(ctx.data, indices, preprocessing=preprocessing(ctx))
    return images


def axes_arrays(ctx, axes) -> list[np.ndarray]:
    return [
        array
        for position in range(len(axes["images"]))
        if (array := load_image(ctx.figure_dir, axes, position)) is not None
    ]


@dataclass(frozen=True)
class PrintedLine:
    text: str
    cell: int

    @property
    def where(self) -> str:
        return f"{cell_number(self.cell)}: {self.text.strip()[:120]!r}"


def printed_lines(ctx, words: re.Pattern[str]) -> list[PrintedLine]:
    """The lines the notebook printed that ``words`` finds, with their cells."""
    found = []
    for index, cell in enumerate(ctx.executed.cells):
        if cell.cell_type != "code":
            continue
        for line in cell_output_text(cell).splitlines()[:MAX_OUTPUT_LINES]:
            line = FIGURE_REPR.sub("", line)
            if words.search(line):
                found.append(PrintedLine(line, index))
    return found


def accuracy_in(line: str) -> float | None:
    """The accuracy a printed line states, as a fraction: the first accuracy claim once a clean
    (unattacked, unoccluded) accuracy beside it is set aside, else the last percentage on the line."""
    kept = CLEAN_CLAIM.sub("", line)
    claims = stated_accuracies(kept)
    if claims:
        return claims[0].percent / 100
    percentages = PERCENTAGE.findall(kept)
    return float(percentages[-1]) / 100 if percentages else None
