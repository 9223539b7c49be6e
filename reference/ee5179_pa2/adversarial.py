"""EE5179 PA2 question 3: adversarial images by gradient ascent on a logit, the model frozen.

Images live in pixel units (0-255, the noise starts "centred around 128"); the model sees
them divided by 255, as ToTensor would give them. Nothing is clipped: the assignment's
update rule is X = X + step_size * dC/dX, and the unclipped images are what it asks to show.

In pixel units a logit's gradient is about 1/255 of its gradient in ToTensor units, so the
defaults (100 steps of 1000, beta 0.01) are what this scale needs: measured on the
reference model, every class is reached with probability above 0.95, and the targeted
images for 2 -> 5 and 2 -> 8 end about ten times closer (MSE) to the 2 than the noise
they start from; beta 0.05 keeps the 2, beta 0.001 ignores it.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from reference.torch_tools import frozen

PIXEL_SCALE = 255.0
NOISE_MEAN, NOISE_STD = 128.0, 32.0


@dataclass(frozen=True)
class AttackResult:
    target_class: int
    image: torch.Tensor  # (1, 1, 28, 28), pixel units
    costs: list[float]
    predicted_class: int
    target_probability: float


def gaussian_start(generator: torch.Generator) -> torch.Tensor:
    return NOISE_MEAN + NOISE_STD * torch.randn(1, 1, 28, 28, generator=generator)


def _ascend(model: nn.Module, start: torch.Tensor, target_class: int, steps: int, step_size: float,
            penalty=None) -> AttackResult:
    model.eval()
    image, costs = start.clone(), []
    with frozen(model):
        for _ in range(steps):
            image.requires_grad_(True)
            cost = model(image / PIXEL_SCALE)[0, target_class]
            if penalty is not None:
                cost = cost - penalty(image)
            (gradient,) = torch.autograd.grad(cost, image)
            costs.append(float(cost.detach()))
            image = (image + step_size * gradient).detach()
        with torch.no_grad():
            probabilities = torch.softmax(model(image / PIXEL_SCALE), dim=1)[0]
    return AttackResult(target_class, image, costs, int(probabilities.argmax()), float(probabilities[target_class]))


def non_targeted_attack(model: nn.Module, target_class: int, generator: torch.Generator, steps: int = 100,
                        step_size: float = 1000.0) -> AttackResult:
    """Question 3.1: C = logits[target_class], from Gaussian noise around 128."""
    return _ascend(model, gaussian_start(generator), target_class, steps, step_size)


def targeted_attack(model: nn.Module, target_image: torch.Tensor, target_class: int, generator: torch.Generator,
                    beta: float = 0.01, steps: int = 100, step_size: float = 1000.0) -> AttackResult:
    """Question 3.2: C = logits[target_class] - beta * MSE(X, target_image), target_image in pixel units."""
    target_image = target_image.reshape(1, 1, 28, 28).to(torch.float32)
    return _ascend(model, gaussian_start(generator), target_class, steps, step_size,
                   penalty=lambda image: beta * nn.functional.mse_loss(image, target_image))
