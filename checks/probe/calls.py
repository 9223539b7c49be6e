"""Serve the grader's requests inside the kernel: call a student function, read a value,
or list the objects of a type, exchanging data only through files in the exchange folder."""

from __future__ import annotations

import importlib
import json
import random
import traceback
from pathlib import Path
from typing import Any

from .wire import Decoder, Encoder, WireError

MAX_REQUEST_BYTES = 1 << 20


class RequestError(LookupError):
    pass


def _lookup(namespace: dict[str, Any], dotted: str) -> Any:
    head, *rest = dotted.split(".")
    if head not in namespace:
        raise RequestError(f"the notebook defines no {head!r}")
    value = namespace[head]
    for attribute in rest:
        value = getattr(value, attribute)
    return value


def _seed_everything(seed: int) -> None:
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _type_from_name(qualified: str) -> type:
    module, _, name = qualified.rpartition(".")
    return getattr(importlib.import_module(module), name)


def handle(request: dict[str, Any], namespace: dict[str, Any], inputs: Decoder) -> Any:
    operation = request["op"]
    if operation == "evaluate":
        return _lookup(namespace, request["target"])
    if operation == "find":
        wanted = _type_from_name(request["type"])
        return [
            {"name": name, "type": type(value).__name__, "identity": id(value)}
            for name, value in list(namespace.items())
            if not name.startswith("_") and isinstance(value, wanted)
        ]
    if operation == "datasets":
        from .datasets import survey

        return survey(namespace)
    if operation == "describe":
        from .structure import describe

        return describe(_lookup(namespace, request["target"]), tuple(request["input_shape"]))
    if operation == "export":
        from .export import export_module
        from .snapshots import weights_at

        module = _lookup(namespace, request["target"])
        as_of = request.get("as_of_cell")
        snapshot = weights_at(module, as_of if isinstance(as_of, int) else None)
        exported = export_module(module, tuple(request["input_shape"]), snapshot.state if snapshot else None)
        return {**exported, "snapshot_cell": snapshot.label if snapshot else None}
    if operation == "call":
        function = _lookup(namespace, request["target"])
        if not callable(function):
            raise RequestError(f"{request['target']} is a {type(function).__name__}, not a function")
        args = [inputs.decode(arg) for arg in request.get("args", [])]
        kwargs = {key: inputs.decode(value) for key, value in request.get("kwargs", {}).items()}
        if request.get("seed") is not None:
            _seed_everything(int(request["seed"]))
        result = function(*args, **kwargs)
        return {"result": result, "args_after": args}
    raise RequestError(f"unknown operation {operation!r}")


def serve(
    inbox: Path, outbox: Path, request_id: str, namespace: dict[str, Any], data_root: Path, before, after
) -> None:
    """Answer one request read from the grader's ``inbox`` into ``outbox``; every failure, the
    student's included, becomes a response. Earlier responses are removed first: the grader has
    read them, and they would count against the exchange folder's quota."""
    for stale in outbox.iterdir():
        stale.unlink(missing_ok=True)
    request_file = inbox / f"{request_id}.json"
    if request_file.stat().st_size > MAX_REQUEST_BYTES:
        raise WireError("request too large")
    request = json.loads(request_file.read_text(encoding="utf-8"))
    tensors = inbox / f"{request_id}-in.safetensors"
    decoder = (
        Decoder.read(
            tensors,
            resolve_object=lambda name: _lookup(namespace, name),
            open_image=lambda relative: _open_image(data_root, inbox, relative),
        )
        if tensors.exists()
        else Decoder({}, lambda name: _lookup(namespace, name))
    )
    encoder = Encoder()
    before(request)
    try:
        response = {"ok": True, "value": encoder.encode(handle(request, namespace, decoder))}
    except Exception as error:
        encoder = Encoder()
        response = {
            "ok": False,
            "error": {
                "type": type(error).__name__,
                "message": str(error)[:2000],
                "traceback": traceback.format_exc(limit=-6)[-4000:],
            },
        }
    finally:
        after(request)
    encoder.write(response, outbox / f"{request_id}-out.json", outbox / f"{request_id}-out.safetensors")


def _open_image(data_root: Path, folder: Path, relative: str):
    from PIL import Image

    for base in (data_root, folder):
        candidate = (base / relative).resolve()
        if candidate.is_relative_to(base.resolve()) and candidate.is_file():
            with Image.open(candidate) as image:
                image.load()
                return image.copy()
    raise RequestError(f"no image {relative!r} in the data or inbox folder")
