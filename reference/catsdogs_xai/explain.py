"""Tasks 2 and 3: Grad-CAM per convolutional layer, occlusion heatmaps and the accuracy under one mask,
and FGSM in the images' own pixel space, with the variants students' mistakes produce.

Each function runs the model in eval mode (dropout off) and restores the mode it found, since a
student's model is often left in training mode after its last epoch; only ``train_mode=True`` asks for
the students' mistake of attacking and testing with dropout on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import torch
from torch import nn

from checks.probe.standin import seeded_global_rng
from reference.methods.attacks import fgsm
from reference.methods.gradcam import grad_cam
from reference.methods.occlusion import occlusion_map
from reference.methods.targets import ClassChoice

Transform = Callable[[torch.Tensor], torch.Tensor]
BATCH_SIZE = 64  # images per pass unless the caller says fewer: the grader checks a student's model at its own batch


@contextmanager
def model_mode(model: nn.Module, training: bool) -> Iterator[nn.Module]:
    """The model in training or eval mode for this block, every submodule's own mode restored afterwards."""
    modes = [(module, module.training) for module in model.modules()]
    model.train(training)
    try:
        yield model
    finally:
        for module, mode in modes:
            module.training = mode


def grad_cam_maps(
    model: nn.Module,
    layer: nn.Module,
    images: torch.Tensor,
    target_class: ClassChoice = None,
    *,
    relu: bool = True,
    upsample: bool = True,
) -> torch.Tensor:
    """(N, H, W) Grad-CAM maps of ``layer`` for the class given (None: each image's predicted class),
    unscaled: the checks compare a student's maps by correlation, which no rescaling changes."""
    with model_mode(model, False), torch.enable_grad():
        maps, _ = grad_cam(model, layer, images, target_class, normalise=False, relu=relu, upsample=upsample)
    return maps


def occlusion_heatmap(
    model: nn.Module,
    image: torch.Tensor,
    target_class: int,
    patch: int,
    stride: int = 1,
    fill: float | Sequence[float] = 0.0,
) -> torch.Tensor:
    """Grid [row, col] of the softmax probability of ``target_class`` with the patch's corner at
    (row * stride, col * stride); see ``reference.methods.occlusion_map``."""
    with model_mode(model, False):
        return occlusion_map(model, image, target_class, patch, stride, fill)


def patch_corner(
    height: int, width: int, patch: int, top: int | None = None, left: int | None = None
) -> tuple[int, int]:
    """Where the square lies: the given corner, or centred ((size - patch) // 2) where None."""
    if not 1 <= patch <= min(height, width):
        raise ValueError(f"the patch must be 1..{min(height, width)} pixels (got {patch})")
    top = (height - patch) // 2 if top is None else top
    left = (width - patch) // 2 if left is None else left
    if not (0 <= top <= height - patch and 0 <= left <= width - patch):
        raise ValueError(f"a {patch}-pixel patch at ({top}, {left}) does not fit a {height}x{width} image")
    return top, left


def masked_accuracy(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    patch: int,
    fill: float | Sequence[float],
    top: int | None = None,
    left: int | None = None,
    batch_size: int = BATCH_SIZE,
) -> float:
    """Accuracy with the same ``patch`` x ``patch`` square of ``fill`` (one value or one per channel) on
    every image: the "accuracy with an occlusion mask" the assignment asks for."""
    top, left = patch_corner(*images.shape[-2:], patch, top, left)
    value = torch.as_tensor(fill, dtype=images.dtype).reshape(-1, 1, 1)
    correct = 0
    with model_mode(model, False), torch.no_grad():
        for start in range(0, len(images), batch_size):
            masked = images[start : start + batch_size].clone()
            masked[:, :, top : top + patch, left : left + patch] = value
            predicted = model(masked).argmax(dim=1)
            correct += int((predicted == labels[start : start + batch_size]).sum())
    return correct / len(images)


class _Composed(nn.Module):
    """``model(to_model(x))`` as one module, so the attack differentiates through the input transform."""

    def __init__(self, model: nn.Module, to_model: Transform) -> None:
        super().__init__()
        self.model, self.to_model = model, to_model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(self.to_model(x))


def fgsm_images(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    epsilon: float,
    *,
    to_model: Transform | None = None,
    bounds: tuple[float, float] | None = (0.0, 1.0),
    subtract: bool = False,
    batch_size: int = BATCH_SIZE,
) -> torch.Tensor:
    """x + epsilon * sign(d loss / dx) in the images' own space ([0, 1] pixels), the model reading
    ``to_model(x)`` (a normalisation, say), clamped to ``bounds`` (None: unclamped).

    ``subtract=True`` is the students' x - epsilon * sign(...), which lowers the loss instead.
    """
    with model_mode(model, False):
        return _fgsm_batches(model, images, labels, epsilon, to_model, bounds, subtract, batch_size)


def _fgsm_batches(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    epsilon: float,
    to_model: Transform | None,
    bounds: tuple[float, float] | None,
    subtract: bool,
    batch_size: int,
) -> torch.Tensor:
    """In the model's current mode, with gradients on even inside a caller's no_grad; descending the true
    labels' loss is what a targeted step at them does."""
    attacked = model if to_model is None else _Composed(model, to_model)
    with torch.enable_grad():
        return torch.cat(
            [
                fgsm(
                    attacked,
                    images[start : start + batch_size],
                    labels[start : start + batch_size],
                    epsilon,
                    targeted=subtract,
                    bounds=bounds,
                )
                for start in range(0, len(images), batch_size)
            ]
        )


def fgsm_accuracy(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    epsilon: float,
    *,
    to_model: Transform | None = None,
    bounds: tuple[float, float] | None = (0.0, 1.0),
    subtract: bool = False,
    train_mode: bool = False,
    seed: int = 0,
    batch_size: int = BATCH_SIZE,
) -> float:
    """Accuracy of the model on ``fgsm_images``.

    ``train_mode=True`` is the students' mistake of leaving dropout on: the gradient and the predictions
    both come from the model in training mode, its dropout drawn from torch's generator seeded with
    ``seed`` for this call alone, so the figure is repeatable.
    """
    feed = to_model or (lambda x: x)
    with model_mode(model, train_mode), seeded_global_rng(seed):
        adversarial = _fgsm_batches(model, images, labels, epsilon, to_model, bounds, subtract, batch_size)
        with torch.no_grad():
            predicted = torch.cat(
                [
                    model(feed(adversarial[start : start + batch_size])).argmax(dim=1)
                    for start in range(0, len(adversarial), batch_size)
                ]
            )
    return int((predicted == labels).sum()) / len(labels)
