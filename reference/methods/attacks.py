"""Gradient attacks on a frozen model: FGSM (Goodfellow et al. 2015), untargeted and targeted, and
iterated gradient ascent on one logit (images that maximise a class, optionally kept near another)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from reference.torch_tools import frozen

Transform = Callable[[torch.Tensor], torch.Tensor]


def fgsm(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    epsilon: float,
    *,
    targeted: bool = False,
    bounds: tuple[float, float] | None = (0.0, 1.0),
    loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = F.cross_entropy,
) -> torch.Tensor:
    """One step of ``epsilon`` along the sign of the input gradient of ``loss(model(images), labels)``.

    Untargeted, ``labels`` are the true classes and the step climbs their loss; targeted, they are the
    classes wanted and the step descends theirs. The result is clamped to ``bounds`` (None: unclamped),
    the valid pixel range of the images as given.
    """
    inputs = images.detach().requires_grad_(True)
    with frozen(model):
        (gradient,) = torch.autograd.grad(loss(model(inputs), labels), inputs)
    step = epsilon * gradient.sign()
    adversarial = inputs.detach() - step if targeted else inputs.detach() + step
    return adversarial if bounds is None else adversarial.clamp(*bounds)


@dataclass(frozen=True)
class AttackResult:
    target_class: int
    image: torch.Tensor  # (1, C, H, W), in the units the attack started in
    costs: list[float]
    predicted_class: int
    target_probability: float


def logit_ascent(
    model: nn.Module,
    start: torch.Tensor,
    target_class: int,
    steps: int,
    step_size: float,
    *,
    to_model_input: Transform | None = None,
    penalty: Transform | None = None,
) -> AttackResult:
    """``steps`` updates X = X + step_size * dC/dX of C = logits[target_class] - penalty(X), from ``start``.

    The image stays in its own units and is never clipped; ``to_model_input`` maps it to what the
    model reads (for example pixels to [0, 1]). ``costs`` holds C before each update.
    """
    image, costs = start.detach().clone(), []
    model_input = to_model_input or (lambda x: x)
    with frozen(model):
        for _ in range(steps):
            image.requires_grad_(True)
            cost = model(model_input(image))[0, target_class]
            if penalty is not None:
                cost = cost - penalty(image)
            (gradient,) = torch.autograd.grad(cost, image)
            costs.append(float(cost.detach()))
            image = (image + step_size * gradient).detach()
        with torch.no_grad():
            probabilities = torch.softmax(model(model_input(image)), dim=1)[0]
    return AttackResult(target_class, image, costs, int(probabilities.argmax()), float(probabilities[target_class]))
