"""Finding what a notebook holds without names: scores from any forward, images by their pixels."""

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn

from checks.engine.call_errors import StudentCallError
from checks.engine.exported_model import ExportRefused, rebuild
from checks.finders.classifiers import (
    IMAGENET_NORMALISED,
    MINUS_ONE_TO_ONE,
    MNIST_NORMALISED,
    SCALINGS,
    TO_TENSOR,
    InputScaling,
    InputSpec,
    ScalingChoice,
    class_scores,
    classifier_of,
    correct_fraction,
    ends_in_sigmoid,
    find_classifiers,
    measure_accuracy,
    measure_classifiers,
)
from checks.finders.dataset_images import ImageIndex
from checks.finders.filters import kernel_layers
from checks.probe import structure
from checks.probe.export import ExportError, export_module


def test_class_scores_take_the_logits_out_of_a_tuple_and_turn_probabilities_into_logits():
    logits = torch.tensor([[2.0, 0.5, -1.0], [0.0, 3.0, 1.0]])
    probabilities = torch.softmax(logits, dim=1)
    assert torch.equal(class_scores((logits, probabilities), 3), logits)
    assert torch.equal(class_scores({"features": torch.zeros(2, 8), "out": logits}, 3), logits)
    recovered = class_scores(probabilities, 3)
    assert torch.allclose(torch.softmax(recovered, dim=1), probabilities, atol=1e-6)
    assert torch.equal(recovered.argmax(dim=1), logits.argmax(dim=1))


def test_scalings_map_to_tensor_values_to_what_notebooks_feed_their_models():
    image = torch.tensor([0.0, 0.5, 1.0])
    by_name = {scaling.name: scaling.apply(image) for scaling in SCALINGS}
    assert torch.allclose(by_name["normalised to [-1, 1]"], torch.tensor([-1.0, 0.0, 1.0]))
    assert torch.allclose(by_name["pixel values 0-255"], torch.tensor([0.0, 127.5, 255.0]))


def test_a_plotted_test_digit_is_identified_whatever_its_scaling(data):
    images, _ = data.mnist_arrays(train=False)
    index = ImageIndex(images[:2000].unsqueeze(1).float() / 255)
    digit = images[1234].numpy().astype(np.float32)
    assert index.identify(digit) == 1234, "as uint8 values"
    assert index.identify((digit / 255 - 0.1307) / 0.3081) == 1234, "normalised"
    assert index.identify(digit[None, :, :] / 255) == 1234, "with a channel axis"
    rng = np.random.default_rng(0)
    assert index.identify(128 + 32 * rng.standard_normal((28, 28))) is None, "noise is no test image"
    assert index.identify(np.ones((28, 28))) is None and index.identify(np.zeros((14, 14))) is None
    assert index.identify(None) is None


def test_an_image_made_from_a_test_digit_is_traced_to_it_and_noise_to_none(data):
    images, _ = data.mnist_arrays(train=False)
    index = ImageIndex(images[:2000].unsqueeze(1).float() / 255)
    rng = np.random.default_rng(0)
    digit = images[1234].numpy().astype(np.float32)
    faint = 0.3 * digit + 0.7 * (128 + 64 * rng.standard_normal((28, 28)))
    nearest = index.nearest(faint)
    assert nearest.index == 1234 and 0.3 < nearest.correlation < 0.9, "a faint copy is no exact match, yet traceable"
    assert index.identify(faint) is None
    assert index.nearest(digit).correlation == pytest.approx(1.0, abs=1e-5)
    assert index.nearest(128 + 32 * rng.standard_normal((28, 28))).correlation < 0.3, "noise resembles no digit"
    assert index.nearest(np.full((28, 28), 7.0)) is None and index.nearest(np.zeros((14, 14))) is None
    assert index.nearest(np.where(digit > 0, np.nan, digit)) is None


class InProcessStudent:
    """A notebook's namespace seen through the proxy's interface, without a kernel: models are
    exported by the probe's exporter and rebuilt by the grader's, as a real kernel would."""

    def __init__(self, **namespace) -> None:
        self.namespace = namespace
        self.session = SimpleNamespace(ensure_time=lambda: None)

    def find(self, type_name: str) -> list[dict]:
        return [
            {"name": name, "type": type(value).__name__, "identity": id(value)}
            for name, value in self.namespace.items()
            if isinstance(value, nn.Module)
        ]

    def export_as_of(self, name: str, input_shape: tuple[int, ...], cell: int | None):
        """In process there are no cells, so no snapshots: the model as it is."""
        return self.export(name, input_shape), None

    def export(self, name: str, input_shape: tuple[int, ...]):
        try:
            return rebuild(**export_module(self.namespace[name], input_shape), input_shape=input_shape)
        except ExportError as error:
            raise ExportRefused(str(error)) from error

    def describe(self, name: str, input_shape: tuple[int, ...]) -> dict:
        try:
            return structure.describe(self.namespace[name], input_shape)
        except RuntimeError as error:
            raise StudentCallError(name, "RuntimeError", str(error)) from error


PER_CHANNEL = InputScaling("normalised per channel", (0.6, 0.3, 0.4), (0.2, 0.25, 0.3))
RGB_TWO_CLASSES = InputSpec(shape=(3, 32, 32), classes=2, scalings=(TO_TENSOR, PER_CHANNEL, MINUS_ONE_TO_ONE))


class RedVersusRest(nn.Module):
    """Two classes by the red channel's mean against its normalisation mean: right only when fed
    images normalised per channel; ``(logits, softmax)`` when asked."""

    def __init__(self, with_softmax: bool = False) -> None:
        super().__init__()
        self.pool, self.fc, self.with_softmax = nn.AdaptiveAvgPool2d(1), nn.Linear(3, 2, bias=False), with_softmax
        with torch.no_grad():
            self.fc.weight.copy_(torch.tensor([[1.0, 0.0, 0.0], [-1.0, 0.0, 0.0]]))

    def forward(self, x):
        logits = self.fc(torch.flatten(self.pool(x), 1))
        return (logits, torch.softmax(logits, dim=1)) if self.with_softmax else logits


def red_images(count: int = 400) -> tuple[torch.Tensor, torch.Tensor]:
    """[0, 1] images of even colour whose red value is class 0 above 0.6, class 1 below."""
    generator = torch.Generator().manual_seed(0)
    red = 0.35 + 0.5 * torch.rand(count, generator=generator)
    images = torch.rand(count, 3, 1, 1, generator=generator).expand(count, 3, 32, 32).clone()
    images[:, 0] = red[:, None, None]
    return images, (red <= 0.6).long()


def test_an_rgb_two_class_classifier_is_found_and_measured_under_its_per_channel_normalisation():
    student = InProcessStudent(model=RedVersusRest(), digits=nn.Sequential(nn.Flatten(), nn.Linear(784, 10)))
    found = find_classifiers(student, RGB_TWO_CLASSES)
    assert [model.name for model in found] == ["model"], "the MNIST model takes no 3 x 32 x 32 images"
    assert found[0].comparison is None and found[0].rebuilt is not None and found[0].spec == RGB_TWO_CLASSES
    images, labels = red_images()
    scaling, accuracy = measure_accuracy(student, found[0], images, labels)
    assert scaling == PER_CHANNEL and accuracy == 1.0
    by_scaling = {
        item.name: correct_fraction(classifier_of(student, found[0], item), images, labels)
        for item in RGB_TWO_CLASSES.scalings
    }
    assert by_scaling[TO_TENSOR.name] < 0.6 and 0.7 < by_scaling[MINUS_ONE_TO_ONE.name] < 0.9
    assert [model.name for model in find_classifiers(student)] == ["digits"], "with MNIST's spec only the digit model"


def test_a_model_returning_logits_and_softmax_is_found_and_its_logits_are_measured():
    student = InProcessStudent(
        pair=RedVersusRest(with_softmax=True), features=nn.Sequential(nn.Flatten(), nn.Linear(3 * 32 * 32, 8))
    )
    found = find_classifiers(student, RGB_TWO_CLASSES)
    assert [model.name for model in found] == ["pair"], "eight features are no two class scores"
    assert found[0].description["outputs"] == [[2, 2], [2, 2]]
    images, labels = red_images()
    [best] = measure_classifiers(student, found, images, labels)
    assert best.scaling == PER_CHANNEL and best.accuracy == 1.0
    assert best.where == "`pair` (RedVersusRest, 6 parameters), inputs normalised per channel"


def test_every_scaling_can_be_measured_on_all_images_until_one_is_good_enough():
    student = InProcessStudent(model=RedVersusRest())
    [model] = find_classifiers(student, RGB_TWO_CLASSES)
    images, labels = red_images()
    first_enough = ScalingChoice(probe=None, margin=0.0, enough=0.4)
    assert measure_accuracy(student, model, images, labels, first_enough)[0] == TO_TENSOR, "ToTensor's 50% is enough"
    assert measure_accuracy(student, model, images, labels, ScalingChoice(probe=None, margin=0.0)) == (PER_CHANNEL, 1.0)


class RedThreshold(nn.Module):
    """Class 0 when the mean red value is above 0.6 as fed: 0.6 of ToTensor's [0, 1], 0.8 of [-1, 1]."""

    def forward(self, x):
        red = x[:, 0].mean(dim=(1, 2))
        return torch.stack([red - 0.6, 0.6 - red], dim=1)


def test_a_model_keeps_its_first_scaling_when_another_leads_by_luck_and_loses_it_when_another_leads_clearly():
    """Images of red 0.6-0.8 flip from class 0 to 1 under [-1, 1]; their labels decide which scaling leads."""
    generator = torch.Generator().manual_seed(3)
    red = torch.linspace(0.3, 1.0, 400)
    flipping = (red > 0.6) & (red < 0.8)
    images = torch.rand(400, 3, 1, 1, generator=generator).expand(400, 3, 32, 32).clone()
    images[:, 0] = red[:, None, None]
    spec = InputSpec(shape=(3, 32, 32), classes=2, scalings=(TO_TENSOR, MINUS_ONE_TO_ONE))
    student = InProcessStudent(model=RedThreshold())
    [model] = find_classifiers(student, spec)
    by_luck = (red <= 0.6).long()
    by_luck[flipping] = (torch.arange(int(flipping.sum())) % 2 == 0).long()
    by_luck[torch.nonzero(flipping)[1:7:2, 0]] = 1  # three more right under [-1, 1]: a lead of 7 in 400
    first = correct_fraction(classifier_of(student, model, TO_TENSOR), images, by_luck)
    lead = correct_fraction(classifier_of(student, model, MINUS_ONE_TO_ONE), images, by_luck) - first
    assert 0.01 < lead < 0.03, "a margin of one point alone would take [-1, 1]"
    assert measure_accuracy(student, model, images, by_luck, ScalingChoice(probe=None))[0] == TO_TENSOR
    target = ScalingChoice(probe=None, enough=first + lead / 2)
    assert measure_accuracy(student, model, images, by_luck, target)[0] == MINUS_ONE_TO_ONE, "it alone reaches it"
    clearly = (red <= 0.6).long()
    clearly[flipping] = 1
    scaling, accuracy = measure_accuracy(student, model, images, clearly, ScalingChoice(probe=None))
    assert scaling == MINUS_ONE_TO_ONE and accuracy > 0.99


def test_a_per_channel_scaling_normalises_each_channel_with_its_own_mean_and_std():
    images = torch.ones(2, 3, 4, 4) * torch.tensor([0.6, 0.3, 0.4]).reshape(1, 3, 1, 1)
    assert torch.allclose(PER_CHANNEL.apply(images), torch.zeros(2, 3, 4, 4))
    assert torch.allclose(IMAGENET_NORMALISED.apply(torch.full((3, 2, 2), 0.485))[0], torch.zeros(2, 2))
    assert MNIST_NORMALISED.apply(torch.tensor([0.1307])).item() == 0.0


def colour_images(count: int = 50) -> torch.Tensor:
    """uint8 (N, 3, 32, 32) images, smooth enough that a thumbnail still tells them apart."""
    generator = torch.Generator().manual_seed(1)
    coarse = torch.rand(count, 3, 4, 4, generator=generator)
    return (255 * torch.nn.functional.interpolate(coarse, size=32, mode="bilinear")).round().to(torch.uint8)


def test_a_plotted_colour_image_is_identified_among_uint8_images_kept_as_they_are():
    images = colour_images()
    index = ImageIndex(images, cached_values=0, chunk=16)
    assert index.rows.dtype == torch.uint8 and index._flat is None, "no float copy of the set"
    shown = images[17].permute(1, 2, 0).numpy().astype(np.float32) / 255
    assert index.identify(shown) == 17, "as imshow takes it, (H, W, 3) in [0, 1]"
    assert index.identify(images[17].numpy() * 2.0 - 1) == 17, "as a (3, H, W) tensor in [-1, 1]"
    assert index.identify(np.dstack([shown, np.ones((32, 32, 1))])) == 17, "with an alpha channel"
    assert index.identify(shown[:, :, ::-1]) is None, "BGR is another picture"
    assert index.identify(shown.mean(axis=2)) is None, "a grey rendering is no colour image of the set"
    assert ImageIndex(images).identify(shown) == 17 and ImageIndex(images).nearest(shown).index == 17
    rng = np.random.default_rng(0)
    noisy = 0.5 * shown + 0.5 * rng.random((32, 32, 3))
    assert index.identify(noisy) is None and index.nearest(noisy).index == 17


def test_a_thumbnail_index_built_in_pieces_finds_a_photo_at_any_size():
    images = colour_images()
    index = ImageIndex((images[start : start + 10] for start in range(0, 50, 10)), thumbnail=8)
    assert index.rows.shape == (50, 3 * 8 * 8)
    larger = torch.nn.functional.interpolate(images[33:34].float(), size=64, mode="bilinear")[0]
    assert index.identify(larger.permute(1, 2, 0).numpy()) == 33, "shown at twice the size"
    assert index.identify(np.random.default_rng(2).random((64, 64, 3))) is None
    assert index.identify(np.zeros((4, 4, 3))) is None, "smaller than a thumbnail"


def test_filter_panels_are_traced_to_the_layers_of_colour_models_and_strays_void_the_figure():
    rng = np.random.default_rng(3)
    banks = [("net", [rng.normal(size=(16, 3, 5, 5)), rng.normal(size=(8, 16, 5, 5))])]
    first, second = banks[0][1]
    panels = [first[i, 1] * 4 + 2 for i in range(10)] + [second[i].mean(axis=0) for i in range(8)]
    assert kernel_layers(panels, banks) == {"conv1 of `net`": 10, "conv2 of `net`": 8}
    assert kernel_layers(panels + [rng.normal(size=(5, 5)) for _ in range(3)], banks) == {}, "3 of 21 panels unmatched"
    assert kernel_layers(panels[:4], banks) == {"conv1 of `net`": 4}, "fewer panels than eight: all of them count"
    assert kernel_layers([panel[:3, :3] for panel in panels], banks) == {}


class RedLogit(nn.Module):
    """One score per image for class 1 (not red): a logit, or its sigmoid when asked."""

    def __init__(self, sigmoid: bool = False) -> None:
        super().__init__()
        self.two, self.sigmoid = RedVersusRest(), sigmoid

    def forward(self, x):
        logits = self.two(x)
        score = (logits[:, 1] - logits[:, 0])[:, None]
        return torch.sigmoid(score).squeeze(1) if self.sigmoid else score


def test_a_two_class_model_with_one_score_per_image_is_found_only_when_the_spec_allows_it():
    student = InProcessStudent(logit=RedLogit(), probability=RedLogit(sigmoid=True))
    assert find_classifiers(student, RGB_TWO_CLASSES) == [], "two scores asked for, one given"
    single = InputSpec(shape=(3, 32, 32), classes=2, scalings=(PER_CHANNEL,), single_score=True)
    found = find_classifiers(student, single)
    assert [model.name for model in found] == ["logit", "probability"]
    assert [ends_in_sigmoid(model.rebuilt) for model in found] == [False, True]
    assert ends_in_sigmoid(RedLogit()) is None, "a module the grader did not rebuild says nothing"
    images, labels = red_images()
    for model in found:
        assert measure_accuracy(student, model, images, labels) == (PER_CHANNEL, 1.0), model.name


def test_one_score_per_image_becomes_two_logits_whether_a_logit_or_a_probability():
    logit = torch.tensor([[-2.0], [0.5], [3.0]])
    assert torch.equal(class_scores(logit, 2).argmax(dim=1), torch.tensor([0, 1, 1]))
    small = torch.tensor([[0.07]])
    assert int(class_scores(small, 2).argmax()) == 0, "alone, a score in [0, 1] reads as a probability"
    assert int(class_scores(small, 2, probability=False).argmax()) == 1, "a logit above 0 is class 1"
    probability = torch.sigmoid(logit).reshape(-1)
    recovered = class_scores(probability, 2)
    assert torch.allclose(torch.softmax(recovered, dim=1)[:, 1], probability, atol=1e-6)
    with pytest.raises(StopIteration):
        class_scores(logit, 10), "one score is no ten-class output"
