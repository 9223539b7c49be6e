"""Occlusion sensitivity (Zeiler and Fergus 2014): a class's probability as a square occluder slides over the image."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


def occlusion_grid_size(image_size: int, patch: int, stride: int) -> int:
    """Patch positions along one axis: the occluder always lies wholly inside the image."""
    if not 1 <= patch <= image_size or stride < 1:
        raise ValueError(f"patch must be 1..{image_size} and stride >= 1 (got {patch}, {stride})")
    return (image_size - patch) // stride + 1


def occlusion_map(
    model: nn.Module,
    image: torch.Tensor,
    target_class: int,
    patch: int,
    stride: int = 1,
    fill: float | Sequence[float] = 0.0,
    batch_size: int = 1024,
) -> torch.Tensor:
    """Grid [row, col] of the softmax probability of ``target_class`` with the patch's top-left corner at
    (row * stride, col * stride).

    ``image`` is (C, H, W) or (1, C, H, W); ``fill`` is one value for every channel or one per channel
    (grey after normalisation differs by channel). The occluded copies go through the model
    ``batch_size`` at a time, so large images do not need every copy in memory at once.
    """
    image = image.detach().reshape(1, *image.shape[-3:])
    height, width = image.shape[-2:]
    rows, cols = occlusion_grid_size(height, patch, stride), occlusion_grid_size(width, patch, stride)
    corners = [(row * stride, col * stride) for row in range(rows) for col in range(cols)]
    fill = torch.as_tensor(fill, dtype=image.dtype, device=image.device).reshape(-1, 1, 1)
    probabilities = []
    with torch.no_grad():
        for first in range(0, len(corners), batch_size):
            chunk = corners[first : first + batch_size]
            copies = image.repeat(len(chunk), 1, 1, 1)
            for copy, (top, left) in zip(copies, chunk):
                copy[:, top : top + patch, left : left + patch] = fill
            probabilities.append(torch.softmax(model(copies), dim=1)[:, target_class])
    return torch.cat(probabilities).reshape(rows, cols)
