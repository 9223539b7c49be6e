"""How values cross the sandbox boundary: JSON for structure, safetensors for arrays.

Nothing is ever pickled in either direction. The grader and the probe share this
module, so both sides agree on the markers.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from safetensors.torch import load_file, save_file

TENSOR, NDARRAY, OBJECT, IMAGE = "$tensor", "$ndarray", "$object", "$image"
TUPLE, DICT, FLOAT, MODULE, REPR, PIL_IMAGE = "$tuple", "$dict", "$float", "$module", "$repr", "$pil"
MAX_PAYLOAD_BYTES = 256 << 20
MAX_JSON_BYTES = 16 << 20
MAX_DEPTH = 16
MAX_ITEMS = 10_000


class WireError(ValueError):
    """A value that cannot or may not cross the boundary."""


@dataclass(frozen=True)
class KernelObject:
    """An argument that names an object already in the student's namespace (e.g. ``model``)."""

    name: str


@dataclass(frozen=True)
class DataImage:
    """An argument opened as a PIL image inside the kernel, from the data directory."""

    relative_path: str


class Encoder:
    def __init__(self) -> None:
        self.tensors: dict[str, torch.Tensor] = {}
        self.payload_bytes = 0

    def _store(self, tensor: torch.Tensor) -> str:
        tensor = tensor.detach().cpu().contiguous()
        self.payload_bytes += tensor.numel() * tensor.element_size()
        if self.payload_bytes > MAX_PAYLOAD_BYTES:
            raise WireError(f"arrays exceed the {MAX_PAYLOAD_BYTES >> 20} MiB cap")
        key = f"t{len(self.tensors)}"
        self.tensors[key] = tensor
        return key

    def encode(self, value: Any, depth: int = 0) -> Any:
        if depth > MAX_DEPTH:
            raise WireError("value nested too deeply")
        if value is None or isinstance(value, (bool, str)):
            return value
        if isinstance(value, KernelObject):
            return {OBJECT: value.name}
        if isinstance(value, DataImage):
            return {IMAGE: value.relative_path}
        if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
            return int(value)
        if isinstance(value, (float, np.floating)):
            return float(value) if math.isfinite(value) else {FLOAT: repr(float(value))}
        if isinstance(value, torch.Tensor):
            return {
                TENSOR: self._store(value),
                "dtype": str(value.dtype).removeprefix("torch."),
                "shape": list(value.shape),
                "requires_grad": value.requires_grad,
                "is_leaf": value.is_leaf,
                "grad": self._store(value.grad) if value.grad is not None else None,
            }
        if isinstance(value, np.ndarray):
            if value.dtype.kind not in "biuf":
                return {REPR: repr(value)[:500], "type": "numpy.ndarray", "dtype": str(value.dtype)}
            return {NDARRAY: self._store(torch.from_numpy(np.ascontiguousarray(value))), "dtype": str(value.dtype),
                    "shape": list(value.shape)}
        if isinstance(value, (list, tuple)):
            if len(value) > MAX_ITEMS:
                raise WireError(f"sequence of {len(value)} items exceeds {MAX_ITEMS}")
            items = [self.encode(item, depth + 1) for item in value]
            return {TUPLE: items} if isinstance(value, tuple) else items
        if isinstance(value, dict):
            if len(value) > MAX_ITEMS:
                raise WireError(f"dict of {len(value)} items exceeds {MAX_ITEMS}")
            return {DICT: [[self.encode(k, depth + 1), self.encode(v, depth + 1)] for k, v in value.items()]}
        if isinstance(value, torch.nn.Module):
            return {MODULE: type(value).__name__, "parameters": sum(p.numel() for p in value.parameters())}
        if type(value).__module__.startswith("PIL.") and hasattr(value, "size"):
            array = np.asarray(value)
            return {PIL_IMAGE: self._store(torch.from_numpy(np.ascontiguousarray(array))), "mode": value.mode,
                    "size": list(value.size)}
        return {REPR: repr(value)[:500], "type": f"{type(value).__module__}.{type(value).__qualname__}"}

    def write(self, structure: Any, json_path: Path, tensor_path: Path) -> None:
        save_file(self.tensors, str(tensor_path))
        text = json.dumps(structure)
        if len(text) > MAX_JSON_BYTES:
            raise WireError("result structure too large")
        json_path.write_text(text, encoding="utf-8")


class Decoder:
    """Turns wire values back into tensors; objects and images resolve through callbacks."""

    def __init__(
        self,
        tensors: dict[str, torch.Tensor],
        resolve_object: Callable[[str], Any] | None = None,
        open_image: Callable[[str], Any] | None = None,
    ) -> None:
        self.tensors = tensors
        self.resolve_object = resolve_object
        self.open_image = open_image

    @classmethod
    def read(cls, tensor_path: Path, **callbacks) -> "Decoder":
        if tensor_path.stat().st_size > MAX_PAYLOAD_BYTES + (1 << 20):
            raise WireError(f"{tensor_path.name} is larger than the {MAX_PAYLOAD_BYTES >> 20} MiB cap")
        return cls(load_file(str(tensor_path)), **callbacks)

    def decode(self, value: Any, depth: int = 0) -> Any:
        if depth > MAX_DEPTH:
            raise WireError("value nested too deeply")
        if isinstance(value, list):
            return [self.decode(item, depth + 1) for item in value]
        if not isinstance(value, dict):
            return value
        if TENSOR in value:
            tensor = self.tensors[value[TENSOR]].clone()
            if value.get("requires_grad"):
                tensor.requires_grad_(True)
            return tensor
        if NDARRAY in value or PIL_IMAGE in value:
            return self.tensors[value.get(NDARRAY) or value[PIL_IMAGE]].numpy().copy()
        if TUPLE in value:
            return tuple(self.decode(item, depth + 1) for item in value[TUPLE])
        if DICT in value:
            return {self.decode(k, depth + 1): self.decode(v, depth + 1) for k, v in value[DICT]}
        if FLOAT in value:
            return float(value[FLOAT])
        if OBJECT in value and self.resolve_object is not None:
            return self.resolve_object(value[OBJECT])
        if IMAGE in value and self.open_image is not None:
            return self.open_image(value[IMAGE])
        return value

    def grad_of(self, wire_tensor: dict[str, Any]) -> torch.Tensor | None:
        key = wire_tensor.get("grad")
        return None if key is None else self.tensors[key].clone()
