"""The counterfactual reference against values computed by hand and an Adam written out."""

import math

import pytest
import torch
from torch import nn

from reference.cs411_a2 import cf_loss, find_counterfactual, first_correct_example


def tiny_model() -> nn.Module:
    """Logits = bias + 2 * pixel(0, 0) on class 1: simple enough to work out by hand."""
    linear = nn.Linear(784, 3)
    with torch.no_grad():
        linear.weight.zero_()
        linear.weight[1, 0] = 2.0
        linear.bias.copy_(torch.tensor([0.1, 0.2, -0.3]))
    return nn.Sequential(nn.Flatten(), linear)


def image_with(values: dict[int, float]) -> torch.Tensor:
    flat = torch.zeros(784)
    for index, value in values.items():
        flat[index] = value
    return flat.reshape(1, 1, 28, 28)


def test_cf_loss_equals_a_value_computed_by_hand():
    x_orig = image_with({0: 0.25, 5: 1.0})
    x_prime = image_with({0: 0.5, 5: 0.4, 9: -0.1})
    logits = [0.1, 0.2 + 2.0 * 0.5, -0.3]
    p1 = math.exp(logits[1]) / sum(math.exp(v) for v in logits)
    l1 = 0.25 + 0.6 + 0.1
    expected = (p1 - 0.7) ** 2 + 0.3 * l1
    got = cf_loss(tiny_model(), x_prime.requires_grad_(True), x_orig, 1, p_target=0.7, lam=0.3)
    assert got.shape == ()
    assert float(got.detach()) == pytest.approx(expected, rel=1e-6)


def hand_written_adam(model, x_orig, target, p_target, lam, lr, n_iter):
    """Adam (betas 0.9/0.999, eps 1e-8) written out, with the loss also written out."""
    x = x_orig.clone()
    m = torch.zeros_like(x)
    v = torch.zeros_like(x)
    losses = []
    for step in range(1, n_iter + 1):
        x_var = x.clone().requires_grad_(True)
        probs = torch.softmax(model(x_var), dim=1)
        loss = (probs[0, target] - p_target) ** 2 + lam * (x_var - x_orig).abs().sum()
        (grad,) = torch.autograd.grad(loss, x_var)
        m = 0.9 * m + 0.1 * grad
        v = 0.999 * v + 0.001 * grad * grad
        m_hat = m / (1 - 0.9**step)
        v_hat = v / (1 - 0.999**step)
        x = x - lr * m_hat / (v_hat.sqrt() + 1e-8)
        losses.append(float(loss.detach()))
    return x, losses


def test_trajectory_equals_a_hand_written_adam():
    model = tiny_model()
    x_orig = image_with({0: 0.3, 100: 0.8})
    x_cf, history = find_counterfactual(model, x_orig, 1, p_target=0.9, lam=0.05, lr=0.05, n_iter=20)
    expected_x, expected_losses = hand_written_adam(model, x_orig, 1, 0.9, 0.05, 0.05, 20)
    assert history == pytest.approx(expected_losses, rel=1e-5)
    assert torch.allclose(x_cf, expected_x, atol=1e-6)


def test_weights_stay_bit_identical_and_receive_no_gradient():
    model = tiny_model()
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    x_orig = image_with({0: 0.3})
    x_cf, history = find_counterfactual(model, x_orig, 2, n_iter=25)
    for name, parameter in model.named_parameters():
        assert torch.equal(parameter, before[name]), name
        assert parameter.grad is None, f"{name} received a gradient"
        assert parameter.requires_grad, f"{name} was left frozen"
    assert x_cf.shape == (1, 1, 28, 28) and not x_cf.requires_grad and x_cf.grad_fn is None
    assert len(history) == 25 and all(type(value) is float for value in history)
    assert torch.equal(x_orig, image_with({0: 0.3})), "the original image was modified"


def test_first_loss_is_the_loss_at_the_original_image():
    model = tiny_model()
    x_orig = image_with({0: 0.4})
    _, history = find_counterfactual(model, x_orig, 0, n_iter=3)
    assert history[0] == pytest.approx(float(cf_loss(model, x_orig.clone(), x_orig, 0).detach()))


class PixelOracle(nn.Module):
    """Predicts whatever digit is written in the first pixel."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.one_hot(x[:, 0, 0, 0].long(), 10).float()


def test_first_correct_example_skips_misclassified_images():
    predicted = torch.tensor([3, 5, 3, 8, 3])
    labels = torch.tensor([1, 3, 3, 8, 3])
    images = torch.zeros(5, 1, 28, 28)
    images[:, 0, 0, 0] = predicted.float()
    assert first_correct_example(PixelOracle(), images, labels, 3) == 2
    assert first_correct_example(PixelOracle(), images, labels, 8) == 3
    with pytest.raises(LookupError, match="digit 5"):
        first_correct_example(PixelOracle(), images, labels, 5)
