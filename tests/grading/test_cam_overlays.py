"""A map blended into a photo by pytorch-grad-cam's show_cam_on_image is taken out again when the photo is
known, and an overlay that was not made from that photo, or no overlay at all, does not undo into a map."""

from __future__ import annotations

import numpy as np
import pytest
from pytorch_grad_cam.utils.image import show_cam_on_image

from checks.finders.cam_overlays import unblend
from reference.tml25_a4.images import IMAGE_KEYS, display_image


@pytest.fixture(scope="module")
def photos(data) -> dict[str, np.ndarray]:
    return {key: display_image(data, key).astype(np.float32) / 255 for key in IMAGE_KEYS}


def smooth_map(centre: tuple[int, int], spread: float) -> np.ndarray:
    rows, columns = np.mgrid[0:224, 0:224]
    return np.exp(-((rows - centre[0]) ** 2 + (columns - centre[1]) ** 2) / (2 * spread**2)).astype(np.float32)


@pytest.mark.parametrize("key", ["kite", "goldfish", "racer"])
@pytest.mark.parametrize("centre", [(60, 150), (180, 40)])
def test_a_blended_map_is_recovered_from_its_photo(photos, key, centre):
    cam = smooth_map(centre, 35)
    overlay = show_cam_on_image(photos[key], cam, use_rgb=True)
    found = unblend(overlay, photos[key])
    assert found.fits
    assert np.corrcoef(found.cam.ravel(), cam.ravel())[0, 1] > 0.999
    assert np.abs(found.cam - cam).max() < 0.03


def test_another_photo_or_a_plain_photo_does_not_undo_into_a_map(photos):
    overlay = show_cam_on_image(photos["kite"], smooth_map((100, 100), 40), use_rgb=True)
    assert not unblend(overlay, photos["orange"]).fits
    plain = (photos["vulture"] * 255).astype(np.uint8)
    assert not unblend(plain, photos["vulture"]).fits


def test_the_photo_that_undoes_best_is_the_one_blended(photos):
    overlay = show_cam_on_image(photos["flamingo"], smooth_map((120, 90), 30), use_rgb=True)
    residuals = {key: unblend(overlay, photo).residual for key, photo in photos.items()}
    assert min(residuals, key=residuals.get) == "flamingo"


def test_mismatched_shapes_are_refused(photos):
    with pytest.raises(ValueError, match=r"must both be \(H, W, 3\)"):
        unblend(np.zeros((10, 10, 3), np.uint8), photos["kite"])
