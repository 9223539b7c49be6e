"""The ground-truth explanations that score a team's LIME parameters (Deliverable 4), and the score.

The instructor's server keeps its own ground truth, which the assignment never shows. When the data
directory holds it as ``tml25-a4/ground_truth/<key>.npy`` (boolean 224x224 on the centre-crop grid, one
per image key) those masks are used. Otherwise the reference builds a stated default: the Grad-CAM of
each image at ``layer4[-1]`` for the model's predicted class, on ResNet50 IMAGENET1K_V2 (or its
stand-in) with the V2 preprocessing and normalised input, its region the top 20 % of pixels.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from checks.data.assets import DataDir
from reference.tml25_a4.cams import LAST_CONV_LAYER, image_map
from reference.tml25_a4.images import CROP, IMAGE_KEYS
from reference.tml25_a4.iou import DEFAULT_RULE, cam_region, iou
from reference.tml25_a4.network import resnet50

INSTRUCTOR_FOLDER = "tml25-a4/ground_truth"
DEFAULT_VERSION = "IMAGENET1K_V2"


@dataclass(frozen=True)
class GroundTruth:
    """One boolean 224x224 mask per image key, and a sentence that says where they come from."""

    masks: dict[str, np.ndarray]
    provenance: str


def _instructor_masks(data: DataDir) -> dict[str, np.ndarray]:
    """Every key's mask; a folder that lacks one or holds a malformed one is an error rather than a reason
    to fall back to the default, which would score teams against something the instructor did not supply."""
    folder = data.root / INSTRUCTOR_FOLDER
    missing = [key for key in IMAGE_KEYS if not (folder / f"{key}.npy").is_file()]
    if missing:
        raise ValueError(f"{folder} lacks the ground truth of {missing}")
    masks = {}
    for key in IMAGE_KEYS:
        mask = np.load(folder / f"{key}.npy", allow_pickle=False)
        if mask.dtype != bool or mask.shape != (CROP, CROP):
            raise ValueError(f"{folder / key}.npy must be a boolean {CROP}x{CROP} mask, not {mask.dtype} {mask.shape}")
        masks[key] = mask
    return masks


def ground_truth(data: DataDir) -> GroundTruth:
    """The instructor's masks when the data directory has the folder, else the reference's default."""
    if (data.root / INSTRUCTOR_FOLDER).is_dir():
        provenance = f"the instructor's ground-truth masks from {data.root / INSTRUCTOR_FOLDER}"
        return GroundTruth(_instructor_masks(data), provenance)
    network = resnet50(data, DEFAULT_VERSION)
    masks = {}
    for key in IMAGE_KEYS:
        cam, _ = image_map(data, network, key, "gradcam", version=DEFAULT_VERSION)
        masks[key] = cam_region(cam, DEFAULT_RULE)
    provenance = (
        "no instructor ground truth in the data directory: the reference's default, the top 20 % of the "
        f"Grad-CAM ({LAST_CONV_LAYER}, predicted class, normalised input) of {network.label}"
    )
    return GroundTruth(masks, provenance)


def score(masks: Mapping[str, np.ndarray], truth: Mapping[str, np.ndarray]) -> tuple[dict[str, float], float]:
    """IoU of each key's mask with its ground truth, and their mean. The keys must be the truth's keys
    exactly (the assignment asks for all ten, spelled as given), each mask on the truth's grid."""
    if set(masks) != set(truth):
        missing, extra = sorted(set(truth) - set(masks)), sorted(set(masks) - set(truth))
        raise ValueError(f"mask keys differ from the ground truth's: missing {missing}, unexpected {extra}")
    per_key = {key: iou(masks[key], truth[key]) for key in truth}
    return per_key, float(np.mean(list(per_key.values())))
