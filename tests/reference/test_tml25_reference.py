"""The TML25 A4 reference against torchvision, the kernel's weights shim, pytorch-grad-cam, LIME and direct
computations from the papers' definitions, on the ten sample images, the ResNet50 stand-in (no weights on
test machines) and a tiny seeded CNN where a method needs one forward pass per channel."""

import copy
import inspect
import re
from collections.abc import Callable
from dataclasses import replace
from functools import partial
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import torchvision
import torchvision.datasets.mnist
import torchvision.transforms as T
from lime import lime_image
from PIL import Image
from pytorch_grad_cam import AblationCAM
from pytorch_grad_cam.ablation_layer import AblationLayer
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
from torch import nn
from torchvision.models import ResNet, ResNet50_Weights

from checks.data.assets import DataDir, MissingAssetError
from checks.probe.events import EventLog
from checks.probe.shims import install_torchvision_shims
from checks.probe.standin import seeded_global_rng
from reference.methods.gradcam import grad_cam
from reference.tml25_a4 import (
    IMAGE_KEYS,
    INSTRUCTOR_FOLDER,
    TRUE_CLASSES,
    CamKey,
    align,
    cached_map,
    cam_region,
    cams,
    class_activation_map,
    classifier_fn,
    display_image,
    explain,
    explanation_label,
    explanation_mask,
    ground_truth,
    image_file,
    image_map,
    input_tensor,
    iou,
    layer,
    load_image,
    predict,
    resnet50,
    score,
    to_input,
)
from reference.tml25_a4.cams import HeadAblationCAM, ablated_values, feeds_only_the_head

ASSIGNMENT = Path(__file__).resolve().parents[3] / "shared" / "assignments" / "tml25-a4.md"


class TinyNet(nn.Module):
    """Four then six channels (28x28 at ``layer4`` for a 224 input): ScoreCAM and AblationCAM cost one
    forward pass per channel, so six passes instead of ResNet50's 2048."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 4, 5, stride=4, padding=2), nn.ReLU())
        self.layer4 = nn.Sequential(nn.Conv2d(4, 6, 3, stride=2, padding=1), nn.ReLU())
        self.fc = nn.Linear(6, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.layer4(self.stem(x)).mean(dim=(2, 3)))


@pytest.fixture(scope="module")
def network(data):
    return resnet50(data, "IMAGENET1K_V2")


@pytest.fixture(scope="module")
def tiny() -> TinyNet:
    """Its output weights scaled up so that the class scores spread as a trained network's do: at init they
    differ so little that Score-CAM's softmax weights all channels alike and LIME finds no positive
    superpixel."""
    with seeded_global_rng(0):
        model = TinyNet().eval()
    with torch.no_grad():
        model.fc.weight *= 100
    return model


@pytest.fixture(scope="module")
def resnet18() -> ResNet:
    """A seeded torchvision ResNet18: at 64x64 its ``layer4`` has 512 channels on a 2x2 grid, so the
    library's AblationCAM takes seconds, not minutes."""
    with seeded_global_rng(0):
        return torchvision.models.resnet18().eval()


@pytest.fixture
def samples_only(tmp_path: Path, data_root: Path) -> Path:
    """A data directory with the sample images and class names but no weights and no ground truth."""
    for folder in ("imagenet-samples", "extras"):
        (tmp_path / folder).symlink_to(data_root / folder)
    return tmp_path


def rescaled(x: np.ndarray) -> np.ndarray:
    return (x - x.min()) / (x.max() - x.min())


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


# images


@pytest.mark.skipif(not ASSIGNMENT.is_file(), reason="the assignment text is not on this machine")
def test_keys_are_the_assignments_list_in_its_order():
    listed = re.search(r"`\[('West_Highland_white_terrier'.*?)\]`", ASSIGNMENT.read_text(encoding="utf-8"))
    assert [name.strip(" '") for name in listed.group(1).split(",")] == IMAGE_KEYS


def test_keys_map_to_the_ten_files(data):
    files = [image_file(data, key) for key in IMAGE_KEYS]
    assert sorted(files) == sorted(data.path("imagenet-samples").iterdir())
    assert files[0].name == "n02098286_West_Highland_white_terrier.JPEG"
    assert all(path.stem.split("_", 1)[1].lower() == key.lower() for path, key in zip(files, IMAGE_KEYS))
    assert load_image(data, "kite").mode == "RGB"
    with pytest.raises(KeyError, match="not one of"):
        image_file(data, "west_highland_white_terrier")


def test_file_names_match_case_blind_and_a_missing_image_is_named(tmp_path, data_root):
    folder = tmp_path / "imagenet-samples"
    folder.mkdir()
    source = data_root / "imagenet-samples" / "n02098286_West_Highland_white_terrier.JPEG"
    (folder / "n02098286_West_HIGHLAND_white_terrier.jpeg").symlink_to(source)
    assert image_file(DataDir(tmp_path), "West_Highland_white_terrier").name.endswith("HIGHLAND_white_terrier.jpeg")
    with pytest.raises(MissingAssetError, match="0 files for 'orange'"):
        image_file(DataDir(tmp_path), "orange")


def test_true_classes_name_the_images(data):
    names = data.path("extras/imagenet_classes.txt").read_text(encoding="utf-8").splitlines()
    assert len(names) == 1000
    assert [names[TRUE_CLASSES[key]] for key in IMAGE_KEYS] == [key.replace("_", " ") for key in IMAGE_KEYS]
    categories = ResNet50_Weights.IMAGENET1K_V2.meta["categories"]
    assert [categories[TRUE_CLASSES[key]] for key in IMAGE_KEYS] == [names[TRUE_CLASSES[key]] for key in IMAGE_KEYS]
    from_folder = {sample.path.name: sample.class_index for sample in data.imagenet_samples()}
    assert {key: from_folder[image_file(data, key).name] for key in IMAGE_KEYS} == TRUE_CLASSES
    assert names[TRUE_CLASSES["kite"] + 1] != "kite"


@pytest.mark.parametrize("version", ["IMAGENET1K_V1", "IMAGENET1K_V2"])
def test_preprocessing_equals_torchvisions_transforms(data, version):
    image = load_image(data, "flamingo")
    official = getattr(ResNet50_Weights, version).transforms()(image)
    assert torch.allclose(input_tensor(data, "flamingo", version)[0], official, rtol=0, atol=1e-6)
    shorter = {"IMAGENET1K_V1": 256, "IMAGENET1K_V2": 232}[version]
    plain = T.Compose([T.Resize(shorter), T.CenterCrop(224), T.ToTensor()])(image)
    assert torch.allclose(input_tensor(data, "flamingo", version, normalise=False)[0], plain, rtol=0, atol=1e-6)
    pixels = display_image(data, "flamingo", version)
    assert pixels.dtype == np.uint8 and pixels.shape == (224, 224, 3)
    assert np.array_equal(pixels, np.asarray(T.Compose([T.Resize(shorter), T.CenterCrop(224)])(image)))


def test_the_versions_crop_differently_and_default_is_v2(data):
    v1, v2 = input_tensor(data, "flamingo", "IMAGENET1K_V1"), input_tensor(data, "flamingo", "IMAGENET1K_V2")
    assert (v1 - v2).abs().max() > 0.1
    assert torch.equal(input_tensor(data, "flamingo", "DEFAULT"), v2)
    with pytest.raises(ValueError, match="unknown ResNet50 weights"):
        input_tensor(data, "flamingo", "IMAGENET1K_V3")


def test_to_input_reads_uint8_and_unit_floats_alike_and_refuses_0_255_floats(data):
    pixels = display_image(data, "orange")
    assert torch.allclose(to_input(pixels), to_input(pixels / 255.0), rtol=0, atol=1e-6)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        to_input(pixels.astype(np.float32))


# network


def test_stand_in_is_bit_identical_to_the_kernels_resnet50(data, data_root, network, tmp_path, monkeypatch):
    api = torchvision.models._api
    monkeypatch.setattr(api.WeightsEnum, "get_state_dict", api.WeightsEnum.get_state_dict)
    monkeypatch.setattr(torchvision.datasets.mnist.MNIST, "download", torchvision.datasets.mnist.MNIST.download)
    install_torchvision_shims(data_root, EventLog(tmp_path / "events.jsonl"))
    students = torchvision.models.resnet50(weights=ResNet50_Weights.IMAGENET1K_V2).eval()
    ours = network.model.state_dict()
    assert students.state_dict().keys() == ours.keys()
    assert all(torch.equal(value, ours[name]) for name, value in students.state_dict().items())
    assert network.stand_in and network.label == "ResNet50 IMAGENET1K_V2 (seeded stand-in: no weights on this machine)"
    assert not network.model.training
    v1 = resnet50(data, "IMAGENET1K_V1")
    assert v1.label.startswith("ResNet50 IMAGENET1K_V1 (seeded stand-in")
    assert all(torch.equal(value, ours[name]) for name, value in v1.model.state_dict().items())
    with seeded_global_rng(1):
        other = torchvision.models.resnet50()
    assert not torch.equal(other.conv1.weight, network.model.conv1.weight)


def test_layer_names_resolve_as_a_notebook_writes_them(network):
    model = network.model
    assert layer(model, "layer4[-1]") is model.layer4[2]
    assert layer(model, "layer4") is model.layer4
    assert layer(model, "layer4[-1].conv3") is model.layer4[2].conv3
    for wrong in ("layer5", "layer4[3]", "layer4[-1].conv9", "4layer", "layer4[-1]conv3", "conv1.weight"):
        with pytest.raises(ValueError):
            layer(model, wrong)


def test_predict_is_the_argmax_of_the_logits(tiny):
    x = torch.randn(3, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.equal(predict(tiny, x), tiny(x).argmax(dim=1))


# CAMs


def test_own_grad_cam_equals_pytorch_grad_cams(data, network):
    x = input_tensor(data, "goldfish")
    target = int(predict(network.model, x)[0])
    library = class_activation_map(network.model, x, "gradcam", "layer4[-1]", target)
    assert library.shape == (224, 224) and library.min() >= 0 and library.max() <= 1
    assert all(parameter.grad is None for parameter in network.model.parameters())
    own, _ = grad_cam(network.model, layer(network.model, "layer4[-1]"), x, target)
    own = own[0].numpy()
    assert correlation(rescaled(library), rescaled(own)) > 0.999
    assert np.abs(rescaled(library) - rescaled(own)).max() < 1e-4
    other_class, _ = grad_cam(network.model, layer(network.model, "layer4[-1]"), x, (target + 1) % 1000)
    assert correlation(library, other_class[0].numpy()) < 0.9


def _hooked_activations(model: nn.Module, module: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    captured = {}
    handle = module.register_forward_hook(lambda _m, _i, output: captured.__setitem__("a", output.detach().clone()))
    try:
        with torch.no_grad():
            logits = model(x)
    finally:
        handle.remove()
    return captured["a"], logits


def _weighted_map(weights: torch.Tensor, activations: torch.Tensor, size: tuple[int, int]) -> np.ndarray:
    cam = torch.relu((weights[:, None, None] * activations[0]).sum(dim=0))
    cam = F.interpolate(cam[None, None], size=size, mode="bilinear", align_corners=False)[0, 0]
    return rescaled(cam.numpy())


def score_cam_direct(model: nn.Module, module: nn.Module, x: torch.Tensor, target: int) -> np.ndarray:
    """Score-CAM: the weights are the softmax over channels k of the class score of x * s(up(A_k)), s the
    min-max rescaling (a constant channel masks everything out), up bilinear with aligned corners as the
    library's ``UpsamplingBilinear2d``."""
    activations, _ = _hooked_activations(model, module, x)
    up = F.interpolate(activations, size=x.shape[-2:], mode="bilinear", align_corners=True)[0]
    low, high = up.amin(dim=(1, 2), keepdim=True), up.amax(dim=(1, 2), keepdim=True)
    masks = (up - low) / torch.where(high > low, high - low, torch.ones_like(high))
    with torch.no_grad():
        scores = model(x * masks[:, None])[:, target]
    return _weighted_map(torch.softmax(scores, dim=0), activations, x.shape[-2:])


def ablation_cam_direct(model: nn.Module, module: nn.Module, x: torch.Tensor, target: int) -> np.ndarray:
    """Ablation-CAM: w_k = (y - y_k) / y, y_k the class score with channel k of the layer set to zero."""
    activations, logits = _hooked_activations(model, module, x)
    assert activations.min() == 0  # the library zeroes a channel only when the layer's minimum is 0
    scores = []
    for channel in range(activations.shape[1]):

        def ablate(_module, _inputs, output, channel=channel):
            output = output.clone()
            output[:, channel] = 0
            return output

        handle = module.register_forward_hook(ablate)
        with torch.no_grad():
            scores.append(model(x)[0, target])
        handle.remove()
    original = logits[0, target]
    return _weighted_map((original - torch.stack(scores)) / original, activations, x.shape[-2:])


@pytest.mark.parametrize("method, direct", [("scorecam", score_cam_direct), ("ablationcam", ablation_cam_direct)])
def test_gradient_free_cams_follow_their_papers_and_repeat(tiny, method, direct):
    x = torch.rand(1, 3, 224, 224, generator=torch.Generator().manual_seed(1))
    module = tiny.layer4[-1]
    target = int(predict(tiny, x)[0])
    first = class_activation_map(tiny, x, method, "layer4[-1]", target)
    assert first.shape == (224, 224) and first.dtype == np.float32
    assert first.min() >= 0 and first.max() <= 1 and first.max() > 0.99
    assert np.array_equal(first, class_activation_map(tiny, x, method, "layer4[-1]", target))
    assert layer(tiny, "layer4[-1]") is module
    assert np.abs(first - direct(tiny, module, x, target)).max() < 1e-5
    activations, _ = _hooked_activations(tiny, module, x)
    channel_mean = _weighted_map(torch.ones(activations.shape[1]), activations, x.shape[-2:])
    assert np.abs(first - channel_mean).max() > 0.05


def library_ablation_cam(model: nn.Module, x: torch.Tensor, module: nn.Module, target: int) -> np.ndarray:
    """pytorch-grad-cam's AblationCAM as a notebook calls it: one forward pass per channel of ``module``."""
    explainer = AblationCAM(model=model, target_layers=[module], ablation_layer=AblationLayer())
    try:
        return explainer(input_tensor=x, targets=[ClassifierOutputTarget(target)])[0]
    finally:
        explainer.activations_and_grads.release()


def counting_forward_passes(model: nn.Module, compute: Callable[[], np.ndarray]) -> tuple[np.ndarray, int]:
    calls = []
    handle = model.register_forward_hook(lambda *_: calls.append(1))
    try:
        return compute(), len(calls)
    finally:
        handle.remove()


@pytest.mark.parametrize("shift", [0.0, 0.5, -0.5], ids=["minimum-zero", "positive", "negative"])
def test_ablated_values_are_what_the_librarys_ablation_layer_writes(shift):
    """70 channels: two batches of 32 and one of 6, each restarting the 1e7 steps below the minimum."""
    activations = torch.randn(1, 70, 2, 2, generator=torch.Generator().manual_seed(0))
    activations = torch.relu(activations) + shift if shift >= 0 else activations
    ablation = AblationLayer()
    channels = ablation.activations_to_be_ablated(activations[0], 1.0)
    written = []
    for first in range(0, len(channels), 32):
        count = min(32, len(channels) - first)
        ablation.set_next_batch(input_batch_index=0, activations=activations, num_channels_to_ablate=count)
        output = ablation(None)
        written.extend(output[position, ablation.indices[position]] for position in range(count))
        ablation.indices = ablation.indices[count:]
    planes = torch.stack(written)
    values = ablated_values(activations[0])
    assert torch.equal(planes, values[:, None, None].expand_as(planes))
    if shift == 0:
        assert not values.any()
    else:
        assert values[0] < -9e6 and values[31] < -3e8 and values[32] == values[64] == values[0]


def test_closed_form_ablation_cam_is_the_librarys_in_one_forward_pass(resnet18):
    """Both top classes against the library run in float64, the exact answer: the closed form is within 1e-6
    of it. The library as a notebook runs it, in float32, cancels in y - y_k, and its own error there reaches
    1.3e-5 on one CPU and differs on another, so it is held to the closed form only to 1e-4."""
    x = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        first, second = resnet18(x)[0].topk(2).indices.tolist()
    double = copy.deepcopy(resnet18).double()
    exact = {target: library_ablation_cam(double, x.double(), double.layer4[-1], target) for target in (first, second)}
    as_run = library_ablation_cam(resnet18, x, resnet18.layer4[-1], first)
    for target in (first, second):
        ours, passes = counting_forward_passes(
            resnet18, partial(class_activation_map, resnet18, x, "ablationcam", "layer4[-1]", target)
        )
        assert passes == 1
        assert ours.shape == (64, 64) and ours.dtype == np.float32 and ours.min() >= 0 and ours.max() > 0.99
        assert np.abs(ours - exact[target]).max() < 1e-5
        assert np.array_equal(ours, class_activation_map(resnet18, x, "ablationcam", "layer4", target))
        assert np.abs(ours - exact[first if target == second else second]).max() > 0.1
        if target == first:
            assert np.abs(ours - as_run).max() < 1e-4
    assert all(parameter.grad is None for parameter in resnet18.parameters())


def test_closed_form_ablation_cam_follows_the_library_below_a_nonzero_minimum(resnet18):
    """A leaky last ReLU leaves negative activations, so the library ablates with min - (j + 1) * 1e7."""
    leaky = copy.deepcopy(resnet18)
    leaky.layer4[-1].relu = nn.LeakyReLU(0.1)
    x = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    target = int(predict(leaky, x)[0])
    ours = class_activation_map(leaky, x, "ablationcam", "layer4[-1]", target)
    assert np.abs(ours - library_ablation_cam(leaky, x, leaky.layer4[-1], target)).max() < 1e-5


def test_closed_form_only_for_a_layer_that_feeds_only_the_head(resnet18, tiny, network):
    assert feeds_only_the_head(resnet18, resnet18.layer4) and feeds_only_the_head(resnet18, resnet18.layer4[-1])
    assert not feeds_only_the_head(resnet18, resnet18.layer4[-1].conv2)
    assert not feeds_only_the_head(resnet18, resnet18.layer3)
    assert not feeds_only_the_head(tiny, tiny.layer4[-1])
    assert feeds_only_the_head(network.model, layer(network.model, "layer4[-1]"))
    headless = copy.deepcopy(resnet18)
    headless.fc = nn.Sequential(nn.Linear(512, 10))
    assert not feeds_only_the_head(headless, headless.layer4)
    with pytest.raises(ValueError, match="feeds only"):
        HeadAblationCAM(resnet18, [resnet18.layer3])


def test_cam_arguments_are_checked(tiny):
    with pytest.raises(ValueError, match="unknown CAM method"):
        class_activation_map(tiny, torch.rand(1, 3, 64, 64), "gradcam++", "layer4", 0)
    with pytest.raises(ValueError, match="one image"):
        class_activation_map(tiny, torch.rand(2, 3, 64, 64), "gradcam", "layer4", 0)


def test_cached_map_computes_each_map_once(tmp_path):
    calls = []

    def compute() -> np.ndarray:
        calls.append(1)
        return np.full((224, 224), 0.5)

    key = CamKey(
        "ResNet50 IMAGENET1K_V2 (seeded stand-in)", "IMAGENET1K_V2", True, "layer4[-1]", 1, "goldfish", "scorecam"
    )
    first = cached_map(tmp_path, key, compute)
    second = cached_map(tmp_path, key, compute)
    assert len(calls) == 1 and np.array_equal(first, second) and second.dtype == np.float32
    real = replace(key, weights="ResNet50 IMAGENET1K_V2 (real pretrained weights)")
    cached_map(tmp_path, real, compute)
    assert len(calls) == 2
    assert sorted(path.suffix for path in (tmp_path / "tml25-a4-cams").iterdir()) == [".npy", ".npy"]

    def failing() -> np.ndarray:
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        cached_map(tmp_path, replace(key, method="ablationcam"), failing)
    assert len(list((tmp_path / "tml25-a4-cams").iterdir())) == 2


def test_image_map_explains_the_prediction_and_reads_the_cache(data, network, tmp_path, monkeypatch):
    x = input_tensor(data, "racer")
    predicted = int(predict(network.model, x)[0])
    computed, target = image_map(data, network, "racer", "gradcam", cache_dir=tmp_path)
    assert target == predicted
    assert np.array_equal(computed, class_activation_map(network.model, x, "gradcam", "layer4[-1]", predicted))
    monkeypatch.setattr(cams, "class_activation_map", lambda *args: pytest.fail("the cached map was recomputed"))
    cached, _ = image_map(data, network, "racer", "gradcam", cache_dir=tmp_path)
    assert np.array_equal(cached, computed)
    with pytest.raises(pytest.fail.Exception, match="recomputed"):
        image_map(data, network, "racer", "gradcam", target=(predicted + 1) % 1000, cache_dir=tmp_path)


def test_score_cam_maps_are_computed_once_per_cache(data, network, tmp_path, monkeypatch):
    """ScoreCAM has no shortcut (it masks the input), so its minutes per map are spent once per cache."""
    calls = []

    def library(model, inputs, method, layer_name, target) -> np.ndarray:
        calls.append((method, layer_name, target))
        return np.full((224, 224), 0.5, dtype=np.float32)

    monkeypatch.setattr(cams, "class_activation_map", library)
    first, target = image_map(data, network, "kite", "scorecam", cache_dir=tmp_path)
    again, _ = image_map(data, network, "kite", "scorecam", cache_dir=tmp_path)
    assert calls == [("scorecam", "layer4[-1]", target)] and np.array_equal(first, again)


# LIME


def test_classifier_fn_returns_probabilities_on_either_grid(data, tiny):
    photo = np.asarray(load_image(data, "vulture"))
    crop = display_image(data, "vulture", "IMAGENET1K_V2")
    classify = classifier_fn(tiny, normalise=True, version="IMAGENET1K_V2")
    probabilities = classify(np.stack([crop, crop]))
    assert probabilities.shape == (2, 10) and np.allclose(probabilities.sum(axis=1), 1)
    assert np.allclose(classify(crop[None] / 255.0), probabilities[:1], atol=1e-6)
    assert np.allclose(classify(photo[None]), probabilities[:1], atol=1e-6)
    assert not np.allclose(classifier_fn(tiny, True, "IMAGENET1K_V1")(photo[None]), probabilities[:1], atol=1e-6)
    assert not np.allclose(classifier_fn(tiny, False)(crop[None]), probabilities[:1], atol=1e-4)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        classify(photo[None].astype(np.float64))


def test_lime_is_deterministic_under_a_seed(data, tiny):
    image = display_image(data, "goldfish")
    classify = classifier_fn(tiny)
    params = {"top_labels": 2, "num_samples": 50}
    first, again, other = (explain(image, classify, params, seed) for seed in (0, 0, 1))
    assert first.local_exp == again.local_exp and np.array_equal(first.segments, again.segments)
    assert np.array_equal(explanation_mask(first), explanation_mask(again))
    assert not np.array_equal(first.segments, other.segments) or first.local_exp != other.local_exp
    mask = explanation_mask(first)
    assert mask.dtype == bool and mask.shape == (224, 224) and mask.any()
    assert explanation_label(first) == first.top_labels[0] == int(np.argmax(classify(image[None])[0]))
    _, lime_mask = first.get_image_and_mask(first.top_labels[0], positive_only=True, num_features=5, hide_rest=False)
    assert np.array_equal(mask, lime_mask > 0)
    assert len(np.unique(first.segments[mask])) <= 5
    assert not (explanation_mask(first, num_features=1) & ~mask).any()


def test_lime_label_rule_without_top_labels(data, tiny):
    explanation = explain(
        display_image(data, "orange"), classifier_fn(tiny), {"labels": (3,), "top_labels": None, "num_samples": 20}, 0
    )
    assert explanation_label(explanation) == 3
    with pytest.raises(ValueError, match="no weights for class 4"):
        explanation_mask(explanation, label=4)


def test_lime_parameters_pass_through_unchanged(data, tiny):
    assert "progress_bar" not in inspect.signature(lime_image.LimeImageExplainer.explain_instance).parameters
    image = display_image(data, "orange")
    with pytest.raises(TypeError, match="progress_bar"):
        explain(image, classifier_fn(tiny), {"num_samples": 10, "progress_bar": False}, 0)
    with pytest.raises(ValueError, match="classifier_fn"):
        explain(image, classifier_fn(tiny), {"classifier_fn": None}, 0)


# IoU


def test_iou_arithmetic():
    a, b = np.zeros((4, 4), bool), np.zeros((4, 4), bool)
    a[0:2], b[1:4] = True, True
    assert iou(a, b) == pytest.approx(4 / 16) == iou(b, a)
    assert iou(a, a) == 1.0 and iou(a, ~a) == 0.0
    assert iou(np.zeros((4, 4), bool), np.zeros((4, 4), bool)) == 1.0
    assert iou(a, np.zeros((4, 4), bool)) == 0.0
    assert iou(a.astype(np.uint8), b.astype(int)) == pytest.approx(1 / 4)
    with pytest.raises(ValueError, match="different grids"):
        iou(a, np.zeros((8, 8), bool))
    with pytest.raises(ValueError, match="cam_region"):
        iou(a.astype(float), b)
    with pytest.raises(ValueError, match="boolean"):
        iou(a * 2, b)


def test_cam_region_rules():
    ramp = np.arange(100, dtype=float).reshape(10, 10) / 99
    top = cam_region(ramp)
    assert top.sum() == 20 and top[8:].all() and not top[:8].any()
    assert cam_region(ramp, "top50").sum() == 50
    sparse = np.zeros((10, 10))
    sparse[0, :5] = [0.2, 0.4, 0.6, 0.8, 1.0]
    assert cam_region(sparse).sum() == 5
    assert not cam_region(np.full((10, 10), 0.3)).any()
    assert cam_region(ramp, 0.5).sum() == 50 and cam_region(sparse, 0.5).sum() == 3
    with pytest.raises(ValueError, match="unknown region rule"):
        cam_region(ramp, "top-20")
    with pytest.raises(ValueError, match="rescaled"):
        cam_region(ramp * 3, 0.5)


def test_masks_on_another_grid_are_aligned_by_nearest_neighbour():
    small = np.array([[True, False], [False, True]])
    assert np.array_equal(align(small, (4, 4)), np.kron(small, np.ones((2, 2), int)).astype(bool))
    coarse = np.random.default_rng(0).random((7, 7)) > 0.5
    pil = np.asarray(Image.fromarray(coarse.astype(np.uint8) * 255).resize((224, 224), Image.Resampling.NEAREST)) > 0
    assert np.array_equal(align(coarse, (224, 224)), pil)
    fine = align(coarse, (224, 224))
    assert np.array_equal(align(fine, (7, 7)), coarse)
    assert iou(align(coarse, (224, 224)), fine) == 1.0
    with pytest.raises(ValueError, match="different grids"):
        iou(coarse, fine)


# ground truth


def test_ground_truth_comes_from_the_instructors_files_when_present(samples_only):
    folder = samples_only / INSTRUCTOR_FOLDER
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    written = {key: rng.random((224, 224)) > 0.7 for key in IMAGE_KEYS}
    for key, mask in written.items():
        np.save(folder / f"{key}.npy", mask)
    truth = ground_truth(DataDir(samples_only))
    assert "instructor" in truth.provenance
    assert all(np.array_equal(truth.masks[key], written[key]) for key in IMAGE_KEYS)
    per_key, mean = score(written, truth.masks)
    assert mean == 1.0 and list(per_key) == IMAGE_KEYS
    np.save(folder / "orange.npy", written["orange"].astype(float))
    with pytest.raises(ValueError, match="boolean 224x224"):
        ground_truth(DataDir(samples_only))
    (folder / "orange.npy").unlink()
    with pytest.raises(ValueError, match="lacks the ground truth of \\['orange'\\]"):
        ground_truth(DataDir(samples_only))


def test_default_ground_truth_is_the_top_fifth_of_grad_cam(samples_only, network, data):
    truth = ground_truth(DataDir(samples_only))
    assert "default" in truth.provenance and network.label in truth.provenance
    assert list(truth.masks) == IMAGE_KEYS
    assert all(mask.dtype == bool and mask.shape == (224, 224) for mask in truth.masks.values())
    assert all(0.15 < mask.mean() <= 0.201 for mask in truth.masks.values())
    x = input_tensor(data, "kite")
    cam = class_activation_map(network.model, x, "gradcam", "layer4[-1]", int(predict(network.model, x)[0]))
    assert np.array_equal(truth.masks["kite"], cam_region(cam))
    inverted = {key: ~mask for key, mask in truth.masks.items()}
    per_key, mean = score(inverted, truth.masks)
    assert mean == 0.0 and set(per_key.values()) == {0.0}
    with pytest.raises(ValueError, match=r"missing \['orange'\]"):
        score({key: inverted[key] for key in IMAGE_KEYS[:-1]}, truth.masks)
