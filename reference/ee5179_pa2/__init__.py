"""Reference solution of EE5179 PA2 (an MNIST CNN, its visualisation, adversarial images)."""

from reference.ee5179_pa2.adversarial import AttackResult, non_targeted_attack, targeted_attack
from reference.ee5179_pa2.data import MnistSplit, load_split, split_indices, to_tensor_scale
from reference.ee5179_pa2.network import (
    CONV_PARAMETERS,
    FC_PARAMETERS,
    NEURON_DEFINITIONS,
    TOTAL_PARAMETERS,
    LayerShape,
    NeuronCounts,
    ParameterCounts,
    PrescribedCNN,
    layer_shapes,
    neuron_counts,
    parameter_counts,
)
from reference.ee5179_pa2.occlusion import occlusion_grid_size, occlusion_map
from reference.ee5179_pa2.training import History, TrainedModel, TrainingRecipe, evaluate, reference_model, train
from reference.ee5179_pa2.visualise import activations, conv_layers, filters

__all__ = [
    "CONV_PARAMETERS",
    "FC_PARAMETERS",
    "NEURON_DEFINITIONS",
    "TOTAL_PARAMETERS",
    "AttackResult",
    "History",
    "LayerShape",
    "MnistSplit",
    "NeuronCounts",
    "ParameterCounts",
    "PrescribedCNN",
    "TrainedModel",
    "TrainingRecipe",
    "activations",
    "conv_layers",
    "evaluate",
    "filters",
    "layer_shapes",
    "load_split",
    "neuron_counts",
    "non_targeted_attack",
    "occlusion_grid_size",
    "occlusion_map",
    "parameter_counts",
    "reference_model",
    "split_indices",
    "targeted_attack",
    "to_tensor_scale",
    "train",
]
