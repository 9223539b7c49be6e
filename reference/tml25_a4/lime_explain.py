"""Task 3 and Deliverable 4: LIME's ``explain_instance`` run with a team's parameters, as the instructor's
server runs it, and the region of an explanation that is compared with the ground truth by IoU."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import torch
from lime import lime_image
from PIL import Image
from torch import nn

from reference.tml25_a4.images import CROP, centre_crop, to_input

Classifier = Callable[[np.ndarray], np.ndarray]
NOT_PARAMETERS = ("image", "classifier_fn")
"""The two arguments Deliverable 4 says a team must leave out of its parameters."""


def _as_uint8(image: np.ndarray) -> np.ndarray:
    if image.dtype == np.uint8:
        return image
    if image.min() < 0 or image.max() > 1:
        raise ValueError("float images must lie in [0, 1]; pass uint8 for 0-255 values")
    return np.round(image * 255).astype(np.uint8)


def classifier_fn(model: nn.Module, normalise: bool = True, version: str = "IMAGENET1K_V2") -> Classifier:
    """The function LIME calls with an (N, H, W, 3) batch, which holds the dtype of the image it was given
    (uint8 0-255 or float in [0, 1]); it returns (N, classes) softmax probabilities as numpy.

    A 224x224 batch is taken to be the centre crop already (the reference hands LIME ``display_image``).
    Any other size is a whole photo: each image gets the version's resize and centre crop first, in PIL
    and so on uint8 pixels (a float image is rounded back to 0-255, exact for one decoded from a JPEG).
    ``normalise`` applies ImageNet's mean/std, which the pretrained weights expect.
    """

    def classify(images: np.ndarray) -> np.ndarray:
        batch = np.asarray(images)
        if batch.shape[1:3] != (CROP, CROP):
            batch = np.stack([centre_crop(Image.fromarray(_as_uint8(image)), version) for image in batch])
        device = next(model.parameters()).device
        model.eval()
        with torch.no_grad():
            return torch.softmax(model(to_input(batch, normalise).to(device)), dim=1).cpu().numpy()

    return classify


def explain(
    image: np.ndarray, classifier: Classifier, params: Mapping[str, Any], seed: int
) -> lime_image.ImageExplanation:
    """``LimeImageExplainer(random_state=seed).explain_instance(image, classifier, **params)``.

    The seed fixes LIME's perturbations and, unless ``params`` hold ``random_seed``, its quickshift
    segmentation, so one seed gives one explanation. The parameters are passed unchanged: lime 0.2.0.1
    has no ``progress_bar`` argument (the assignment's signature comes from a later lime), and parameters
    that hold it fail with lime's own ``TypeError``; what to do then is the caller's decision.
    """
    forbidden = [name for name in NOT_PARAMETERS if name in params]
    if forbidden:
        raise ValueError(f"the parameters must not include {forbidden}: Deliverable 4 leaves them out")
    explainer = lime_image.LimeImageExplainer(random_state=seed)
    return explainer.explain_instance(image, classifier, **params)
