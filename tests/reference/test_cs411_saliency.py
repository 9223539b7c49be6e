"""The saliency reference against independent computations (Captum, NumPy)."""

import numpy as np
import pytest
import torch
from captum.attr import Saliency
from PIL import Image

from reference.cs411_a2 import generate_saliency_map, preprocess, smooth_grad, top_k
from reference.cs411_a2.saliency import IMAGENET_MEAN, IMAGENET_STD


def numpy_preprocess(image: Image.Image) -> torch.Tensor:
    """Resize, scale and normalise with PIL and NumPy only."""
    pixels = np.asarray(image.convert("RGB").resize((224, 224), Image.BILINEAR), dtype=np.float32) / 255
    normalised = (pixels - np.array(IMAGENET_MEAN, dtype=np.float32)) / np.array(IMAGENET_STD, dtype=np.float32)
    return torch.from_numpy(normalised.transpose(2, 0, 1)).unsqueeze(0)


def assert_close(got: np.ndarray, expected: np.ndarray, rtol: float) -> None:
    """Tolerance relative to the map's own scale, so tiny gradients cannot pass vacuously."""
    assert np.abs(expected).max() > 1e-4, "saliency too small for a meaningful comparison"
    np.testing.assert_allclose(got, expected, rtol=rtol, atol=rtol * np.abs(expected).max())


def captum_saliency(model, x: torch.Tensor, target: int) -> np.ndarray:
    attribution = Saliency(model).attribute(x.detach().clone().requires_grad_(True), target=target, abs=True)
    return attribution.squeeze(0).max(dim=0).values.detach().numpy()


def test_preprocess_returns_a_batched_leaf_that_tracks_gradients(sample_images):
    x = preprocess(sample_images[0])
    assert x.shape == (1, 3, 224, 224) and x.dtype == torch.float32
    assert x.requires_grad and x.is_leaf


def test_preprocess_equals_a_numpy_computation(sample_images):
    for image in sample_images:
        assert torch.allclose(preprocess(image).detach(), numpy_preprocess(image), atol=2e-5)


def test_preprocess_accepts_greyscale_and_rgba_images(sample_images):
    for mode in ("L", "RGBA"):
        assert preprocess(sample_images[0].convert(mode)).shape == (1, 3, 224, 224)


@pytest.mark.parametrize("target", [None, 1, 203, 950])
def test_vanilla_saliency_equals_captum(mobilenet, sample_images, target):
    model = mobilenet.model
    for image in sample_images:
        x = preprocess(image)
        saliency, used = generate_saliency_map(model, x, target)
        with torch.no_grad():
            predicted = int(model(x).argmax(dim=1))
        assert used == (predicted if target is None else target)
        assert saliency.shape == (224, 224) and (saliency >= 0).all()
        assert x.grad is not None
        assert_close(saliency, captum_saliency(model, x, used), rtol=1e-5)


def test_saliency_does_not_accumulate_over_repeated_calls(mobilenet, sample_images):
    x = preprocess(sample_images[0])
    first, _ = generate_saliency_map(mobilenet.model, x, 5)
    second, _ = generate_saliency_map(mobilenet.model, x, 5)
    np.testing.assert_array_equal(first, second)


def test_saliency_refuses_a_non_leaf_input(mobilenet, sample_images):
    x = preprocess(sample_images[0]) + 0.0
    with pytest.raises(ValueError, match="leaf"):
        generate_saliency_map(mobilenet.model, x)


def test_smoothgrad_without_noise_is_vanilla_saliency(mobilenet, sample_images):
    image = sample_images[1]
    vanilla, used = generate_saliency_map(mobilenet.model, preprocess(image))
    smoothed = smooth_grad(mobilenet.model, image, n_samples=3, noise_level=0.0)
    assert_close(smoothed, vanilla, rtol=1e-6)


def test_seeded_smoothgrad_equals_captum_on_the_same_noise(mobilenet, sample_images):
    image, target, n_samples, sigma = sample_images[2], 130, 4, 0.1
    noise_source = torch.Generator().manual_seed(11)
    base = numpy_preprocess(image)
    expected = np.mean(
        [
            captum_saliency(mobilenet.model, base + sigma * torch.randn(base.shape, generator=noise_source), target)
            for _ in range(n_samples)
        ],
        axis=0,
    )
    got = smooth_grad(mobilenet.model, image, target, n_samples, sigma, generator=torch.Generator().manual_seed(11))
    assert got.shape == (224, 224)
    assert_close(got, expected, rtol=1e-4)


def test_a_generator_seeded_like_the_global_rng_reproduces_a_notebook_loop(mobilenet, sample_images):
    """A student's loop uses torch.randn_like after torch.manual_seed; the grader must match it."""
    image, target = sample_images[0], 1
    torch.manual_seed(5)
    maps = []
    for _ in range(3):
        x = preprocess(image).detach()
        x_noisy = (x + torch.randn_like(x) * 0.1).requires_grad_(True)
        maps.append(generate_saliency_map(mobilenet.model, x_noisy, target)[0])
    notebook_style = np.mean(maps, axis=0)
    seeded = smooth_grad(mobilenet.model, image, target, 3, 0.1, generator=torch.Generator().manual_seed(5))
    np.testing.assert_array_equal(seeded, notebook_style)


def test_smoothgrad_honours_n_samples(mobilenet, sample_images):
    image = sample_images[0]
    one = smooth_grad(mobilenet.model, image, 1, n_samples=1, generator=torch.Generator().manual_seed(3))
    two = smooth_grad(mobilenet.model, image, 1, n_samples=2, generator=torch.Generator().manual_seed(3))
    first_noise = torch.Generator().manual_seed(3)
    x = numpy_preprocess(image) + 0.1 * torch.randn((1, 3, 224, 224), generator=first_noise)
    assert_close(one, captum_saliency(mobilenet.model, x, 1), rtol=1e-4)
    assert np.abs(one - two).max() > 0.01 * np.abs(one).max()


def test_top_k_decodes_softmax_with_the_weights_category_names(mobilenet, sample_images):
    x = preprocess(sample_images[0])
    predictions = top_k(mobilenet.model, x, mobilenet.categories)
    with torch.no_grad():
        probabilities = torch.softmax(mobilenet.model(x), dim=1)[0]
    order = probabilities.argsort(descending=True)[:5].tolist()
    assert [p.class_index for p in predictions] == order
    assert [p.class_name for p in predictions] == [mobilenet.categories[i] for i in order]
    assert predictions[0].probability == pytest.approx(float(probabilities[order[0]]))
