"""CS411 A2 question 1: vanilla-gradient saliency and SmoothGrad on MobileNetV2.

The starter code has two deliberate bugs that this module fixes:
``preprocess`` returned (3, 224, 224) without gradient tracking, and
``smooth_grad`` built ``(x + noise).requires_grad_(True)``, a non-leaf whose
``.grad`` stays None after ``backward()``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
import torchvision.transforms as transforms
from PIL import Image
from torch import nn

from checks.data.assets import DataDir, PretrainedModel
from reference.methods.saliency import channel_saliency, input_gradient

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
INPUT_SIZE = 224

_TRANSFORM = transforms.Compose(
    [
        transforms.Resize((INPUT_SIZE, INPUT_SIZE)),
        transforms.ToTensor(),
        transforms.Normalize(mean=IMAGENET_MEAN, std=IMAGENET_STD),
    ]
)


def load_model(data: DataDir) -> PretrainedModel:
    """MobileNetV2 with ImageNet weights, or a labelled stand-in when they are absent."""
    return data.load_pretrained("mobilenet_v2", "IMAGENET1K_V1")


def preprocess(pil_img: Image.Image) -> torch.Tensor:
    """A (1, 3, 224, 224) float32 leaf tensor that tracks gradients."""
    x = _TRANSFORM(pil_img.convert("RGB")).unsqueeze(0)
    x.requires_grad_(True)
    return x


def generate_saliency_map(model: nn.Module, x: torch.Tensor, target_class: int | None = None) -> tuple[np.ndarray, int]:
    """max over channels of |d logit_k / d x|, as a (224, 224) array, and the class k used.

    ``x`` must be a leaf that requires grad, and ``x.grad`` holds the gradient afterwards, as the
    assignment's ``score.backward()`` leaves it (its starter noisy input is a non-leaf whose grad stays None).
    """
    if not (x.is_leaf and x.requires_grad):
        raise ValueError("x must be a leaf tensor with requires_grad=True, or x.grad stays None")
    gradient, classes = input_gradient(model, x, target_class)
    x.grad = gradient
    return channel_saliency(gradient)[0].numpy(), int(classes[0])


def smooth_grad(
    model: nn.Module,
    pil_img: Image.Image,
    target_class: int | None = None,
    n_samples: int = 20,
    noise_level: float = 0.10,
    generator: torch.Generator | None = None,
) -> np.ndarray:
    """Mean of saliency maps over ``n_samples`` noisy copies of the image.

    Noise is drawn as ``torch.randn(x.shape, generator=generator)`` once per sample,
    so with ``generator`` seeded to s it matches a notebook that calls
    ``torch.manual_seed(s)`` and then ``torch.randn_like(x)`` per sample.
    Without a target, the class explained is the one predicted for the first noisy
    copy, as the assignment's loop does.
    """
    maps = []
    for _ in range(n_samples):
        x = preprocess(pil_img)
        noise = torch.randn(x.shape, generator=generator, dtype=x.dtype) * noise_level
        x_noisy = (x.detach() + noise).requires_grad_(True)
        saliency, used_class = generate_saliency_map(model, x_noisy, target_class)
        if target_class is None:
            target_class = used_class
        maps.append(saliency)
    return np.mean(maps, axis=0)


@dataclass(frozen=True)
class Prediction:
    class_index: int
    class_name: str
    probability: float


def top_k(model: nn.Module, x: torch.Tensor, categories: list[str], k: int = 5) -> list[Prediction]:
    """The k most probable classes, decoded with the weights' own category names."""
    with torch.no_grad():
        probabilities = F.softmax(model(x), dim=1)[0]
    values, indices = probabilities.topk(k)
    return [Prediction(int(index), categories[int(index)], float(value)) for value, index in zip(values, indices)]
