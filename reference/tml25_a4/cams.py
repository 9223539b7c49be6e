"""Task 2: Grad-CAM, AblationCAM and ScoreCAM through the library the assignment names (pytorch-grad-cam
1.5.7), and a cache of the maps: AblationCAM and ScoreCAM run one forward pass per channel of the layer
(2048 on ResNet50's last block), minutes per image on one core, so a class computes each map once."""

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
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
from torch import nn

from checks.data.assets import DataDir
from reference.tml25_a4.images import input_tensor, weights_version
from reference.tml25_a4.network import ResNet50, layer, predict

METHODS = {"gradcam": GradCAM, "ablationcam": AblationCAM, "scorecam": ScoreCAM}
LAST_CONV_LAYER = "layer4[-1]"
CACHE_SUBDIR = "tml25-a4-cams"


def class_activation_map(
    model: nn.Module, inputs: torch.Tensor, method: str, layer_name: str, target: int
) -> np.ndarray:
    """The (H, W) map of one (1, 3, H, W) input for class ``target``, in [0, 1] as the library returns it
    (ReLU, then resized to the input with OpenCV's bilinear resize, then rescaled by its maximum).

    Each call gets its own ``AblationLayer`` (the library's default argument is one shared, stateful
    instance), releases the library's hooks even when it fails (its context manager swallows
    ``IndexError``), and clears the parameter gradients Grad-CAM's backward pass leaves behind.
    """
    if inputs.ndim != 4 or len(inputs) != 1:
        raise ValueError(f"expected one image as (1, 3, H, W), got shape {tuple(inputs.shape)}")
    if method not in METHODS:
        raise ValueError(f"unknown CAM method {method!r}; expected one of {sorted(METHODS)}")
    options = {"ablation_layer": AblationLayer()} if method == "ablationcam" else {}
    explainer = METHODS[method](model=model, target_layers=[layer(model, layer_name)], **options)
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
