"""EE5179 PA2 questions 2 and 3: filters, activations, occlusion (against Captum) and the
two attacks (against closed forms on a linear model)."""

import numpy as np
import torch
from captum.attr import Occlusion
from torch import nn

from reference.ee5179_pa2 import (
    PrescribedCNN,
    activations,
    conv_layers,
    filters,
    non_targeted_attack,
    occlusion_grid_size,
    occlusion_map,
    targeted_attack,
)
from reference.ee5179_pa2.adversarial import NOISE_MEAN, NOISE_STD, PIXEL_SCALE


def seeded_cnn() -> PrescribedCNN:
    torch.manual_seed(0)
    return PrescribedCNN().eval()


def test_filters_and_activations_are_found_by_module_type():
    model = seeded_cnn()
    assert [name for name, _ in conv_layers(model)] == ["conv1", "conv2"]
    assert filters(model.conv1).shape == (32, 1, 3, 3) and filters(model.conv2).shape == (32, 32, 3, 3)
    image = torch.rand(1, 28, 28)
    maps = dict(activations(model, image))
    assert maps["conv1"].shape == (32, 28, 28) and maps["conv2"].shape == (32, 14, 14)
    assert np.allclose(maps["conv1"], model.conv1(image.unsqueeze(0))[0].detach().numpy())


def test_the_grid_keeps_the_occluder_inside_the_image():
    assert occlusion_grid_size(28, 1, 1) == 28 and occlusion_grid_size(28, 5, 1) == 24
    assert occlusion_grid_size(28, 4, 4) == 7 and occlusion_grid_size(28, 3, 2) == 13


def test_occlusion_equals_captum_with_non_overlapping_patches():
    model, image, target = seeded_cnn(), torch.rand(1, 1, 28, 28), 3
    probability = lambda x: torch.softmax(model(x), dim=1)[:, target]  # noqa: E731
    for patch in (2, 4):
        ours = occlusion_map(model, image, target, patch, stride=patch)
        attribution = Occlusion(probability).attribute(
            image, sliding_window_shapes=(1, patch, patch), strides=(1, patch, patch), baselines=0.5
        )
        unoccluded = float(probability(image).detach())
        captum = unoccluded - attribution[0, 0, ::patch, ::patch].numpy()
        assert ours.shape == (28 // patch, 28 // patch)
        assert np.allclose(ours, captum, atol=1e-6)
        assert ((ours >= 0) & (ours <= 1)).all()


def test_occlusion_with_overlapping_windows_occludes_the_named_square():
    model, image = seeded_cnn(), torch.rand(1, 1, 28, 28)
    grid = occlusion_map(model, image, 7, patch=3, stride=2)
    occluded = image.clone()
    occluded[..., 4:7, 10:13] = 0.5
    with torch.no_grad():
        expected = float(torch.softmax(model(occluded), dim=1)[0, 7])
    assert np.isclose(grid[2, 5], expected, atol=1e-6)


class Linear(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(1)
        self.layer = nn.Linear(784, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer(x.flatten(1))


def start(seed: int) -> torch.Tensor:
    return NOISE_MEAN + NOISE_STD * torch.randn(1, 1, 28, 28, generator=torch.Generator().manual_seed(seed))


def test_the_non_targeted_attack_is_gradient_ascent_on_the_logit():
    model, target, steps, step = Linear(), 4, 5, 2.0
    result = non_targeted_attack(model, target, torch.Generator().manual_seed(9), steps=steps, step_size=step)
    gradient = model.layer.weight[target].detach().reshape(1, 1, 28, 28) / PIXEL_SCALE
    expected = start(9) + steps * step * gradient
    assert torch.allclose(result.image, expected, atol=1e-4)
    assert all(later > earlier for earlier, later in zip(result.costs, result.costs[1:]))
    assert len(result.costs) == steps


def test_the_targeted_attack_adds_the_mse_pull_towards_the_target_image():
    model, target, beta, step = Linear(), 5, 0.5, 3.0
    target_image = torch.full((28, 28), 200.0)
    result = targeted_attack(
        model, target_image, target, torch.Generator().manual_seed(2), beta=beta, steps=3, step_size=step
    )
    image = start(2)
    for _ in range(3):
        gradient = model.layer.weight[target].detach().reshape(1, 1, 28, 28) / PIXEL_SCALE
        gradient = gradient - beta * 2 * (image - 200.0) / 784
        image = image + step * gradient
    assert torch.allclose(result.image, image, atol=1e-4)


def test_attacks_never_touch_the_model():
    model = seeded_cnn()
    before = {key: value.clone() for key, value in model.state_dict().items()}
    non_targeted_attack(model, 2, torch.Generator().manual_seed(0), steps=3)
    targeted_attack(model, torch.zeros(28, 28), 2, torch.Generator().manual_seed(0), steps=3)
    assert all(torch.equal(before[key], value) for key, value in model.state_dict().items())
    assert all(p.grad is None and p.requires_grad for p in model.parameters())
