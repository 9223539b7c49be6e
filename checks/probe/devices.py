"""Run notebooks written for a Colab GPU (or a Mac's MPS) on this CPU-only machine.

Hard-coded ``.cuda()``, ``.to("cuda")``, ``device="cuda"``, ``device="mps"``, ``.to("mps")`` and
``torch.load`` of GPU-saved tensors all land on the CPU: a torch-function mode rewrites the device of
every torch call (only for notebooks that mention CUDA or MPS, since the mode costs a little on each
call), and each kind of call that was mapped is recorded once (as a ``cuda`` shim event whose call
names the device asked for). ``torch.backends.mps.is_available()``
is already False here, so code that asks first picks the CPU itself. The legacy
``torch.cuda.FloatTensor``-style types are the CPU ones (part of the compat layer).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from .events import EventLog
from .imports import when_imported

CUDA_TENSOR_TYPES = frozenset(
    {
        "FloatTensor",
        "DoubleTensor",
        "HalfTensor",
        "BFloat16Tensor",
        "ByteTensor",
        "CharTensor",
        "ShortTensor",
        "IntTensor",
        "LongTensor",
        "BoolTensor",
    }
)


ACCELERATORS = ("cuda", "mps")
MENTION = re.compile(r"cuda|\bmps\b", re.IGNORECASE)


def _accelerator(value: object) -> str | None:
    """The accelerator a device argument names ("cuda", "mps"), or None."""
    import torch

    if isinstance(value, str):
        kind = value.strip().lower().split(":", 1)[0]
        return kind if kind in ACCELERATORS else None
    if isinstance(value, torch.device) and value.type in ACCELERATORS:
        return value.type
    return None


def install_cuda_mapping(log: EventLog) -> None:
    def patch(torch) -> None:
        if torch.cuda.is_available():
            return
        from torch.overrides import TorchFunctionMode

        mapped: set[str] = set()

        def note(call: str) -> None:
            if call not in mapped:
                mapped.add(call)
                log.record("shim", shim="cuda", call=call, note="mapped to the CPU: this machine has no GPU")

        class CpuInsteadOfCuda(TorchFunctionMode):
            def __torch_function__(self, func, types, args=(), kwargs=None):
                kwargs = dict(kwargs or {})
                name = getattr(func, "__name__", str(func))
                if func is torch.Tensor.cuda:
                    note("Tensor.cuda()")
                    return args[0]
                kind = _accelerator(kwargs.get("device"))
                if kind:
                    note(f"{name}(device='{kind}')")
                    kwargs["device"] = "cpu"
                kind = next(filter(None, map(_accelerator, args[1:])), None) if func is torch.Tensor.to else None
                if kind:
                    note(f"Tensor.to('{kind}')")
                    args = tuple("cpu" if _accelerator(arg) else arg for arg in args)
                return func(*args, **kwargs)

        CpuInsteadOfCuda().__enter__()
        original_load = torch.load

        def load(*args, **kwargs):
            if kwargs.get("map_location") is None or _accelerator(kwargs.get("map_location")):
                kwargs["map_location"] = "cpu"
            return original_load(*args, **kwargs)

        torch.load = load
        torch.cuda.synchronize = lambda *args, **kwargs: None
        torch.mps.synchronize = lambda *args, **kwargs: None
        torch.mps.empty_cache = lambda *args, **kwargs: None

    when_imported("torch", patch)


def install_when_mentioned(shell, log: EventLog) -> None:
    """The grader turns the mapping on for notebooks whose code says "cuda"; one that says only "mps"
    gets it before its first cell that does."""

    def before_cell(info) -> None:
        if MENTION.search(str(getattr(info, "raw_cell", "") or "")):
            shell.events.unregister("pre_run_cell", before_cell)
            install_cuda_mapping(log)

    shell.events.register("pre_run_cell", before_cell)


def install_cpu_tensor_types(torch, used: Callable[[str, str], None]) -> None:
    """Without CUDA, ``torch.cuda.FloatTensor`` and its kin answer with the CPU type of the same
    name (``used(api, note)`` hears of each access), instead of failing on the missing driver."""
    if torch.cuda.is_available():
        return
    cuda = torch.cuda
    for name in CUDA_TENSOR_TYPES:
        vars(cuda).pop(name, None)
    previous = vars(cuda).get("__getattr__")

    def cpu_type(name: str):
        if name in CUDA_TENSOR_TYPES:
            used(f"torch.cuda.{name}", f"no CUDA while grading: torch.{name} on the CPU")
            return getattr(torch, name)
        if previous is not None:
            return previous(name)
        raise AttributeError(f"module 'torch.cuda' has no attribute {name!r}")

    cuda.__getattr__ = cpu_type
