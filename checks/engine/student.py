"""The checks' view of a student's live kernel: call functions, read values, find objects.

Checks run in a worker thread of the grader; every request is a coroutine on the
session's event loop, so this proxy turns each into a plain blocking call.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from typing import Any

import torch
from safetensors.torch import save

from checks.engine.call_errors import MissingName, StudentCallError
from checks.engine.exchange_records import Validated, datasets_from_survey
from checks.engine.exported_model import ExportRefused, rebuild
from checks.engine.kernel import KernelSession
from checks.probe.wire import Decoder, KernelObject, WireError


@dataclass
class CallOutcome:
    result: Any
    args_after: list[Any]
    wire_result: Any
    wire_args_after: list[Any]
    decoder: Decoder

    def grad_of_arg(self, position: int):
        wire = self.wire_args_after[position]
        return self.decoder.grad_of(wire) if isinstance(wire, dict) else None


class StudentProxy:
    def __init__(self, session: KernelSession, loop: asyncio.AbstractEventLoop, timeout: float = 300) -> None:
        self.session = session
        self.loop = loop
        self.timeout = timeout

    def stopped(self) -> str | None:
        """Why no more calls can reach the kernel (it died, ignored an interrupt, or the time ran out), if so."""
        return self.session.stopped_reason()

    def refused_calls(self) -> int:
        """How many calls were refused so far because the kernel had stopped."""
        return self.session.refused_calls

    def _await(self, coroutine, timeout: float | None = None):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result((timeout or self.timeout) + 30)

    def _request(self, request: dict[str, Any], inputs: dict[str, Any] | None = None, timeout: float | None = None):
        response, decoder = self._await(self.session.request(request, inputs, timeout or self.timeout), timeout)
        if not response["ok"]:
            error = response["error"]
            kind = MissingName if error["type"] == "RequestError" else StudentCallError
            raise kind(request.get("target", request["op"]), error["type"], error["message"])
        return response["value"], decoder

    def call(
        self, name: str, *args: Any, seed: int | None = None, timeout: float | None = None, **kwargs: Any
    ) -> CallOutcome:
        value, decoder = self._request(
            {"op": "call", "target": name, "seed": seed}, {"args": list(args), "kwargs": kwargs}, timeout
        )
        decoded = decoder.decode(value)
        wire = {decoder.decode(k): v for k, v in value["$dict"]}
        return CallOutcome(decoded["result"], decoded["args_after"], wire["result"], wire["args_after"], decoder)

    def evaluate(self, name: str) -> Any:
        value, decoder = self._request({"op": "evaluate", "target": name})
        return decoder.decode(value)

    def find(self, type_name: str) -> list[dict[str, str]]:
        value, decoder = self._request({"op": "find", "type": type_name})
        return decoder.decode(value)

    def describe(self, name: str, input_shape: tuple[int, ...]) -> dict[str, Any]:
        """The layers a forward pass of the module ``name`` runs through (see ``checks.probe.structure``)."""
        value, decoder = self._request({"op": "describe", "target": name, "input_shape": list(input_shape)})
        return decoder.decode(value)

    def export(self, name: str, input_shape: tuple[int, ...]) -> torch.fx.GraphModule:
        """The module ``name`` rebuilt by the grader from its exported graph and weights (see
        ``checks.engine.exported_model``), to run outside the kernel. Any failure, the probe's refusal
        included, is an ``ExportRefused`` whose message is the reason."""
        return self.export_as_of(name, input_shape, None)[0]

    def export_as_of(
        self, name: str, input_shape: tuple[int, ...], cell: int | None
    ) -> tuple[torch.fx.GraphModule, int | None]:
        """``export`` with the weights the module had at the end of notebook cell ``cell``, and the cell of
        the snapshot they came from (None: the probe holds none for then, and the weights are today's;
        the kernel's word, for a reading only)."""
        request = {"op": "export", "target": name, "input_shape": list(input_shape), "as_of_cell": cell}
        try:
            value, decoder = self._request(request)
        except StudentCallError as error:
            raise ExportRefused(f"{name} cannot be exported: {error.detail}") from error
        try:
            exported = decoder.decode(value)
        except WireError as error:
            raise ExportRefused(f"the export of {name} is malformed: {error}") from error
        if not isinstance(exported, dict) or set(exported) != {"graph", "tensors", "snapshot_cell"}:
            raise ExportRefused(f"the export of {name} is malformed")
        snapshot = exported["snapshot_cell"]
        snapshot = snapshot if isinstance(snapshot, int) and not isinstance(snapshot, bool) else None
        return rebuild(exported["graph"], exported["tensors"], input_shape), snapshot

    def datasets(self) -> Validated[dict[str, Any]]:
        """Every dataset the notebook holds, with sizes and subset indices (see ``checks.probe.datasets``),
        validated: the survey comes from the kernel."""
        value, decoder = self._request({"op": "datasets"})
        return datasets_from_survey(decoder.decode(value))

    def has(self, name: str) -> bool:
        try:
            self.evaluate(name)
        except MissingName:
            return False
        except StudentCallError:
            return True
        return True

    def run(
        self, code: str, tensors: dict[str, Any] | None = None, timeout: float = 120, label: str = "grader set-up code"
    ) -> None:
        """Grader code in the kernel, e.g. to build an object the checks pass as an argument.

        ``tensors`` arrive as the dict ``__xaigrader_tensors`` (loaded from safetensors).
        """
        prefix = ""
        if tensors:
            name = f"setup-{uuid.uuid4().hex[:8]}.safetensors"
            host = self.session.job.inbox / "calls" / name
            self.session.give(host, save({k: v.detach().contiguous() for k, v in tensors.items()}))
            inside = self.session.view.inbox / "calls" / name
            prefix = (
                "from safetensors.torch import load_file as __xg_load\n"
                f"__xaigrader_tensors = __xg_load({str(inside)!r})\n"
            )
        reply = self._await(self.session.execute_hidden(prefix + code, timeout), timeout)
        if reply is None or reply["content"]["status"] != "ok":
            detail = reply["content"].get("evalue", "") if reply else "no reply"
            raise StudentCallError(label, reply["content"].get("ename", "Error") if reply else "Timeout", detail)

    def object(self, name: str) -> KernelObject:
        return KernelObject(name)
