"""The class activation map inside an overlay that pytorch-grad-cam's ``show_cam_on_image`` blended into a photo.

Most students draw a CAM as ``show_cam_on_image(photo, cam, use_rgb=True)``: one colour image, the
map coloured with OpenCV's jet, mixed half and half with the photo and divided by its maximum. The
figure keeps no map, but the blend can be undone when the photo is known: for the right divisor
the overlay minus the photo is a jet colour at every pixel, whose place on the colour scale is the
map's value there. The divisor is searched for, and how far the pixels lie from the colour scale
says whether the overlay was made that way at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np
import torch

IMAGE_WEIGHT = 0.5  # show_cam_on_image's default
GRID = 32  # colour cube cells a side, for the nearest jet colour of any colour
SAMPLED_PIXELS = 4096  # pixels the divisor is searched on
SCREENED_PIXELS = 96  # pixels and divisors a candidate photo is screened with
SCREENED_DIVISORS = 13
DIVISORS = np.linspace(0.25, 1.0, 151)  # the blend's maximum: at least half the darkest jet colour, at most white
FLAT = 1e-6  # a map whose spread is below this share of its largest value shows nothing
FITS = 0.06  # root-mean-square distance (0-1 colour units) from the jet scale of a real blend's pixels


@dataclass(frozen=True)
class Unblended:
    cam: np.ndarray  # (H, W) float in [0, 1]
    residual: float  # how far the pixels lie from the jet scale once the photo is taken out

    @property
    def fits(self) -> bool:
        return self.residual <= FITS


@lru_cache(maxsize=1)
def jet_colours() -> np.ndarray:
    """OpenCV's jet as ``show_cam_on_image(use_rgb=True)`` colours: (256, 3) RGB in [0, 1]."""
    bgr = cv2.applyColorMap(np.arange(256, dtype=np.uint8).reshape(256, 1), cv2.COLORMAP_JET)
    return bgr[:, 0, ::-1].astype(np.float64) / 255


@lru_cache(maxsize=1)
def _nearest_in_cube() -> np.ndarray:
    """For each cell of a GRID^3 colour cube, the jet level nearest its centre."""
    centres = (np.stack(np.meshgrid(*[np.arange(GRID)] * 3, indexing="ij"), axis=-1).reshape(-1, 3) + 0.5) / GRID
    distances = ((centres[:, None, :] - jet_colours()[None, :, :]) ** 2).sum(axis=2)
    return distances.argmin(axis=1).reshape(GRID, GRID, GRID)


def _levels(colours: np.ndarray) -> np.ndarray:
    """The nearest jet level of each (N, 3) colour, clipped into the colour cube first."""
    cells = np.clip((np.clip(colours, 0, 1) * GRID).astype(np.int64), 0, GRID - 1)
    return _nearest_in_cube()[cells[:, 0], cells[:, 1], cells[:, 2]]


def _heat(overlay: np.ndarray, photo: np.ndarray, divisor: float, weight: float) -> np.ndarray:
    return (overlay * divisor - weight * photo) / (1 - weight)


def _misfit(heat: np.ndarray) -> float:
    """Root-mean-square distance of (N, 3) colours from their nearest jet colours, outside ones included."""
    return float(np.sqrt(((heat - jet_colours()[_levels(heat)]) ** 2).sum(axis=1).mean()))


def screen(overlay: np.ndarray, photos: np.ndarray, weight: float = IMAGE_WEIGHT) -> np.ndarray:
    """How well ``overlay`` undoes with each of ``photos`` ((N, H, W, 3), the overlay's size), roughly: on a sample
    of pixels and a coarse grid of divisors, so that hundreds of candidate photos cost a second. Lower is better;
    the best few are worth a full ``unblend``."""
    shown = as_unit_rgb(overlay).reshape(-1, 3)
    positions = np.random.default_rng(0).choice(len(shown), min(SCREENED_PIXELS, len(shown)), replace=False)
    bases = np.asarray(photos, dtype=np.float64).reshape(len(photos), -1, 3)[:, positions]
    divisors = DIVISORS[:: len(DIVISORS) // SCREENED_DIVISORS]
    heat = (shown[positions][None, None] * divisors[None, :, None, None] - weight * bases[:, None]) / (1 - weight)
    flat = heat.reshape(-1, 3)
    distances = ((flat - jet_colours()[_levels(flat)]) ** 2).sum(axis=1).reshape(heat.shape[:3])
    return np.sqrt(distances.mean(axis=2)).min(axis=1)


def as_unit_rgb(image: np.ndarray) -> np.ndarray:
    """(H, W, 3) float in [0, 1] of an RGB(A) image given as uint8 or as floats in [0, 1]."""
    rgb = np.asarray(image)[..., :3].astype(np.float64)
    return rgb / 255 if np.asarray(image).dtype == np.uint8 or rgb.max(initial=0) > 1.0 else rgb


def unblend(overlay: np.ndarray, photo: np.ndarray, weight: float = IMAGE_WEIGHT) -> Unblended:
    """The map ``show_cam_on_image(photo, map)`` blended into ``overlay``; both (H, W, 3) of one size, RGB
    as uint8 or floats in [0, 1]. A small ``residual`` says the overlay was made that way from this photo."""
    shown, base = as_unit_rgb(overlay), as_unit_rgb(photo)
    if shown.shape != base.shape or shown.ndim != 3 or shown.shape[2] != 3:
        raise ValueError(f"the overlay {shown.shape} and the photo {base.shape} must both be (H, W, 3)")
    flat_shown, flat_base = shown.reshape(-1, 3), base.reshape(-1, 3)
    sample = np.random.default_rng(0).choice(len(flat_shown), min(SAMPLED_PIXELS, len(flat_shown)), replace=False)
    divisor = min(DIVISORS, key=lambda value: _misfit(_heat(flat_shown[sample], flat_base[sample], value, weight)))
    heat = _heat(flat_shown, flat_base, divisor, weight)
    cam = _levels(heat).astype(np.float64) / 255
    return Unblended(cam.reshape(shown.shape[:2]), _misfit(heat))


def map_correlation(first: np.ndarray | torch.Tensor, second: np.ndarray | torch.Tensor) -> float:
    """Pearson's correlation of two maps of one grid; two flat maps (a ReLU that left nothing) agree, and a flat
    map agrees with no other."""
    a = torch.as_tensor(np.asarray(first, dtype=np.float64)).flatten()
    b = torch.as_tensor(np.asarray(second, dtype=np.float64)).flatten()
    flat = FLAT * max(float(a.abs().max()), float(b.abs().max()), 1e-12)
    a, b = a - a.mean(), b - b.mean()
    spreads = float(a.norm()), float(b.norm())
    if min(spreads) <= flat:
        return 1.0 if max(spreads) <= flat else 0.0
    return float(a @ b) / (spreads[0] * spreads[1])
