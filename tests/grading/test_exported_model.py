"""A student's model exported as data by the probe and rebuilt by the grader: the rebuilt model
computes what the original does, and anything the grader did not allow-list is refused."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from checks.engine.exported_model import ExportRefused, describe, rebuild, run_batched
from checks.probe import structure
from checks.probe.allowed import LAYERS
from checks.probe.export import ExportError, export_module
from checks.probe.wire import Decoder, Encoder
from reference.cs411_a2.small_cnn import SmallCNN
from reference.ee5179_pa2.network import PrescribedCNN

MNIST = (2, 1, 28, 28)


class FunctionalNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 5)
        self.conv2 = nn.Conv2d(8, 16, 5)
        self.fc1 = nn.Linear(16 * 4 * 4, 64)
        self.fc2 = nn.Linear(64, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), (2, 2))
        x = x.view(x.size(0), -1)
        x = F.dropout(F.relu(self.fc1(x)), 0.5, training=self.training)
        return F.log_softmax(self.fc2(x), dim=1)


class LogitsAndProbabilities(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 6, 3, padding=1), nn.BatchNorm2d(6), nn.ReLU(inplace=True), nn.AdaptiveAvgPool2d((4, 4))
        )
        self.classifier = nn.Linear(6 * 16, 10)

    def forward(self, x):
        logits = self.classifier(torch.flatten(self.features(x), 1))
        return logits, F.softmax(logits, dim=1)


class Assorted(nn.Module):
    """A buffer and a bare parameter read in forward, a layer's weight used directly, a residual
    sum, ``x.shape[0]``, slicing, a tensor method and an argument that keeps its default."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(0.1307))
        self.scale = nn.Parameter(torch.tensor(2.0))
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.fc = nn.Linear(4 * 14 * 14, 10)

    def forward(self, x, return_features=False):
        x = (x - self.mean) * self.scale
        y = self.conv(x)
        y = F.avg_pool2d(F.leaky_relu(y + self.conv(x)[:, :, :, :], 0.1), 2)
        features = y.reshape(x.shape[0], -1)
        if return_features:
            return features
        return (self.fc(features) + 0.5 * F.linear(features, self.fc.weight)).clamp(-50, 50)


def sequential() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 4, 3),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Dropout2d(0.25),
        nn.Flatten(),
        nn.Linear(4 * 13 * 13, 32),
        nn.Tanh(),
        nn.Linear(32, 10),
    )


def trained_looking(model: nn.Module) -> nn.Module:
    """Weights and running statistics away from their initial values, so a lost buffer shows."""
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if tensor.is_floating_point():
                tensor.add_(0.05 * torch.randn(tensor.shape, generator=generator))
                if "running_var" in name:
                    tensor.abs_().add_(0.5)
    return model


def wire_round_trip(value: dict, folder: Path) -> dict:
    """Through the probe's Encoder and the grader's Decoder, arrays via safetensors."""
    encoder = Encoder()
    encoder.write(encoder.encode(value), folder / "out.json", folder / "out.safetensors")
    return Decoder.read(folder / "out.safetensors").decode(json.loads((folder / "out.json").read_text()))


def exported(model: nn.Module, folder: Path, input_shape: tuple[int, ...] = MNIST) -> dict:
    return wire_round_trip(export_module(model, input_shape), folder)


MODELS = {
    "cs411 SmallCNN": SmallCNN,
    "ee5179 prescribed CNN": PrescribedCNN,
    "ee5179 prescribed CNN with batch norm": lambda: PrescribedCNN(batch_norm=True),
    "functional calls": FunctionalNet,
    "nn.Sequential": sequential,
    "(logits, softmax)": LogitsAndProbabilities,
    "buffers, parameters and defaults": Assorted,
}


@pytest.mark.parametrize("make", MODELS.values(), ids=MODELS.keys())
def test_the_rebuilt_model_computes_what_the_original_does(make, tmp_path):
    torch.manual_seed(0)
    model = trained_looking(make())
    model.train()
    export = exported(model, tmp_path)
    assert model.training, "the export leaves the model in the mode it found it"
    rebuilt = rebuild(export["graph"], export["tensors"], MNIST)
    model.eval()
    images = torch.randn(16, 1, 28, 28)
    with torch.no_grad():
        expected, found = model(images), rebuilt(images)
    expected, found = structure.output_tensors(expected), structure.output_tensors(found)
    assert len(expected) == len(found)
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(expected, found))
    assert not rebuilt.training and not any(p.requires_grad for p in rebuilt.parameters())
    assert describe(rebuilt, MNIST) == structure.describe(model, MNIST)


def node(name: str, op: str, target: str, *args, **kwargs) -> dict:
    return {"name": name, "op": op, "target": target, "args": list(args), "kwargs": kwargs}


def test_dropout_and_in_place_calls_cannot_reach_the_graders_input():
    graph = {
        "type": "Careless",
        "modules": {},
        "attributes": {},
        "nodes": [
            node("x", "placeholder", "x"),
            node("relu", "call_function", "torch.nn.functional.relu", {"$node": "x"}, inplace=True),
            node("dropout", "call_function", "torch.nn.functional.dropout", {"$node": "relu"}, 0.5, True),
            node("output", "output", "output", {"$node": "dropout"}),
        ],
    }
    rebuilt = rebuild(graph, {}, MNIST)
    images = torch.randn(*MNIST)
    before = images.clone()
    assert torch.equal(rebuilt(images), before.relu()) and torch.equal(images, before)
    assert type(rebuilt).__name__ == "Careless"


@pytest.fixture(scope="module")
def prescribed_export(tmp_path_factory) -> dict:
    torch.manual_seed(0)
    return exported(PrescribedCNN(batch_norm=True), tmp_path_factory.mktemp("export"))


def node_named(export: dict, name: str) -> dict:
    return next(node for node in export["graph"]["nodes"] if node["name"] == name)


def forge_call(target: str):
    def change(export):
        node_named(export, "relu")["target"] = target

    return change


def forge_layer(export):
    export["graph"]["modules"]["conv1"] = {"type": "Module", "kwargs": {"forward": "import os"}}


def wrong_shape(export):
    export["tensors"]["conv1.weight"] = torch.zeros(32, 1, 5, 5)


def huge_layer(export):
    export["graph"]["modules"]["fc1"]["kwargs"].update(in_features=1 << 20, out_features=1 << 20)


def later_reference(export):
    node_named(export, "relu")["args"] = [{"$node": "fc2"}]


def duplicate_name(export):
    node_named(export, "relu_1")["name"] = "relu"


def odd_path(export):
    export["graph"]["modules"]["__class__"] = export["graph"]["modules"].pop("conv1")


def missing_weight(export):
    del export["tensors"]["bn1.running_var"]


def gradient_flag(export):
    export["tensors"]["fc2.bias"].requires_grad_(True)


def wild_padding(export):
    export["graph"]["modules"]["conv1"]["kwargs"]["padding"] = (1 << 20, 1)


def wide_activations(export):
    export["graph"]["modules"]["conv1"]["kwargs"]["out_channels"] = 1 << 16
    export["tensors"].update({"conv1.weight": torch.zeros(1 << 16, 1, 3, 3), "conv1.bias": torch.zeros(1 << 16)})


def reserved_name(export):
    export["graph"]["modules"]["forward"] = export["graph"]["modules"].pop("fc2")
    node_named(export, "fc2")["target"] = "forward"
    export["tensors"].update({f"forward.{key}": export["tensors"].pop(f"fc2.{key}") for key in ("weight", "bias")})


def inside_a_layer(export):
    export["graph"]["attributes"]["conv1.extra"] = {"parameter": True}
    export["tensors"]["conv1.extra"] = torch.zeros(3)


def object_argument(export):
    node_named(export, "flatten")["args"] = [{"$node": "pool2"}, {"$object": "labels"}]


REFUSALS = {
    "builtins.open": (forge_call("builtins.open"), "not an allowed function"),
    "os.system": (forge_call("os.system"), "not an allowed function"),
    "a method as a function": (forge_call("torch.Tensor.relu_"), "not an allowed function"),
    "custom layer type": (forge_layer, "not an allowed layer type"),
    "wrong weight shape": (wrong_shape, "has shape [32, 1, 5, 5], but its layer needs [32, 1, 3, 3]"),
    "huge declared layer": (huge_layer, "the grader rebuilds at most"),
    "reference to a later node": (later_reference, "no earlier node"),
    "node name used twice": (duplicate_name, "used twice"),
    "dunder path": (odd_path, "not a plain attribute path"),
    "missing running variance": (missing_weight, "missing ['bn1.running_var']"),
    "requires_grad": (gradient_flag, "requires_grad"),
    "absurd padding": (wild_padding, "padding="),
    "kernel object as argument": (object_argument, "malformed dict argument"),
    "huge activations": (wide_activations, "conv1 produces 102,760,448 values"),
    "layer named forward": (reserved_name, "'forward' is not a plain attribute path"),
    "attribute inside a layer": (inside_a_layer, "'conv1.extra' sits inside"),
}


@pytest.mark.parametrize("forge, reason", REFUSALS.values(), ids=REFUSALS.keys())
def test_a_forged_export_is_refused_with_a_reason(prescribed_export, forge, reason):
    forged = copy.deepcopy(prescribed_export)
    forge(forged)
    with pytest.raises(ExportRefused, match=reason.replace("[", r"\[").replace("]", r"\]")):
        rebuild(forged["graph"], forged["tensors"], MNIST)


def test_an_untouched_export_rebuilds(prescribed_export):
    export = copy.deepcopy(prescribed_export)
    assert isinstance(rebuild(export["graph"], export["tensors"], MNIST), torch.fx.GraphModule)


class LabelLookup(nn.Module):
    """The forgery this export exists to stop: each test image looked up in the label file."""

    def __init__(self) -> None:
        super().__init__()
        self.labels = {}

    def forward(self, x):
        return F.one_hot(torch.tensor([self.labels.get(float(image.sum()), 0) for image in x]), 10).float()


class Branching(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(784, 10)

    def forward(self, x):
        if x.mean() > 0:
            return self.fc(x.flatten(1))
        return -self.fc(x.flatten(1))


class Sorting(nn.Module):
    def forward(self, x):
        return torch.topk(x.flatten(1), 10).values


class Custom(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.rnn = nn.GRU(28, 10, batch_first=True)

    def forward(self, x):
        return self.rnn(x[:, 0])[0][:, -1]


class Noisy(nn.Module):
    def forward(self, x):
        return x.flatten(1) + torch.randn(1)


PROBE_REFUSALS = {
    "label lookup": (LabelLookup, "cannot be traced as a fixed graph"),
    "data-dependent branch": (Branching, "cannot be traced as a fixed graph"),
    "function off the list": (Sorting, "forward calls torch.topk"),
    "layer off the list": (Custom, "torch.nn.modules.rnn.GRU, not one of the layers"),
    "randomness": (Noisy, "does not reproduce the model's forward"),
}


@pytest.mark.parametrize("make, reason", PROBE_REFUSALS.values(), ids=PROBE_REFUSALS.keys())
def test_the_probe_refuses_what_it_cannot_describe(make, reason):
    model = make()
    with pytest.raises(ExportError, match=reason):
        export_module(model, MNIST)
    assert model.training


IMAGE, SEQUENCE, VECTOR = (2, 2, 8, 8), (2, 2, 8), (2, 2)
LAYER_SAMPLES = {  # constructor arguments and an input each layer takes
    "Conv1d": ((2, 3, 3), SEQUENCE),
    "Conv2d": ((2, 3, 3), IMAGE),
    "Linear": ((2, 3), VECTOR),
    "BatchNorm1d": ((2,), VECTOR),
    "BatchNorm2d": ((2,), IMAGE),
    "LayerNorm": ((8,), SEQUENCE),
    "GroupNorm": ((1, 2), IMAGE),
    "Softmax": ((1,), IMAGE),
    "LogSoftmax": ((1,), IMAGE),
    "MaxPool1d": ((2,), SEQUENCE),
    "MaxPool2d": ((2,), IMAGE),
    "AvgPool1d": ((2,), SEQUENCE),
    "AvgPool2d": ((2,), IMAGE),
    "AdaptiveAvgPool1d": ((3,), SEQUENCE),
    "AdaptiveAvgPool2d": ((3,), IMAGE),
    "AdaptiveMaxPool2d": ((3,), IMAGE),
    "Dropout1d": ((), SEQUENCE),
}


@pytest.mark.parametrize("kind", sorted(LAYERS))
def test_every_allowed_layer_survives_the_round_trip(kind, tmp_path):
    arguments, shape = LAYER_SAMPLES.get(kind, ((), IMAGE))
    torch.manual_seed(0)
    model = trained_looking(nn.Sequential(getattr(nn, kind)(*arguments))).eval()
    export = exported(model, tmp_path, shape)
    images = torch.randn(shape)
    assert torch.allclose(rebuild(export["graph"], export["tensors"], shape)(images), model(images), atol=1e-6)


def hand_made(calls: list[tuple[str, str, list, dict]], modules: dict, tensors: dict) -> tuple[dict, dict]:
    """A graph written by hand, as a hostile kernel could send it: (name, op, target, args) after the input."""
    nodes = [{"name": "x", "op": "placeholder", "target": "x", "args": [], "kwargs": {}}]
    nodes += [
        {"name": name, "op": op, "target": target, "args": args, "kwargs": kwargs}
        for name, op, target, args, kwargs in calls
    ]
    nodes.append(
        {"name": "output", "op": "output", "target": "output", "args": [{"$node": nodes[-1]["name"]}], "kwargs": {}}
    )
    return {"type": "Forged", "nodes": nodes, "modules": modules, "attributes": {}}, tensors


def conv_spec(channels_in: int, channels_out: int) -> dict:
    return {
        "type": "Conv2d",
        "kwargs": {
            "in_channels": channels_in,
            "out_channels": channels_out,
            "kernel_size": [3, 3],
            "stride": [1, 1],
            "padding": [1, 1],
            "dilation": [1, 1],
            "groups": 1,
            "bias": True,
            "padding_mode": "zeros",
        },
    }


def conv_chain(channels: int, repeats: int) -> tuple[dict, dict]:
    calls = [("widen", "call_module", "widen", [{"$node": "x"}], {})]
    calls += [
        (f"conv_{i}", "call_module", "conv", [{"$node": calls[-1][0] if i == 0 else f"conv_{i - 1}"}], {})
        for i in range(repeats)
    ]
    tensors = {
        "widen.weight": torch.zeros(channels, 1, 3, 3),
        "widen.bias": torch.zeros(channels),
        "conv.weight": torch.zeros(channels, channels, 3, 3),
        "conv.bias": torch.zeros(channels),
    }
    return hand_made(calls, {"widen": conv_spec(1, channels), "conv": conv_spec(channels, channels)}, tensors)


def test_a_graph_that_would_keep_the_grader_busy_for_hours_is_refused():
    with pytest.raises(ExportRefused, match="multiply-adds"):
        rebuild(*conv_chain(256, 25), MNIST)
    assert rebuild(*conv_chain(8, 2), MNIST).grader_batch == 64


def test_a_graph_whose_sizes_grow_faster_than_its_batch_is_refused_at_the_grader_batch():
    graph, tensors = hand_made(
        [
            ("row", "call_method", "reshape", [{"$node": "x"}, 1, -1], {}),
            ("column", "call_method", "t", [{"$node": "row"}], {}),
            ("outer", "call_function", "operator.matmul", [{"$node": "column"}, {"$node": "row"}], {}),
        ],
        {},
        {},
    )
    with pytest.raises(ExportRefused, match="produces .* values for this input"):
        rebuild(graph, tensors, MNIST)


def test_a_graph_writing_into_its_input_is_refused():
    graph, tensors = hand_made(
        [("stamp", "call_function", "torch.add", [{"$node": "x"}, 1], {"out": {"$node": "x"}})], {}, {}
    )
    with pytest.raises(ExportRefused, match=r"out="):
        rebuild(graph, tensors, MNIST)


def test_the_grader_runs_a_rebuilt_model_in_padded_batches_and_can_stop_it():
    torch.manual_seed(0)
    model = SmallCNN().eval()
    export = export_module(model, MNIST)
    rebuilt = rebuild(export["graph"], export["tensors"], MNIST)
    images = torch.rand(150, 1, 28, 28)
    with torch.no_grad():
        expected = model(images)
    got = run_batched(rebuilt, images, lambda output: output, lambda: None)
    assert got.shape == (150, 10) and torch.allclose(got, expected, atol=1e-5)
    calls = []

    def stop_after_two():
        calls.append(1)
        if len(calls) > 2:
            raise TimeoutError("time is up")

    with pytest.raises(TimeoutError):
        run_batched(rebuilt, images, lambda output: output, stop_after_two)


def test_a_graph_holding_many_large_results_at_once_is_refused():
    calls = [(f"copy_{i}", "call_method", "mul", [{"$node": "x"}, float(i)], {}) for i in range(40)]
    calls += [("sum_0", "call_function", "operator.add", [{"$node": "copy_0"}, {"$node": "copy_1"}], {})]
    calls += [
        (f"sum_{i}", "call_function", "operator.add", [{"$node": f"sum_{i - 1}"}, {"$node": f"copy_{i + 1}"}], {})
        for i in range(1, 39)
    ]
    graph, tensors = hand_made(calls, {}, {})
    assert rebuild(graph, tensors, MNIST).grader_batch == 64
    assert 1 < rebuild(graph, tensors, (2, 1, 512, 512)).grader_batch < 64
    with pytest.raises(ExportRefused, match="held at once"):
        rebuild(graph, tensors, (2, 1, 4096, 4096))
