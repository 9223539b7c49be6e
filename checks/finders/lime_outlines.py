"""How far a drawn LIME explanation shows the same superpixels as a mask: the grader recomputes a team's
explanations from its own parameters, and LIME's sampling is random, so the TA gets a measure, not a verdict.

Teams draw an explanation two ways: ``mark_boundaries`` outlines the chosen superpixels on the photo, or
``hide_rest=True`` greys out everything else. Either way the pixels that depart from the photo are the marks,
and they are compared with the mask's outline (a few pixels' slack each way) or with what it hides.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import binary_dilation
from skimage.segmentation import find_boundaries

MARK = 0.3  # summed RGB departure from the photo (in [0, 3]) of a drawn mark; JPEG and resizing stay far below
SLACK = 2  # pixels an outline may be off by: line widths and resampling differ


def drawn_marks(drawn: np.ndarray, photo: np.ndarray) -> np.ndarray:
    """Pixels of ``drawn`` (H, W, 3 in [0, 1]) that are no longer the photo's."""
    return np.abs(drawn[:, :, :3] - photo[:, :, :3]).sum(axis=2) > MARK


def _outline_agreement(marks: np.ndarray, outline: np.ndarray) -> float:
    if not marks.any() or not outline.any():
        return 0.0
    precision = float(binary_dilation(outline, iterations=SLACK)[marks].mean())
    recall = float(binary_dilation(marks, iterations=SLACK)[outline].mean())
    return 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)


def _hidden_agreement(marks: np.ndarray, mask: np.ndarray) -> float:
    hidden = ~mask
    union = np.logical_or(marks, hidden).sum()
    return float(np.logical_and(marks, hidden).sum() / union) if union else 0.0


def outline_overlap(drawn: np.ndarray, photo: np.ndarray, mask: np.ndarray) -> float:
    """In [0, 1]: 1 when ``drawn`` outlines exactly ``mask``'s superpixels on ``photo`` or hides exactly the rest."""
    marks = drawn_marks(drawn, photo)
    return max(_outline_agreement(marks, find_boundaries(mask, mode="outer")), _hidden_agreement(marks, mask))
