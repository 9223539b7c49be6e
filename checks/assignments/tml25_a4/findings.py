"""What a team's repository shows, found by structure: the ten images in its figures, the method each panel
draws, the map inside each CAM overlay, and the setup its code states.

Teams name nothing the grader could call (each notebook ran in its own kernel, now closed), so every check
works from the figures the notebooks drew, the files the repository holds and the code they wrote. An overlay
is matched to one of the ten images by taking each candidate photo out of it (show_cam_on_image's blend) or,
for a map drawn over a photo, by the photo; the grader's photos are its own crops of the ten images.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from checks.engine.repository_files import RepositoryInventory, take_inventory
from checks.finders.cam_overlays import as_unit_rgb, screen, unblend
from checks.finders.cam_setup import CamSetup, read_cam_setup
from checks.finders.dataset_images import ImageIndex
from checks.finders.figures import Figure, load_image, plot_axes, plot_title, with_cell_groups
from reference.tml25_a4 import IMAGE_KEYS, display_image
from reference.tml25_a4.images import CROP
from reference.tml25_a4.images import load_image as load_photo

VERSIONS = ("IMAGENET1K_V2", "IMAGENET1K_V1")  # the crops teams draw on: Resize(232) or Resize(256), then 224
SQUASHED = "squashed"  # the whole photo resized to 224 x 224, which teams hand LIME as Image.open(...).resize(...)
METHOD_WORDS = {
    "gradcam": re.compile(r"grad[-_ ]?cam(?![-_ ]?\+|\s*plus)", re.IGNORECASE),
    "ablationcam": re.compile(r"ablation", re.IGNORECASE),
    "scorecam": re.compile(r"score[-_ ]?cam", re.IGNORECASE),
}
METHOD_CLASSES = {"GradCAM": "gradcam", "AblationCAM": "ablationcam", "ScoreCAM": "scorecam"}
LIME_WORDS = re.compile(r"\blime\b|superpixel", re.IGNORECASE)
COMPARISON_WORDS = re.compile(r"\biou\b|intersection|versus|\bvs\.?\b", re.IGNORECASE)  # two methods in one panel
LIME_CODE = re.compile(r"explain_instance|get_image_and_mask|mark_boundaries")
CANDIDATES = 3  # crops an overlay is tried against: those it resembles most
PHOTO_MATCH = 0.6  # correlation at which a drawn photo (boundaries or a map over it) shows one of the ten; a
# dark photo under LIME's yellow boundaries (the tiger shark) keeps about 0.75, and the ten differ far more
MAX_PANELS = 120


@dataclass(frozen=True)
class Panel:
    """One image panel of a figure: what it drew and where."""

    figure: Figure
    title: str  # the panel's title with its figure's suptitle
    cell: int | str | None
    colour: np.ndarray | None  # (H, W, 3) of the last colour image drawn
    grey: np.ndarray | None  # a 2-D map drawn over (or instead of) it


@dataclass(frozen=True)
class CamPanel:
    panel: Panel
    method: str
    key: str | None  # which of the ten images; None: none of them
    version: str | None  # whose crop it is drawn on
    cam: np.ndarray | None  # the map, in [0, 1] on the crop's grid; None when it cannot be read
    why: str = ""


def cam_setup(ctx) -> CamSetup:
    return ctx.remember("cam_setup", lambda: read_cam_setup(ctx.executed))


def crops(ctx) -> dict[tuple[str, str], np.ndarray]:
    """The grader's own 224 x 224 crops of the ten images, (version, key) -> (224, 224, 3) floats in [0, 1]."""
    return ctx.remember(
        "tml25_crops",
        lambda: {
            (version, key): display_image(ctx.data, key, version).astype(np.float64) / 255
            for version in VERSIONS
            for key in IMAGE_KEYS
        },
    )


def squashed_photos(ctx) -> dict[tuple[str, str], np.ndarray]:
    """The ten photos resized whole to the crops' size, (SQUASHED, key) -> (224, 224, 3) floats in [0, 1]."""
    return ctx.remember(
        "tml25_squashed",
        lambda: {
            (SQUASHED, key): np.asarray(load_photo(ctx.data, key).resize((CROP, CROP), Image.Resampling.BILINEAR)) / 255
            for key in IMAGE_KEYS
        },
    )


def _index(named: dict[tuple[str, str], np.ndarray]) -> tuple[list[tuple[str, str]], ImageIndex]:
    stacked = torch.from_numpy(np.stack(list(named.values()))).permute(0, 3, 1, 2).float()
    return list(named), ImageIndex(stacked)


def crop_index(ctx) -> tuple[list[tuple[str, str]], ImageIndex]:
    return ctx.remember("tml25_crop_index", lambda: _index(crops(ctx)))


def grid_index(ctx) -> tuple[list[tuple[str, str]], ImageIndex]:
    """The crops and the squashed photos: every grid a team draws one of the ten images on."""
    return ctx.remember("tml25_grid_index", lambda: _index({**crops(ctx), **squashed_photos(ctx)}))


def _arrays(ctx, axes) -> list[np.ndarray]:
    return [
        array
        for position in range(len(axes["images"]))
        if (array := load_image(ctx.figure_dir, axes, position)) is not None
    ]


def panels(ctx) -> list[Panel]:
    """Every image panel the notebooks drew, with its colour photo or overlay and any map drawn over it."""

    def find() -> list[Panel]:
        found = []
        for figure in with_cell_groups(ctx.figures):
            for axes in plot_axes(figure):
                arrays = _arrays(ctx, axes)
                colour = [array for array in arrays if array.ndim == 3 and array.shape[2] in (3, 4)]
                grey = [array for array in arrays if array.ndim == 2]
                if not colour and not grey:
                    continue
                title = " ".join(part for part in (plot_title(axes, figure), figure.get("suptitle", "")) if part)
                found.append(
                    Panel(
                        figure,
                        title,
                        figure.get("cell"),
                        colour[-1][:, :, :3] if colour else None,
                        grey[-1] if grey else None,
                    )
                )
        return found[:MAX_PANELS]

    return ctx.remember("tml25_panels", find)


def _cell_methods(ctx) -> dict[int, set[str]]:
    """The CAM methods each cell builds, by the pytorch-grad-cam classes in its code."""
    built: dict[int, set[str]] = {}
    for method in cam_setup(ctx).methods:
        if method.name in METHOD_CLASSES:
            built.setdefault(method.cell, set()).add(METHOD_CLASSES[method.name])
    return built


def panel_method(ctx, panel: Panel) -> str | None:
    """The CAM method a panel draws: named in its title, else the one method its cell builds."""
    if LIME_WORDS.search(panel.title) or COMPARISON_WORDS.search(panel.title):
        return None
    named = [method for method, words in METHOD_WORDS.items() if words.search(panel.title)]
    if len(named) == 1:
        return named[0]
    built = _cell_methods(ctx).get(panel.cell, set()) if isinstance(panel.cell, int) else set()
    return next(iter(built)) if len(built) == 1 else None


def resized_image(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    tensor = torch.from_numpy(np.ascontiguousarray(image, dtype=np.float64)).permute(2, 0, 1)[None].float()
    return F.interpolate(tensor, size=size, mode="bilinear", align_corners=False)[0].permute(1, 2, 0).numpy()


def _shown(photo: np.ndarray, names: list[tuple[str, str]], index: ImageIndex) -> tuple[str, str] | None:
    ranked = index.ranked(resized_image(as_unit_rgb(photo), (CROP, CROP)), 1)
    return names[ranked[0].index] if ranked and ranked[0].correlation >= PHOTO_MATCH else None


def shown_crop(ctx, photo: np.ndarray) -> tuple[str, str] | None:
    """(version, key) of the crop a drawn photo shows (boundaries or a map over it allowed), or None."""
    return _shown(photo, *crop_index(ctx))


def shown_grid(ctx, photo: np.ndarray) -> tuple[str, str] | None:
    """(grid, key) of the photo a drawn image shows: one of the crops, or the whole photo squashed (SQUASHED)."""
    return _shown(photo, *grid_index(ctx))


def _from_blend(ctx, overlay: np.ndarray) -> tuple[tuple[str, str] | None, np.ndarray | None]:
    """The crop a show_cam_on_image overlay was blended from and the map taken out of it, or (None, None)."""
    unit = as_unit_rgb(overlay)
    names = list(crops(ctx))
    photos = np.stack([resized_image(crops(ctx)[name], unit.shape[:2]) for name in names])
    best = None
    for number in np.argsort(screen(unit, photos))[:CANDIDATES]:
        found = unblend(unit, photos[number])
        if found.fits and (best is None or found.residual < best[1].residual):
            best = (names[number], found)
    if best is None:
        return None, None
    return best[0], resized_image(best[1].cam[:, :, None], (224, 224))[:, :, 0]


def cam_panels(ctx) -> list[CamPanel]:
    """Every panel drawing a CAM method, matched to one of the ten images with its map when it can be read."""

    def find() -> list[CamPanel]:
        found = []
        for panel in panels(ctx):
            method = panel_method(ctx, panel)
            if method is None:
                continue
            if panel.grey is not None:
                shown = shown_crop(ctx, panel.colour) if panel.colour is not None else None
                cam = resized_image(np.nan_to_num(panel.grey.astype(np.float64))[:, :, None], (224, 224))[:, :, 0]
                why = "" if shown else "the photo under the map is none of the ten images"
            elif panel.colour is not None:
                shown, cam = _from_blend(ctx, panel.colour)
                why = (
                    "" if shown else "it undoes into no map over any of the ten images (not show_cam_on_image's blend)"
                )
            else:
                continue
            version, key = shown if shown else (None, None)
            found.append(CamPanel(panel, method, key, version, cam if shown else None, why))
        return found

    return ctx.remember("tml25_cam_panels", find)


@dataclass(frozen=True)
class LimePanel:
    panel: Panel
    key: str
    grid: str  # a crop's weights version, or SQUASHED


def lime_panels(ctx) -> list[LimePanel]:
    """Panels drawing a LIME explanation (titled so, or drawn by a cell that explains with LIME), with the image
    and the grid it is drawn on."""
    code = {index: str(cell.source) for index, cell in enumerate(ctx.executed.cells) if cell.cell_type == "code"}
    found = []
    for panel in panels(ctx):
        if panel.colour is None or panel_method(ctx, panel) is not None:
            continue
        drawn_by_lime = isinstance(panel.cell, int) and LIME_CODE.search(code.get(panel.cell, ""))
        if LIME_WORDS.search(panel.title) or drawn_by_lime:
            shown = shown_grid(ctx, panel.colour)
            if shown:
                found.append(LimePanel(panel, shown[1], shown[0]))
    return found


def inventory(ctx) -> RepositoryInventory:
    return ctx.remember("tml25_inventory", lambda: take_inventory(ctx.repository))


def files_of_kind(ctx, kind: str) -> list[str]:
    return inventory(ctx).files.get(kind, [])
