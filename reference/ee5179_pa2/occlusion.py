"""EE5179 PA2 question 2.4: the probability of a class as a square occluder slides over the image."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

GREY = 0.5  # mid-grey in ToTensor's [0, 1] scale


def occlusion_grid_size(image_size: int, patch: int, stride: int) -> int:
    """Patch positions along one axis: the occluder always lies wholly inside the image."""
    if not 1 <= patch <= image_size or stride < 1:
        raise ValueError(f"patch must be 1..{image_size} and stride >= 1 (got {patch}, {stride})")
    return (image_size - patch) // stride + 1


def occlusion_map(model: nn.Module, image: torch.Tensor, target_class: int, patch: int, stride: int = 1,
                  fill: float = GREY) -> np.ndarray:
    """Grid [row, col] of softmax probability of ``target_class`` with the patch's top-left corner at
    (row * stride, col * stride); every occluded copy goes through the model in one batch."""
    image = image.reshape(1, *image.shape[-3:])
    size = image.shape[-1]
    cells = occlusion_grid_size(size, patch, stride)
    copies = image.repeat(cells * cells, 1, 1, 1)
    for row in range(cells):
        for col in range(cells):
            top, left = row * stride, col * stride
            copies[row * cells + col, :, top : top + patch, left : left + patch] = fill
    model.eval()
    with torch.no_grad():
        probabilities = torch.softmax(model(copies), dim=1)[:, target_class]
    return probabilities.reshape(cells, cells).numpy()
