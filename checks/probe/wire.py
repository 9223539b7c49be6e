"""How values cross the sandbox boundary: JSON for structure, safetensors for arrays.

Nothing is ever pickled in either direction. The grader and the probe share this
module, so both sides agree on the markers.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
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
        self._storages: set[int] = set()

    def _store(self, tensor: torch.Tensor) -> str:
        """Every occurrence gets its own key; one that shares memory with an earlier one (a function
        that returns its argument) is copied, since safetensors refuses shared storage."""
        tensor = tensor.detach().cpu().contiguous()
        storage = tensor.untyped_storage().data_ptr()
        if storage in self._storages:
            tensor = tensor.clone()
            storage = tensor.untyped_storage().data_ptr()
        self._storages.add(storage)
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
            return {
                NDARRAY: self._store(torch.from_numpy(np.ascontiguousarray(value))),
                "dtype": str(value.dtype),
                "shape": list(value.shape),
            }
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
            return {
                PIL_IMAGE: self._store(torch.from_numpy(np.ascontiguousarray(array))),
                "mode": value.mode,
                "size": list(value.size),
            }
        return {REPR: repr(value)[:500], "type": f"{type(value).__module__}.{type(value).__qualname__}"}

    def write(self, structure: Any, json_path: Path, tensor_path: Path) -> None:
        save_file(self.tensors, str(tensor_path))
        text = json.dumps(structure)
        if len(text) > MAX_JSON_BYTES:
            raise WireError("result structure too large")
        json_path.write_text(text, encoding="utf-8")


class Decoder:
    """Turns wire values back into tensors; objects and images resolve through callbacks.

    Replies are written by student code, so every reference is checked before it is
    copied: the Encoder gives each occurrence its own key, hence a key used twice can only
    be an attempt to multiply one stored tensor, and all copies together stay under
    ``MAX_PAYLOAD_BYTES``. Anything malformed is a ``WireError``.
    """

    MAX_DIMS = 64

    def __init__(
        self,
        tensors: dict[str, torch.Tensor],
        resolve_object: Callable[[str], Any] | None = None,
        open_image: Callable[[str], Any] | None = None,
    ) -> None:
        self.tensors = tensors
        self.resolve_object = resolve_object
        self.open_image = open_image
        self.referenced: set[str] = set()
        self.materialised_bytes = 0

    @classmethod
    def read(cls, tensor_path: Path, **callbacks) -> Decoder:
        if tensor_path.stat().st_size > MAX_PAYLOAD_BYTES + (1 << 20):
            raise WireError(f"{tensor_path.name} is larger than the {MAX_PAYLOAD_BYTES >> 20} MiB cap")
        try:
            tensors = load_file(str(tensor_path))
        except SafetensorError as error:
            raise WireError(f"{tensor_path.name} is not a readable tensor file ({error})") from None
        return cls(tensors, **callbacks)

    def _take(self, key: Any, repeatable: bool = False) -> torch.Tensor:
        """The stored tensor ``key`` names, counted against the cap before anything is copied."""
        if not isinstance(key, str) or key not in self.tensors:
            raise WireError(f"tensor key {repr(key)[:60]} is not in the payload")
        if not repeatable:
            if key in self.referenced:
                raise WireError(f"tensor {key[:60]} referenced twice")
            self.referenced.add(key)
        tensor = self.tensors[key]
        self.materialised_bytes += tensor.numel() * tensor.element_size()
        if self.materialised_bytes > MAX_PAYLOAD_BYTES:
            raise WireError(f"decoded arrays exceed the {MAX_PAYLOAD_BYTES >> 20} MiB cap")
        return tensor

    @staticmethod
    def _agree(value: dict[str, Any], field: str, actual: Any, key: Any) -> None:
        """A stated shape, dtype or size must describe the stored tensor: a mismatch is forged."""
        if field in value and value[field] != actual:
            raise WireError(f"tensor {str(key)[:60]} has {field} {actual}, not the {repr(value[field])[:60]} stated")

    def _tensor(self, value: dict[str, Any]) -> torch.Tensor:
        tensor = self._take(value[TENSOR])
        self._agree(value, "shape", list(tensor.shape), value[TENSOR])
        self._agree(value, "dtype", str(tensor.dtype).removeprefix("torch."), value[TENSOR])
        tensor = tensor.clone()
        if value.get("requires_grad"):
            if not (tensor.is_floating_point() or tensor.is_complex()):
                raise WireError(f"tensor {value[TENSOR]} of {tensor.dtype} cannot require grad")
            tensor.requires_grad_(True)
        return tensor

    def _array(self, value: dict[str, Any], marker: str) -> np.ndarray:
        """The stored array in its stated shape, which the Encoder loses for 0-d arrays (stored as 1-d)."""
        key = value[marker]
        tensor = self._take(key)
        try:
            array = tensor.numpy()
        except TypeError as error:
            raise WireError(f"tensor {key} cannot be an array ({error})") from None
        if marker == PIL_IMAGE:
            self._agree(value, "size", list(array.shape[1::-1]), key)
            return array.copy()
        self._agree(value, "dtype", str(array.dtype), key)
        shape = value.get("shape", list(array.shape))
        if not (
            isinstance(shape, list)
            and len(shape) <= self.MAX_DIMS
            and all(type(size) is int and size >= 0 for size in shape)
            and math.prod(shape) == array.size
        ):
            raise WireError(f"tensor {key} holds {array.size} values, not the shape {repr(shape)[:60]} stated")
        return array.reshape(shape).copy()

    def _items(self, items: Any, what: str) -> list[Any]:
        if not isinstance(items, list):
            raise WireError(f"{what} holds a {type(items).__name__}, not a list")
        if len(items) > MAX_ITEMS:
            raise WireError(f"{what} of {len(items)} items exceeds {MAX_ITEMS}")
        return items

    def _dict(self, items: Any, depth: int) -> dict[Any, Any]:
        result = {}
        for pair in self._items(items, DICT):
            if not isinstance(pair, list) or len(pair) != 2:
                raise WireError(f"{DICT} item {repr(pair)[:60]} is not a [key, value] pair")
            key, item = self.decode(pair[0], depth + 1), self.decode(pair[1], depth + 1)
            try:
                result[key] = item
            except TypeError:
                raise WireError(f"{DICT} key of type {type(key).__name__} is not hashable") from None
        return result

    def decode(self, value: Any, depth: int = 0) -> Any:
        if depth > MAX_DEPTH:
            raise WireError("value nested too deeply")
        if isinstance(value, list):
            return [self.decode(item, depth + 1) for item in self._items(value, "list")]
        if not isinstance(value, dict):
            return value
        if TENSOR in value:
            return self._tensor(value)
        if NDARRAY in value:
            return self._array(value, NDARRAY)
        if PIL_IMAGE in value:
            return self._array(value, PIL_IMAGE)
        if TUPLE in value:
            return tuple(self.decode(item, depth + 1) for item in self._items(value[TUPLE], TUPLE))
        if DICT in value:
            return self._dict(value[DICT], depth)
        if FLOAT in value:
            try:
                return float(value[FLOAT])
            except (TypeError, ValueError):
                raise WireError(f"{FLOAT} {repr(value[FLOAT])[:60]} is not a number") from None
        if OBJECT in value and self.resolve_object is not None:
            return self.resolve_object(value[OBJECT])
        if IMAGE in value and self.open_image is not None:
            return self.open_image(value[IMAGE])
        return value

    def grad_of(self, wire_tensor: dict[str, Any]) -> torch.Tensor | None:
        """The stored gradient; the grader may ask again, so only the byte cap limits repeats."""
        key = wire_tensor.get("grad")
        return None if key is None else self._take(key, repeatable=True).clone()
