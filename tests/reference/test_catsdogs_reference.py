"""The cats-vs-dogs reference against independent libraries (torchvision, scikit-learn, Captum,
pytorch-grad-cam, torchattacks) on a seeded CatDogCNN and real cats-vs-dogs images."""

import numpy as np
import pytest
import torch
import torchattacks
import torchvision.transforms as T
from captum.attr import LayerAttribution, LayerGradCam, Occlusion
from PIL import Image
from pytorch_grad_cam import GradCAM
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
from sklearn.metrics import classification_report, confusion_matrix
from torch import nn

from checks.probe.standin import seeded_global_rng
from reference.catsdogs_xai import (
    CatDogCNN,
    Preprocessing,
    confusion,
    conv_layers,
    fgsm_accuracy,
    fgsm_images,
    grad_cam_maps,
    load_images,
    masked_accuracy,
    occlusion_heatmap,
    patch_corner,
    report,
    split_indices,
)

# Four cats (canonical rows 0-1000) and two dogs (rows 1001-2001).
PICTURES = [0, 17, 404, 1000, 1001, 1650]
MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


@pytest.fixture(scope="module")
def model(data) -> CatDogCNN:
    """A seeded CNN whose output bias is shifted so that it calls half the images dogs: untrained, it calls
    them all dogs, and masking or attacking could then never change a prediction."""
    with seeded_global_rng(0):
        network = CatDogCNN().eval()
    images, _ = load_images(data, range(0, 2002, 3))
    with torch.no_grad():
        logits = network(images)
        network.fc2.bias += torch.tensor([0.5, -0.5]) * (logits[:, 1] - logits[:, 0]).median()
    return network


@pytest.fixture(scope="module")
def pictures(data) -> tuple[torch.Tensor, torch.Tensor]:
    return load_images(data, PICTURES, 64)


def normalise(x: torch.Tensor) -> torch.Tensor:
    return (x - torch.tensor(MEAN)[:, None, None]) / torch.tensor(STD)[:, None, None]


def correlation(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(np.corrcoef(np.asarray(a).ravel(), np.asarray(b).ravel())[0, 1])


# Data


def test_load_images_equals_torchvision_resize_and_to_tensor(data):
    for size in (64, 32):
        images, labels = load_images(data, [0, 1000, 1001, 2001], size)
        files = data.cats_vs_dogs_files()
        assert images.shape == (4, 3, size, size) and images.dtype == torch.float32
        assert labels.tolist() == [0, 0, 1, 1] and labels.dtype == torch.int64
        for image, index in zip(images, (0, 1000, 1001, 2001)):
            picture = Image.open(data.path(files[index][0])).convert("RGB")
            expected = T.Compose([T.Resize((size, size)), T.ToTensor()])(picture)
            assert (image - expected).abs().max() <= 1 / 255
            nearest = T.Compose([T.Resize((size, size), T.InterpolationMode.NEAREST), T.ToTensor()])(picture)
            assert (image - nearest).abs().max() > 1 / 255


def test_other_preprocessings_equal_torchvision_and_pil_as_notebooks_call_them(data):
    files = data.cats_vs_dogs_files()
    cropped, _ = load_images(data, [5, 1500], preprocessing=Preprocessing(64, shorter=72))
    bicubic, _ = load_images(data, [5, 1500], preprocessing=Preprocessing(64, bicubic=True))
    square, _ = load_images(data, [5, 1500], 64)
    for position, index in enumerate((5, 1500)):
        picture = Image.open(data.path(files[index][0])).convert("RGB")
        crop = T.Compose([T.Resize(72), T.CenterCrop(64), T.ToTensor()])(picture)
        assert (cropped[position] - crop).abs().max() <= 1 / 255
        assert (bicubic[position] - T.ToTensor()(picture.resize((64, 64)))).abs().max() <= 1 / 255
        assert (square[position] - crop).abs().max() > 0.1, "a centre crop is not the squashed photo"


def test_load_images_hands_out_copies_and_refuses_missing_rows(data):
    first, _ = load_images(data, [3])
    first.zero_()
    again, _ = load_images(data, [3])
    assert again.abs().sum() > 0
    assert not torch.equal(again, load_images(data, [4])[0])
    for bad in ([2002], [-1]):
        with pytest.raises(IndexError):
            load_images(data, bad)


def test_split_indices_are_seeded_disjoint_and_cover_every_image():
    train, val, test = split_indices(2002)
    assert (len(train), len(val), len(test)) == (1401, 300, 301)
    assert sorted(train + val + test) == list(range(2002))
    assert split_indices(2002) == (train, val, test)
    assert split_indices(2002, seed=1)[2] != test
    assert [len(part) for part in split_indices(10, fractions=(0.8, 0.1, 0.1))] == [8, 1, 1]
    for fractions in ((0.7, 0.2, 0.2), (1.0, 0.0, 0.0), (0.5, 0.5)):
        with pytest.raises(ValueError, match="fractions"):
            split_indices(2002, fractions=fractions)


# Network


def test_the_network_has_the_prescribed_layers(model):
    assert [name for name, _ in conv_layers(model)] == ["conv1", "conv2", "conv3"]
    assert [(c.in_channels, c.out_channels) for _, c in conv_layers(model)] == [(3, 16), (16, 32), (32, 64)]
    assert (model.fc1.in_features, model.fc1.out_features, model.fc2.out_features) == (4096, 128, 2)
    assert sum(p.numel() for p in model.parameters()) == 448 + 4_640 + 18_496 + 524_416 + 258
    assert model(torch.rand(5, 3, 64, 64)).shape == (5, 2)
    with pytest.raises(RuntimeError):
        model(torch.rand(1, 3, 32, 32))


def test_conv_layers_finds_nested_convolutions_of_any_model_by_qualified_name():
    nested = nn.Sequential(nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU()), nn.Conv2d(4, 2, 1), nn.Flatten())
    assert [name for name, _ in conv_layers(nested)] == ["0.0", "1"]
    assert conv_layers(nn.Sequential(nn.Flatten(), nn.Linear(4, 2))) == []


# Metrics


LABELS = [0, 0, 0, 1, 1, 1, 1, 0, 1, 1]
PREDICTIONS = [0, 1, 0, 1, 1, 0, 1, 0, 1, 1]


def test_confusion_equals_scikit_learn_with_true_classes_in_rows():
    assert np.array_equal(confusion(LABELS, PREDICTIONS), confusion_matrix(LABELS, PREDICTIONS, labels=[0, 1]))
    assert confusion(LABELS, PREDICTIONS).tolist() == [[3, 1], [1, 5]]
    assert confusion(torch.tensor(PREDICTIONS), torch.tensor(LABELS)).tolist() == [[3, 1], [1, 5]]
    assert confusion([0, 0, 1], [1, 1, 1]).tolist() != confusion([1, 1, 1], [0, 0, 1]).tolist()
    with pytest.raises(ValueError, match="0 \\(cat\\) or 1"):
        confusion([0, 2], [0, 1])
    with pytest.raises(ValueError, match="2 labels but 3"):
        confusion([0, 1], [0, 1, 1])


@pytest.mark.parametrize(
    "labels, predictions",
    [(LABELS, PREDICTIONS), ([0, 0, 1, 1, 1], [1, 1, 1, 1, 1]), ([1, 1, 1], [0, 1, 1])],
    ids=["mixed", "never-predicts-cat", "no-cat-in-truth"],
)
def test_report_equals_scikit_learn_classification_report(labels, predictions):
    expected = classification_report(
        labels, predictions, labels=[0, 1], target_names=["cat", "dog"], output_dict=True, zero_division=0
    )
    got = report(labels, predictions)
    assert got.keys() == expected.keys()
    assert got["accuracy"] == pytest.approx(expected["accuracy"], abs=1e-12)
    for row in ("cat", "dog", "macro avg", "weighted avg"):
        assert got[row] == pytest.approx(expected[row], abs=1e-12), row
    assert report([0, 1], [1, 0])["cat"]["precision"] == 0.0


# Grad-CAM


@pytest.mark.parametrize("layer", ["conv1", "conv2", "conv3"])
def test_grad_cam_equals_captum_layer_grad_cam(model, pictures, layer):
    images, _ = pictures
    conv = getattr(model, layer)
    with torch.no_grad():
        predicted = model(images).argmax(dim=1)
    for target in (None, 0, 1):
        ours = grad_cam_maps(model, conv, images, target)
        attribution = LayerGradCam(model, conv).attribute(
            images, target=predicted if target is None else target, relu_attributions=True
        )
        expected = LayerAttribution.interpolate(attribution, (64, 64), interpolate_mode="bilinear")[:, 0].detach()
        scale = float(expected.abs().max())
        assert ours.shape == (6, 64, 64) and scale > 0
        assert (ours - expected).abs().max() <= 1e-5 * scale
    assert not torch.allclose(grad_cam_maps(model, conv, images, 0), grad_cam_maps(model, conv, images, 1))


@pytest.mark.parametrize("layer", ["conv1", "conv2", "conv3"])
def test_rescaled_grad_cam_matches_pytorch_grad_cam(model, pictures, layer):
    """pytorch-grad-cam rescales to [0, 1] before resizing with cv2; ours is rescaled after torch's bilinear
    upsampling. Both are half-pixel bilinear, so they agree to 1e-5 (measured: 6e-7) and correlate above 0.9999."""
    images, _ = pictures
    conv = getattr(model, layer)
    ours = grad_cam_maps(model, conv, images, 1)
    low, high = ours.amin(dim=(1, 2), keepdim=True), ours.amax(dim=(1, 2), keepdim=True)
    rescaled = (ours - low) / (high - low)
    with GradCAM(model=model, target_layers=[conv]) as library:
        expected = library(input_tensor=images, targets=[ClassifierOutputTarget(1)] * len(images))
    assert np.abs(rescaled.numpy() - expected).max() < 1e-5
    assert all(correlation(a, b) > 0.9999 for a, b in zip(rescaled, expected))
    assert correlation(rescaled[0], expected[1]) < 0.99


def test_grad_cam_without_relu_keeps_the_negative_evidence(model, pictures):
    images, _ = pictures
    with_relu = grad_cam_maps(model, model.conv3, images, 0)
    raw = grad_cam_maps(model, model.conv3, images, 0, relu=False)
    assert raw.min() < 0 and not torch.allclose(raw, with_relu)
    unupsampled = grad_cam_maps(model, model.conv3, images, 0, relu=False, upsample=False)
    assert torch.allclose(torch.relu(unupsampled), grad_cam_maps(model, model.conv3, images, 0, upsample=False))


@pytest.mark.parametrize("layer, size", [("conv1", 64), ("conv2", 32), ("conv3", 16)])
def test_grad_cam_without_upsampling_has_the_layers_resolution(model, pictures, layer, size):
    images, _ = pictures
    conv = getattr(model, layer)
    small = grad_cam_maps(model, conv, images, upsample=False)
    assert small.shape == (6, size, size)
    upsampled = nn.functional.interpolate(small[:, None], size=(64, 64), mode="bilinear", align_corners=False)[:, 0]
    assert torch.allclose(upsampled, grad_cam_maps(model, conv, images), atol=1e-7)


def test_grad_cam_explains_the_eval_model_and_restores_the_mode(model, pictures):
    images, _ = pictures
    expected = grad_cam_maps(model, model.conv2, images)
    with torch.no_grad():
        predicted = model(images).argmax(dim=1)
    assert torch.equal(grad_cam_maps(model, model.conv2, images, predicted), expected)
    model.train()
    try:
        assert torch.equal(grad_cam_maps(model, model.conv2, images), expected) and model.training
    finally:
        model.eval()
    assert not torch.equal(grad_cam_maps(model, model.conv2, images, 1 - predicted), expected)


# Occlusion


@pytest.mark.parametrize("fill", [0.0, 0.5, (0.485, 0.456, 0.406)], ids=["black", "grey", "mean"])
def test_occlusion_heatmap_equals_captum_with_non_overlapping_patches(model, pictures, fill):
    images, _ = pictures
    image, target = images[4], 1
    probability = lambda x: torch.softmax(model(x), dim=1)[:, target]  # noqa: E731
    baseline = torch.as_tensor(fill).reshape(1, -1, 1, 1).expand(1, 3, 1, 1)
    for patch in (8, 16):
        ours = occlusion_heatmap(model, image, target, patch, stride=patch, fill=fill)
        attribution = Occlusion(probability).attribute(
            image[None], sliding_window_shapes=(3, patch, patch), strides=(3, patch, patch), baselines=baseline
        )
        unoccluded = float(probability(image[None]).detach())
        expected = unoccluded - attribution[0, 0, ::patch, ::patch]
        assert ours.shape == (64 // patch, 64 // patch)
        assert (ours - expected).abs().max() < 1e-6
        assert (ours - unoccluded).abs().max() > 1e-4


# Masking


def test_patch_corner_centres_the_patch_or_takes_the_corner_given():
    assert patch_corner(64, 64, 16) == (24, 24)
    assert patch_corner(64, 64, 15) == (24, 24)
    assert patch_corner(64, 48, 9) == (27, 19)
    assert patch_corner(64, 64, 16, top=0) == (0, 24)
    assert patch_corner(64, 64, 16, left=48) == (24, 48)
    assert patch_corner(64, 64, 64) == (0, 0)
    for patch, top, left in ((0, None, None), (65, None, None), (16, 49, 0), (16, 0, -1)):
        with pytest.raises(ValueError):
            patch_corner(64, 64, patch, top, left)


def test_a_patch_over_the_whole_image_leaves_only_the_fills_prediction(model, pictures):
    images, labels = pictures
    for fill in (0.0, 1.0, (1.0, 0.0, 0.0)):
        with torch.no_grad():
            blank = int(model(torch.as_tensor(fill).reshape(1, -1, 1, 1).expand(1, 3, 64, 64)).argmax())
        assert masked_accuracy(model, images, labels, 64, fill) == int((labels == blank).sum()) / 6
    assert labels.tolist() == [0, 0, 0, 0, 1, 1]


def test_masked_accuracy_equals_masking_by_hand(model, data):
    images, labels = load_images(data, range(0, 2002, 3))
    for patch, fill, top, left in ((32, (0.2, 0.9, 0.4), None, None), (24, 0.0, 0, 40)):
        row, col = patch_corner(64, 64, patch, top, left)
        masked = images.clone()
        masked[:, :, row : row + patch, col : col + patch] = torch.tensor(fill).reshape(-1, 1, 1)
        with torch.no_grad():
            expected = float((model(masked).argmax(dim=1) == labels).float().mean())
            clean = float((model(images).argmax(dim=1) == labels).float().mean())
        assert masked_accuracy(model, images, labels, patch, fill, top, left) == pytest.approx(expected)
        assert expected != clean
    for patch, top in ((0, None), (65, None), (8, 57)):
        with pytest.raises(ValueError, match="patch"):
            masked_accuracy(model, images, labels, patch, 0.0, top)


# FGSM


def test_fgsm_equals_torchattacks(model, pictures):
    images, labels = pictures
    ours = fgsm_images(model, images, labels, 0.03)
    assert torch.allclose(ours, torchattacks.FGSM(model, eps=0.03)(images, labels), atol=1e-6)
    assert (ours - images).abs().max() == pytest.approx(0.03, abs=1e-6) and 0 <= ours.min() and ours.max() <= 1
    assert not torch.allclose(ours, torchattacks.FGSM(model, eps=0.01)(images, labels), atol=1e-6)


def test_fgsm_through_a_normalisation_equals_torchattacks_on_the_normalising_model(model, pictures):
    images, labels = pictures
    ours = fgsm_images(model, images, labels, 0.03, to_model=normalise)
    wrapped = nn.Sequential(T.Normalize(MEAN, STD), model).eval()
    assert torch.allclose(ours, torchattacks.FGSM(wrapped, eps=0.03)(images, labels), atol=1e-6)
    attack = torchattacks.FGSM(model, eps=0.03)
    attack.set_normalization_used(mean=list(MEAN), std=list(STD))
    theirs = attack(normalise(images), labels)
    assert torch.allclose(normalise(ours), theirs, atol=1e-5)
    assert not torch.allclose(ours, fgsm_images(model, images, labels, 0.03), atol=1e-6)


def test_fgsm_bounds_and_direction(model, pictures):
    images, labels = pictures
    unclamped = fgsm_images(model, images, labels, 0.03, bounds=None)
    assert unclamped.min() < 0 or unclamped.max() > 1
    assert torch.allclose(unclamped.clamp(0, 1), fgsm_images(model, images, labels, 0.03))
    subtracted = fgsm_images(model, images, labels, 0.03, bounds=None, subtract=True)
    assert torch.allclose(subtracted - images, -(unclamped - images), atol=1e-6)


def test_fgsm_accuracy_in_train_mode_is_seeded_and_restores_the_model(model, data):
    images, labels = load_images(data, range(0, 2002, 20))
    eval_accuracy = fgsm_accuracy(model, images, labels, 0.03)
    with torch.no_grad():
        expected = (model(fgsm_images(model, images, labels, 0.03)).argmax(dim=1) == labels).float().mean()
    assert eval_accuracy == pytest.approx(float(expected))
    state = torch.get_rng_state()
    dropout_on = [fgsm_accuracy(model, images, labels, 0.03, train_mode=True, seed=seed) for seed in range(5)]
    assert torch.equal(torch.get_rng_state(), state) and not model.training
    assert fgsm_accuracy(model, images, labels, 0.03, train_mode=True, seed=3) == dropout_on[3]
    assert len(set(dropout_on)) > 1
    assert {fgsm_accuracy(model, images, labels, 0.03, seed=seed) for seed in range(3)} == {eval_accuracy}
    model.train()
    try:
        assert fgsm_accuracy(model, images, labels, 0.03) == eval_accuracy and model.training
    finally:
        model.eval()


class BatchRecorder(torch.nn.Module):
    """Two scores from the mean pixel, noting how many images each pass held."""

    def __init__(self) -> None:
        super().__init__()
        self.fc, self.batches = torch.nn.Linear(3, 2), []

    def forward(self, x):
        self.batches.append(len(x))
        return self.fc(x.mean(dim=(2, 3)))


def test_masked_and_attacked_accuracies_run_no_pass_larger_than_the_batch_asked_for():
    images, labels = torch.rand(150, 3, 16, 16), torch.randint(0, 2, (150,))
    model = BatchRecorder()
    masked_accuracy(model, images, labels, 4, 0.0, batch_size=16)
    fgsm_accuracy(model, images, labels, 0.03, batch_size=16)
    assert max(model.batches) == 16 and sum(model.batches) == 3 * 150, "a student's model sees no larger batch"
    model.batches.clear()
    fgsm_accuracy(model, images, labels, 0.03)
    assert max(model.batches) == 64, "by default, the grader's largest batch"
