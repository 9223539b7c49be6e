"""Vanilla gradient saliency (Simonyan et al. 2014): how much each input pixel moves a class logit."""

from __future__ import annotations

import torch
from torch import nn

from reference.methods.targets import ClassChoice, class_scores


def input_gradient(
    model: nn.Module, x: torch.Tensor, target_class: ClassChoice = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """d logit_k / d x for a batch (N, C, H, W), and the classes k used.

    The gradient is taken on a detached copy, so neither ``x`` nor the model's ``.grad`` changes.
    """
    inputs = x.detach().requires_grad_(True)
    scores, classes = class_scores(model(inputs), target_class)
    (gradient,) = torch.autograd.grad(scores.sum(), inputs)
    return gradient, classes


def channel_saliency(gradient: torch.Tensor) -> torch.Tensor:
    """max over channels of |gradient|, (N, C, H, W) -> (N, H, W): one map for grey and RGB inputs alike."""
    return gradient.abs().amax(dim=1)


def vanilla_saliency(
    model: nn.Module, x: torch.Tensor, target_class: ClassChoice = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """max over channels of |d logit_k / d x|, shape (N, H, W), and the classes k used."""
    gradient, classes = input_gradient(model, x, target_class)
    return channel_saliency(gradient), classes
