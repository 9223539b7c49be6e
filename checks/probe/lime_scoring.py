"""Run a team's LIME parameters inside the sandboxed kernel, for the grader to score.

The parameters were read by the grader's allow-list unpickler and arrive as plain JSON specs, from which
``lime_rebuild`` makes fresh objects; the ten images arrive as the grader's own 224x224 crops. The model is
warmed once, then each image is explained one after another with a fixed seed, each ``repeats`` times so
that its time can be reported as a median, and only masks and times leave, as plain files: the grader
computes the IoU itself. The grader kills this kernel at its cut-off.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from .lime_rebuild import explain_kwargs

MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
MASK_FEATURES = 5


def classifier(model):
    """What LIME calls: a batch of HxWx3 images in 0..255 (as it copies the uint8 image) to softmax scores."""
    import torch

    mean = torch.tensor(MEAN).view(1, 3, 1, 1)
    std = torch.tensor(STD).view(1, 3, 1, 1)

    def classify(images: np.ndarray) -> np.ndarray:
        batch = torch.from_numpy(np.asarray(images, dtype=np.float32) / 255.0).permute(0, 3, 1, 2)
        with torch.no_grad():
            return torch.softmax(model((batch - mean) / std), dim=1).numpy()

    return classify


def explanation_label(explanation) -> int:
    """The class an explanation is read for: its top label when ``top_labels`` was used (the most probable
    class), else the first of the ``labels`` it was asked to explain."""
    top_labels = getattr(explanation, "top_labels", None)
    return int(top_labels[0]) if top_labels else int(next(iter(explanation.local_exp)))


def explanation_mask(explanation, label: int | None = None, num_features: int = MASK_FEATURES) -> np.ndarray:
    """Boolean (H, W) region of an explanation: the superpixels of the ``num_features`` largest positive
    weights for ``label`` (None: ``explanation_label``), i.e. ``get_image_and_mask(label,
    positive_only=True, num_features=num_features, hide_rest=False)[1] > 0``. Fewer positive superpixels
    give a smaller region; none gives an empty one."""
    chosen = explanation_label(explanation) if label is None else label
    if chosen not in explanation.local_exp:
        raise ValueError(f"no weights for class {chosen}; the explanation explains {list(explanation.local_exp)}")
    positive = [segment for segment, weight in explanation.local_exp[chosen] if weight > 0][:num_features]
    return np.isin(explanation.segments, positive)


def score(seed: int, repeats: int) -> None:
    """Explain every image of the inbox's ``specs.json`` with its parameters; write ``<key>.npy`` masks and
    the times to the exchange folder's ``lime/``."""
    import torch
    import torchvision
    from lime.lime_image import LimeImageExplainer

    from . import _state

    inbox, out = _state["inbox"], _state["exchange"] / "lime"
    specs = json.loads(Path(inbox, "specs.json").read_text(encoding="utf-8"))
    model = torchvision.models.resnet50(weights=torchvision.models.ResNet50_Weights.IMAGENET1K_V2).eval()
    classify = classifier(model)
    out.mkdir(parents=True, exist_ok=True)
    times: dict[str, list[float]] = {}
    for key in sorted(specs):
        image = np.load(Path(inbox, f"{key}.npy"), allow_pickle=False)
        classify(image[None])  # the first image warms the model up before anything is timed
        kwargs = explain_kwargs(specs[key])
        times[key] = []
        for _ in range(repeats):
            torch.manual_seed(seed)
            started = time.perf_counter()
            explanation = LimeImageExplainer(random_state=seed).explain_instance(image, classify, **kwargs)
            times[key].append(time.perf_counter() - started)
        np.save(out / f"{key}.npy", explanation_mask(explanation), allow_pickle=False)
        Path(out, "times.json").write_text(json.dumps(times), encoding="utf-8")
