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

import torch
from torch import nn

from reference.methods.attacks import AttackResult, logit_ascent

PIXEL_SCALE = 255.0
NOISE_MEAN, NOISE_STD = 128.0, 32.0


def gaussian_start(generator: torch.Generator) -> torch.Tensor:
    return NOISE_MEAN + NOISE_STD * torch.randn(1, 1, 28, 28, generator=generator)


def to_tensor_units(image: torch.Tensor) -> torch.Tensor:
    return image / PIXEL_SCALE


def non_targeted_attack(
    model: nn.Module, target_class: int, generator: torch.Generator, steps: int = 100, step_size: float = 1000.0
) -> AttackResult:
    """Question 3.1: C = logits[target_class], from Gaussian noise around 128, the model in eval mode."""
    model.eval()
    return logit_ascent(
        model, gaussian_start(generator), target_class, steps, step_size, to_model_input=to_tensor_units
    )


def targeted_attack(
    model: nn.Module,
    target_image: torch.Tensor,
    target_class: int,
    generator: torch.Generator,
    beta: float = 0.01,
    steps: int = 100,
    step_size: float = 1000.0,
) -> AttackResult:
    """Question 3.2: C = logits[target_class] - beta * MSE(X, target_image), target_image in pixel units."""
    target_image = target_image.reshape(1, 1, 28, 28).to(torch.float32)
    model.eval()
    return logit_ascent(
        model,
        gaussian_start(generator),
        target_class,
        steps,
        step_size,
        to_model_input=to_tensor_units,
        penalty=lambda image: beta * nn.functional.mse_loss(image, target_image),
    )
