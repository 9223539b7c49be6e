"""Finding what a notebook holds without names: scores from any forward, images by their pixels."""

import numpy as np
import pytest
import torch

from checks.finders.dataset_images import ImageIndex
from checks.finders.classifiers import SCALINGS, class_scores


def test_class_scores_take_the_logits_out_of_a_tuple_and_turn_probabilities_into_logits():
    logits = torch.tensor([[2.0, 0.5, -1.0], [0.0, 3.0, 1.0]])
    probabilities = torch.softmax(logits, dim=1)
    assert torch.equal(class_scores((logits, probabilities), 3), logits)
    assert torch.equal(class_scores({"features": torch.zeros(2, 8), "out": logits}, 3), logits)
    recovered = class_scores(probabilities, 3)
    assert torch.allclose(torch.softmax(recovered, dim=1), probabilities, atol=1e-6)
    assert torch.equal(recovered.argmax(dim=1), logits.argmax(dim=1))


def test_scalings_map_to_tensor_values_to_what_notebooks_feed_their_models():
    image = torch.tensor([0.0, 0.5, 1.0])
    by_name = {scaling.name: scaling.apply(image) for scaling in SCALINGS}
    assert torch.allclose(by_name["normalised to [-1, 1]"], torch.tensor([-1.0, 0.0, 1.0]))
    assert torch.allclose(by_name["pixel values 0-255"], torch.tensor([0.0, 127.5, 255.0]))


def test_a_plotted_test_digit_is_identified_whatever_its_scaling(data):
    images, _ = data.mnist_arrays(train=False)
    index = ImageIndex(images[:2000].unsqueeze(1).float() / 255)
    digit = images[1234].numpy().astype(np.float32)
    assert index.identify(digit) == 1234, "as uint8 values"
    assert index.identify((digit / 255 - 0.1307) / 0.3081) == 1234, "normalised"
    assert index.identify(digit[None, :, :] / 255) == 1234, "with a channel axis"
    rng = np.random.default_rng(0)
    assert index.identify(128 + 32 * rng.standard_normal((28, 28))) is None, "noise is no test image"
    assert index.identify(np.ones((28, 28))) is None and index.identify(np.zeros((14, 14))) is None
    assert index.identify(None) is None


def test_an_image_made_from_a_test_digit_is_traced_to_it_and_noise_to_none(data):
    images, _ = data.mnist_arrays(train=False)
    index = ImageIndex(images[:2000].unsqueeze(1).float() / 255)
    rng = np.random.default_rng(0)
    digit = images[1234].numpy().astype(np.float32)
    faint = 0.3 * digit + 0.7 * (128 + 64 * rng.standard_normal((28, 28)))
    nearest = index.nearest(faint)
    assert nearest.index == 1234 and 0.3 < nearest.correlation < 0.9, "a faint copy is no exact match, yet traceable"
    assert index.identify(faint) is None
    assert index.nearest(digit).correlation == pytest.approx(1.0, abs=1e-5)
    assert index.nearest(128 + 32 * rng.standard_normal((28, 28))).correlation < 0.3, "noise resembles no digit"
    assert index.nearest(np.full((28, 28), 7.0)) is None and index.nearest(np.zeros((14, 14))) is None
    assert index.nearest(np.where(digit > 0, np.nan, digit)) is None
