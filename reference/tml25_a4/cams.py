"""Task 2: Grad-CAM, AblationCAM and ScoreCAM through the library the assignment names (pytorch-grad-cam
1.5.7), and a cache of the maps. The library's AblationCAM and ScoreCAM run one forward pass per channel of
the layer (2048 on ResNet50's last block), minutes per image on one core. AblationCAM of a layer that feeds
only a ResNet's head has a closed form, the library's map but for its float32 rounding, in one forward pass
(``HeadAblationCAM``); ScoreCAM has none, so its maps go through ``cached_map`` and a class computes each
of them once.

Score-CAM has no exact shortcut: its weight of channel k is the class score of the *input* multiplied by the
upsampled, rescaled channel k, and that masked image goes through every nonlinear layer of the network, so
each channel costs a full forward pass; the reference keeps the library's ScoreCAM.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from pytorch_grad_cam import AblationCAM, GradCAM, ScoreCAM
from pytorch_grad_cam.ablation_layer import AblationLayer
from pytorch_grad_cam.base_cam import BaseCAM
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
from torch import nn
from torchvision.models import ResNet

from checks.data.assets import DataDir
from reference.tml25_a4.images import input_tensor, weights_version
from reference.tml25_a4.network import ResNet50, layer, predict

METHODS = {"gradcam": GradCAM, "ablationcam": AblationCAM, "scorecam": ScoreCAM}
LAST_CONV_LAYER = "layer4[-1]"
CACHE_SUBDIR = "tml25-a4-cams"
ABLATION_STEP = 1e7  # AblationLayer's ABLATION_VALUE, a local constant there
LIBRARY_BATCH_SIZE = 32  # AblationCAM's default batch_size: the ablated value depends on it (see ablated_values)


def feeds_only_the_head(model: nn.Module, module: nn.Module) -> bool:
    """Whether ``module``'s output reaches the logits only through the head of an unmodified torchvision
    ResNet (global average pool, flatten, fc), as ``layer4`` and ``layer4[-1]`` do: then ablating one of its
    channels changes one pooled feature and the logits linearly."""
    return (
        type(model) is ResNet
        and isinstance(model.avgpool, nn.AdaptiveAvgPool2d)
        and model.avgpool.output_size in (1, (1, 1))
        and isinstance(model.fc, nn.Linear)
        and (module is model.layer4 or module is model.layer4[-1])
    )


def ablated_values(activations: torch.Tensor, batch_size: int = LIBRARY_BATCH_SIZE) -> torch.Tensor:
    """The value pytorch-grad-cam's ``AblationLayer`` writes over channel k of one image's (K, H, W)
    activations. It ablates ``batch_size`` copies at a time, channel j of the batch in copy j, and before
    each copy takes the minimum of the whole batch: 0 when that is 0, else that minimum minus 1e7. Unless the
    activations' minimum is 0, the minimum falls by 1e7 with every copy, so the j-th channel of a batch gets
    min - (j + 1) * 1e7 (in steps rounded to the activations' dtype), afresh for each batch."""
    channels = activations.shape[0]
    minimum = torch.min(activations)
    steps = []
    for _ in range(min(batch_size, channels)):
        value = torch.zeros_like(minimum) if minimum == 0 else minimum - ABLATION_STEP
        minimum = torch.minimum(minimum, value)
        steps.append(value)
    return torch.stack(steps).repeat(-(-channels // batch_size))[:channels]


class HeadAblationCAM(BaseCAM):
    """pytorch-grad-cam's AblationCAM (all channels, ``ratio_channels_to_ablate=1.0``) of a layer for which
    ``feeds_only_the_head`` holds, in the one forward pass of ``BaseCAM`` instead of one per channel.

    The library's weight of channel k is (y - y_k) / y in float32, y the target's logit and y_k the logit with
    channel k of the layer overwritten by ``ablated_values``. Behind global average pooling and a linear fc,
    y - y_k = fc.weight[c, k] * (mean of A_k - ablated value of k), computed here in float64. The rest (the
    weighted sum of the activations, ReLU, OpenCV resize, rescaling) is the library's own ``BaseCAM`` code.
    The library subtracts two float32 logits that differ in the third significant digit, so its own map
    strays from this exact one by up to about 1e-4 (5.7e-5 on the ResNet50 stand-in), far below what a
    grader's comparison of maps can see.
    """

    def __init__(self, model: ResNet, target_layers: list[nn.Module], batch_size: int = LIBRARY_BATCH_SIZE) -> None:
        super().__init__(model, target_layers, uses_gradients=False)
        self.batch_size = batch_size
        if not all(feeds_only_the_head(model, module) for module in target_layers):
            self.activations_and_grads.release()
            raise ValueError("the closed form holds only for a layer whose output feeds only a ResNet's head")

    def get_cam_weights(
        self,
        input_tensor: torch.Tensor,
        target_layer: nn.Module,
        targets: list[ClassifierOutputTarget],
        activations: np.ndarray,
        grads: np.ndarray | None,
    ) -> np.ndarray:
        if not all(isinstance(target, ClassifierOutputTarget) for target in targets):
            raise TypeError("the closed form needs targets that are logits (ClassifierOutputTarget)")
        features = torch.from_numpy(activations)
        head = self.model.fc.weight.detach().double()
        weights = []
        for target, output, image in zip(targets, self.outputs, features):
            score = float(np.float32(target(output).item()))  # rounded as the library rounds it
            pooled = image.double().mean(dim=(1, 2))
            ablated = ablated_values(image, self.batch_size).double()
            weights.append(head[target.category] * (pooled - ablated) / score)
        return torch.stack(weights).numpy().astype(np.float32)


def class_activation_map(
    model: nn.Module, inputs: torch.Tensor, method: str, layer_name: str, target: int
) -> np.ndarray:
    """The (H, W) map of one (1, 3, H, W) input for class ``target``, in [0, 1] as the library returns it
    (ReLU, then resized to the input with OpenCV's bilinear resize, then rescaled by its maximum).
    AblationCAM of a ResNet's ``layer4`` or ``layer4[-1]`` is ``HeadAblationCAM``, the library's map in one
    forward pass; any other layer, and ScoreCAM always, run the library's one pass per channel.

    Each call gets its own ``AblationLayer`` (the library's default argument is one shared, stateful
    instance), releases the library's hooks even when it fails (its context manager swallows
    ``IndexError``), and clears the parameter gradients Grad-CAM's backward pass leaves behind.
    """
    if inputs.ndim != 4 or len(inputs) != 1:
        raise ValueError(f"expected one image as (1, 3, H, W), got shape {tuple(inputs.shape)}")
    if method not in METHODS:
        raise ValueError(f"unknown CAM method {method!r}; expected one of {sorted(METHODS)}")
    module = layer(model, layer_name)
    if method == "ablationcam" and feeds_only_the_head(model, module):
        explainer = HeadAblationCAM(model, [module])
    else:
        options = {"ablation_layer": AblationLayer()} if method == "ablationcam" else {}
        explainer = METHODS[method](model=model, target_layers=[module], **options)
    try:
        maps = explainer(input_tensor=inputs, targets=[ClassifierOutputTarget(int(target))])
    finally:
        explainer.activations_and_grads.release()
        model.zero_grad(set_to_none=True)
    return maps[0]


@dataclass(frozen=True)
class CamKey:
    """Everything a map depends on: ``weights`` is a ``ResNet50.label`` (so a stand-in's map is never served
    for real weights), ``preprocessing`` the weights version whose resize and crop made the input."""

    weights: str
    preprocessing: str
    normalised: bool
    layer: str
    target: int
    image: str
    method: str

    def file_name(self) -> str:
        digest = hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:16]
        return f"{self.image}-{self.method}-{digest}.npy"


def cached_map(cache_dir: Path, key: CamKey, compute: Callable[[], np.ndarray]) -> np.ndarray:
    """The map stored under ``cache_dir/tml25-a4-cams`` for this key, else ``compute()`` stored there
    atomically (a killed run never leaves half a file that a later run would read)."""
    folder = Path(cache_dir) / CACHE_SUBDIR
    target = folder / key.file_name()
    if target.is_file():
        return np.load(target)
    result = np.asarray(compute(), dtype=np.float32)
    folder.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=folder, suffix=".partial")
    try:
        with os.fdopen(handle, "wb") as stream:
            np.save(stream, result)
        os.replace(temporary, target)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
    return result


def image_map(
    data: DataDir,
    network: ResNet50,
    key: str,
    method: str,
    *,
    version: str = "IMAGENET1K_V2",
    layer_name: str = LAST_CONV_LAYER,
    target: int | None = None,
    normalise: bool = True,
    cache_dir: Path | None = None,
) -> tuple[np.ndarray, int]:
    """One sample image's 224x224 map and the class it explains (``None``: the model's prediction, the
    assignment's "main prediction"), through the cache when ``cache_dir`` is given."""
    inputs = input_tensor(data, key, version, normalise)
    chosen = int(predict(network.model, inputs)[0]) if target is None else int(target)

    def compute() -> np.ndarray:
        return class_activation_map(network.model, inputs, method, layer_name, chosen)

    if cache_dir is None:
        return compute(), chosen
    cache_key = CamKey(network.label, weights_version(version), normalise, layer_name, chosen, key, method)
    return cached_map(cache_dir, cache_key, compute), chosen
