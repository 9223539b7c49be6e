"""The assignment's ResNet50 with torchvision's ImageNet weights, or, where the data directory lacks them,
the seeded stand-in that a student's ``resnet50(weights=...)`` receives inside the grading kernel."""

from __future__ import annotations

import re
from typing import NamedTuple

import torch
from torch import nn

from checks.data.assets import DataDir
from reference.tml25_a4.images import weights_version

ARCHITECTURE = "resnet50"
LAYER_PART = re.compile(r"(?P<name>[A-Za-z_]\w*)(?P<indices>(?:\[-?\d+\])*)")
INDEX = re.compile(r"\[(-?\d+)\]")


class ResNet50(NamedTuple):
    """The model in eval mode, a label that says which weights it holds, and whether they are a stand-in."""

    model: nn.Module
    label: str
    stand_in: bool


def resnet50(data: DataDir, version: str = "IMAGENET1K_V2") -> ResNet50:
    """Real weights when ``hub/checkpoints/<file of weights.url>`` is in the data directory, else the
    stand-in the kernel shim builds (``seeded_stand_in(resnet50, 0, num_classes=1000)``), bit for bit.

    The stand-in does not depend on the version: V1 and V2 get the same weights, and only the
    preprocessing differs. ``DEFAULT`` means ``IMAGENET1K_V2``, as in torchvision.
    """
    canonical = weights_version(version)
    loaded = data.load_pretrained(ARCHITECTURE, canonical)
    source = "seeded stand-in: no weights on this machine" if loaded.stand_in else "real pretrained weights"
    return ResNet50(loaded.model.eval(), f"ResNet50 {canonical} ({source})", loaded.stand_in)


def predict(model: nn.Module, inputs: torch.Tensor) -> torch.Tensor:
    """The argmax class of each image of an (N, 3, H, W) batch, in eval mode without gradients."""
    model.eval()
    with torch.no_grad():
        return model(inputs).argmax(dim=1)


def layer(model: nn.Module, name: str) -> nn.Module:
    """The module a dotted name with indices denotes, as a notebook writes it: ``layer4[-1]`` (the last
    bottleneck, the "last convolutional layer" of the assignment), ``layer4`` or ``layer4[-1].conv3``."""
    module = model
    for part in name.split("."):
        match = LAYER_PART.fullmatch(part)
        if match is None:
            raise ValueError(f"cannot read the layer name {name!r}: {part!r} is not `attribute[index]...`")
        try:
            module = getattr(module, match["name"])
            for index in INDEX.findall(match["indices"]):
                module = module[int(index)]
        except (AttributeError, IndexError, TypeError) as error:
            raise ValueError(f"{type(model).__name__} has no layer {name!r}: {error}") from error
    if not isinstance(module, nn.Module):
        raise ValueError(f"{name!r} names a {type(module).__name__}, not a module")
    return module
