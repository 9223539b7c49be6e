"""Executing a notebook in a sandboxed Jupyter kernel that the grader keeps alive to probe.

nbclient drives the kernel, which is always the sandboxed one defined here, never the
kernel the notebook names. Each cell has a timeout after which the kernel is interrupted
(or, if it ignores the interrupt, replaced) and execution goes on with the next cell;
the whole notebook has a deadline enforced from outside; a dying kernel is recorded and
replaced; stored outputs are capped.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import shutil
import sys
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import nbformat
from jupyter_client.kernelspec import KernelSpec
from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient
from nbclient.exceptions import CellTimeoutError, DeadKernelError

from checks.probe.wire import Decoder
from checks.sandbox import PROBE_PACKAGE, JobPaths, Sandbox, SandboxLimits, allocate_uid, kill_processes_of

KERNEL_NAME = "xaigrader-sandbox"
MAX_CELL_OUTPUT_BYTES = 1 << 20
MAX_NOTEBOOK_OUTPUT_BYTES = 32 << 20
TRUNCATION_NOTE = "[xaigrader: further output of this cell was dropped ({limit} bytes kept)]\n"


@dataclass(frozen=True)
class RunConfig:
    data_dir: Path | None = None
    cell_timeout_s: float = 600
    notebook_timeout_s: float = 1800
    interrupt_grace_s: float = 5
    startup_timeout_s: float = 120
    allow_network: bool = False
    force_fallback: bool = False
    limits: SandboxLimits = field(default_factory=SandboxLimits)


@dataclass
class CellRecord:
    index: int
    status: str  # ok | error | timeout | kernel_died | not_run
    duration_s: float = 0.0
    error_name: str | None = None
    error_value: str | None = None


@dataclass
class RunResult:
    sandbox: dict[str, Any]
    cells: list[CellRecord] = field(default_factory=list)
    kernel_restarts: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    figures: list[dict[str, Any]] = field(default_factory=list)
    notebook_timed_out: bool = False
    quota_exceeded: str | None = None
    startup_error: str | None = None
    total_s: float = 0.0

    @property
    def shims(self) -> list[dict[str, Any]]:
        return [event for event in self.events if event["kind"] == "shim"]

    @property
    def kernel_died(self) -> bool:
        return any(restart["reason"] == "kernel died" for restart in self.kernel_restarts)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["shims"] = self.shims
        data["kernel_died"] = self.kernel_died
        return data


class CappedNotebookClient(NotebookClient):
    """nbclient keeps every output in memory: stop storing a cell's output past a cap."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.cell_output_bytes: dict[int, int] = {}
        self.total_output_bytes = 0

    def output(self, outs, msg, display_id, cell_index):
        size = len(json.dumps(msg.get("content", {}), default=str))
        used = self.cell_output_bytes.get(cell_index, 0)
        if used > MAX_CELL_OUTPUT_BYTES or self.total_output_bytes > MAX_NOTEBOOK_OUTPUT_BYTES:
            return None
        self.cell_output_bytes[cell_index] = used + size
        self.total_output_bytes += size
        if used + size > MAX_CELL_OUTPUT_BYTES:
            note = nbformat.v4.new_output("stream", name="stderr", text=TRUNCATION_NOTE.format(limit=used))
            outs.append(note)
            return note
        return super().output(outs, msg, display_id, cell_index)


def _error_of(cell) -> tuple[str, str] | None:
    for output in cell.get("outputs", []):
        if output.get("output_type") == "error":
            return output.get("ename", "Error"), str(output.get("evalue", ""))[:2000]
    return None


class KernelSession:
    """One sandboxed kernel and its job folder, alive until the context closes."""

    def __init__(self, config: RunConfig, job_root: Path | None = None, submission_dir: Path | None = None) -> None:
        self.config = config
        self.sandbox = Sandbox(config.limits, config.allow_network, config.force_fallback)
        self._owns_root = job_root is None
        root = Path(tempfile.mkdtemp(prefix="xaigrader-job-")) if job_root is None else job_root
        self.job = JobPaths.create(root, submission_dir)
        self.uid = allocate_uid() if os.geteuid() == 0 else None
        self.view = self.sandbox.inside_view(self.job, config.data_dir)
        self.client: CappedNotebookClient | None = None
        self.km: AsyncKernelManager | None = None
        self._watchdog: asyncio.Task | None = None
        self.quota_exceeded: str | None = None
        self.unrecoverable = False
        self.restarts: list[dict[str, Any]] = []

    async def __aenter__(self) -> "KernelSession":
        self.sandbox.prepare(self.job, self.uid)
        self._write_probe_config()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self._stop_kernel()
        if self._owns_root:
            shutil.rmtree(self.job.root, ignore_errors=True)

    def _write_probe_config(self, notebook=None) -> None:
        config = {
            "exchange": str(self.view.exchange),
            "data": str(self.view.data),
            "workdir": str(self.view.workdir),
            "submission": str(self.view.submission) if self.view.submission else None,
            "allow_network": self.config.allow_network,
            "map_cuda": notebook is not None and any(
                cell.cell_type == "code" and "cuda" in str(cell.source).lower() for cell in notebook.cells),
        }
        path = self.job.exchange / "probe.json"
        path.write_text(json.dumps(config), encoding="utf-8")
        for folder in ("figures", "calls"):
            (self.job.exchange / folder).mkdir(exist_ok=True)
            self.hand_over(self.job.exchange / folder)

    def _environment(self) -> dict[str, str]:
        threads = str(self.config.limits.threads)
        return {
            "HOME": str(self.view.workdir),
            "PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin",
            "LANG": "C.UTF-8",
            "PYTHONPATH": str(self.view.probe_root),
            "PYTHONDONTWRITEBYTECODE": "1",
            "MPLBACKEND": "module://matplotlib_inline.backend_inline",
            "MPLCONFIGDIR": "/tmp/matplotlib" if self.sandbox.mode == "bubblewrap" else str(self.job.root / "mpl"),
            "IPYTHONDIR": "/tmp/ipython" if self.sandbox.mode == "bubblewrap" else str(self.job.root / "ipython"),
            "TORCH_HOME": str(self.view.data),
            "XAIGRADER_DATA": str(self.view.data),
            "OMP_NUM_THREADS": threads,
            "MKL_NUM_THREADS": threads,
            "OPENBLAS_NUM_THREADS": threads,
            "CUDA_VISIBLE_DEVICES": "",
            "HF_HUB_OFFLINE": "0" if self.config.allow_network else "1",
            "HF_DATASETS_OFFLINE": "0" if self.config.allow_network else "1",
        }

    def _make_kernel_manager(self) -> AsyncKernelManager:
        runtime = self.job.runtime
        argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}",
                "--HistoryManager.enabled=False"]
        wrapped = self.sandbox.wrap(argv, self.job, self.config.data_dir, self._environment(), self.uid)
        km = AsyncKernelManager(
            kernel_name=KERNEL_NAME,
            transport="ipc",
            ip=str(runtime / f"ipc-{uuid.uuid4().hex[:8]}"),
            connection_file=str(runtime / f"kernel-{uuid.uuid4().hex[:8]}.json"),
        )
        km._kernel_spec = KernelSpec(
            argv=wrapped, display_name="xaigrader sandbox", language="python", interrupt_mode="message", env={}
        )
        km.write_connection_file()
        self.hand_over(Path(km.connection_file))
        return km

    async def start(self, notebook) -> None:
        """Start a fresh sandboxed kernel for ``notebook`` and install the probe."""
        self._write_probe_config(notebook)
        self.km = self._make_kernel_manager()
        self.client = CappedNotebookClient(
            notebook,
            km=self.km,
            timeout=self.config.cell_timeout_s,
            startup_timeout=self.config.startup_timeout_s,
            allow_errors=True,
            interrupt_on_timeout=False,
            record_timing=True,
            kernel_name=KERNEL_NAME,
            shutdown_kernel="immediate",
        )
        with (self.job.root / "kernel.log").open("ab") as log:
            await self.client.async_start_new_kernel(stdout=log, stderr=log)
        await self.client.async_start_new_kernel_client()
        config = self.view.exchange / "probe.json"
        reply = await self.execute_hidden(
            f"import {PROBE_PACKAGE} as __xg; __xg.install({str(config)!r}); del __xg",
            timeout=self.config.startup_timeout_s,
        )
        if reply is None or reply["content"]["status"] != "ok":
            detail = reply["content"].get("evalue") if reply else "no reply"
            raise RuntimeError(f"the grading probe could not be installed in the kernel: {detail}")
        if self._watchdog is None:
            self._watchdog = asyncio.create_task(self._watch_quota())

    async def _stop_kernel(self) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        if self.client is not None and self.client.kc is not None:
            self.client.kc.stop_channels()
        if self.km is not None:
            try:
                await self.km.shutdown_kernel(now=True)
            except Exception:
                pass
        if self.sandbox.mode == "fallback" and self.uid is not None:
            kill_processes_of(self.uid)
        self.client = self.km = None

    async def _restart(self, notebook, reason: str, cell_index: int | None) -> None:
        self.restarts.append({"reason": reason, "cell": cell_index})
        await self._stop_kernel()
        await self.start(notebook)

    async def _watch_quota(self) -> None:
        """The exchange and runtime folders are bind-mounted, so no tmpfs limits their size."""
        limit = self.config.limits.exchange_bytes
        while True:
            await asyncio.sleep(0.5)
            used = sum(_folder_bytes(folder) for folder in (self.job.exchange, self.job.runtime))
            if used > limit:
                self.quota_exceeded = f"the kernel wrote {used} bytes to the exchange folders (limit {limit})"
                if self.km is not None:
                    await self.km.shutdown_kernel(now=True)
                return

    async def execute_hidden(self, code: str, timeout: float) -> dict[str, Any] | None:
        """Run grader code in the kernel without touching the notebook or its history."""
        assert self.client is not None and self.client.kc is not None
        kc = self.client.kc
        msg_id = kc.execute(code, silent=True, store_history=False, allow_stdin=False)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                reply = await kc.get_shell_msg(timeout=max(0.05, min(1.0, deadline - time.monotonic())))
            except Exception:
                if self.km is None or not await self.km.is_alive():
                    return None
                continue
            if reply["parent_header"].get("msg_id") == msg_id:
                return reply
        return None

    async def alive(self) -> bool:
        return self.km is not None and await self.km.is_alive()

    async def _recover_after_timeout(self, notebook, index: int) -> None:
        """Interrupt; if the kernel ignores it, replace the kernel so later cells still run."""
        assert self.km is not None
        await self.km.interrupt_kernel()
        reply = await self.execute_hidden("pass", timeout=self.config.interrupt_grace_s)
        if reply is None:
            await self._restart(notebook, "cell ignored the interrupt after its timeout", index)

    async def run_notebook(self, notebook) -> RunResult:
        """Execute every code cell, recording what happened to each."""
        started = time.monotonic()
        deadline = started + self.config.notebook_timeout_s
        result = RunResult(sandbox=self.sandbox.describe())
        try:
            await self.start(notebook)
        except Exception as error:
            result.startup_error = f"{type(error).__name__}: {error}"
            result.cells = [CellRecord(i, "not_run") for i, c in enumerate(notebook.cells) if c.cell_type == "code"]
            result.total_s = time.monotonic() - started
            return result
        for index, cell in enumerate(notebook.cells):
            if cell.cell_type != "code":
                continue
            remaining = deadline - time.monotonic()
            if result.notebook_timed_out or remaining <= 0 or self.quota_exceeded or self.unrecoverable:
                result.notebook_timed_out = result.notebook_timed_out or remaining <= 0
                result.cells.append(CellRecord(index, "not_run"))
                continue
            limited_by_deadline = remaining < self.config.cell_timeout_s
            try:
                record = await self._run_cell(notebook, cell, index, min(remaining, self.config.cell_timeout_s),
                                              recover=not limited_by_deadline)
            except Exception as error:
                record = await self._after_failed_recovery(notebook, index, error)
            result.cells.append(record)
            result.notebook_timed_out = record.status == "timeout" and limited_by_deadline
        result.total_s = time.monotonic() - started
        result.kernel_restarts = list(self.restarts)
        result.quota_exceeded = self.quota_exceeded
        result.events = self.read_events()
        result.figures = self.read_figures()
        return result

    async def _after_failed_recovery(self, notebook, index: int, error: Exception) -> CellRecord:
        """Recovering from a timeout or a death failed (e.g. a replacement kernel slow to start
        on a loaded machine): record it on the cell and try one fresh kernel for the rest."""
        record = CellRecord(index, "kernel_died", 0.0, type(error).__name__,
                            f"the kernel could not be recovered after this cell: {error}"[:500])
        try:
            await self._restart(notebook, "recovery failed", index)
        except Exception:
            self.unrecoverable = True
        return record

    async def _run_cell(self, notebook, cell, index: int, limit: float, recover: bool) -> CellRecord:
        assert self.client is not None
        if not await self.alive():
            await self._restart(notebook, "kernel died", index)
        await self.execute_hidden(f"__import__({PROBE_PACKAGE!r}).begin_cell({index})", timeout=30)
        self.client.timeout = max(1, math.ceil(limit))
        began = time.monotonic()
        try:
            await asyncio.wait_for(self.client.async_execute_cell(cell, index), timeout=limit + 5)
        except (CellTimeoutError, asyncio.TimeoutError):
            record = CellRecord(index, "timeout", time.monotonic() - began, "CellTimeoutError",
                                f"cell still running after {self.client.timeout} s")
            if recover:
                await self._recover_after_timeout(notebook, index)
            return record
        except DeadKernelError as error:
            record = CellRecord(index, "kernel_died", time.monotonic() - began, "DeadKernelError", str(error)[:500])
            await self._restart(notebook, "kernel died", index)
            return record
        duration = time.monotonic() - began
        if not await self.alive():
            await self._restart(notebook, "kernel died", index)
            return CellRecord(index, "kernel_died", duration, "DeadKernelError", "the kernel died during this cell")
        error = _error_of(cell)
        if error is not None:
            return CellRecord(index, "error", duration, *error)
        return CellRecord(index, "ok", duration)

    def read_events(self) -> list[dict[str, Any]]:
        path = self.job.exchange / "events.jsonl"
        if not path.is_file():
            return []
        events = []
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines()[:2000]:
            try:
                events.append(json.loads(line))
            except json.JSONDecodeError:
                continue
        return events

    def read_figures(self) -> list[dict[str, Any]]:
        index = self.job.exchange / "figures" / "index.json"
        if not index.is_file() or index.stat().st_size > 16 << 20:
            return []
        try:
            figures = json.loads(index.read_text(encoding="utf-8"))
        except json.JSONDecodeError:
            return []
        return figures if isinstance(figures, list) else []

    def figure_file(self, name: str) -> Path | None:
        folder = (self.job.exchange / "figures").resolve()
        candidate = (folder / name).resolve()
        if candidate.parent == folder and candidate.is_file() and not candidate.is_symlink():
            return candidate
        return None

    def hand_over(self, path: Path) -> None:
        """Give the kernel's uid a file or folder the grader made (safetensors writes 0600)."""
        if self.uid is not None:
            os.chown(path, self.uid, self.uid)

    async def request(self, request: dict[str, Any], inputs: Any = None, timeout: float = 120) -> tuple[dict, Decoder]:
        """Ask the probe to answer ``request``; see ``checks.student`` for the friendly API."""
        from checks.probe.wire import Encoder

        calls = self.job.exchange / "calls"
        request_id = uuid.uuid4().hex[:12]
        encoder = Encoder()
        wire_request = dict(request)
        if inputs is not None:
            wire_request["args"] = encoder.encode(list(inputs.get("args", [])))
            wire_request["kwargs"] = {k: encoder.encode(v) for k, v in inputs.get("kwargs", {}).items()}
        encoder.write(wire_request, calls / f"{request_id}.json", calls / f"{request_id}-in.safetensors")
        for name in (f"{request_id}.json", f"{request_id}-in.safetensors"):
            self.hand_over(calls / name)
        reply = await self.execute_hidden(f"__import__({PROBE_PACKAGE!r}).serve({request_id!r})", timeout)
        if reply is None:
            await self.km.interrupt_kernel()
            raise TimeoutError(f"the kernel did not answer within {timeout} s")
        out_json = calls / f"{request_id}-out.json"
        if reply["content"]["status"] != "ok" or not out_json.is_file():
            raise RuntimeError(f"the probe failed: {reply['content'].get('evalue', 'no response written')}")
        if out_json.stat().st_size > 16 << 20:
            raise RuntimeError("the probe's response is larger than 16 MiB")
        response = json.loads(out_json.read_text(encoding="utf-8"))
        return response, Decoder.read(calls / f"{request_id}-out.safetensors")


def _folder_bytes(folder: Path) -> int:
    total = 0
    for path, _, files in os.walk(folder):
        for name in files:
            try:
                total += os.lstat(os.path.join(path, name)).st_size
            except OSError:
                continue
    return total
