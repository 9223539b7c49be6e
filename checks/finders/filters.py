"""Convolution kernels a figure shows: a plotted panel is one of a layer's kernels (or their mean
over input channels) up to the affine rescaling ``imshow`` or ``make_grid`` applies, so a filter
figure is traced to the layers it draws whatever the notebook called them."""

from __future__ import annotations

import numpy as np

MATCH = 0.999  # correlation of a panel with a kernel: the same picture, rescaled
LEAST_KERNELS = 8  # kernels of one layer a figure must show for that layer to count
STRAY_SHARE = 0.1  # panels that may match no kernel in a figure of filters


def _unit_rows(rows: np.ndarray) -> np.ndarray:
    """Rows centred and scaled to unit length, so that their dot products are correlations; a
    constant row becomes zeros and correlates with nothing."""
    centred = rows - rows.mean(axis=1, keepdims=True)
    norms = np.linalg.norm(centred, axis=1, keepdims=True)
    return np.divide(centred, norms, out=np.zeros_like(centred), where=norms > 0)


def kernel_matches(panels: list[np.ndarray], weights: np.ndarray) -> np.ndarray:
    """Which plotted panels are one of a layer's kernels (or their mean over input channels), up to
    the affine rescaling a plot may apply. Kernels of another size than the panels match nothing."""
    if weights.shape[-2:] != panels[0].shape:
        return np.zeros(len(panels), dtype=bool)
    size = panels[0].size
    kernels = np.concatenate([weights.reshape(-1, size), weights.mean(axis=1).reshape(-1, size)])
    shown = np.stack([panel.ravel() for panel in panels]).astype(np.float64)
    return (_unit_rows(shown) @ _unit_rows(kernels).T).max(axis=1) > MATCH


def kernel_layers(
    panels: list[np.ndarray],
    banks: list[tuple[str, list[np.ndarray]]],
    least: int = LEAST_KERNELS,
    stray: float = STRAY_SHARE,
) -> dict[str, int]:
    """The layers whose kernels ``panels`` show ('conv1 of `model`': how many panels), given each
    model's convolution weights in the order its layers were registered (``banks``): one bank, or
    several side by side in one figure. A layer counts from ``least`` of its kernels (or all the
    panels, when fewer); the answer is empty unless all but a ``stray`` share of the panels are kernels."""
    if not panels:
        return {}
    unmatched = np.ones(len(panels), dtype=bool)
    shown = {}
    for name, layers in banks:
        for position, weights in enumerate(layers, start=1):
            hits = unmatched & kernel_matches(panels, weights)
            if hits.sum() >= min(least, len(panels)):
                shown[f"conv{position} of `{name}`"] = int(hits.sum())
                unmatched &= ~hits
    return shown if unmatched.sum() <= stray * len(panels) else {}
