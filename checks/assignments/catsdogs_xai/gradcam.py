"""Grad-CAM overlays a cats-vs-dogs notebook drew, each recomputed by the grader: the photo under the
heatmap looked up among the dataset's images, the layer read from the panel's title, and the map
computed again with the reference Grad-CAM on the grader's copy of the student's model. When the
maps differ, the variants a student's mistake would give (no ReLU, the other class, another layer)
say which mistake it was."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from itertools import product

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from checks.finders.cam_overlays import map_correlation, screen, unblend
from checks.finders.figures import Figure, plot_axes, plot_title
from checks.grading.reference_figures import Panel
from reference.catsdogs_xai import conv_layers, grad_cam_maps

from .findings import (
    axes_arrays,
    canonical_files,
    classifiers,
    grader_images,
    gradient_model,
    shown_image,
    within_time,
)

CAM_WORDS = re.compile(r"cam|grad|heat|saliency|attribution|overlay", re.IGNORECASE)
OTHER_METHOD_WORDS = re.compile(r"occlu|mask|patch|sensitiv|eps|fgsm|adversar", re.IGNORECASE)
LAYER_ORDINAL = re.compile(r"(?:layer|block|conv(?:olution(?:al)?)?)\s*[-_#]?\s*(\d+)(?![\w.])", re.IGNORECASE)
TOKEN = re.compile(r"[\w.\-]+")
AGREEMENT = 0.8  # correlation of the student's map with the grader's, after resizing
NEGATIVE_SHARE = 0.05  # a map whose minimum is below this share of its largest magnitude kept negative values
NO_RELU = "no ReLU: the map keeps the negative values that Grad-CAM's ReLU removes"
MAX_OVERLAYS = 24
BLEND_CANDIDATES = 3  # dataset photos a blended overlay is undone with in full, the best screened
SCREENED = 256  # dataset photos screened at a time
SHOWN_BESIDE = 3  # overlays the report redraws beside the grader's maps


@dataclass(frozen=True)
class Overlay:
    figure: Figure
    title: str
    photo: np.ndarray
    heatmap: np.ndarray | None  # None: drawn blended into one colour image (pytorch-grad-cam's show_cam_on_image)


def overlays(ctx) -> list[Overlay]:
    """Panels that show a heatmap over (or beside, in one panel's images) a photo, titled as Grad-CAM
    or not titled as another method: a colour photo and a 2-D map, or a grey photo and a map; and
    single colour images titled as Grad-CAM, the heatmap blended into the photo."""

    def find() -> list[Overlay]:
        found = []
        for figure in ctx.figures:
            for axes in plot_axes(figure):
                title = " ".join(part for part in (plot_title(axes, figure), figure["suptitle"]) if part)
                if OTHER_METHOD_WORDS.search(title):
                    continue
                arrays = axes_arrays(ctx, axes)
                colour = [array for array in arrays if array.ndim == 3 and array.shape[2] in (3, 4)]
                grey = [array for array in arrays if array.ndim == 2]
                if colour and grey:
                    found.append(Overlay(figure, title, colour[0][:, :, :3], grey[-1]))
                elif len(grey) >= 2 and CAM_WORDS.search(title):
                    found.append(Overlay(figure, title, grey[0], grey[-1]))
                elif len(colour) == 1 and not grey and CAM_WORDS.search(plot_title(axes)):
                    found.append(Overlay(figure, title, colour[0][:, :, :3], None))
        return found[:MAX_OVERLAYS]

    return ctx.remember("gradcam_overlays", find)


def _squashed(text: str) -> str:
    return re.sub(r"[^a-z0-9.]", "", text.lower())


def titled_layer(title: str, names: list[str]) -> str | None:
    """The convolution a panel's title names: by its name in the model, a whole word of the title
    (``conv2``, ``Conv_2``, ``features.3``; a bare number such as a Sequential's ``3`` is no name),
    else by its position ("layer 2", "Conv 2", never the 2 of "Conv2d")."""
    words = {_squashed(word).strip(".") for word in TOKEN.findall(title)}
    named = [name for name in names if not name.isdigit() and _squashed(name) in words]
    if named:
        return max(named, key=len)
    ordinal = LAYER_ORDINAL.search(title)
    if ordinal and 1 <= int(ordinal.group(1)) <= len(names):
        return names[int(ordinal.group(1)) - 1]
    return None


@dataclass(frozen=True)
class Variant:
    layer: str  # a convolution, or a module its output goes through before the next one (its ReLU, pool)
    of: str  # the convolution that layer belongs to
    relu: bool
    own_class: bool  # the model's predicted class, as Grad-CAM explains by default

    def differences(self, titled: str, truth_differs: bool) -> list[str]:
        """The mistakes this variant stands for; the other class is no mistake when it is the true label."""
        return [
            *([f"computed on {self.of}, not on {titled} as titled"] if self.of != titled else []),
            *([NO_RELU] if not self.relu else []),
            *(
                ["gradients of a class that is neither predicted nor true"]
                if not (self.own_class or truth_differs)
                else []
            ),
        ]


AFTER_CONV = (nn.ReLU, nn.LeakyReLU, nn.ELU, nn.BatchNorm2d, nn.MaxPool2d, nn.AvgPool2d, nn.Dropout, nn.Dropout2d)


def layer_outputs(model: nn.Module) -> list[tuple[str, str, nn.Module]]:
    """(module, convolution it belongs to, module) for each convolution and the ReLU, batch norm, pooling
    or dropout modules its output goes through before the next convolution, in forward order: a student
    may hook any of them and still explain that convolution."""
    modules = dict(model.named_modules())
    called = (
        [str(node.target) for node in model.graph.nodes if node.op == "call_module"]
        if isinstance(model, torch.fx.GraphModule)
        else [name for name, _ in conv_layers(model)]
    )
    found, current = [], None
    for name in called:
        module = modules.get(name)
        if isinstance(module, nn.Conv2d):
            current = name
            found.append((name, name, module))
        elif current is not None and isinstance(module, AFTER_CONV):
            found.append((name, current, module))
        elif current is not None:
            current = None
    return found


@dataclass(frozen=True)
class Judged:
    overlay: Overlay
    image: int | None
    layer: str | None
    agreement: float = 0.0
    causes: tuple[str, ...] = ()
    grader_map: torch.Tensor | None = None

    @property
    def agrees(self) -> bool:
        return self.agreement >= AGREEMENT and not self.causes

    @property
    def judged(self) -> bool:
        return self.image is not None and self.layer is not None and self.overlay.heatmap is not None

    def describe(self) -> str:
        place = f"{self.overlay.title!r}" if self.overlay.title else "an untitled panel"
        if self.overlay.heatmap is None:
            return (
                f"{place}: the heatmap is blended into the photo as one image, and taking the photo out does "
                "not leave a jet-coloured map, so its values cannot be read"
            )
        if self.image is None:
            return f"{place}: its photo is none of the dataset's images"
        if self.layer is None:
            return f"{place}: its title names no convolutional layer of the model"
        said = f"{place} (image {self.image}, {self.layer}): correlation {self.agreement:.2f} with the grader's map"
        return said + (f"; {'; '.join(self.causes)}" if self.causes else "")


def _resized(heatmap: np.ndarray, size: int) -> torch.Tensor:
    values = torch.as_tensor(np.nan_to_num(heatmap.astype(np.float32)))[None, None]
    return F.interpolate(values, size=(size, size), mode="bilinear", align_corners=False)[0, 0]


def _kept_negatives(heatmap: np.ndarray) -> bool:
    finite = heatmap[np.isfinite(heatmap)]
    return finite.size > 0 and float(finite.min()) < -NEGATIVE_SHARE * float(np.abs(finite).max())


def located(ctx) -> list[Judged]:
    """Each overlay with the dataset image it shows and the layer its title names (among the
    convolutions of the notebook's classifiers), nothing recomputed yet."""

    def locate() -> list[Judged]:
        names = list(dict.fromkeys(name for model in classifiers(ctx).models for name in conv_names(model)))
        found = []
        for overlay in overlays(ctx):
            if overlay.heatmap is None:
                overlay, image = _unblended(ctx, overlay)
            else:
                image = shown_image(ctx, overlay.photo)
            found.append(Judged(overlay, image, titled_layer(overlay.title, names)))
        return found

    return ctx.remember("gradcam_located", locate)


def _unblended(ctx, overlay: Overlay) -> tuple[Overlay, int | None]:
    """A blended overlay's map, taken out of the dataset photo it undoes into (show_cam_on_image's blend): every
    photo is screened, the best few undone in full; the overlay as it was, and no image, when none fits."""
    size = overlay.photo.shape[:2]
    total = len(canonical_files(ctx))
    scores = np.concatenate(
        [
            screen(overlay.photo, _photos_at(ctx, list(range(start, min(start + SCREENED, total))), size))
            for start in range(0, total, SCREENED)
        ]
    )
    candidates = [int(index) for index in np.argsort(scores)[:BLEND_CANDIDATES]]
    tried = [unblend(overlay.photo, photo) for photo in _photos_at(ctx, candidates, size)]
    best = min(range(len(tried)), key=lambda number: tried[number].residual)
    if not tried[best].fits:
        return overlay, None
    return replace(overlay, heatmap=tried[best].cam), candidates[best]


def _photos_at(ctx, indices: list[int], size: tuple[int, int]) -> np.ndarray:
    """The grader's copies of these dataset photos at a drawn image's size, (N, H, W, 3) in [0, 1]."""
    photos = F.interpolate(grader_images(ctx, indices), size=size, mode="bilinear", align_corners=False)
    return photos.clamp(0, 1).permute(0, 2, 3, 1).numpy()


def conv_names(model) -> list[str]:
    return [layer["name"] for layer in model.description["layers"] if layer["type"] == "Conv2d"]


def recompute(ctx, item: Judged) -> Judged:
    """The overlay's map against the grader's Grad-CAM of the same image and layer (its convolution,
    or a ReLU or pooling after it; the predicted class, or the true one), with the variants that
    name a mistake when they differ."""
    model = gradient_model(ctx)
    outputs = layer_outputs(model.model)
    if item.layer not in {conv for _, conv, _ in outputs}:
        return Judged(item.overlay, item.image, None)
    overlay, layer = item.overlay, item.layer
    size = classifiers(ctx).size
    within_time(ctx)
    x = grader_images(ctx, [item.image])
    with torch.no_grad():
        predicted = int(model(x).argmax(dim=1))
    truth_differs = canonical_files(ctx)[item.image][1] != predicted
    student = _resized(overlay.heatmap, size)
    maps = {
        Variant(name, conv, relu, own): grad_cam_maps(model, module, x, predicted if own else 1 - predicted, relu=relu)[
            0
        ]
        for (name, conv, module), relu, own in product(outputs, (True, False), (True, False))
    }
    scored = {variant: map_correlation(student, grader) for variant, grader in maps.items()}
    accepted = [
        variant for variant in maps if variant.of == layer and variant.relu and (variant.own_class or truth_differs)
    ]
    best = max(accepted, key=scored.get)
    agreement = scored[best]
    causes: list[str] = []
    if agreement < AGREEMENT:
        closest = max(scored, key=scored.get)
        if scored[closest] >= AGREEMENT:
            causes = closest.differences(layer, truth_differs)
        else:
            causes = [f"it resembles none of the Grad-CAM variants of this model (best {scored[closest]:.2f})"]
    elif _kept_negatives(overlay.heatmap):
        causes = [NO_RELU]
    if causes and overlay.heatmap.shape[0] < size and overlay.heatmap.shape[0] == overlay.heatmap.shape[1]:
        causes.append(f"the heatmap is {overlay.heatmap.shape[0]} x {overlay.heatmap.shape[1]}, not upsampled")
    return Judged(overlay, item.image, layer, agreement, tuple(causes), maps[best])


def judged_overlays(ctx) -> list[Judged]:
    return ctx.remember(
        "gradcam_judged", lambda: [recompute(ctx, item) if item.judged else item for item in located(ctx)]
    )


def show_beside(ctx, judged: list[Judged]) -> None:
    """The student's maps beside the grader's for the same image and layer, for the TA."""
    rows = [
        [
            Panel(item.overlay.photo, "the student's photo"),
            Panel(item.overlay.heatmap, f"student: {item.overlay.title[:40]}", cmap="jet"),
            Panel(item.grader_map.numpy(), f"grader: Grad-CAM of {item.layer}", cmap="jet"),
        ]
        for item in judged
        if item.grader_map is not None
    ][:SHOWN_BESIDE]
    if rows:
        ctx.show_reference(
            "gradcam",
            "Grad-CAM recomputed by the grader on the student's own model, image and titled layer",
            rows,
        )
