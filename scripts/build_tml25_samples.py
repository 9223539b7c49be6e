"""Writes the TML25 A4 sample class: seven team repositories, TML25_A4_01.zip to TML25_A4_07.zip, each as
GitHub's "Download ZIP" gives it (one top folder, TML25_A4_<n>-main/).

Run from the repository root: .venv/bin/python scripts/build_tml25_samples.py
The zips are committed; this script is how they were made and how to change them.

A repository holds what the assignment asks for: a README, the report PDF, four task notebooks, the
CLIP-dissect outputs of both ResNet18s and the Deliverable 4 pickle. Nothing here runs a model: the
dissection is drawn with a seeded generator and the pickle is written from the arguments the LIME notebook
passes, so a build takes seconds. LIME runs on 30 samples per image on purpose, so the class grades in
minutes; AblationCAM and ScoreCAM stay as teams write them (minutes per image on a CPU), for the grader's cell
time limit to cut. Team 01 is complete and correct; each other team differs from it by one planted difference.
"""

from __future__ import annotations

import ast
import contextlib
import json
import pickle
import random
import sys
import types
import zipfile
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import nbformat
import numpy as np
from lime.wrappers.scikit_image import SegmentationAlgorithm
from sample_notebooks import Cell, MutationError, mutate, sample_notebook
from sample_pdf import text_pdf
from sklearn.linear_model import Ridge

HERE = Path(__file__).resolve().parent.parent / "student_submissions" / "tml25-a4"
DATE = (2025, 7, 23, 12, 0, 0)  # the assignment's deadline
REPORT = "report/TML25_A4_{team}_report.pdf"
PICKLE = "lime_params.pkl"
TASK1, TASK2, TASK3, TASK4 = (
    "task1_network_dissection.ipynb",
    "task2_gradcam.ipynb",
    "task3_lime.ipynb",
    "task4_comparison.ipynb",
)

# The assignment's images: Deliverable 4's keys, in its order, each with the file its link names (spelt as
# the assignment spells it; the grader's data directory answers the link whatever its case).
IMAGE_FILES = {
    "West_Highland_white_terrier": "n02098286_West_HIGHLAND_white_terrier.jpeg",
    "American_coot": "n02018207_American_coot.jpeg",
    "racer": "n04037443_racer.jpeg",
    "flamingo": "n02007558_flamingo.jpeg",
    "kite": "n01608432_kite.jpeg",
    "goldfish": "n01443537_goldfish.jpeg",
    "tiger_shark": "n01491361_tiger_shark.jpeg",
    "vulture": "n01616318_vulture.jpeg",
    "common_iguana": "n01677366_common_iguana.jpeg",
    "orange": "n07747607_orange.jpeg",
}
LIME_ARGUMENTS: dict[str, Any] = {
    "top_labels": 1,
    "hide_color": 0,
    "num_samples": 10,
    "batch_size": 10,
    "random_seed": 0,
}
"""What every image's explain_instance gets besides image and classifier_fn: the notebook's LIME_ARGS and
each value of the pickle."""
LIME_MASK = "positive_only=True, num_features=5, hide_rest=False"

# ---- CLIP-dissect outputs -------------------------------------------------------------------------------------

LAYERS = {"layer2": 128, "layer3": 256, "layer4": 512}  # the last three layers of ResNet18, by their neurons
TEXTURES = (
    "dotted",
    "striped",
    "checkered",
    "grid",
    "lattice",
    "mesh",
    "woven",
    "honeycombed",
    "red",
    "green",
    "blue",
    "yellow",
    "white",
)
STUFF = ("sky", "grass", "water", "wood", "tree", "rock")
OBJECTS = ("dog", "bird", "fish", "car", "wheel", "face", "fur", "flower", "food", "cat", "snake", "insect")
SCENES = (
    "kitchen",
    "bedroom",
    "street",
    "mountain",
    "bathroom",
    "beach",
    "living room",
    "skyscraper",
    "highway",
    "forest",
    "building",
    "bookstore",
    "auditorium",
)
CATEGORIES = (TEXTURES, STUFF, OBJECTS, SCENES)
SIMILARITY = {"layer2": (0.06, 0.38), "layer3": (0.08, 0.5), "layer4": (0.12, 0.74)}
"""soft_wpmi similarities as CLIP-dissect reports them for ResNet18, rising with depth."""


@dataclass(frozen=True)
class Model:
    """One dissected ResNet18: how much each layer's neurons lean to textures, stuff, objects and scenes."""

    name: str
    folder: str
    target_model: str
    seed: int
    leaning: dict[str, tuple[float, float, float, float]]
    absent: frozenset[str]  # concepts no neuron of this model takes, so the two models' sets differ


IMAGENET = Model(
    "ResNet18 ImageNet",
    "results/resnet18_imagenet",
    "resnet18",
    2025,
    {"layer2": (6, 2, 1, 0.3), "layer3": (3, 2, 3, 0.7), "layer4": (0.6, 1.5, 7, 1.2)},
    frozenset({"auditorium", "bookstore", "skyscraper"}),
)
PLACES = Model(
    "ResNet18 Places365",
    "results/resnet18_places",
    "resnet18_places",
    365,
    {"layer2": (6, 2.5, 0.5, 0.6), "layer3": (3, 2.5, 1, 3), "layer4": (0.6, 2, 1.2, 7)},
    frozenset({"snake", "insect", "fur"}),
)
MODELS = (IMAGENET, PLACES)


@dataclass(frozen=True)
class Dissection:
    """The neuron labels of one model, one (layer, unit, description, similarity) row per neuron."""

    model: Model
    rows: list[tuple[str, int, str, float]]

    def counts(self, layer: str | None = None) -> Counter[str]:
        return Counter(concept for row_layer, _, concept, _ in self.rows if layer in (None, row_layer))

    def top(self, n: int, layer: str | None = None) -> list[tuple[str, int]]:
        """The most labelled concepts, ties in name order (as the notebook's stable sort ranks them)."""
        return sorted(self.counts(layer).items(), key=lambda item: (-item[1], item[0]))[:n]

    def csv(self) -> bytes:
        lines = ["layer,unit,description,similarity"]
        lines += [f"{layer},{unit},{concept},{similarity:.6f}" for layer, unit, concept, similarity in self.rows]
        return ("\n".join(lines) + "\n").encode()

    def args(self) -> bytes:
        """args.txt as describe_neurons.py dumps its argparse namespace (target_layers already split)."""
        arguments = {
            "clip_model": "ViT-B/16",
            "target_model": self.model.target_model,
            "target_layers": list(LAYERS),
            "d_probe": "broden",
            "concept_set": "data/20k.txt",
            "batch_size": 200,
            "device": "cuda",
            "activation_dir": "saved_activations",
            "result_dir": "results",
            "pool_mode": "avg",
            "similarity_fn": "soft_wpmi",
        }
        return json.dumps(arguments, indent=2).encode()


def dissect(model: Model) -> Dissection:
    """Labels drawn from a seeded generator: within a category the first-listed concepts are the commoner, so
    each model has clear favourites; random.Random draws the same on every platform."""
    rng = random.Random(model.seed)
    rows = []
    for layer, units in LAYERS.items():
        concepts, weights = [], []
        for category, leaning in zip(CATEGORIES, model.leaning[layer]):
            for rank, concept in enumerate(category):
                if concept not in model.absent:
                    concepts.append(concept)
                    weights.append(leaning / (1 + 0.3 * rank))
        low, high = SIMILARITY[layer]
        for unit in range(units):
            rows.append((layer, unit, rng.choices(concepts, weights)[0], rng.uniform(low, high)))
    return Dissection(model, rows)


def listing(counts: list[tuple[str, int]]) -> str:
    return ", ".join(f"{concept} ({count})" for concept, count in counts)


def dissection_findings(imagenet: Dissection, places: Dissection) -> dict[str, str]:
    """The numbers the report and the Task 1 notebook state, computed from the committed CSVs."""
    one, other = set(imagenet.counts()), set(places.counts())
    return {
        "imagenet_top": listing(imagenet.top(10)),
        "places_top": listing(places.top(10)),
        "imagenet_layer2": listing(imagenet.top(3, "layer2")),
        "places_layer2": listing(places.top(3, "layer2")),
        "imagenet_layer4": listing(imagenet.top(3, "layer4")),
        "places_layer4": listing(places.top(3, "layer4")),
        "imagenet_distinct": str(len(one)),
        "places_distinct": str(len(other)),
        "shared": str(len(one & other)),
        "only_imagenet": ", ".join(sorted(one - other)),
        "only_places": ", ".join(sorted(other - one)),
    }


# ---- notebooks ------------------------------------------------------------------------------------------------

TASK1_SETUP = """import matplotlib.pyplot as plt
import pandas as pd

# CLIP-dissect (describe_neurons.py, CLIP ViT-B/16, Broden probe images, 20k concept set) on the last three
# layers of both ResNet18s; its outputs are committed in results/.
RESULTS = {
    "ResNet18 ImageNet": "results/resnet18_imagenet/descriptions.csv",
    "ResNet18 Places365": "results/resnet18_places/descriptions.csv",
}
tables = {model: pd.read_csv(path) for model, path in RESULTS.items()}
for model, table in tables.items():
    print(model)
    print(table.groupby("layer")["unit"].count().rename("neurons labelled").to_string())
    print()"""

TASK1_TOP = """# Neurons per concept over layer2-layer4, ties in name order
counts = {
    model: table.groupby("description").size().sort_values(ascending=False, kind="stable")
    for model, table in tables.items()
}
for model, by_concept in counts.items():
    print(f"{model}: the ten most frequent concepts")
    print(by_concept.head(10).to_string())
    print()
for model, table in tables.items():
    for layer, rows in table.groupby("layer"):
        top = rows.groupby("description").size().sort_values(ascending=False, kind="stable").head(3)
        print(f"{model} {layer}: " + ", ".join(f"{concept} ({n})" for concept, n in top.items()))"""

TASK1_COMPARE = """# What the two models learned in common and apart
imagenet = set(tables["ResNet18 ImageNet"]["description"])
places = set(tables["ResNet18 Places365"]["description"])
print("distinct concepts: ResNet18 ImageNet", len(imagenet), "- ResNet18 Places365", len(places))
print("shared by both:", len(imagenet & places), sorted(imagenet & places))
print("only ResNet18 ImageNet:", sorted(imagenet - places))
print("only ResNet18 Places365:", sorted(places - imagenet))
for model, table in tables.items():
    print(model, "mean similarity per layer:", table.groupby("layer")["similarity"].mean().round(3).to_dict())"""

TASK1_PLOT = """# Histogram of the ten most frequent concepts of each model
fig, axes = plt.subplots(1, 2, figsize=(14, 5))
for ax, (model, by_concept) in zip(axes, counts.items()):
    top = by_concept.head(10)
    ax.bar(top.index, top.values, color="tab:blue" if "ImageNet" in model else "tab:green")
    ax.set_title(f"{model}: ten most frequent concepts (layer2-layer4)")
    ax.set_xlabel("Concept (CLIP-dissect description)")
    ax.set_ylabel("Number of neurons")
    ax.tick_params(axis="x", rotation=45)
plt.tight_layout()
plt.show()"""

TASK1_LAYERS_PLOT = """# How many distinct concepts each layer uses: deeper layers specialise
fig, ax = plt.subplots(figsize=(7, 4))
for model, table in tables.items():
    distinct = table.groupby("layer")["description"].nunique()
    ax.plot(distinct.index, distinct.values, marker="o", label=model)
ax.set_title("Distinct concepts per layer")
ax.set_xlabel("Layer")
ax.set_ylabel("Distinct concepts")
ax.legend()
plt.tight_layout()
plt.show()"""

TASK1_ANALYSIS = """### Analysis

**Which concepts are learned by most neurons?** Over layer2-layer4 (896 neurons per model) the ImageNet
ResNet18's most frequent concepts are {imagenet_top}. For the Places365 ResNet18 they are {places_top}.

**Per layer.** layer2 is dominated by textures and colours in both models (ImageNet: {imagenet_layer2};
Places365: {places_layer2}): at this depth the two networks still detect the same low-level patterns.
The models part ways in layer4, where ImageNet's neurons name objects and animals ({imagenet_layer4}) and
Places365's name scenes ({places_layer4}), matching the classes each network was trained to tell apart.

**How many different concepts?** ResNet18 ImageNet uses {imagenet_distinct} distinct concepts and ResNet18
Places365 {places_distinct}; {shared} are shared. Only ImageNet's neurons are labelled {only_imagenet}, only
Places365's {only_places}.

**Further analysis.** The mean similarity rises from layer2 to layer4 in both models, so CLIP-dissect is
more confident about the descriptions of deep neurons, whose activations line up with whole concepts rather
than local patterns. Many neurons share a description: the networks are redundant, and a concept such as
*dog* or *kitchen* is spread over dozens of units rather than held by one."""

TASK2_IMPORTS = """import io

import matplotlib.pyplot as plt
import numpy as np
import requests
import torch
import torchvision.transforms as T
from PIL import Image
from pytorch_grad_cam import AblationCAM, GradCAM, ScoreCAM
from pytorch_grad_cam.utils.image import show_cam_on_image
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
from torchvision.models import ResNet50_Weights, resnet50"""

MODEL = """weights = ResNet50_Weights.IMAGENET1K_V2
model = resnet50(weights=weights).eval()
categories = weights.meta["categories"]"""

IMAGES = (
    """# The ten ImageNet images of the assignment, fetched from their GitHub links
BASE = "https://github.com/EliSchwartz/imagenet-sample-images/blob/master/"
IMAGES = {
"""
    + "".join(f'    "{key}": "{name}",\n' for key, name in IMAGE_FILES.items())
    + """}


def fetch(name):
    response = requests.get(BASE + name + "?raw=true", timeout=30)
    response.raise_for_status()
    return Image.open(io.BytesIO(response.content)).convert("RGB")


# The IMAGENET1K_V2 preprocessing: resize the shorter side to 232, centre crop 224
crop = T.Compose([T.Resize(232), T.CenterCrop(224)])
# What the model sees: the crop as a tensor normalised with ImageNet's mean and std
to_model = T.Compose([T.ToTensor(), T.Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225])])

crops = {key: crop(fetch(name)) for key, name in IMAGES.items()}
pixels = {key: np.asarray(image) for key, image in crops.items()}  # uint8 224x224x3
rgbs = {key: np.asarray(image, dtype=np.float32) / 255.0 for key, image in crops.items()}  # for display
inputs = {key: to_model(image).unsqueeze(0) for key, image in crops.items()}"""
)

PREDICTIONS = """# The class ResNet50 predicts for each image: the class every CAM explains
with torch.no_grad():
    preds = {key: int(model(x).argmax(dim=1)) for key, x in inputs.items()}
for key, pred in preds.items():
    print(f"{key}: predicted {categories[pred]}")"""

SHOW_CAMS = """def show_cams(cam, method):
    \"\"\"One method's maps of the ten images in a 2x5 grid, each for the class the model predicts.\"\"\"
    fig, axes = plt.subplots(2, 5, figsize=(20, 9))
    for ax, key in zip(axes.flat, IMAGES):
        pred = preds[key]
        grayscale = cam(input_tensor=inputs[key], targets=[ClassifierOutputTarget(pred)])[0]
        ax.imshow(show_cam_on_image(rgbs[key], grayscale, use_rgb=True))
        ax.set_title(f"{method}: {key} (predicted: {categories[pred]})", fontsize=9)
        ax.axis("off")
    fig.suptitle(f"{method} on ResNet50 (IMAGENET1K_V2), last convolutional block layer4[-1]")
    plt.tight_layout()
    plt.show()"""

GRADCAM = """# Grad-CAM: gradients of the predicted class score at the last convolutional layer
with GradCAM(model=model, target_layers=[model.layer4[-1]]) as cam:
    show_cams(cam, "Grad-CAM")"""

SLOW_CAMS = """# ScoreCAM and AblationCAM, both without gradients and both slow on a CPU (minutes an image), so one cell.
# ScoreCAM: each channel's upsampled activation used as a mask on the input, weighted by the score it gets
with ScoreCAM(model=model, target_layers=[model.layer4[-1]]) as cam:
    show_cams(cam, "ScoreCAM")
# AblationCAM: how much the score drops when each of layer4's channels is zeroed (last: it swaps the layer out)
with AblationCAM(model=model, target_layers=[model.layer4[-1]]) as cam:
    show_cams(cam, "AblationCAM")"""

TASK2_ANALYSIS = """### Analysis

**Grad-CAM.** For most images the map covers the object that gives the predicted class: the terrier's face,
the flamingo's neck and body, the goldfish, the orange. For the racer the heat sits on the front of the car and
the wheels, not on the whole body, and for the kite (the bird of prey) on the head and the spread wings; the
background (sky, water, grass) stays cold. layer4 of ResNet50 is a 7x7 grid, so each map is a few coarse
blobs upsampled to 224x224: Grad-CAM says *where* the evidence is, not which edges or textures carry it.

**AblationCAM and ScoreCAM.** Both avoid gradients. AblationCAM weights each channel by the score lost when
it is removed; its maps agree with Grad-CAM on the main object but are cleaner where gradients saturate.
ScoreCAM weights each channel by the score of the input masked with it; its maps spread over more of the
object (the whole flamingo, the whole iguana) and are less noisy outside it. Both need one forward pass per
batch of layer4's 2048 channels, hundreds of times the cost of Grad-CAM's one backward pass.

**Where the methods disagree** is on cluttered images (the coot in water, the vulture on branches): there the
maps also mark context the model has learnt to use, which is where the explanations are most informative."""

TASK3_IMPORTS = """import io
import pickle

import matplotlib.pyplot as plt
import numpy as np
import requests
import torch
import torchvision.transforms as T
from lime import lime_image
from PIL import Image
from skimage.segmentation import mark_boundaries
from torchvision.models import ResNet50_Weights, resnet50"""

CLASSIFIER = """def classifier_fn(images):
    \"\"\"LIME's perturbed copies of a crop (N x 224 x 224 x 3, uint8) -> class probabilities (N x 1000).\"\"\"
    batch = torch.stack([to_model(image) for image in images])
    with torch.no_grad():
        return torch.softmax(model(batch), dim=1).numpy()"""

LIME_ARGS = (
    """# explain_instance's arguments, the same for every image (they are Deliverable 4): few samples, so the
# ten explanations take under a minute on a CPU; a fixed seed makes them repeatable
LIME_ARGS = {
"""
    + "".join(f'    "{name}": {value!r},\n' for name, value in LIME_ARGUMENTS.items())
    + "}"
)

EXPLAIN_FIRST = """# LIME, five images per cell: each explanation takes a few seconds on a CPU
explainer = lime_image.LimeImageExplainer()
explanations = {}
for key in list(IMAGES)[:5]:
    explanations[key] = explainer.explain_instance(pixels[key], classifier_fn, **LIME_ARGS)"""

EXPLAIN_REST = """for key in list(IMAGES)[5:]:
    explanations[key] = explainer.explain_instance(pixels[key], classifier_fn, **LIME_ARGS)"""

LIME_GRID = f"""fig, axes = plt.subplots(2, 5, figsize=(20, 9))
for ax, (key, explanation) in zip(axes.flat, explanations.items()):
    temp, mask = explanation.get_image_and_mask(explanation.top_labels[0], {LIME_MASK})
    ax.imshow(mark_boundaries(temp, mask))
    ax.set_title(f"LIME: {{key}}")
    ax.axis("off")
fig.suptitle("LIME: the five superpixels that most support the predicted class")
plt.tight_layout()
plt.show()"""

DELIVERABLE4 = f"""# Deliverable 4: the explain_instance arguments of each image (not the image, not classifier_fn)
lime_params = {{key: dict(LIME_ARGS) for key in IMAGES}}
with open("{PICKLE}", "wb") as file:
    pickle.dump(lime_params, file)
print(len(lime_params), "images:", list(lime_params))
print(lime_params["kite"])"""

TASK3_ANALYSIS = """### Analysis

LIME splits each crop into quickshift superpixels, switches random subsets of them off (hide_color=0
paints them black), and fits a weighted ridge regression from the on/off pattern to the predicted class's
probability; the five superpixels with the largest positive weights are outlined. With only 30 samples the
fit is rough, but it is repeatable (random_seed=0) and cheap, which the scoreboard rewards alongside IoU.

For objects that fill the frame (goldfish, orange, flamingo) the outlined superpixels lie on the object. For
the racer and the coot they include road and water next to the object: the superpixels follow colour edges,
not object boundaries, so a superpixel that straddles object and background is kept or dropped whole. LIME's
explanation is therefore blocky and depends on the segmentation, while Grad-CAM's depends on the 7x7 grid."""

TASK4_IMPORTS = """import io

import matplotlib.pyplot as plt
import numpy as np
import requests
import torch
import torchvision.transforms as T
from lime import lime_image
from PIL import Image
from pytorch_grad_cam import GradCAM
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
from skimage.segmentation import mark_boundaries
from torchvision.models import ResNet50_Weights, resnet50"""

TASK4_GRADCAM = """# Grad-CAM of the predicted class, as in Task 2
with GradCAM(model=model, target_layers=[model.layer4[-1]]) as cam:
    gradcam_maps = {
        key: cam(input_tensor=inputs[key], targets=[ClassifierOutputTarget(preds[key])])[0] for key in IMAGES
    }"""

TASK4_LIME = f"""# LIME with the parameters of Task 3 (Deliverable 4), five images per cell
explainer = lime_image.LimeImageExplainer()


def lime_mask(key):
    explanation = explainer.explain_instance(pixels[key], classifier_fn, **LIME_ARGS)
    _, mask = explanation.get_image_and_mask(explanation.top_labels[0], {LIME_MASK})
    return mask.astype(bool)


lime_masks = {{key: lime_mask(key) for key in list(IMAGES)[:5]}}"""

TASK4_LIME_REST = """lime_masks.update({key: lime_mask(key) for key in list(IMAGES)[5:]})"""

TASK4_IOU = """# IoU of the highlighted regions: Grad-CAM's top 20 % of pixels against LIME's five superpixels
def iou(a, b):
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 1.0


gradcam_regions = {key: cam_map >= np.percentile(cam_map, 80) for key, cam_map in gradcam_maps.items()}
ious = {key: iou(gradcam_regions[key], lime_masks[key]) for key in IMAGES}
for key, value in ious.items():
    print(f"{key}: IoU = {value:.3f}")
print(f"mean IoU = {np.mean(list(ious.values())):.3f}")

fig, ax = plt.subplots(figsize=(10, 4))
ax.bar(list(ious), list(ious.values()), color="tab:purple")
ax.axhline(np.mean(list(ious.values())), color="black", linestyle="--", label="mean")
ax.set_title("IoU of Grad-CAM (top 20 %) and LIME (top 5 superpixels) regions")
ax.set_xlabel("Image")
ax.set_ylabel("IoU")
ax.tick_params(axis="x", rotation=45)
ax.legend()
plt.tight_layout()
plt.show()"""

TASK4_OVERLAY = """# Both regions on each image: Grad-CAM's in red, LIME's superpixels outlined in yellow
fig, axes = plt.subplots(2, 5, figsize=(20, 9))
for ax, key in zip(axes.flat, IMAGES):
    overlay = rgbs[key].copy()
    overlay[gradcam_regions[key]] = 0.5 * overlay[gradcam_regions[key]] + 0.5 * np.array([1.0, 0.0, 0.0])
    ax.imshow(mark_boundaries(overlay, lime_masks[key].astype(int), color=(1, 1, 0)))
    ax.set_title(f"{key}: IoU {ious[key]:.2f}")
    ax.axis("off")
fig.suptitle("Grad-CAM region (red) and LIME superpixels (yellow)")
plt.tight_layout()
plt.show()"""

TASK4_ANALYSIS = """### Analysis

The two methods agree only in part: the IoU is well below 1 for every image. Grad-CAM's region is one or two
smooth blobs, because it is an upsampled 7x7 map; LIME's is a handful of superpixels whose borders follow
colour edges. Even where both point at the same object, the shapes differ, and IoU penalises that.

**Simple vs complex images.** For images with one large, centred object on a plain background (goldfish,
orange, flamingo) both methods land on the object and the IoU is among the highest. For cluttered scenes
(kite, vulture, American coot, racer) the IoU drops: Grad-CAM follows the few parts the last layer responds
to (a head, a wheel), while LIME's superpixels also pick context such as sky, branches or road, and with only
30 samples its choice of superpixels is noisy. So yes: on simpler images the methods agree more.

**What the difference means.** Grad-CAM reads the network's own features and gradients, so it is fast and
faithful to where the last layer looks, but coarse. LIME treats the model as a black box and tests the
input directly, so it can be sharper, but its answer depends on the segmentation, the number of samples and
the seed. Comparing both guards against trusting an artefact of either one."""


def task1_cells(findings: dict[str, str]) -> list[Cell]:
    """Read at call time, so a test that edits a cell builds from the edited text."""
    return [
        ("markdown", "Network Dissection of the last three layers of ResNet18 (ImageNet) and ResNet18 (Places365)."),
        ("code", TASK1_SETUP),
        ("code", TASK1_TOP),
        ("code", TASK1_COMPARE),
        ("code", TASK1_PLOT),
        ("code", TASK1_LAYERS_PLOT),
        ("markdown", TASK1_ANALYSIS.format(**findings)),
    ]


def task2_cells() -> list[Cell]:
    return [
        ("code", TASK2_IMPORTS),
        ("code", MODEL),
        ("code", IMAGES),
        ("code", PREDICTIONS),
        ("code", SHOW_CAMS),
        ("markdown", "## Grad-CAM"),
        ("code", GRADCAM),
        ("markdown", "## ScoreCAM and AblationCAM"),
        ("code", SLOW_CAMS),
        ("markdown", TASK2_ANALYSIS),
    ]


def task3_cells() -> list[Cell]:
    return [
        ("code", TASK3_IMPORTS),
        ("code", MODEL),
        ("code", IMAGES),
        ("code", CLASSIFIER),
        ("code", LIME_ARGS),
        ("code", EXPLAIN_FIRST),
        ("code", EXPLAIN_REST),
        ("code", LIME_GRID),
        ("code", DELIVERABLE4),
        ("markdown", TASK3_ANALYSIS),
    ]


def task4_cells() -> list[Cell]:
    return [
        ("code", TASK4_IMPORTS),
        ("code", MODEL),
        ("code", IMAGES),
        ("code", PREDICTIONS),
        ("code", CLASSIFIER),
        ("code", LIME_ARGS),
        ("code", TASK4_GRADCAM),
        ("code", TASK4_LIME),
        ("code", TASK4_LIME_REST),
        ("code", TASK4_IOU),
        ("code", TASK4_OVERLAY),
        ("markdown", TASK4_ANALYSIS),
    ]


HEADINGS = {
    TASK1: "# TML25 A4, Task 1: Network Dissection",
    TASK2: "# TML25 A4, Task 2: Grad-CAM, AblationCAM and ScoreCAM",
    TASK3: "# TML25 A4, Task 3: LIME (and Deliverable 4)",
    TASK4: "# TML25 A4, Task 4: Comparing Grad-CAM and LIME",
}


def correct_notebooks(findings: dict[str, str]) -> dict[str, list[Cell]]:
    return {TASK1: task1_cells(findings), TASK2: task2_cells(), TASK3: task3_cells(), TASK4: task4_cells()}


def mutated(
    notebooks: dict[str, list[Cell]], notebook: str, mutation: str, *changes: tuple[str, str]
) -> dict[str, list[Cell]]:
    """The notebooks with each change made in the one cell of ``notebook`` that holds its old text (exactly
    once), so an edit to the correct notebooks cannot silently build the wrong team."""
    cells = list(notebooks[notebook])
    for old, new in changes:
        holding = [index for index, (_, source) in enumerate(cells) if old in source]
        if len(holding) != 1:
            raise MutationError(
                f"mutation {mutation!r}: {old!r} is in {len(holding)} cells of {notebook}, expected one"
            )
        kind, source = cells[holding[0]]
        cells[holding[0]] = (kind, mutate(source, mutation, (old, new)))
    return {**notebooks, notebook: cells}


def notebook_bytes(name: str, cells: list[Cell]) -> bytes:
    """The notebook file; its code must still parse, so a mutation cannot plant a syntax error by accident."""
    for kind, source in cells:
        if kind == "code":
            ast.parse(source, filename=name)
    return nbformat.writes(sample_notebook(HEADINGS[name], cells)).encode()


# ---- Deliverable 4 ----------------------------------------------------------------------------------------------


def lime_pickle(arguments: dict[str, Any], keys: list[str] | None = None) -> bytes:
    """The pickle the Task 3 notebook writes: one dict of explain_instance arguments per image."""
    return pickle.dumps({key: dict(arguments) for key in keys or list(IMAGE_FILES)}, protocol=4)


def fitted_ridge() -> Ridge:
    """Ridge(alpha=1.0) as LIME leaves it after fitting, carrying coef_ and intercept_ arrays.

    The eight seeded rows have centred, orthogonal +-1 columns, so X'X + alpha*I = 9I and every step of the
    fit is exact in floating point: the pickle's bytes cannot depend on the machine's BLAS."""
    design = np.array([[1, 1], [1, -1], [-1, 1], [-1, -1], [1, 1], [1, -1], [-1, 1], [-1, -1]], dtype=float)
    coefficients = np.random.default_rng(0).integers(-3, 4, size=2)
    target = design @ (9 * coefficients) / 8 + 0.5
    regressor = Ridge(alpha=1.0).fit(design, target)
    if not np.array_equal(regressor.coef_, coefficients):
        raise AssertionError(f"the Ridge fit was not exact: {regressor.coef_} instead of {coefficients}")
    return regressor


def my_segmenter(image: np.ndarray) -> np.ndarray:
    """Team 03's notebook function, of which the pickle holds only the name."""
    from skimage.segmentation import slic

    return slic(image, n_segments=50, compactness=10, start_label=0)


@contextlib.contextmanager
def defined_in_notebook(function: Callable[..., Any]) -> Iterator[Callable[..., Any]]:
    """A copy of ``function`` that pickles as ``__main__.<name>``, as one defined in a notebook does: pickle
    writes a function by reference and checks that ``__main__`` holds it, so one is put there meanwhile."""
    name = function.__name__
    copy = types.FunctionType(function.__code__, function.__globals__, name)
    copy.__module__, copy.__qualname__ = "__main__", name
    notebook = types.ModuleType("__main__")
    setattr(notebook, name, copy)
    saved = sys.modules["__main__"]
    sys.modules["__main__"] = notebook
    try:
        yield copy
    finally:
        sys.modules["__main__"] = saved


# ---- the repositories -----------------------------------------------------------------------------------------


def readme(team: str) -> bytes:
    report = REPORT.format(team=team)
    return f"""# TML25 Assignment 4: Explainability - Team {team}

Network Dissection, Grad-CAM (with AblationCAM and ScoreCAM) and LIME on ResNet models, and a comparison
of Grad-CAM and LIME by IoU.

| What | Where |
| --- | --- |
| Report (Deliverables 1, 2, 3 and 5) | [{report}]({report}) |
| Task 1: Network Dissection with CLIP-dissect | [{TASK1}]({TASK1}) |
| Task 2: Grad-CAM, AblationCAM, ScoreCAM | [{TASK2}]({TASK2}) |
| Task 3: LIME, and the Deliverable 4 pickle | [{TASK3}]({TASK3}) |
| Task 4: Grad-CAM vs LIME (IoU) | [{TASK4}]({TASK4}) |
| CLIP-dissect outputs (descriptions.csv, args.txt) | [results/](results/): \
[resnet18_imagenet](results/resnet18_imagenet/), [resnet18_places](results/resnet18_places/) |
| Deliverable 4: explain_instance arguments per image | [{PICKLE}]({PICKLE}) |

## Reproducing

- Task 1: we ran CLIP-dissect's `describe_neurons.py` with `--target_model resnet18` and
  `--target_model resnet18_places`, `--target_layers layer2,layer3,layer4`, `--d_probe broden`; the outputs are in
  `results/` and the notebook reads them.
- Tasks 2-4 fetch the ten images from the assignment's links and use
  `resnet50(weights=ResNet50_Weights.IMAGENET1K_V2)`; run each notebook from the repository's root.
- `{TASK3}` writes `{PICKLE}`, the file we submitted.
""".encode()


def report_pdf(team: str, findings: dict[str, str]) -> bytes:
    arguments = ", ".join(f"{name}={value!r}" for name, value in LIME_ARGUMENTS.items())
    return text_pdf(
        [
            f"""# TML25 Assignment 4: Explainability
Team {team}. Code: the four task notebooks of this repository; data: results/ and lime_params.pkl.

# Task 1: Network Dissection
We labelled every neuron of layer2 (128), layer3 (256) and layer4 (512) of ResNet18 trained on ImageNet and of \
ResNet18 trained on Places365 with CLIP-dissect (CLIP ViT-B/16, Broden probe images, the 20k concept set, \
soft-WPMI similarity), 896 neurons per model.
Which concepts are learned by most neurons? For ResNet18 ImageNet: {findings["imagenet_top"]}. For ResNet18 \
Places365: {findings["places_top"]}.
Comparison. In layer2 both models are dominated by textures and colours (ImageNet: {findings["imagenet_layer2"]}; \
Places365: {findings["places_layer2"]}); the early layers learn the same low-level detectors whatever the \
training data. In layer4 they part ways: ImageNet's neurons describe objects and animals \
({findings["imagenet_layer4"]}), Places365's describe scenes ({findings["places_layer4"]}), mirroring the \
classes each network separates.
How many different concepts? ResNet18 ImageNet uses {findings["imagenet_distinct"]} distinct concepts, ResNet18 \
Places365 {findings["places_distinct"]}; {findings["shared"]} are shared. Only ImageNet's neurons are labelled \
{findings["only_imagenet"]}; only Places365's {findings["only_places"]}.
Further findings. The mean CLIP-dissect similarity grows with depth in both models: deep neurons match whole \
concepts, shallow ones only local patterns. Popular concepts are held by dozens of neurons each, so the \
representation is redundant; the histograms in the Task 1 notebook show the ten most frequent concepts of each \
model.""",
            """# Task 2: Grad-CAM, AblationCAM and ScoreCAM
We explain ResNet50 (IMAGENET1K_V2) on the ten images, preprocessed as its weights prescribe (resize to 232, \
centre crop 224, ImageNet mean and std), for the class the model predicts, at the last convolutional block \
layer4[-1].
Grad-CAM puts the heat on the object behind the prediction in most images: the terrier's face, the flamingo's \
neck and body, the goldfish, the orange. For the racer it marks the front of the car and the wheels, for the kite \
(the bird of prey) the head and wings; sky, water and grass stay cold. Because layer4 is a 7x7 grid, the maps are \
coarse blobs: they show where the evidence lies, not which edges or textures carry it.
AblationCAM weights each channel by the score lost when the channel is zeroed. Its maps agree with Grad-CAM on \
the main object and are cleaner where gradients saturate. ScoreCAM weights each channel by the score of the \
input masked with that channel's activation; its maps cover more of the object (the whole flamingo, the whole \
iguana) and less of the background. Both are gradient-free and more faithful to the score, at the price of one \
forward pass per batch of layer4's 2048 channels: minutes per image on a CPU, against a single backward pass for \
Grad-CAM.
The methods disagree most on cluttered images (the coot in water, the vulture on branches), where the maps also \
mark context that the network has learnt to use.""",
            f"""# Task 3: LIME
LIME segments each 224x224 crop into quickshift superpixels, hides random subsets of them (painted black), and \
fits a weighted ridge regression from the on/off pattern to the probability of the predicted class. We show the \
five superpixels with the largest positive weights (positive_only=True, num_features=5).
Parameters (Deliverable 4, the same for every image): {arguments}, LIME's default quickshift segmentation and \
ridge regressor. Few samples keep the ten explanations to about a minute on a CPU, which the scoreboard's time \
criterion rewards; the fixed seed makes them repeatable.
For objects that fill the frame (goldfish, orange, flamingo) the chosen superpixels lie on the object. For the \
racer and the coot they include road and water next to it: superpixels follow colour edges rather than object \
boundaries, so a superpixel that straddles object and background is kept or dropped whole. With 30 samples the \
regression is rough, and a different seed can swap the fifth superpixel; more samples would stabilise it at a \
higher cost.""",
            """# Task 4: Comparing Grad-CAM and LIME
We compare the regions the two methods highlight by IoU, on the 224x224 crop both explain: Grad-CAM's region is \
the top 20 % of its map, LIME's the five superpixels of Task 3. The Task 4 notebook prints the IoU of every \
image and their mean, and draws both regions on each image.
Agreement is partial: the IoU is well below 1 for every image. Grad-CAM's region is one or two smooth blobs \
(an upsampled 7x7 map), LIME's a handful of superpixels whose borders follow colour edges, so even when both \
point at the same object their shapes differ.
Simple vs complex images. With one large, centred object on a plain background (goldfish, orange, flamingo) \
both methods land on the object and the IoU is among the highest. In cluttered scenes (kite, vulture, coot, \
racer) the IoU drops: Grad-CAM follows the few parts the last layer responds to, while LIME's superpixels also \
pick context such as sky, branches or road. So yes, the methods agree more on simpler images.
Insight. Grad-CAM reads the network's own features and gradients: fast and faithful to where the last layer \
looks, but coarse. LIME probes the model as a black box: sharper, but dependent on the segmentation, the number \
of samples and the seed. Reading both guards against trusting an artefact of either.""",
        ]
    )


def repository(
    team: str,
    notebooks: dict[str, list[Cell]],
    dissections: tuple[Dissection, ...],
    params: bytes,
    report: bytes | None,
) -> dict[str, bytes]:
    """The repository's files by path; a team without a report (``None``) still links it from its README."""
    files = {"README.md": readme(team), PICKLE: params}
    files.update({name: notebook_bytes(name, cells) for name, cells in notebooks.items()})
    for dissection in dissections:
        files[f"{dissection.model.folder}/descriptions.csv"] = dissection.csv()
        files[f"{dissection.model.folder}/args.txt"] = dissection.args()
    if report is not None:
        files[REPORT.format(team=team)] = report
    return files


def teams() -> dict[str, dict[str, bytes]]:
    """Every team's files, built before anything is written, so a mutation that fails leaves no sample."""
    dissections = tuple(dissect(model) for model in MODELS)
    findings = dissection_findings(*dissections)
    correct = correct_notebooks(findings)
    params = lime_pickle(LIME_ARGUMENTS)

    live_objects = mutated(
        correct,
        TASK3,
        "live SegmentationAlgorithm and fitted Ridge in the pickle",
        (
            "from lime import lime_image\n",
            "from lime import lime_image\nfrom lime.wrappers.scikit_image import SegmentationAlgorithm\n",
        ),
        (
            "from skimage.segmentation import mark_boundaries\n",
            "from skimage.segmentation import mark_boundaries\nfrom sklearn.linear_model import Ridge\n",
        ),
        (
            '    "random_seed": 0,\n}',
            '    "random_seed": 0,\n'
            '    "segmentation_fn": SegmentationAlgorithm("quickshift", kernel_size=4, max_dist=200, ratio=0.2),\n'
            '    "model_regressor": Ridge(alpha=1.0),\n}',
        ),
    )
    live_params = lime_pickle(
        {
            **LIME_ARGUMENTS,
            "segmentation_fn": SegmentationAlgorithm("quickshift", kernel_size=4, max_dist=200, ratio=0.2),
            "model_regressor": fitted_ridge(),
        }
    )

    notebook_function = mutated(
        correct,
        TASK3,
        "a notebook function as segmentation_fn",
        (
            "from skimage.segmentation import mark_boundaries\n",
            "from skimage.segmentation import mark_boundaries, slic\n",
        ),
        (
            "LIME_ARGS = {\n",
            "def my_segmenter(image):\n"
            "    return slic(image, n_segments=50, compactness=10, start_label=0)\n\n\n"
            "LIME_ARGS = {\n",
        ),
        ('    "random_seed": 0,\n}', '    "random_seed": 0,\n    "segmentation_fn": my_segmenter,\n}'),
    )
    with defined_in_notebook(my_segmenter) as segmenter:
        function_params = lime_pickle({**LIME_ARGUMENTS, "segmentation_fn": segmenter})

    misspelt = mutated(
        correct,
        TASK3,
        "Tiger_Shark instead of tiger_shark",
        ('    "tiger_shark": "n01491361_tiger_shark.jpeg",\n', '    "Tiger_Shark": "n01491361_tiger_shark.jpeg",\n'),
    )
    misspelt_params = lime_pickle(
        LIME_ARGUMENTS, ["Tiger_Shark" if key == "tiger_shark" else key for key in IMAGE_FILES]
    )

    constant_target = mutated(
        correct,
        TASK2,
        "CAMs of class 0 for every image",
        ("targets=[ClassifierOutputTarget(pred)]", "targets=[ClassifierOutputTarget(0)]"),
    )
    unnormalised = mutated(
        correct,
        TASK2,
        "no Normalize before the model",
        (
            "# What the model sees: the crop as a tensor normalised with ImageNet's mean and std\n",
            "# What the model sees: the crop as a tensor\n",
        ),
        (
            "to_model = T.Compose([T.ToTensor(), T.Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225])])",
            "to_model = T.Compose([T.ToTensor()])",
        ),
    )

    variants = {
        "01": (correct, params, True),
        "02": (live_objects, live_params, True),
        "03": (notebook_function, function_params, True),
        "04": (misspelt, misspelt_params, True),
        "05": (constant_target, params, True),
        "06": (unnormalised, params, True),
        "07": (correct, params, False),  # no report PDF
    }
    return {
        team: repository(team, books, dissections, pickled, report_pdf(team, findings) if has_report else None)
        for team, (books, pickled, has_report) in variants.items()
    }


def write_repository(zip_path: Path, files: dict[str, bytes]) -> None:
    """A GitHub-style zip: every entry under ``<repository>-main/``, folders listed, entries sorted, fixed dates.
    Entries are stored, not deflated: deflate's bytes vary with the zlib build (zlib-ng among them), and the
    committed zips must come out the same wherever they are rebuilt."""
    top = f"{zip_path.stem}-main"
    folders = {parent.as_posix() for path in files for parent in PurePosixPath(path).parents if parent.name}
    entries = sorted([f"{top}/"] + [f"{top}/{folder}/" for folder in folders] + [f"{top}/{path}" for path in files])
    with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_STORED) as bundle:
        for entry in entries:
            info = zipfile.ZipInfo(entry, date_time=DATE)
            if entry.endswith("/"):
                info.external_attr = (0o40755 << 16) | 0x10
                bundle.writestr(info, b"")
            else:
                info.external_attr = 0o644 << 16
                bundle.writestr(info, files[entry.removeprefix(f"{top}/")])
    print(f"wrote {zip_path.name}")


def main(out: Path = HERE) -> None:
    built = teams()
    out.mkdir(parents=True, exist_ok=True)
    for team, files in built.items():
        write_repository(out / f"TML25_A4_{team}.zip", files)


if __name__ == "__main__":
    main()
