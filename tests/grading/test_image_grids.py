"""Digits shown side by side in one image are split back into the digits; colour panels are
found when an assignment asks for them."""

import numpy as np
import torch
from torchvision.utils import make_grid

from checks.engine.exchange_records import figure
from checks.finders.image_grids import tiles
from checks.finders.panels import panel_arrays


def digits(data, count: int) -> torch.Tensor:
    images, _ = data.mnist_arrays(train=False)
    return images[:count].unsqueeze(1).float() / 255


def test_a_make_grid_image_splits_into_its_digits_row_by_row_without_the_filler(data):
    shown = digits(data, 10)
    grid = make_grid(shown, nrow=8).permute(1, 2, 0).numpy()
    assert grid.shape == (62, 242, 3)
    found = tiles(grid, 28)
    assert len(found) == 10, "two rows of eight, the last six slots blank"
    assert all(np.array_equal(tile, digit[0].numpy()) for tile, digit in zip(found, shown))
    assert len(tiles(make_grid(shown, nrow=5, padding=1, pad_value=1.0)[0].numpy(), 28)) == 10


def test_a_strip_of_digits_splits_but_a_photo_or_a_single_digit_does_not(data):
    shown = digits(data, 4)[:, 0].numpy()
    assert len(tiles(np.hstack(list(shown)), 28)) == 4 and len(tiles(np.vstack(list(shown)), 28)) == 4
    rng = np.random.default_rng(0)
    assert tiles(rng.random((224, 224)), 28) == [], "an unpadded square is a photo, not an 8 x 8 grid"
    assert tiles(rng.random((62, 242)), 28) == [], "no blank gutters, no grid"
    assert tiles(shown[0], 28) == []
    assert tiles(rng.random((62, 242, 3)), 28) == [], "colour channels that differ are a colour image"


def test_a_grid_of_filters_splits_into_its_kernels_and_not_into_larger_squares():
    kernels = torch.randn(64, 1, 3, 3, generator=torch.Generator().manual_seed(0))
    grid = make_grid(kernels, nrow=8, normalize=True, padding=1).permute(1, 2, 0).numpy()
    assert grid.shape == (33, 33, 3)
    found = tiles(grid, 3)
    assert len(found) == 64
    assert np.corrcoef(found[9].ravel(), kernels[9, 0].numpy().ravel())[0, 1] > 0.9999, "make_grid rescales, row by row"
    assert tiles(grid, 7) == [], "its blank lines every 8 pixels also frame 7 x 7 squares, each holding four filters"


def test_colour_panels_are_found_when_asked_and_grey_ones_by_default(tmp_path):
    rng = np.random.default_rng(0)
    arrays = {
        "photo.npy": rng.random((32, 32, 3)),
        "rgba.npy": rng.random((32, 32, 4)),
        "grey.npy": rng.random((32, 32)),
        "small.npy": rng.random((16, 16, 3)),
    }
    for name, array in arrays.items():
        np.save(tmp_path / name, array)
    shown = figure(
        {
            "figure": 1,
            "cell": 0,
            "png": "figure-001.png",
            "axes": [
                {"title": name, "images": [{"shape": list(array.shape), "array": name}]}
                for name, array in arrays.items()
            ],
        }
    )
    colour = panel_arrays(shown, tmp_path, 32, channels=3)
    assert [(axes["title"], array.shape) for axes, array in colour] == [
        ("photo.npy", (32, 32, 3)),
        ("rgba.npy", (32, 32, 3)),
    ]
    assert np.allclose(colour[1][1], arrays["rgba.npy"][:, :, :3]), "the alpha channel dropped"
    assert [axes["title"] for axes, _ in panel_arrays(shown, tmp_path, 32)] == ["grey.npy"]
    assert panel_arrays(shown, tmp_path, 28, channels=3) == []
