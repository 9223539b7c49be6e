"""TML25 A4's Grad-CAM and LIME setup read from a notebook's code without running it
(checks.finders.cam_setup), on snippets in the styles teams write, and on hostile code that must read
fast and say "unknown"."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from checks.finders.cam_setup import UNKNOWN, CamSetup, Found, read_cam_setup

IMPORTS = """\
import numpy as np
import torch
import torchvision
from torchvision import models, transforms
import torchvision.transforms as T
from torchvision.models import resnet50, ResNet50_Weights
from pytorch_grad_cam import GradCAM, AblationCAM, ScoreCAM
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
from pytorch_grad_cam.utils.image import show_cam_on_image, preprocess_image
"""
MODEL = "model = resnet50(weights=ResNet50_Weights.IMAGENET1K_V2).eval()\n"


def read(*sources: str) -> CamSetup:
    """A notebook of these code cells after a markdown title (so the first code cell is cell 1)."""
    cells = [new_markdown_cell("# TML25 A4"), *(new_code_cell(source) for source in sources)]
    return read_cam_setup(new_notebook(cells=cells))


def values(found: tuple[Found, ...]) -> list:
    return [item.value for item in found]


# Weights


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("model = resnet50(weights=ResNet50_Weights.IMAGENET1K_V2)", "IMAGENET1K_V2"),
        ("model = models.resnet50(weights='IMAGENET1K_V1')", "IMAGENET1K_V1"),
        ("model = models.resnet50(weights=models.ResNet50_Weights.DEFAULT)", "IMAGENET1K_V2"),
        ("weights = ResNet50_Weights.DEFAULT\nmodel = resnet50(weights=weights)", "IMAGENET1K_V2"),
        ("model = torchvision.models.resnet50(pretrained=True)", "IMAGENET1K_V1"),
        ("model = resnet50(pretrained=False)", "none"),
        ("model = resnet50(weights=None)", "none"),
        ("model = resnet50()", "none"),
        ("model = torch.hub.load('pytorch/vision', 'resnet50', pretrained=True)", "IMAGENET1K_V1"),
        ("model = torchvision.models.get_model('resnet50', weights='ResNet50_Weights.IMAGENET1K_V2')", "IMAGENET1K_V2"),
        (
            "from torchvision.models import ResNet50_Weights as RW\nmodel = resnet50(weights=RW.IMAGENET1K_V1)",
            "IMAGENET1K_V1",
        ),
        ("model = resnet50(weights=ResNet50_Weights['IMAGENET1K_V2'])", "IMAGENET1K_V2"),
        ("model = resnet50(weights=pick_weights())", UNKNOWN),
        ("model = resnet50(weights=ResNet18_Weights.IMAGENET1K_V1)", UNKNOWN),
        ("model = resnet50(pretrained=use_pretrained)", UNKNOWN),
    ],
)
def test_weights(code: str, expected: str) -> None:
    setup = read(IMPORTS, code)
    assert values(setup.weights) == [expected]
    assert setup.weights[0].cell == 2


def test_weights_default_is_explained() -> None:
    (found,) = read(IMPORTS, "model = resnet50(weights=ResNet50_Weights.DEFAULT)").weights
    assert "DEFAULT is IMAGENET1K_V2" in found.detail


@pytest.mark.parametrize(
    "code",
    [
        "model = models.resnet18(weights=models.ResNet18_Weights.IMAGENET1K_V1)",
        "model = torch.hub.load('pytorch/vision', 'resnet18', pretrained=True)",
        "model = torch.load('resnet50.pth')",
        "state = json.load(open('resnet50.json'))",
    ],
)
def test_no_resnet50_means_no_weights(code: str) -> None:
    assert read(IMPORTS, code).weights == (Found(UNKNOWN, None, "no ResNet50 is built in the code"),)


def test_each_model_has_its_weights() -> None:
    setup = read(
        IMPORTS, "a = resnet50(weights='IMAGENET1K_V1')", "b = resnet50(weights=ResNet50_Weights.IMAGENET1K_V2)"
    )
    assert [(found.value, found.cell) for found in setup.weights] == [("IMAGENET1K_V1", 2), ("IMAGENET1K_V2", 3)]


# Normalisation, resize and crop


@pytest.mark.parametrize(
    "code",
    [
        "p = T.Compose([T.ToTensor(), T.Normalize(mean=[0.485, 0.456, 0.406], std=[0.229,0.224,0.225])])",
        "p = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))])",
        "MEAN = [0.485, 0.456, 0.406]\nSTD = np.array([0.229, 0.224, 0.225])\nnorm = T.Normalize(MEAN, STD)",
        "from torchvision.transforms import v2\np = v2.Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225])",
        "p = T.Normalize(mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375])",
        "import torchvision.transforms.functional as TF\nx = TF.normalize(t, [0.485, 0.456, 0.406], [0.229, 0.224, 0.225])",
        "weights = ResNet50_Weights.DEFAULT\npreprocess = weights.transforms()",
        "mean = torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1)\nx = (x - mean) / std",
    ],
)
def test_normalised(code: str) -> None:
    assert values(read(IMPORTS, code).normalised) == [True]


def test_a_pipeline_without_normalize_is_not_normalised() -> None:
    setup = read(IMPORTS, "p = T.Compose([T.Resize(256), T.CenterCrop(224), T.ToTensor()])")
    assert values(setup.normalised) == [False]
    assert "without Normalize" in setup.normalised[0].detail


def test_other_statistics_are_not_imagenet() -> None:
    (found,) = read(IMPORTS, "p = T.Compose([T.ToTensor(), T.Normalize([0.5, 0.5, 0.5], [0.5, 0.5, 0.5])])").normalised
    assert found.value is False and "not ImageNet's" in found.detail


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("x = 1", UNKNOWN),
        ("p = T.Normalize(mean=stats['mean'], std=stats['std'])", UNKNOWN),
        ("import torch.nn.functional as F\nz = F.normalize(features, dim=1)", UNKNOWN),
    ],
)
def test_normalisation_not_read(code: str, expected: str) -> None:
    assert values(read(IMPORTS, code).normalised) == [expected]


def test_preprocess_image_without_statistics_uses_its_own_defaults() -> None:
    setup = read(IMPORTS, "input_tensor = preprocess_image(rgb_img)")
    assert values(setup.preprocess_cam) == [True]
    assert values(setup.normalised) == [False]
    assert "mean=std=0.5" in setup.normalised[0].detail


def test_preprocess_image_with_imagenet_statistics() -> None:
    setup = read(IMPORTS, "x = preprocess_image(rgb, mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225])")
    assert values(setup.preprocess_cam) == [True] and values(setup.normalised) == [True]
    assert values(read(IMPORTS, MODEL).preprocess_cam) == [False]


def test_normalisation_is_notebook_wide() -> None:
    """The rule: a Normalize anywhere counts, even one only LIME's pipeline uses; the CAM input made by
    preprocess_image without statistics is reported beside it, not instead of it."""
    setup = read(
        IMPORTS,
        "lime_transform = T.Compose([T.ToTensor(), T.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])",
        "cam_input = preprocess_image(rgb_img)\nplain = T.Compose([T.ToTensor()])",
    )
    assert [(found.value, found.cell) for found in setup.normalised] == [(True, 2), (False, 3)]


@pytest.mark.parametrize(
    ("code", "resize", "crop"),
    [
        ("p = T.Compose([T.Resize(256), T.CenterCrop(224), T.ToTensor()])", 256, 224),
        ("p = transforms.Compose([transforms.Resize((224, 224)), transforms.ToTensor()])", (224, 224), None),
        ("p = T.Resize(size=[232])", (232,), None),
        ("import cv2\nimg = cv2.resize(img, (300, 200))", (200, 300), None),
        ("img = Image.open(path).convert('RGB')\nimg = img.resize((224, 224))", (224, 224), None),
        ("t = ResNet50_Weights.IMAGENET1K_V1.transforms()", 256, 224),
        ("t = ResNet50_Weights.IMAGENET1K_V2.transforms()", 232, 224),
        ("import torchvision.transforms.functional as F\nx = F.center_crop(F.resize(img, 256), 224)", 256, 224),
        ("a = np.resize(a, (3, 3))\nb = x.resize_(4)", None, None),
        ("x = torch.nn.functional.interpolate(x, size=(224, 224))", None, None),
    ],
)
def test_resize_and_crop(code: str, resize: object, crop: object) -> None:
    setup = read(IMPORTS, code)
    assert values(setup.resize) == [resize]
    assert values(setup.crop) == [crop]


# Methods and their layers


def only_method(setup: CamSetup):
    (method,) = setup.methods
    return method


@pytest.mark.parametrize(
    ("code", "layers"),
    [
        ("cam = GradCAM(model=model, target_layers=[model.layer4[-1]])", ("layer4[-1]",)),
        ("cam = GradCAM(model, [model.layer4[-1]])", ("layer4[-1]",)),
        (
            "target_layers = [model.layer4[-1]]\ncam = GradCAM(model=model, target_layers=target_layers)",
            ("layer4[-1]",),
        ),
        ("layer = model.layer4\ncam = GradCAM(model=model, target_layers=[layer[-1]])", ("layer4[-1]",)),
        ("cam = GradCAM(model=model, target_layers=[model.layer4[-1].conv3])", ("layer4[-1].conv3",)),
        ("cam = GradCAM(model=model, target_layers=[model.layer4])", ("layer4",)),
        ("cam = GradCAM(model=net, target_layers=[net.module.layer4[-1]])", ("layer4[-1]",)),
        ("cam = GradCAM(model=self.model, target_layers=[self.model.layer4[-1]])", ("layer4[-1]",)),
        (
            "cam = GradCAM(model=model, target_layers=[model.layer3[-1], model.layer4[-1]])",
            ("layer3[-1]", "layer4[-1]"),
        ),
        ("cam = GradCAM(model=model, target_layers=find_layers(model))", (UNKNOWN,)),
        ("cam = GradCAM(model=model, target_layers=[list(model.children())[-3]])", (UNKNOWN,)),
    ],
)
def test_target_layers(code: str, layers: tuple[str, ...]) -> None:
    method = only_method(read(IMPORTS, MODEL, code))
    assert (method.name, method.layers, method.cell) == ("GradCAM", layers, 3)


@pytest.mark.parametrize(
    ("layer", "note"),
    [
        ("model.layer4[2]", "layer4[2] is layer4[-1] in ResNet50"),
        ("model.layer4[3]", "IndexError"),
        ("model.layer4", "same output as layer4[-1]"),
    ],
)
def test_layer_notes(layer: str, note: str) -> None:
    method = only_method(read(IMPORTS, MODEL, f"cam = ScoreCAM(model=model, target_layers=[{layer}])"))
    assert any(note in text for text in method.notes)


def test_a_layer_not_in_a_list_is_noted() -> None:
    method = only_method(read(IMPORTS, MODEL, "cam = GradCAM(model=model, target_layers=model.layer4)"))
    assert method.layers == ("layer4",) and any("not a list" in note for note in method.notes)


def test_options_and_removed_parameters() -> None:
    setup = read(
        IMPORTS,
        MODEL,
        "cam = AblationCAM(model=model, target_layers=[model.layer4[-1]], ratio_channels_to_ablate=0.5)\n"
        "cam.batch_size = 32\n"
        "old = GradCAM(model=model, target_layers=[model.layer4[-1]], use_cuda=True)\n"
        "g = old(input_tensor=x, targets=None, aug_smooth=True)",
    )
    ablation, grad = setup.methods
    assert ablation.options == {"ratio_channels_to_ablate": 0.5, "batch_size": 32} and not ablation.notes
    assert grad.options == {"use_cuda": True, "aug_smooth": True}
    assert any("use_cuda was removed" in note for note in grad.notes)


def test_a_positional_boolean_was_use_cuda() -> None:
    method = only_method(read(IMPORTS, MODEL, "cam = GradCAM(model, [model.layer4[-1]], True)"))
    assert method.options == {"reshape_transform": True}
    assert any("use_cuda" in note for note in method.notes)


def test_methods_through_aliases_and_collections() -> None:
    setup = read(
        "from pytorch_grad_cam import GradCAM as GC\nimport pytorch_grad_cam as pgc\n" + MODEL,
        "a = GC(model=model, target_layers=[model.layer4[-1]])\nb = pgc.EigenCAM(model, [model.layer4[-1]])",
        "METHODS = {'gradcam': GC, 'scorecam': pgc.ScoreCAM, 'ablation': pgc.AblationCAM}\n"
        "target_layers = [model.layer3[-1]]\n"
        "for name, cls in METHODS.items():\n"
        "    with cls(model=model, target_layers=target_layers) as cam:\n"
        "        maps[name] = cam(input_tensor=x, targets=None)",
    )
    assert [(method.name, method.layers, method.cell) for method in setup.methods] == [
        ("GradCAM", ("layer4[-1]",), 2),
        ("EigenCAM", ("layer4[-1]",), 2),
        ("GradCAM", ("layer3[-1]",), 3),
        ("ScoreCAM", ("layer3[-1]",), 3),
        ("AblationCAM", ("layer3[-1]",), 3),
    ]


def test_a_function_called_with_each_method() -> None:
    setup = read(
        IMPORTS,
        MODEL,
        "def run_cam(cam_class, layers, image):\n"
        "    with cam_class(model=model, target_layers=layers) as cam:\n"
        "        return cam(input_tensor=image, targets=None)[0]",
        "g = run_cam(GradCAM, [model.layer4[-1]], x)\ns = run_cam(ScoreCAM, [model.layer3[-1]], x)",
    )
    assert [(method.name, method.layers, method.cell) for method in setup.methods] == [
        ("GradCAM", ("layer4[-1]",), 3),
        ("ScoreCAM", ("layer3[-1]",), 3),
    ]


def test_only_cam_classes_are_methods() -> None:
    setup = read(
        IMPORTS + "from pytorch_grad_cam.ablation_layer import AblationLayer\nfrom captum.attr import LayerGradCam\n",
        MODEL,
        "layer = AblationLayer()\nvis = show_cam_on_image(rgb, grayscale, use_rgb=True)\n"
        "captum_cam = LayerGradCam(model, model.layer4)",
    )
    assert setup.methods == ()
    assert "No pytorch-grad-cam method is built." in setup.sentences()


# Targets


def targets_of(*cells: str) -> list:
    return values(read(IMPORTS, MODEL, "cam = GradCAM(model=model, target_layers=[model.layer4[-1]])", *cells).targets)


@pytest.mark.parametrize(
    "code",
    [
        "g = cam(input_tensor=x, targets=None)",
        "pred = model(x).argmax(dim=1).item()\ng = cam(input_tensor=x, targets=[ClassifierOutputTarget(pred)])",
        "out = model(x)\n_, idx = torch.max(out, 1)\ntargets = [ClassifierOutputTarget(int(idx))]\ng = cam(input_tensor=x, targets=targets)",
        "for p in torch.topk(model(x), 3).indices[0]:\n    g = cam(input_tensor=x, targets=[ClassifierOutputTarget(p.item())])",
        "def predict(t):\n    return model(t).argmax(1).item()\ng = cam(input_tensor=x, targets=[ClassifierOutputTarget(predict(x))])",
        "preds = model(batch).argmax(1)\ng = cam(input_tensor=batch, targets=[ClassifierOutputTarget(c) for c in preds])",
        "g = cam(x, [ClassifierOutputTarget(np.argmax(logits))])",
    ],
)
def test_predicted_targets(code: str) -> None:
    assert targets_of(code) == ["predicted"]


def test_a_constant_target_inside_a_loop_over_images() -> None:
    code = (
        "for name, img in images.items():\n"
        "    x = preprocess(img).unsqueeze(0)\n"
        "    pred = model(x).argmax(1).item()\n"
        "    targets = [ClassifierOutputTarget(0)]\n"
        "    g = cam(input_tensor=x, targets=targets)"
    )
    assert targets_of(code) == ["constant:0"]


def test_a_constant_through_a_name() -> None:
    assert targets_of(
        "TARGET_CLASS = 281", "g = cam(input_tensor=x, targets=[ClassifierOutputTarget(TARGET_CLASS)])"
    ) == ["constant:281"]


@pytest.mark.parametrize(
    "code",
    [
        "TRUE = {'goldfish': 1, 'flamingo': 130, 'orange': 950}\n"
        "for name in TRUE:\n    g = cam(input_tensor=inputs[name], targets=[ClassifierOutputTarget(TRUE[name])])",
        "for name, cls in zip(['goldfish', 'flamingo', 'orange'], [1, 130, 950]):\n"
        "    g = cam(input_tensor=inputs[name], targets=[ClassifierOutputTarget(cls)])",
        "idx = json.load(open('imagenet_class_index.json'))\n"
        "g = cam(input_tensor=x, targets=[ClassifierOutputTarget(idx[wnid])])",
        "g = cam(input_tensor=x, targets=[ClassifierOutputTarget(class_names.index(name))])",
    ],
)
def test_true_class_targets(code: str) -> None:
    assert targets_of(code) == ["true-class"]


def test_targets_not_readable_or_missing() -> None:
    assert targets_of("g = cam(input_tensor=x, targets=make_targets(x))") == [UNKNOWN]
    setup = read(
        IMPORTS, MODEL, "cam = GradCAM(model=model, target_layers=[model.layer4[-1]])\ng = cam(input_tensor=x)"
    )
    assert values(setup.targets) == [UNKNOWN] and "TypeError" in setup.targets[0].detail
    assert values(read(IMPORTS, MODEL).targets) == [UNKNOWN] and read(IMPORTS).targets[0].cell is None


def package_source(module: str) -> str:
    spec = importlib.util.find_spec("pytorch_grad_cam")
    assert spec is not None and spec.origin is not None
    return (Path(spec.origin).parent / module).read_text()


def test_the_installed_library_behaves_as_the_reader_says() -> None:
    """pytorch-grad-cam 1.5.7 accepts targets=None (argmax per image) but has no default for targets, and its
    preprocess_image normalises with 0.5 when given no mean and std."""
    base = package_source("base_cam.py")
    assert "if targets is None:" in base and "np.argmax(outputs" in base
    assert "targets: Optional[List[torch.nn.Module]],\n        aug_smooth" in base
    assert "mean=[\n        0.5, 0.5, 0.5], std=[\n            0.5, 0.5, 0.5]" in package_source("utils/image.py")
    assert "use_cuda" not in package_source("grad_cam.py")


# LIME


def test_lime_arguments() -> None:
    setup = read(
        "from lime import lime_image\nfrom lime.wrappers.scikit_image import SegmentationAlgorithm\n"
        "explainer = lime_image.LimeImageExplainer()\n"
        "seg = SegmentationAlgorithm('quickshift', kernel_size=4, max_dist=200, ratio=0.2)\n"
        "N = 1000",
        "explanation = explainer.explain_instance(np.array(img), batch_predict, top_labels=5, hide_color=0,\n"
        "    num_samples=N, batch_size=32, segmentation_fn=seg, random_seed=42)\n"
        "temp, mask = explanation.get_image_and_mask(explanation.top_labels[0], positive_only=True,\n"
        "    num_features=5, hide_rest=False)",
    )
    explain, mask = setup.lime
    assert (explain.function, explain.cell, mask.function) == ("explain_instance", 2, "get_image_and_mask")
    assert explain.arguments == {
        "top_labels": 5,
        "hide_color": 0,
        "num_samples": 1000,
        "batch_size": 32,
        "segmentation_fn": "SegmentationAlgorithm('quickshift', kernel_size=4, max_dist=200, ratio=0.2)",
        "random_seed": 42,
    }
    assert mask.arguments == {
        "label": "code: explanation.top_labels[0]",
        "positive_only": True,
        "num_features": 5,
        "hide_rest": False,
    }


def test_lime_positional_spread_and_unread_arguments() -> None:
    setup = read(
        "def my_segments(image):\n    return slic(image, n_segments=50)",
        "params = {'num_samples': 500, 'hide_color': [0, 0, 0], 'segmentation_fn': my_segments}\n"
        "e1 = explainer.explain_instance(img, predict_fn, (1,), None, 3, **params)\n"
        "e2 = explainer.explain_instance(img, predict_fn, **PER_IMAGE[name])\n"
        "e3 = explainer.explain_instance(img, predict_fn, **dict(num_samples=200, distance_metric='euclidean'))",
    )
    first, second, third = setup.lime
    assert first.arguments == {
        "labels": (1,),
        "hide_color": (0, 0, 0),
        "top_labels": 3,
        "num_samples": 500,
        "segmentation_fn": "function my_segments",
    }
    assert second.arguments == {} and second.notes == ("**PER_IMAGE[name] is not read",)
    assert third.arguments == {"num_samples": 200, "distance_metric": "euclidean"}
    assert read("explainer = lime_image.LimeImageExplainer(kernel_width=0.25)").lime == ()


# IoU thresholds


def test_thresholds_where_an_iou_is_computed() -> None:
    setup = read(
        IMPORTS,
        "def binarize(cam, q=80):\n    return cam >= np.percentile(cam, q)",
        "def compute_iou(a, b):\n    inter = np.logical_and(a, b).sum()\n    return inter / np.logical_or(a, b).sum()\n"
        "ious = [compute_iou(binarize(g), lime_mask > 0) for g, lime_mask in pairs]\n"
        "if ious[0] > 0.5:\n    print('agree')",
        "import cv2\n_, m = cv2.threshold(gray, 127, 255, cv2.THRESH_BINARY)\niou_cv = jaccard(m, n)\n"
        "t = torch.quantile(cam_t, 0.8)\nmask = cam_t > t",
    )
    assert [(found.value, found.cell) for found in setup.iou_threshold] == [
        (">= percentile 80", 2),
        ("> 0", 3),
        ("> 127", 4),
        ("> quantile 0.8", 4),
    ]


def test_thresholds_outside_iou_cells_do_not_count() -> None:
    setup = read(IMPORTS, "mask = cam > 0.5\nbig = cam >= 127", "print('done')")
    assert setup.iou_threshold == (Found(UNKNOWN, None, "no IoU in the code"),)
    (found,) = read(IMPORTS, "iou = (a & b).sum() / (a | b).sum()").iou_threshold
    assert (found.value, found.cell) == (UNKNOWN, 2)


# Reporting and hostile code


def test_as_dict_and_sentences() -> None:
    setup = read(
        IMPORTS,
        MODEL + "p = T.Compose([T.Resize(256), T.CenterCrop(224), T.ToTensor(), T.Normalize([0.485, 0.456, 0.406], "
        "[0.229, 0.224, 0.225])])",
        "with GradCAM(model=model, target_layers=[model.layer4[-1]]) as cam:\n"
        "    g = cam(input_tensor=x, targets=[ClassifierOutputTarget(1)])",
        "%%capture\n!pip install grad-cam",
    )
    data = json.loads(json.dumps(setup.as_dict()))
    assert data["methods"][0]["layers"] == ["layer4[-1]"] and data["weights"][0]["value"] == "IMAGENET1K_V2"
    sentences = setup.sentences()
    assert "ResNet50 weights: IMAGENET1K_V2 (cell 3: resnet50(weights=ResNet50_Weights.IMAGENET1K_V2))." in sentences
    assert "GradCAM on layer4[-1] (cell 4)." in sentences
    assert any(line.startswith("CAM target: class 1 for every image (cell 4") for line in sentences)
    assert "cell 5 is not read: not Python" in sentences


def hostile_cells() -> list[str]:
    chain = "\n".join(f"n{index} = n{index + 1}" for index in range(3000)) + "\nn3000 = 7"
    fan = "\n".join(f"f{level} = [{', '.join([f'f{level + 1}'] * 60)}]" for level in range(20)) + "\nf20 = 1"
    nested = "[" * 90 + "0.485" + "]" * 90
    indented = "".join(" " * level + "if x:\n" for level in range(90)) + " " * 90 + "cam = GradCAM(model, [m])\n"
    return [
        IMPORTS,
        "MEAN = [" + ", ".join(["0.485"] * 5_000) + "]\np = T.Normalize(MEAN, MEAN)",
        "x = [" + ",".join(["0"] * 100_000) + "]",
        f"p2 = T.Normalize({nested}, {nested})",
        'w = f"' + "{x}" * 2_000 + '"\nmodel = resnet50(weights="' + "A" * 20_000 + '")',
        chain + "\ng = cam(input_tensor=x, targets=[ClassifierOutputTarget(n0)])",
        fan + "\nmodel2 = resnet50(weights=f0)\np3 = T.Normalize(f0, f0)",
        "def f(n):\n    return f(n)\nf(1)\nx = x\ny = [y]\nz = z.to(device)\ncam = GradCAM(model=z, target_layers=y)",
        indented,
        "t = T.Resize(2 ** 10 ** 10)\ncam(input_tensor=x, targets=[ClassifierOutputTarget(" + "9" * 4000 + ")])",
        'w2 = f"' + "{x}" * 20_000 + '"\nmodel3 = resnet50(weights=ResNet50_Weights.IMAGENET1K_V2)',
    ]


def test_hostile_code_is_read_within_the_readers_bounds_and_says_unknown() -> None:
    notebook = new_notebook(cells=[new_code_cell(source) for source in hostile_cells()])
    setup = read_cam_setup(notebook)
    assert values(setup.normalised) == [UNKNOWN, UNKNOWN, UNKNOWN]
    assert values(setup.weights) == [UNKNOWN, UNKNOWN]
    assert values(setup.targets) == [UNKNOWN, UNKNOWN]
    assert values(setup.resize) == [UNKNOWN]
    assert setup.methods[0].layers == (UNKNOWN,)
    assert "cell 3 is not read: longer than the reader reads" in setup.notes
    assert "cell 11 is not read: longer than the reader reads" in setup.notes
    assert all(len(line) < 1000 for line in setup.sentences())
    json.dumps(setup.as_dict())
