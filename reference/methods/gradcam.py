"""Grad-CAM (Selvaraju et al. 2017): where a convolutional layer's features support a class."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from reference.methods.targets import ClassChoice, class_scores


def grad_cam(
    model: nn.Module,
    layer: nn.Module,
    x: torch.Tensor,
    target_class: ClassChoice = None,
    *,
    normalise: bool = True,
    relu: bool = True,
    upsample: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """ReLU(sum_c w_c A_c), with A the output of ``layer`` and w_c the spatial mean of d logit_k / d A_c,
    upsampled bilinearly to the input's (H, W); shape (N, H, W), and the classes k used.

    ``normalise`` rescales each map to [0, 1] after upsampling (a constant map becomes zeros), as
    pytorch-grad-cam shows it. ``relu=False`` keeps the negative evidence a student's map shows when
    the ReLU is left out; ``upsample=False`` keeps the layer's own (h, w), as a map plotted before
    resizing has it. The gradient is read by a tensor hook and the activations are copied when the
    layer runs, so an in-place ReLU after ``layer`` cannot alter either.
    """
    captured: dict[str, torch.Tensor] = {}

    def capture(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        captured["activations"] = output.detach().clone()
        output.register_hook(lambda gradient: captured.__setitem__("gradients", gradient))

    inputs = x.detach().requires_grad_(True)
    handle = layer.register_forward_hook(capture)
    try:
        scores, classes = class_scores(model(inputs), target_class)
    finally:
        handle.remove()
    if "activations" not in captured:
        raise ValueError("the target layer never ran in the model's forward pass")
    torch.autograd.grad(scores.sum(), inputs)
    weights = captured["gradients"].mean(dim=(2, 3), keepdim=True)
    cam = (weights * captured["activations"]).sum(dim=1, keepdim=True)
    if relu:
        cam = torch.relu(cam)
    if upsample:
        cam = F.interpolate(cam, size=x.shape[-2:], mode="bilinear", align_corners=False)
    return (_rescaled(cam[:, 0]) if normalise else cam[:, 0]), classes


def _rescaled(maps: torch.Tensor) -> torch.Tensor:
    low = maps.amin(dim=(1, 2), keepdim=True)
    span = maps.amax(dim=(1, 2), keepdim=True) - low
    return (maps - low) / torch.where(span > 0, span, torch.ones_like(span))
