"""Models found by structure: the layers a forward pass runs, compared with EE5179's prescribed
CNN, with the exact difference named. Student-style models are defined here the ways real
notebooks write them (nn.Sequential, a hand-written forward with F.relu and F.max_pool2d,
a shared pooling module, a (logits, softmax) tuple output)."""

import torch
import torch.nn.functional as F
from torch import nn

from checks.finders.architecture import ConvSpec, PrescribedArchitecture, compare
from checks.probe.structure import describe
from reference.ee5179_pa2 import PrescribedCNN

EE5179 = PrescribedArchitecture(convs=(ConvSpec(32, 3, 1, 1, 28), ConvSpec(32, 3, 1, 1, 14)), hidden=(500,), classes=10)


class Functional(nn.Module):
    """conv -> F.relu -> F.max_pool2d, one pooling module shared, a (logits, softmax) output."""

    def __init__(self, filters: int = 32, second_pool: bool = True) -> None:
        super().__init__()
        self.c1 = nn.Conv2d(1, filters, 3, padding=1)
        self.c2 = nn.Conv2d(filters, 32, 3, padding=1)
        self.second_pool = second_pool
        size = 7 if second_pool else 14
        self.f1 = nn.Linear(32 * size * size, 500)
        self.f2 = nn.Linear(500, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.c1(x)), 2)
        x = F.relu(self.c2(x))
        if self.second_pool:
            x = F.max_pool2d(x, 2)
        logits = self.f2(F.relu(self.f1(x.flatten(1))))
        return logits, F.softmax(logits, dim=1)


def sequential(filters: int = 32, kernel: int = 3, padding: int = 1) -> nn.Sequential:
    size = 28 if padding else 24
    return nn.Sequential(
        nn.Conv2d(1, filters, kernel, padding=padding),
        nn.ReLU(),
        nn.MaxPool2d(2, 2),
        nn.Conv2d(filters, 32, kernel, padding=padding),
        nn.ReLU(),
        nn.MaxPool2d(2, 2),
        nn.Flatten(),
        nn.Linear(32 * (size // 4) ** 2 if padding else 32 * 4 * 4, 500),
        nn.ReLU(),
        nn.Linear(500, 10),
    )


def differences(model: nn.Module) -> list[str]:
    return compare(describe(model), EE5179).differences


def test_the_reference_and_correct_student_styles_match():
    for model in (PrescribedCNN(), PrescribedCNN(batch_norm=True), sequential(), Functional()):
        assert differences(model) == [], model
    assert compare(describe(PrescribedCNN(batch_norm=True)), EE5179).batch_norm
    assert not compare(describe(sequential()), EE5179).batch_norm


def test_the_layers_are_listed_in_forward_order_with_shapes():
    description = describe(Functional())
    assert [layer["name"] for layer in description["layers"]] == ["c1", "c2", "f1", "f2"]
    assert description["layers"][1]["input"] == [1, 32, 14, 14]
    assert description["outputs"] == [[1, 10], [1, 10]]
    assert description["parameters"] == 799_078
    assert compare(description, EE5179).layers[0] == "conv 32 3x3 stride 1 pad 1 -> (32, 28, 28)"


def test_each_planted_difference_is_named():
    assert differences(sequential(filters=64)) == ["conv1 has 64 filters instead of 32"]
    assert differences(Functional(second_pool=False)) == [
        "fc1 takes 6272 inputs instead of 1568: the 2x2 pooling after the last convolution is missing"
    ]
    assert differences(sequential(kernel=5, padding=0)) == [
        "conv1 uses 5x5 kernels instead of 3x3",
        "conv1 has padding 0 instead of 1",
        "conv2 uses 5x5 kernels instead of 3x3",
        "conv2 has padding 0 instead of 1",
        "conv2 receives 12x12 maps instead of 14x14: the 2x2 pooling before it is missing or different",
        "fc1 takes 512 inputs instead of 1568",
    ]
    no_pool_between = nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(32, 32, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(32 * 14 * 14, 500),
        nn.ReLU(),
        nn.Linear(500, 10),
    )
    assert differences(no_pool_between) == [
        "conv2 receives 28x28 maps instead of 14x14: the 2x2 pooling before it is missing or different",
        "fc1 takes 6272 inputs instead of 1568",
    ]
    one_fc = nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1),
        nn.MaxPool2d(2),
        nn.Conv2d(32, 32, 3, padding=1),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(1568, 10),
    )
    assert differences(one_fc) == ["1 fully connected layer(s) instead of 2", "fc1 has 10 outputs instead of 500"]


def test_describe_leaves_the_model_as_it_found_it():
    model = PrescribedCNN(batch_norm=True).train()
    before = {key: value.clone() for key, value in model.state_dict().items()}
    describe(model)
    assert model.training and not model._forward_hooks
    assert all(torch.equal(before[key], value) for key, value in model.state_dict().items())
