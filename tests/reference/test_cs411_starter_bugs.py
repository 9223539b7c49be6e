"""The starter code's two planted bugs, reproduced without a notebook: the properties
the reference passes are exactly the ones the buggy versions fail."""

import numpy as np
import pytest
import torch
import torchvision.transforms as transforms

from reference.cs411_a2 import generate_saliency_map, preprocess, smooth_grad


def starter_preprocess(pil_img):
    transform = transforms.Compose(
        [
            transforms.Resize((224, 224)),
            transforms.ToTensor(),
            transforms.Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225]),
        ]
    )
    return transform(pil_img)


def starter_noisy_input(x: torch.Tensor, noise_level: float) -> torch.Tensor:
    noise = torch.randn_like(x) * noise_level
    return (x + noise).requires_grad_(True)


def test_starter_preprocess_lacks_batch_dimension_and_gradient(sample_images):
    buggy = starter_preprocess(sample_images[0])
    fixed = preprocess(sample_images[0])
    assert buggy.shape == (3, 224, 224) and not buggy.requires_grad
    assert fixed.shape == (1, 3, 224, 224) and fixed.requires_grad
    assert torch.equal(fixed.detach()[0], buggy)


def test_starter_noisy_input_is_a_non_leaf_whose_grad_stays_none(mobilenet, sample_images):
    x_noisy = starter_noisy_input(preprocess(sample_images[0]), 0.1)
    assert not x_noisy.is_leaf
    mobilenet.model(x_noisy)[0, 1].backward()
    with pytest.warns(UserWarning, match="non-leaf"):
        assert x_noisy.grad is None


def test_reference_smoothgrad_gets_a_gradient_where_the_starter_loop_cannot(mobilenet, sample_images):
    x_noisy = starter_noisy_input(preprocess(sample_images[0]), 0.1)
    with pytest.raises(ValueError, match="leaf"):
        generate_saliency_map(mobilenet.model, x_noisy, 1)
    averaged = smooth_grad(mobilenet.model, sample_images[0], 1, n_samples=2)
    assert averaged.shape == (224, 224) and np.abs(averaged).max() > 0
