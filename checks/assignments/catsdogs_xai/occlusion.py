"""Occlusion in a cats-vs-dogs notebook: the masks it printed an accuracy for (patch size and fill
read from the line), each accuracy recomputed by the grader with the reference on the student's
model and test images, and the heatmaps it drew."""

from __future__ import annotations

import re
from dataclasses import dataclass

import torch

from checks.finders.figures import Figure, plot_axes, plot_title
from reference.catsdogs_xai import masked_accuracy

from .findings import (
    MAX_RECOMPUTED,
    PrintedLine,
    accuracy_in,
    axes_arrays,
    best_model,
    classifiers,
    grader_batch,
    gradient_model,
    printed_lines,
    test_images,
    within_time,
)

MASK_WORDS = re.compile(r"occlu|mask|patch", re.IGNORECASE)
HEATMAP_WORDS = re.compile(r"occlu|mask|patch|sensitiv", re.IGNORECASE)
PATCH_SQUARE = re.compile(r"(?<![\w.])(\d{1,3})\s*[x×]\s*(\d{1,3})(?![\w.])")
PATCH_SIZE = re.compile(r"(?:patch|window|occluder)?[ _]?size\w*\s*[=:]?\s*\(?(\d{1,3})(?![\w.])", re.IGNORECASE)
PATCH_NAMED = re.compile(r"(?:patch|mask|window|occluder)\w*\s*[=:]?\s*\(?(\d{1,3})(?![\w.])", re.IGNORECASE)
UNMASKED = re.compile(r"without (?:occlu|mask)|no (?:occlu|mask)|unoccluded|clean|original|baseline", re.IGNORECASE)
POSITION_STATED = re.compile(r"cent|corner|top|left|middle", re.IGNORECASE)
FILL_NUMBER = re.compile(r"(?:fill|value|baseline|colou?r)\w*\s*[=:]?\s*\(?(-?\d*\.?\d+)", re.IGNORECASE)
FILL_WORDS = (("black", 0.0), ("zero", 0.0), ("white", 1.0), ("grey", 0.5), ("gray", 0.5))
TOLERANCE = 0.01  # the grader's copies of the images are the notebook's, pixel for pixel, at its size
MASKS_ASKED = 3


@dataclass(frozen=True)
class StatedMask:
    line: PrintedLine
    patch: int | None
    fill: float | None
    accuracy: float

    @property
    def key(self) -> tuple:
        """What tells two masks apart: size and fill when the line gives both, else the line itself."""
        return (self.patch, self.fill) if self.patch is not None and self.fill is not None else (self.line.text,)

    def describe(self) -> str:
        patch = f"{self.patch} x {self.patch}" if self.patch is not None else "size not stated"
        fill = f"fill {self.fill:g}" if self.fill is not None else "fill not stated"
        return f"{patch}, {fill}: {self.accuracy:.2%}"


def _patch(text: str, image_size: int | None = None) -> int | None:
    """The patch a line describes: "size = 24" first, then a square "16x16" other than the image's
    own size, then "patch 16" (never the ordinal of "Mask 2: ...", which a size elsewhere outranks)."""
    sized = PATCH_SIZE.search(text)
    if sized:
        return int(sized.group(1))
    squares = [int(m.group(1)) for m in PATCH_SQUARE.finditer(text) if m.group(1) == m.group(2)]
    square = next((side for side in squares if side != image_size), None)
    if square is not None:
        return square
    named = PATCH_NAMED.search(text)
    return int(named.group(1)) if named else None


def _fill(text: str) -> float | None:
    number = FILL_NUMBER.search(text)
    if number:
        return float(number.group(1))
    lowered = text.lower()
    return next((value for word, value in FILL_WORDS if word in lowered), None)


def stated_masks(ctx) -> list[StatedMask]:
    """Every printed line that states an accuracy with an occlusion mask, the last per mask."""

    def read() -> dict[tuple, StatedMask]:
        masks: dict[tuple, StatedMask] = {}
        size = classifiers(ctx).size
        for line in printed_lines(ctx, MASK_WORDS):
            accuracy = accuracy_in(line.text)
            if accuracy is not None and not UNMASKED.search(line.text):
                mask = StatedMask(line, _patch(line.text, size), _fill(line.text), accuracy)
                masks[mask.key] = mask
        return masks

    return list(ctx.remember("stated_masks", read).values())


@dataclass(frozen=True)
class Recomputed:
    mask: StatedMask
    accuracy: float | None  # the grader's, where the line identifies the mask
    how: str

    @property
    def agrees(self) -> bool:
        return self.accuracy is not None and abs(self.accuracy - self.mask.accuracy) <= TOLERANCE

    @property
    def placed(self) -> bool:
        """Whether the line says where the patch is, so a disagreement is the notebook's."""
        return bool(POSITION_STATED.search(self.mask.line.text))


def _positions(size: int, patch: int) -> list[tuple[str, int, int]]:
    centre = (size - patch) // 2
    return [("centred", centre, centre), ("at the top-left corner", 0, 0)]


def _fills(ctx, fill: float) -> list[tuple[str, float | tuple[float, ...]]]:
    """The fill as pixels in [0, 1], and, for a model fed normalised images, the fill written into
    the normalised tensor (as raw pixels)."""
    scaling = best_model(ctx).scaling
    fills: list[tuple[str, float | tuple[float, ...]]] = [(f"pixel value {fill:g}", fill)]
    if scaling.mean != 0.0 or scaling.std != 1.0:
        mean = scaling.mean if isinstance(scaling.mean, tuple) else (scaling.mean,) * 3
        std = scaling.std if isinstance(scaling.std, tuple) else (scaling.std,) * 3
        fills.append((f"{fill:g} in the normalised tensor", tuple(fill * s + m for m, s in zip(mean, std))))
    return fills


def recompute(ctx, mask: StatedMask) -> Recomputed:
    if mask.patch is None or mask.fill is None:
        return Recomputed(mask, None, "the line does not give both the patch size and the fill")
    test = test_images(ctx)
    size = test.images.shape[-1]
    if not 1 <= mask.patch <= size:
        return Recomputed(mask, None, f"a {mask.patch}-pixel patch does not fit a {size}-pixel image")
    model = gradient_model(ctx)
    readings = []
    with torch.no_grad():
        for (place, top, left), (fill_name, fill) in (
            (position, fill) for position in _positions(size, mask.patch) for fill in _fills(ctx, mask.fill)
        ):
            within_time(ctx)
            accuracy = masked_accuracy(
                model, test.images, test.labels, mask.patch, fill, top, left, batch_size=grader_batch(ctx)
            )
            readings.append((abs(accuracy - mask.accuracy), accuracy, f"{place}, {fill_name}"))
    _, accuracy, how = min(readings)
    return Recomputed(mask, accuracy, how)


def recomputed(ctx) -> list[Recomputed]:
    return ctx.remember(
        "masks_recomputed", lambda: [recompute(ctx, mask) for mask in stated_masks(ctx)[:MAX_RECOMPUTED]]
    )


def heatmaps(ctx) -> list[tuple[Figure, str]]:
    """Occlusion heatmaps: 2-D maps in panels titled as occlusion, or drawn by a cell that uses it."""
    found = []
    for figure in ctx.figures:
        source = _cell_source(ctx, figure["cell"])
        for axes in plot_axes(figure):
            title = " ".join(part for part in (plot_title(axes, figure), figure["suptitle"]) if part)
            if not (HEATMAP_WORDS.search(title) or re.search(r"occlu", source, re.IGNORECASE)):
                continue
            if any(array.ndim == 2 and min(array.shape) > 1 for array in axes_arrays(ctx, axes)):
                found.append((figure, title))
    return found


def _cell_source(ctx, cell) -> str:
    return str(ctx.executed.cells[cell].source) if isinstance(cell, int) and cell < len(ctx.executed.cells) else ""
