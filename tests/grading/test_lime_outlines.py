"""A drawn LIME explanation against a recomputed mask: the same superpixels agree whichever way they are drawn,
other superpixels do not."""

import numpy as np
import pytest
from skimage.segmentation import mark_boundaries, quickshift

from checks.finders.lime_outlines import outline_overlap
from reference.tml25_a4 import display_image


@pytest.fixture(scope="module")
def photo_and_segments(data):
    photo = display_image(data, "goldfish").astype(np.float64) / 255
    return photo, quickshift(photo, kernel_size=4, max_dist=200, ratio=0.2, rng=0)


def region(segments: np.ndarray, chosen: list[int]) -> np.ndarray:
    return np.isin(segments, chosen)


def test_the_same_superpixels_agree_outlined_or_with_the_rest_hidden(photo_and_segments):
    photo, segments = photo_and_segments
    mask = region(segments, [3, 7, 11, 19, 23])
    outlined = mark_boundaries(photo, mask.astype(int))
    hidden = np.where(mask[:, :, None], photo, 0.0)
    assert outline_overlap(outlined, photo, mask) > 0.9
    assert outline_overlap(hidden, photo, mask) > 0.9


def test_other_superpixels_or_an_untouched_photo_do_not(photo_and_segments):
    photo, segments = photo_and_segments
    mask = region(segments, [3, 7, 11, 19, 23])
    elsewhere = mark_boundaries(photo, region(segments, [30, 34, 40, 45, 50]).astype(int))
    assert outline_overlap(elsewhere, photo, mask) < 0.4
    assert outline_overlap(photo, photo, mask) == 0.0
