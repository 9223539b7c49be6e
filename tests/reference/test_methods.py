"""The shared methods against independent libraries (Captum, pytorch-grad-cam, torchattacks) and closed forms,
on small seeded CNNs with grey and RGB inputs."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import torchattacks
from captum.attr import LayerAttribution, LayerGradCam, Occlusion, Saliency
from pytorch_grad_cam import GradCAM
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
from torch import nn

from reference.methods import fgsm, grad_cam, logit_ascent, occlusion_map, vanilla_saliency

CLASSES = 4


class TinyCNN(nn.Module):
    """Two convolutions whose last output Grad-CAM explains; the adaptive pool admits any image size."""

    def __init__(self, channels: int, inplace: bool = False) -> None:
        super().__init__()
        torch.manual_seed(channels)
        self.features = nn.Sequential(
            nn.Conv2d(channels, 6, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(6, 8, 3, padding=1),
            nn.ReLU(inplace=inplace),
        )
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(4), nn.Flatten(), nn.Linear(8 * 4 * 4, CLASSES))

    @property
    def last_conv(self) -> nn.Module:
        return self.features[3]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def images(channels: int, count: int = 3, height: int = 16, width: int = 16, seed: int = 0) -> torch.Tensor:
    return torch.rand(count, channels, height, width, generator=torch.Generator().manual_seed(seed))


def assert_close(got: torch.Tensor, expected: torch.Tensor, rtol: float) -> None:
    """Tolerance relative to the map's own scale (the tiny CNNs' Grad-CAM maps peak near 1e-4), so an all-zero
    map cannot pass vacuously."""
    expected = torch.as_tensor(expected).detach()
    assert expected.abs().max() > 1e-6, "values too small for a meaningful comparison"
    np.testing.assert_allclose(
        got.detach().numpy(), expected.detach().numpy(), rtol=rtol, atol=rtol * float(expected.abs().max())
    )


channel_counts = pytest.mark.parametrize("channels", [1, 3], ids=["grey", "rgb"])


@channel_counts
def test_vanilla_saliency_equals_captum(channels):
    model, x = TinyCNN(channels).eval(), images(channels)
    with torch.no_grad():
        predicted = model(x).argmax(dim=1)
    for target in (None, 2, torch.tensor([3, 0, 1])):
        maps, used = vanilla_saliency(model, x, target)
        expected_classes = predicted if target is None else torch.as_tensor(target).expand(len(x))
        assert torch.equal(used, expected_classes)
        captum = Saliency(model).attribute(x.clone().requires_grad_(True), target=used, abs=True).amax(dim=1)
        assert maps.shape == (3, 16, 16)
        assert_close(maps, captum, rtol=1e-6)


@channel_counts
def test_occlusion_equals_captum_with_non_overlapping_patches(channels):
    model, image, target = TinyCNN(channels).eval(), images(channels, 1, 12, 16)[0], 1
    fill = 0.5 if channels == 1 else (0.2, 0.5, 0.8)
    probability = lambda x: torch.softmax(model(x), dim=1)[:, target]  # noqa: E731
    baseline = torch.as_tensor(fill).reshape(1, -1, 1, 1).expand(1, channels, 1, 1)
    for patch in (2, 4):
        ours = occlusion_map(model, image, target, patch, stride=patch, fill=fill, batch_size=5)
        attribution = Occlusion(probability).attribute(
            image[None],
            sliding_window_shapes=(channels, patch, patch),
            strides=(channels, patch, patch),
            baselines=baseline,
        )
        unoccluded = float(probability(image[None]).detach())
        assert ours.shape == (12 // patch, 16 // patch)
        assert_close(ours, unoccluded - attribution[0, 0, ::patch, ::patch], rtol=1e-6)


def test_overlapping_occluders_cover_the_named_square_whatever_the_batch_size():
    model, image, fill = TinyCNN(3).eval(), images(3, 1)[0], (0.1, 0.2, 0.3)
    grid = occlusion_map(model, image, 2, patch=3, stride=2, fill=fill)
    occluded = image.clone()
    occluded[:, 4:7, 10:13] = torch.tensor(fill)[:, None, None]
    with torch.no_grad():
        expected = float(torch.softmax(model(occluded[None]), dim=1)[0, 2])
    assert grid.shape == (7, 7) and np.isclose(float(grid[2, 5]), expected, atol=1e-6)
    assert torch.allclose(occlusion_map(model, image, 2, patch=3, stride=2, fill=fill, batch_size=4), grid, atol=1e-6)


@channel_counts
def test_grad_cam_equals_pytorch_grad_cam(channels):
    model, x = TinyCNN(channels).eval(), images(channels, 2)
    with GradCAM(model=model, target_layers=[model.last_conv]) as library:
        for target in ([0, 3], None):
            ours, used = grad_cam(model, model.last_conv, x, None if target is None else torch.tensor(target))
            targets = None if target is None else [ClassifierOutputTarget(k) for k in target]
            expected = library(input_tensor=x, targets=targets)
            assert ours.shape == (2, 16, 16) and float(ours.amin()) == 0.0 and float(ours.amax()) == 1.0
            np.testing.assert_allclose(ours.numpy(), expected, atol=1e-5)
    with torch.no_grad():
        assert torch.equal(used, model(x).argmax(dim=1))


@channel_counts
def test_unnormalised_grad_cam_equals_captum_layer_grad_cam(channels):
    model, x = TinyCNN(channels).eval(), images(channels, 2)
    for target in range(CLASSES):
        ours, _ = grad_cam(model, model.last_conv, x, target, normalise=False)
        attribution = LayerGradCam(model, model.last_conv).attribute(x, target=target, relu_attributions=True)
        expected = LayerAttribution.interpolate(attribution, (16, 16), interpolate_mode="bilinear")[:, 0]
        assert_close(ours, expected, rtol=1e-5)


def test_grad_cam_reads_the_layer_output_before_an_inplace_relu():
    x = images(3, 2)
    model, in_place = TinyCNN(3).eval(), TinyCNN(3, inplace=True).eval()
    for target in range(CLASSES):
        expected, _ = grad_cam(model, model.last_conv, x, target, normalise=False)
        got, _ = grad_cam(in_place, in_place.last_conv, x, target, normalise=False)
        assert torch.equal(got, expected)


def test_grad_cam_refuses_a_layer_outside_the_model():
    with pytest.raises(ValueError, match="never ran"):
        grad_cam(TinyCNN(3).eval(), TinyCNN(3).last_conv, images(3, 1), 1)


@channel_counts
@pytest.mark.parametrize("epsilon", [2 / 255, 8 / 255, 0.1])
def test_fgsm_equals_torchattacks(channels, epsilon):
    model, x = TinyCNN(channels).eval(), images(channels, 4)
    labels = torch.tensor([0, 1, 2, 3])
    ours = fgsm(model, x, labels, epsilon)
    assert torch.allclose(ours, torchattacks.FGSM(model, eps=epsilon)(x, labels), atol=1e-6)
    assert ours.min() >= 0 and ours.max() <= 1 and (ours - x).abs().max() <= epsilon + 1e-6


@channel_counts
def test_targeted_fgsm_equals_torchattacks_targeted_mode(channels):
    model, x, targets = TinyCNN(channels).eval(), images(channels, 4), torch.tensor([3, 2, 1, 0])
    attack = torchattacks.FGSM(model, eps=0.05)
    attack.set_mode_targeted_by_function(lambda inputs, labels: labels)
    ours = fgsm(model, x, targets, 0.05, targeted=True)
    assert torch.allclose(ours, attack(x, targets), atol=1e-6)


class Linear(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        torch.manual_seed(7)
        self.layer = nn.Linear(channels * 16, CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer(x.flatten(1))


def test_unclamped_fgsm_steps_along_the_closed_form_cross_entropy_gradient():
    model, x, labels = Linear(3), images(3, 2, 4, 4) * 4 - 2, torch.tensor([1, 3])
    for targeted, direction in ((False, 1), (True, -1)):
        got = fgsm(model, x, labels, 0.3, targeted=targeted, bounds=None)
        with torch.no_grad():
            residual = torch.softmax(model(x), dim=1) - F.one_hot(labels, CLASSES)
        gradient = (residual @ model.layer.weight).reshape(x.shape)
        assert torch.allclose(got, x + direction * 0.3 * gradient.sign(), atol=1e-6)


def test_logit_ascent_with_a_penalty_equals_the_closed_form_gradient():
    model, target, beta, step = Linear(3), 2, 0.5, 0.7
    start, anchor = images(3, 1, 4, 4, seed=1), images(3, 1, 4, 4, seed=2)
    result = logit_ascent(
        model, start, target, 4, step, to_model_input=lambda x: x / 2, penalty=lambda x: beta * F.mse_loss(x, anchor)
    )
    image, costs = start.clone(), []
    weight = model.layer.weight[target].detach().reshape(start.shape)
    for _ in range(4):
        with torch.no_grad():
            costs.append(float(model(image / 2)[0, target] - beta * F.mse_loss(image, anchor)))
        image = image + step * (weight / 2 - beta * 2 * (image - anchor) / image.numel())
    assert torch.allclose(result.image, image, atol=1e-5)
    assert np.allclose(result.costs, costs, atol=1e-5)
    with torch.no_grad():
        probabilities = torch.softmax(model(image / 2), dim=1)[0]
    assert result.predicted_class == int(probabilities.argmax())
    assert result.target_probability == pytest.approx(float(probabilities[target]), abs=1e-5)


def test_the_methods_leave_the_model_and_the_input_untouched():
    model, x = TinyCNN(3).eval(), images(3, 2).requires_grad_(True)
    before = {key: value.clone() for key, value in model.state_dict().items()}
    vanilla_saliency(model, x, 1)
    grad_cam(model, model.last_conv, x, 1)
    fgsm(model, x, torch.tensor([0, 1]), 0.1)
    logit_ascent(model, x[:1], 1, 2, 0.1)
    occlusion_map(model, x[0], 1, 4, 4)
    assert all(torch.equal(before[key], value) for key, value in model.state_dict().items())
    assert all(p.grad is None and p.requires_grad for p in model.parameters())
    assert x.grad is None and not model.last_conv._forward_hooks
