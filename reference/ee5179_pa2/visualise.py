"""EE5179 PA2 questions 2.1-2.3: filters and activations of any CNN, found by module type."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


def conv_layers(model: nn.Module) -> list[tuple[str, nn.Conv2d]]:
    """The model's convolutions in the order they were registered (conv1 first)."""
    return [(name, module) for name, module in model.named_modules() if isinstance(module, nn.Conv2d)]


def filters(conv: nn.Conv2d) -> np.ndarray:
    """(out_channels, in_channels, k, k) weights, as the filter plots show them."""
    return conv.weight.detach().cpu().numpy().copy()


def activations(model: nn.Module, image: torch.Tensor) -> list[tuple[str, np.ndarray]]:
    """Each convolution's output (after the layer itself, before any later ReLU) for one image."""
    captured: list[tuple[str, np.ndarray]] = []
    hooks = [
        conv.register_forward_hook(lambda _m, _i, out, name=name: captured.append((name, out[0].detach().numpy())))
        for name, conv in conv_layers(model)
    ]
    model.eval()
    try:
        with torch.no_grad():
            model(image.reshape(1, *image.shape[-3:]))
    finally:
        for hook in hooks:
            hook.remove()
    return captured
