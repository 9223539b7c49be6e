"""The assignment's CNN: three 3x3 convolutions (16, 32, 64 channels), each followed by ReLU and a 2x2
max-pool, then fc 128 -> ReLU -> dropout 0.3 -> fc 2. ``forward`` returns the logits."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from reference.catsdogs_xai.data import IMAGE_SIZE

CLASSES = 2
DROPOUT = 0.3


class CatDogCNN(nn.Module):
    """Input (N, 3, 64, 64) in [0, 1]; three poolings leave 64 maps of 8x8 for fc1."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 3, padding=1)
        self.conv2 = nn.Conv2d(16, 32, 3, padding=1)
        self.conv3 = nn.Conv2d(32, 64, 3, padding=1)
        self.pool = nn.MaxPool2d(2)
        self.fc1 = nn.Linear(64 * (IMAGE_SIZE // 8) ** 2, 128)
        self.dropout = nn.Dropout(DROPOUT)
        self.fc2 = nn.Linear(128, CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for conv in (self.conv1, self.conv2, self.conv3):
            x = self.pool(F.relu(conv(x)))
        return self.fc2(self.dropout(F.relu(self.fc1(x.flatten(1)))))


def conv_layers(model: nn.Module) -> list[tuple[str, nn.Conv2d]]:
    """Every convolution of any model by qualified name, in registration order (forward order in the
    usual model), so Grad-CAM can be checked layer by layer on a student's own network."""
    return [(name, module) for name, module in model.named_modules() if isinstance(module, nn.Conv2d)]
