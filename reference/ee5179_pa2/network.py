"""EE5179 PA2 question 1: the prescribed MNIST CNN, its layer shapes, parameters and neurons.

conv1 (32 3x3, stride 1, pad 1) -> ReLU -> 2x2 max-pool -> conv2 (32 3x3, stride 1, pad 1)
-> ReLU -> 2x2 max-pool -> fc 500 -> ReLU -> fc 10 -> softmax. ``forward`` returns the
logits; the softmax lives in the loss (cross-entropy) and in ``probabilities``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

CONV_PARAMETERS = 9_568
FC_PARAMETERS = 789_510
TOTAL_PARAMETERS = 799_078
INPUT_SHAPE = (1, 28, 28)
NEURON_DEFINITIONS = ("one neuron per conv and fc output value", "conv and pooling output values, fc outputs")


class PrescribedCNN(nn.Module):
    """The assignment's network; ``batch_norm`` adds BatchNorm after each conv and fc1 (question 1.6)."""

    def __init__(self, batch_norm: bool = False) -> None:
        super().__init__()
        self.batch_norm = batch_norm
        self.conv1 = nn.Conv2d(1, 32, 3, stride=1, padding=1)
        self.bn1 = nn.BatchNorm2d(32) if batch_norm else nn.Identity()
        self.pool1 = nn.MaxPool2d(2, 2)
        self.conv2 = nn.Conv2d(32, 32, 3, stride=1, padding=1)
        self.bn2 = nn.BatchNorm2d(32) if batch_norm else nn.Identity()
        self.pool2 = nn.MaxPool2d(2, 2)
        self.fc1 = nn.Linear(32 * 7 * 7, 500)
        self.bn3 = nn.BatchNorm1d(500) if batch_norm else nn.Identity()
        self.fc2 = nn.Linear(500, 10)

    def features(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Every intermediate activation, for the activation plots of question 2.3."""
        out = {}
        out["conv1"] = torch.relu(self.bn1(self.conv1(x)))
        out["pool1"] = self.pool1(out["conv1"])
        out["conv2"] = torch.relu(self.bn2(self.conv2(out["pool1"])))
        out["pool2"] = self.pool2(out["conv2"])
        out["fc1"] = torch.relu(self.bn3(self.fc1(out["pool2"].flatten(1))))
        out["fc2"] = self.fc2(out["fc1"])
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)["fc2"]

    def probabilities(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self(x), dim=1)


@dataclass(frozen=True)
class LayerShape:
    layer: str
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]


def layer_shapes(model: PrescribedCNN) -> list[LayerShape]:
    """Input and output shape of each layer for one image (batch dimension left out), question 1.3."""
    x = torch.zeros(1, *INPUT_SHAPE)
    model.eval()
    with torch.no_grad():
        features = model.features(x)
    shapes, previous = [], tuple(x.shape[1:])
    for name, value in features.items():
        current = tuple(value.shape[1:])
        shapes.append(LayerShape(name, previous, current))
        previous = current
    shapes.append(LayerShape("softmax", previous, previous))
    return shapes


@dataclass(frozen=True)
class ParameterCounts:
    conv: int
    fc: int
    batch_norm: int

    @property
    def total(self) -> int:
        return self.conv + self.fc + self.batch_norm


def parameter_counts(model: nn.Module) -> ParameterCounts:
    """Trainable parameters by kind of layer, question 1.4."""
    conv = fc = norm = 0
    for module in model.modules():
        count = sum(p.numel() for p in module.parameters(recurse=False) if p.requires_grad)
        if isinstance(module, nn.Conv2d):
            conv += count
        elif isinstance(module, nn.Linear):
            fc += count
        elif isinstance(module, nn.modules.batchnorm._BatchNorm):
            norm += count
    return ParameterCounts(conv, fc, norm)


@dataclass(frozen=True)
class NeuronCounts:
    """Question 1.5 has no single answer; each definition here is one a course uses."""

    definition: str
    conv: int
    fc: int

    @property
    def total(self) -> int:
        return self.conv + self.fc


def neuron_counts(model: PrescribedCNN) -> list[NeuronCounts]:
    """Neurons as the units of each layer's output, with and without the pooling outputs.

    The usual count (one neuron per conv output value and per fc output) is first: conv
    32x28x28 + 32x14x14 = 31,360, fc 500 + 10 = 510, total 31,870.
    """
    x = torch.zeros(1, *INPUT_SHAPE)
    model.eval()
    with torch.no_grad():
        sizes = {name: value[0].numel() for name, value in model.features(x).items()}
    conv = sizes["conv1"] + sizes["conv2"]
    fc = sizes["fc1"] + sizes["fc2"]
    pooled = conv + sizes["pool1"] + sizes["pool2"]
    return [
        NeuronCounts(NEURON_DEFINITIONS[0], conv, fc),
        NeuronCounts(NEURON_DEFINITIONS[1], pooled, fc),
    ]
