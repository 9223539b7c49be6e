"""What a model is made of, found by running it: the layers a forward pass goes through.

Runs inside the kernel (student models never leave it) and in the grader (for the
reference), so it imports nothing from the grader. Forward hooks on the leaf modules see
layers whatever their names, in nn.Sequential or a hand-written forward; pooling or ReLU
done with torch.nn.functional shows up as the shapes between layers.
"""

from __future__ import annotations

from typing import Any

LAYER_ATTRIBUTES = {
    "Conv2d": ("in_channels", "out_channels", "kernel_size", "stride", "padding"),
    "Linear": ("in_features", "out_features"),
    "MaxPool2d": ("kernel_size", "stride", "padding"),
    "AvgPool2d": ("kernel_size", "stride", "padding"),
    "BatchNorm1d": ("num_features",),
    "BatchNorm2d": ("num_features",),
    "Dropout": ("p",),
    "Dropout2d": ("p",),
}


def _plain(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_plain(item) for item in value]
    if isinstance(value, (bool, int, float, str)) or value is None:
        return value
    return str(value)


def _shape(value: Any) -> list[int] | None:
    return list(value.shape) if hasattr(value, "shape") else None


def output_tensors(output: Any) -> list[Any]:
    """The tensors a forward returns: one, or a tuple / list / dict of them (e.g. (logits, probs))."""
    if hasattr(output, "shape"):
        return [output]
    if isinstance(output, dict):
        output = list(output.values())
    if isinstance(output, (tuple, list)):
        return [item for item in output if hasattr(item, "shape")]
    return []


def describe(model: Any, input_shape: tuple[int, ...] = (1, 1, 28, 28)) -> dict[str, Any]:
    """The leaf layers in the order a forward pass on zeros runs them, with their shapes."""
    import torch

    layers: list[dict[str, Any]] = []
    names = {module: name for name, module in model.named_modules()}
    hooks = []

    def record(module, inputs, output) -> None:
        kind = type(module).__name__
        entry = {
            "name": names.get(module, ""),
            "type": kind,
            "input": _shape(inputs[0]) if inputs else None,
            "output": _shape(output),
            "parameters": sum(p.numel() for p in module.parameters(recurse=False)),
        }
        for attribute in LAYER_ATTRIBUTES.get(kind, ()):
            entry[attribute] = _plain(getattr(module, attribute, None))
        layers.append(entry)

    for module in model.modules():
        if not list(module.children()):
            hooks.append(module.register_forward_hook(record))
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            output = model(torch.zeros(*input_shape))
    finally:
        for hook in hooks:
            hook.remove()
        model.train(was_training)
    return {
        "type": type(model).__name__,
        "layers": layers,
        "outputs": [_shape(tensor) for tensor in output_tensors(output)],
        "parameters": sum(p.numel() for p in model.parameters()),
    }
