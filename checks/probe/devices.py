"""Run notebooks written for a Colab GPU on this CPU-only machine.

Hard-coded ``.cuda()``, ``.to("cuda")``, ``device="cuda"`` and ``torch.load`` of
GPU-saved tensors all land on the CPU: a torch-function mode rewrites the device of
every torch call (only for notebooks that mention CUDA, since the mode costs a little
on each call), and each kind of call that was mapped is recorded once.
"""

from __future__ import annotations

from .events import EventLog
from .imports import when_imported


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
