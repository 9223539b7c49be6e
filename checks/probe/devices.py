"""Run notebooks written for a Colab GPU on this CPU-only machine.

Hard-coded ``.cuda()``, ``.to("cuda")``, ``device="cuda"`` and ``torch.load`` of
GPU-saved tensors all land on the CPU: a torch-function mode rewrites the device of
every torch call (only for notebooks that mention CUDA, since the mode costs a little
on each call), and each kind of call that was mapped is recorded once. The legacy
``torch.cuda.FloatTensor``-style types are the CPU ones (part of the compat layer).
"""

from __future__ import annotations

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


def _is_cuda(value: object) -> bool:
    import torch

    if isinstance(value, str):
        return value.strip().lower().startswith("cuda")
    return isinstance(value, torch.device) and value.type == "cuda"


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
                if _is_cuda(kwargs.get("device")):
                    note(f"{name}(device='cuda')")
                    kwargs["device"] = "cpu"
                if func is torch.Tensor.to and any(_is_cuda(arg) for arg in args[1:]):
                    note("Tensor.to('cuda')")
                    args = tuple("cpu" if _is_cuda(arg) else arg for arg in args)
                return func(*args, **kwargs)

        CpuInsteadOfCuda().__enter__()
        original_load = torch.load

        def load(*args, **kwargs):
            if kwargs.get("map_location") is None or _is_cuda(kwargs.get("map_location")):
                kwargs["map_location"] = "cpu"
            return original_load(*args, **kwargs)

        torch.load = load
        torch.cuda.synchronize = lambda *args, **kwargs: None

    when_imported("torch", patch)


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
