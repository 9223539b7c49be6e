"""EE5179 PA2 question 1: the prescribed network's shapes, parameter and neuron counts, the split."""

import numpy as np
import torch
import torchvision.transforms as T
from PIL import Image
from torch import nn

from reference.ee5179_pa2 import (
    CONV_PARAMETERS,
    FC_PARAMETERS,
    TOTAL_PARAMETERS,
    PrescribedCNN,
    layer_shapes,
    neuron_counts,
    parameter_counts,
    split_indices,
    to_tensor_scale,
)


def by_formula(kernel: int, inputs: int, outputs: int) -> int:
    return kernel * kernel * inputs * outputs + outputs


def test_parameter_counts_match_the_assignment_and_the_formula():
    counts = parameter_counts(PrescribedCNN())
    assert (counts.conv, counts.fc, counts.total) == (CONV_PARAMETERS, FC_PARAMETERS, TOTAL_PARAMETERS)
    assert counts.conv == by_formula(3, 1, 32) + by_formula(3, 32, 32) == 9_568
    assert counts.fc == by_formula(1, 32 * 7 * 7, 500) + by_formula(1, 500, 10) == 789_510
    assert counts.total == sum(p.numel() for p in PrescribedCNN().parameters()) == 799_078


def test_the_batch_norm_variant_adds_only_normalisation_parameters():
    counts = parameter_counts(PrescribedCNN(batch_norm=True))
    assert (counts.conv, counts.fc) == (CONV_PARAMETERS, FC_PARAMETERS)
    assert counts.batch_norm == 2 * (32 + 32 + 500)
    assert sum(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in PrescribedCNN(True).modules()) == 3


def test_layer_shapes_follow_the_prescribed_architecture():
    shapes = [(s.layer, s.input_shape, s.output_shape) for s in layer_shapes(PrescribedCNN())]
    assert shapes == [
        ("conv1", (1, 28, 28), (32, 28, 28)),
        ("pool1", (32, 28, 28), (32, 14, 14)),
        ("conv2", (32, 14, 14), (32, 14, 14)),
        ("pool2", (32, 14, 14), (32, 7, 7)),
        ("fc1", (32, 7, 7), (500,)),
        ("fc2", (500,), (10,)),
        ("softmax", (10,), (10,)),
    ]


def test_neuron_counts_under_each_definition():
    usual, with_pooling = neuron_counts(PrescribedCNN())
    assert (usual.conv, usual.fc, usual.total) == (32 * 28 * 28 + 32 * 14 * 14, 510, 31_870)
    assert (with_pooling.conv, with_pooling.total) == (31_360 + 32 * 14 * 14 + 32 * 7 * 7, 39_710)


def test_the_forward_pass_gives_logits_and_probabilities_sum_to_one():
    torch.manual_seed(0)
    model = PrescribedCNN().eval()
    x = torch.rand(4, 1, 28, 28)
    assert model(x).shape == (4, 10)
    assert torch.allclose(model.probabilities(x).sum(dim=1), torch.ones(4))


def test_the_split_is_50000_and_10000_disjoint_and_reproducible():
    train, val = split_indices(seed=3)
    assert (len(train), len(val)) == (50_000, 10_000)
    assert len(set(train.tolist()) | set(val.tolist())) == 60_000
    again, _ = split_indices(seed=3)
    assert torch.equal(train, again) and not torch.equal(train, split_indices(seed=4)[0])


def test_scaling_is_bit_equal_to_to_tensor(data):
    images, _ = data.mnist_arrays(train=False)
    expected = torch.stack([T.ToTensor()(Image.fromarray(image.numpy())) for image in images[:16]])
    assert torch.equal(to_tensor_scale(images[:16]), expected)
    assert np.isclose(float(to_tensor_scale(images[:1]).max()), 1.0)
