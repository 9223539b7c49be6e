"""The ten ImageNet images of Tasks 2-4, their true classes, and the preprocessing each ResNet50 weights
version documents: the 224x224 centre crop is the one grid that the model, the CAMs and LIME share."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from checks.data.assets import DataDir, MissingAssetError

IMAGE_KEYS = [
    "West_Highland_white_terrier",
    "American_coot",
    "racer",
    "flamingo",
    "kite",
    "goldfish",
    "tiger_shark",
    "vulture",
    "common_iguana",
    "orange",
]
"""The keys of Deliverable 4's dictionary, in the assignment's order (case-sensitive)."""

TRUE_CLASSES = {
    "West_Highland_white_terrier": 203,
    "American_coot": 137,
    "racer": 751,
    "flamingo": 130,
    "kite": 21,
    "goldfish": 1,
    "tiger_shark": 3,
    "vulture": 23,
    "common_iguana": 39,
    "orange": 950,
}
"""Each image's class in torchvision's ImageNet index order (the line of ``extras/imagenet_classes.txt``
that names it, counted from 0; "kite" is the bird, the only kite ImageNet has)."""

SAMPLES_FOLDER = "imagenet-samples"
CROP = 224
RESIZE = {"IMAGENET1K_V1": 256, "IMAGENET1K_V2": 232}
"""Shorter side before the centre crop, as ``ResNet50_Weights.<version>.transforms()`` resizes (bilinear)."""
WEIGHTS_ALIASES = {"DEFAULT": "IMAGENET1K_V2"}
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


def weights_version(version: str) -> str:
    """The canonical member name: torchvision's ``DEFAULT`` for ResNet50 is ``IMAGENET1K_V2``."""
    canonical = WEIGHTS_ALIASES.get(version, version)
    if canonical not in RESIZE:
        raise ValueError(f"unknown ResNet50 weights {version!r}; expected one of {[*RESIZE, *WEIGHTS_ALIASES]}")
    return canonical


def image_file(data: DataDir, key: str) -> Path:
    """The sample named ``<wnid>_<key>.JPEG``, matched case-blind on the part after the wnid (the
    assignment's own links spell one of them ``West_HIGHLAND_white_terrier``)."""
    if key not in TRUE_CLASSES:
        raise KeyError(f"{key!r} is not one of the assignment's image keys {IMAGE_KEYS}")
    matches = [
        path for path in data.path(SAMPLES_FOLDER).iterdir() if path.stem.partition("_")[2].lower() == key.lower()
    ]
    if len(matches) != 1:
        raise MissingAssetError(f"{len(matches)} files for {key!r} in {data.root / SAMPLES_FOLDER}; expected one")
    return matches[0]


def load_image(data: DataDir, key: str) -> Image.Image:
    with Image.open(image_file(data, key)) as opened:
        return opened.convert("RGB")


def centre_crop(image: Image.Image, version: str) -> np.ndarray:
    """uint8 (224, 224, 3): ``Resize(shorter side)`` then ``CenterCrop(224)`` of the version, as torchvision
    computes them on a PIL image (so the pixels equal those its own transforms see)."""
    shorter = RESIZE[weights_version(version)]
    width, height = image.size
    size = (shorter, int(shorter * height / width)) if width <= height else (int(shorter * width / height), shorter)
    resized = image.resize(size, Image.Resampling.BILINEAR)
    left = int(round((resized.width - CROP) / 2.0))
    top = int(round((resized.height - CROP) / 2.0))
    return np.asarray(resized.crop((left, top, left + CROP, top + CROP)))


def display_image(data: DataDir, key: str, version: str = "IMAGENET1K_V2") -> np.ndarray:
    """The centre crop before normalisation: the image LIME is handed and the grid every CAM is drawn on."""
    return centre_crop(load_image(data, key), version)


def to_input(pixels: np.ndarray, normalise: bool = True) -> torch.Tensor:
    """(N, 3, H, W) float input of (H, W, 3) or (N, H, W, 3) pixels: uint8 is divided by 255 (as
    ``ToTensor`` does), float is taken to be in [0, 1] already; ``normalise`` applies ImageNet's mean/std."""
    array = np.asarray(pixels)
    if array.ndim == 3:
        array = array[None]
    if array.ndim != 4 or array.shape[-1] != 3:
        raise ValueError(f"expected (H, W, 3) or (N, H, W, 3) RGB pixels, got shape {array.shape}")
    if array.dtype == np.uint8:
        batch = torch.from_numpy(array.astype(np.float32) / 255.0)
    elif np.issubdtype(array.dtype, np.floating):
        if array.size and (array.min() < 0 or array.max() > 1):
            raise ValueError("float pixels must lie in [0, 1]; pass uint8 for 0-255 values")
        batch = torch.from_numpy(array.astype(np.float32))
    else:
        raise ValueError(f"pixels must be uint8 or float in [0, 1], got {array.dtype}")
    batch = batch.permute(0, 3, 1, 2).contiguous()
    if normalise:
        batch = (batch - torch.tensor(MEAN)[:, None, None]) / torch.tensor(STD)[:, None, None]
    return batch


def input_tensor(data: DataDir, key: str, version: str = "IMAGENET1K_V2", normalise: bool = True) -> torch.Tensor:
    """(1, 3, 224, 224): the version's preprocessing of one image, with or without ImageNet normalisation."""
    return to_input(display_image(data, key, version), normalise)
