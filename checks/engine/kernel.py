"""Executing a notebook in a sandboxed Jupyter kernel that the grader keeps alive to probe.

nbclient drives the kernel, which is always the sandboxed one defined here, never the
kernel the notebook names. Each cell has a timeout after which the kernel is interrupted
(or, if it ignores the interrupt, replaced) and execution goes on with the next cell;
the whole notebook has a deadline enforced from outside, after which each remaining cell
gets a short overtime until that is spent too; a dying kernel is recorded and replaced;
stored outputs are capped.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import re
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import nbformat
from jupyter_client.kernelspec import KernelSpec
from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from safetensors.torch import load as load_tensors

from checks.engine.call_errors import GradingTimeUp, KernelUnavailable, StudentCallError
from checks.engine.exchange import ExchangeFolder, ExchangeRefused
from checks.engine.exchange_records import events_from_lines, figures_from_index
from checks.engine.job_cgroup import JobCgroup, remove_abandoned
from checks.engine.job_files import Usage, remove_tree, usage
from checks.engine.sandbox import (
    PROBE_PACKAGE,
    Generation,
    InsideView,
    JobPaths,
    Sandbox,
    SandboxLimits,
    allocate_uid,
    kill_processes_of,
    readable,
)
from checks.probe.wire import MAX_JSON_BYTES, MAX_PAYLOAD_BYTES, Decoder, Encoder

KERNEL_NAME = "xaigrader-sandbox"
MAX_CELL_OUTPUT_BYTES = 8 << 20  # a 2 x 5 grid of photos drawn 20 inches wide is about 3 MB of PNG
MAX_NOTEBOOK_OUTPUT_BYTES = 32 << 20
MAX_EVENTS_BYTES = 8 << 20
MAX_FIGURE_INDEX_BYTES = 16 << 20
MAX_FIGURE_FILE_BYTES = 64 << 20
TRUNCATION_NOTE = "[xaigrader: further output of this cell was dropped ({limit} bytes kept)]\n"
TRACEBACK_LINES = 8
TRACEBACK_LINE_CHARS = 300
ANSI_ESCAPE = re.compile(r"\x1b(?:\[[0-?]{0,64}[ -/]{0,16}[@-~]|\][^\x07\x1b]{0,4096}(?:\x07|\x1b\\)|[@-Z\\-_])")
"""Colour and cursor codes of IPython's tracebacks (CSI and OSC sequences, bounded so that a
hostile traceback cannot make the match backtrack far)."""
TIME_UP = "the time for grading this submission ran out"
CELL_FRAME = re.compile(r"Cell In\[\d{1,9}\], line (\d{1,9})")
"""IPython's name for the frame of the cell's own code in a traceback."""


@dataclass(frozen=True)
class RunConfig:
    data_dir: Path | None = None
    cell_timeout_s: float = 600
    notebook_timeout_s: float = 1800
    overtime_cell_s: float = 60  # each cell's limit once the notebook's time is spent
    overtime_s: float = 600  # how long cells may run past the notebook's time, all together
    interrupt_grace_s: float = 5
    startup_timeout_s: float = 120
    allow_network: bool = False
    force_fallback: bool = False
    limits: SandboxLimits = field(default_factory=SandboxLimits)
    kernel_packages: tuple[str, ...] = ()  # pip requirements the course declares (installed by setup, never here)


@dataclass
class CellRecord:
    index: int
    status: str  # ok | error | timeout | kernel_died | not_run
    duration_s: float = 0.0
    error_name: str | None = None
    error_value: str | None = None
    execution_count: int | None = None  # Jupyter's In [n] of this cell in this run
    traceback: list[str] = field(default_factory=list)  # the error's last lines, plain text
    error_line: int | None = None  # the cell's own line that raised, when its traceback says
    limit_s: float | None = None  # the time this cell was given (less than the cell timeout near the deadline)


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
    dropped: list[str] = field(default_factory=list)
    budget: dict[str, float] = field(default_factory=dict)  # the time limits this run used

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


def _traceback_lines(cell, error_name: str | None, error_value: str | None) -> list[str]:
    """The last non-blank lines of the cell's traceback without colour codes; a cell with no traceback
    of its own (a timeout, a dead kernel) gets its error as the one line. Only the tail is read: the
    kernel may have sent a traceback of any size."""
    entries = next(
        (output.get("traceback") for output in cell.get("outputs", []) if output.get("output_type") == "error"), None
    )
    tail = entries[-TRACEBACK_LINES * 4 :] if isinstance(entries, list) else []
    text = "\n".join(entry[-(1 << 16) :] for entry in tail if isinstance(entry, str))
    lines = [ANSI_ESCAPE.sub("", line[: TRACEBACK_LINE_CHARS * 8]).rstrip() for line in text.splitlines()[-256:]]
    lines = [line[:TRACEBACK_LINE_CHARS] for line in lines if line.strip()][-TRACEBACK_LINES:]
    if not lines and error_name:
        lines = [f"{error_name}: {error_value or ''}"[:TRACEBACK_LINE_CHARS]]
    return lines


def _failing_line(cell) -> int | None:
    """The line of the cell's own code that raised: IPython's first frame reads ``Cell In[n], line L``."""
    entries = next(
        (output.get("traceback") for output in cell.get("outputs", []) if output.get("output_type") == "error"), None
    )
    for entry in entries[:4] if isinstance(entries, list) else []:
        match = CELL_FRAME.search(ANSI_ESCAPE.sub("", entry[:2000])) if isinstance(entry, str) else None
        if match:
            line = int(match.group(1))
            # The traceback is the student's text: a line the cell does not have is no line of it.
            return line if line <= len(str(cell.get("source", "")).splitlines()) else None
    return None


def _add_run_details(record: CellRecord, cell) -> None:
    """What a report needs to point at the cell in the executed notebook and show what went wrong there."""
    count = cell.get("execution_count")
    record.execution_count = count if isinstance(count, int) and not isinstance(count, bool) else None
    if record.status in ("error", "timeout", "kernel_died"):
        record.traceback = _traceback_lines(cell, record.error_name, record.error_value)
    if record.status == "error":
        record.error_line = _failing_line(cell)


class KernelSession:
    """One sandboxed kernel and its job folder, alive until the context closes.

    Each kernel start is a generation with its own fresh exchange and runtime folders; the
    grader writes only to the inbox, which the kernel can read but not change.
    """

    def __init__(
        self,
        config: RunConfig,
        job_root: Path | None = None,
        submission_dir: Path | None = None,
        notebook_folder: str = "",
    ) -> None:
        """``notebook_folder``: where in ``submission_dir`` the notebook sits, the folder it runs from."""
        folder = PurePosixPath(notebook_folder)
        if folder.is_absolute() or ".." in folder.parts:
            raise ValueError(f"a notebook's folder must lie inside its submission, not {notebook_folder!r}")
        self.notebook_folder = "" if folder == PurePosixPath(".") else folder.as_posix()
        self.config = config
        self.sandbox = Sandbox(config.limits, config.allow_network, config.force_fallback)
        self._owns_root = job_root is None
        root = Path(tempfile.mkdtemp(prefix="xaigrader-job-")) if job_root is None else job_root
        self.job = JobPaths.create(root, submission_dir)
        self.uid = allocate_uid() if os.geteuid() == 0 else None
        self.exchanges: list[ExchangeFolder] = []
        self.generations: list[Generation] = []
        self.client: CappedNotebookClient | None = None
        self.km: AsyncKernelManager | None = None
        self._watchdog: asyncio.Task | None = None
        self.quota_exceeded: str | None = None
        self.unrecoverable = False
        self.restarts: list[dict[str, Any]] = []
        self.deadline: float | None = None
        self.unresponsive: str | None = None
        self.refused_calls = 0
        self.job_cgroup: JobCgroup | None = None

    @property
    def exchange(self) -> ExchangeFolder:
        return self.exchanges[-1]

    @property
    def view(self) -> InsideView:
        """Where the current kernel generation finds things."""
        return self.sandbox.inside_view(self.job, self.generations[-1], self.config.data_dir)

    async def __aenter__(self) -> KernelSession:
        self.sandbox.prepare(self.job, self.uid)
        limits = self.config.limits
        remove_abandoned(lambda name: (self.job.root.parent / name).exists())
        self.job_cgroup = JobCgroup.create(self.job.root.name, limits.memory_bytes, limits.processes)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self._stop_kernel()
        if self.job_cgroup is not None:
            self.job_cgroup.close()
        for exchange in self.exchanges:
            exchange.close()
        if self._owns_root:
            remove_tree(self.job.root)

    def describe_limits(self) -> dict[str, Any]:
        """How memory and processes were limited, for run.json: per job when cgroups allow it."""
        if self.job_cgroup is None:
            return {"mode": "per process (rlimits): the memory limit applies to each process, not the job"}
        return {
            **self.job_cgroup.describe(),
            "peak_memory_bytes": self.job_cgroup.peak_memory_bytes(),
            "oom_killed": self.job_cgroup.oom_killed(),
        }

    def _new_generation(self) -> Generation:
        number = len(self.generations)
        exchange = ExchangeFolder.create(self.job.root / f"exchange-{number}", number, self.uid)
        runtime = self.job.root / f"runtime-{number}"
        os.mkdir(runtime, 0o700)
        generation = Generation(number, exchange.path, runtime)
        self.exchanges.append(exchange)
        self.generations.append(generation)
        return generation

    def _write_probe_config(self, notebook) -> Path:
        view = self.view
        config = {
            "exchange": str(view.exchange),
            "inbox": str(view.inbox),
            "data": str(view.data),
            "workdir": str(view.workdir),
            "submission": str(view.submission) if view.submission else None,
            "notebook_folder": self.notebook_folder,
            "allow_network": self.config.allow_network,
            "map_cuda": any(cell.cell_type == "code" and "cuda" in str(cell.source).lower() for cell in notebook.cells),
            "kernel_packages": sorted(
                {canonicalize_name(Requirement(text).name) for text in self.config.kernel_packages}
            ),
        }
        self.give(self.job.inbox / "probe.json", json.dumps(config).encode())
        return view.inbox / "probe.json"

    def give(self, path: Path, data: bytes) -> None:
        """Write a file into the inbox, readable by the kernel's uid only."""
        temporary = path.with_name(path.name + ".partial")
        temporary.write_bytes(data)
        readable(temporary, self.uid)
        temporary.replace(path)

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

    def _make_kernel_manager(self, generation: Generation) -> AsyncKernelManager:
        """The kernel reads a copy of the connection file naming its sockets by their inside path;
        the grader's copy lives outside every folder the kernel can write."""
        inside = self.view.runtime
        argv = [
            sys.executable,
            "-m",
            "ipykernel_launcher",
            "-f",
            str(inside / "kernel.json"),
            "--HistoryManager.enabled=False",
        ]
        wrapped = self.sandbox.wrap(
            argv, self.job, generation, self.config.data_dir, self._environment(), self.uid, self.job_cgroup
        )
        km = AsyncKernelManager(
            kernel_name=KERNEL_NAME,
            transport="ipc",
            ip=str(generation.runtime / "ipc"),
            connection_file=str(self.job.root / f"connection-{generation.number}.json"),
        )
        km._kernel_spec = KernelSpec(
            argv=wrapped, display_name="xaigrader sandbox", language="python", interrupt_mode="message", env={}
        )
        km.write_connection_file()
        connection = json.loads(Path(km.connection_file).read_text(encoding="utf-8"))
        connection["ip"] = str(inside / "ipc")
        inside_copy = generation.runtime / "kernel.json"
        inside_copy.write_text(json.dumps(connection), encoding="utf-8")
        if self.uid is not None:
            os.chown(inside_copy, self.uid, self.uid)
            os.chown(generation.runtime, self.uid, self.uid)
        return km

    async def start(self, notebook) -> None:
        """Start a fresh sandboxed kernel for ``notebook``, in a new generation, and install the probe."""
        generation = self._new_generation()
        config = self._write_probe_config(notebook)
        self.km = self._make_kernel_manager(generation)
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
        # Nothing the kernel prints outside the notebook is kept: a host file would take it unbounded.
        await self.client.async_start_new_kernel(stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        await self.client.async_start_new_kernel_client()
        reply = await self._execute(
            f"import {PROBE_PACKAGE} as __xg; __xg.install({str(config)!r}); del __xg",
            timeout=self.config.startup_timeout_s,
        )
        if reply is None or reply["content"]["status"] != "ok":
            detail = reply["content"].get("evalue") if reply else "no reply"
            raise RuntimeError(f"the grading probe could not be installed in the kernel: {detail}")
        self._lock_runtime(generation)
        if self._watchdog is None:
            self._watchdog = asyncio.create_task(self._watch_quota())

    def _lock_runtime(self, generation: Generation) -> None:
        """The kernel has made its sockets: the folder goes back to root, so that the kernel cannot
        swap a socket for a link that the grader's client would follow when it reconnects."""
        if self.uid is None:
            return
        descriptor = os.open(generation.runtime, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        try:
            os.fchown(descriptor, 0, 0)
            os.fchmod(descriptor, 0o755)
        finally:
            os.close(descriptor)

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
        """The exchange and runtime folders are bind-mounted, so no tmpfs limits their size or
        their number of files; a walk that stops at the limit keeps the check itself cheap."""
        limits = self.config.limits
        while True:
            await asyncio.sleep(0.5)
            used = await asyncio.to_thread(self._exchange_usage, limits.exchange_inodes)
            if used.bytes > limits.exchange_bytes or used.truncated:
                what = (
                    f"{used.bytes} bytes (limit {limits.exchange_bytes})"
                    if not used.truncated
                    else f"more than {limits.exchange_inodes} files and folders"
                )
                self.quota_exceeded = f"the kernel wrote {what} to the exchange folders"
                if self.km is not None:
                    await self.km.shutdown_kernel(now=True)
                return

    def _exchange_usage(self, most: int) -> Usage:
        total = Usage(0, 0, False)
        for generation in list(self.generations):
            for folder in (generation.exchange, generation.runtime):
                used = usage(folder, max_entries=most - total.inodes)
                total = Usage(total.bytes + used.bytes, total.inodes + used.inodes, total.truncated or used.truncated)
        return total

    def ensure_time(self) -> None:
        """Stop grading work, in the kernel or on the grader's copy of a model, once the
        submission's grading time is spent."""
        if self._time_is_up():
            raise GradingTimeUp(TIME_UP)

    def _time_is_up(self) -> bool:
        return self.deadline is not None and time.monotonic() >= self.deadline

    def stopped_reason(self) -> str | None:
        """Why grader calls can no longer reach the kernel (it died, ignored an interrupt, or the time ran out)."""
        return self.unresponsive or (TIME_UP if self._time_is_up() else None)

    def _time_left(self, wanted: float) -> float:
        """A grader step's timeout, cut to what is left of the submission's grading time; each call refused
        because the kernel stopped is counted, so a check that was refused is not judged on what it missed."""
        stopped = self.stopped_reason()
        if stopped:
            self.refused_calls += 1
            raise (KernelUnavailable if self.unresponsive else GradingTimeUp)(stopped)
        return wanted if self.deadline is None else min(wanted, self.deadline - time.monotonic())

    async def execute_hidden(self, code: str, timeout: float) -> dict[str, Any] | None:
        """Run grader code in the kernel without touching the notebook or its history; within
        the submission's grading time, and never again once the kernel stopped answering."""
        limit = self._time_left(timeout)
        reply = await self._execute(code, limit)
        if reply is None:
            await self._after_no_reply("grader code in the kernel", limit)
        return reply

    async def _after_no_reply(self, what: str, limit: float) -> None:
        """A call that got no reply: a dead kernel ends every later call (KernelUnavailable); a live one
        is interrupted, and given up on if it ignores the interrupt."""
        if not await self.alive():
            self.unresponsive = f"the kernel died while {what} ran, so no further calls could be made"
            raise StudentCallError(what, "KernelDied", "the kernel died while it ran (the notebook's own code)")
        await self._give_up_if_deaf(f"{what} did not finish within {limit:.0f} s")

    async def _give_up_if_deaf(self, what: str) -> None:
        """Interrupt a step that ran too long; a kernel that ignores the interrupt gets no more calls,
        so one stuck student function cannot make every later call wait its own timeout."""
        assert self.km is not None
        try:
            await self.km.interrupt_kernel()
        except RuntimeError as error:  # the kernel went away between the reply's wait and the interrupt
            self.unresponsive = f"{what}, and the kernel could not be interrupted ({error}): no further calls were made"
            return
        if await self._execute("pass", self.config.interrupt_grace_s) is None:
            self.unresponsive = f"{what}, and the kernel ignored the interrupt: no further calls were made"

    async def _execute(self, code: str, timeout: float) -> dict[str, Any] | None:
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
            parent = reply.get("parent_header") if isinstance(reply, dict) else None
            if isinstance(parent, dict) and parent.get("msg_id") == msg_id:
                return _checked_reply(reply)
        return None

    async def alive(self) -> bool:
        return self.km is not None and await self.km.is_alive()

    async def _recover_after_timeout(self, notebook, index: int) -> None:
        """Interrupt; if the kernel ignores it, replace the kernel so later cells still run."""
        assert self.km is not None
        await self.km.interrupt_kernel()
        reply = await self._execute("pass", timeout=self.config.interrupt_grace_s)
        if reply is None:
            await self._restart(notebook, "cell ignored the interrupt after its timeout", index)

    async def run_notebook(self, notebook) -> RunResult:
        """Execute every code cell, recording what happened to each.

        Real notebooks train for longer than a grading budget allows. A cell cut by its timeout leaves the
        kernel as it was (a model half trained) and the next cell runs; once the notebook's own time is
        spent, each remaining cell still gets a short overtime, so the figures and answers after a long
        training are made, until the overtime is spent too."""
        started = time.monotonic()
        config = self.config
        deadline = started + config.notebook_timeout_s
        overtime_ends = deadline + config.overtime_s
        result = RunResult(sandbox=self.sandbox.describe(), budget=self.budget())
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
            now = time.monotonic()
            limit = min(config.cell_timeout_s, deadline - now)
            if limit <= 0:
                limit = min(config.cell_timeout_s, config.overtime_cell_s, overtime_ends - now)
            if limit <= 0 or self.quota_exceeded or self.unrecoverable:
                result.notebook_timed_out = result.notebook_timed_out or limit <= 0
                result.cells.append(CellRecord(index, "not_run"))
                continue
            cell.execution_count = None  # a count saved in the submitted file is not this run's
            try:
                record = await self._run_cell(notebook, cell, index, limit)
            except Exception as error:
                record = await self._after_failed_recovery(notebook, index, error)
            record.limit_s = round(limit, 1)
            _add_run_details(record, cell)
            result.cells.append(record)
        result.total_s = time.monotonic() - started
        result.kernel_restarts = list(self.restarts)
        result.quota_exceeded = self.quota_exceeded
        result.events = self.read_events(result.dropped)
        result.figures = self.read_figures(result.dropped)
        result.sandbox["job_limits"] = self.describe_limits()
        return result

    def budget(self) -> dict[str, float]:
        """The time limits of this run, as the report states them."""
        config = self.config
        return {
            "cell_timeout_s": config.cell_timeout_s,
            "notebook_timeout_s": config.notebook_timeout_s,
            "overtime_cell_s": min(config.cell_timeout_s, config.overtime_cell_s),
            "overtime_s": config.overtime_s,
        }

    async def _after_failed_recovery(self, notebook, index: int, error: Exception) -> CellRecord:
        """Recovering from a timeout or a death failed (e.g. a replacement kernel slow to start
        on a loaded machine): record it on the cell and try one fresh kernel for the rest."""
        record = CellRecord(
            index,
            "kernel_died",
            0.0,
            type(error).__name__,
            f"the kernel could not be recovered after this cell: {error}"[:500],
        )
        try:
            await self._restart(notebook, "recovery failed", index)
        except Exception:
            self.unrecoverable = True
        return record

    async def _run_cell(self, notebook, cell, index: int, limit: float) -> CellRecord:
        assert self.client is not None
        if not await self.alive():
            await self._restart(notebook, "kernel died", index)
        await self._execute(f"__import__({PROBE_PACKAGE!r}).begin_cell({index})", timeout=30)
        self.client.timeout = max(1, math.ceil(limit))
        began = time.monotonic()
        try:
            await asyncio.wait_for(self.client.async_execute_cell(cell, index), timeout=limit + 5)
        except (TimeoutError, CellTimeoutError):
            record = CellRecord(
                index,
                "timeout",
                time.monotonic() - began,
                "CellTimeoutError",
                f"cell still running after {self.client.timeout} s",
            )
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

    def _read(self, exchange: ExchangeFolder, relative: str, limit: int, dropped: list[str]) -> bytes | None:
        try:
            return exchange.read_optional(relative, limit)
        except ExchangeRefused as error:
            dropped.append(f"the kernel's {relative} was not read: {error}")
            return None

    def _records(self, relative: str, limit: int, validate, dropped: list[str]) -> list[dict[str, Any]]:
        """Every generation's records of one kind, validated, each tagged with its generation;
        ``limit`` bounds what all generations together may hand over, so restarts cannot multiply it."""
        records = []
        left = limit
        for exchange in self.exchanges:
            data = self._read(exchange, relative, left, dropped)
            left -= len(data or b"")
            if data is not None:
                validated = validate(data)
                records += [{**record, "generation": exchange.generation} for record in validated.records]
                dropped += validated.dropped
        return records

    def read_events(self, dropped: list[str]) -> list[dict[str, Any]]:
        return [
            {key: value for key, value in event.items() if key != "generation"}
            for event in self._records("events.jsonl", MAX_EVENTS_BYTES, events_from_lines, dropped)
        ]

    def read_figures(self, dropped: list[str]) -> list[dict[str, Any]]:
        return self._records("figures/index.json", MAX_FIGURE_INDEX_BYTES, figures_from_index, dropped)

    def figure_bytes(self, generation: int, name: str) -> bytes | None:
        """A figure's PNG or array as the kernel wrote it, or None if it is missing or unsafe."""
        if not 0 <= generation < len(self.exchanges):
            return None
        try:
            return self.exchanges[generation].read_optional(f"figures/{name}", MAX_FIGURE_FILE_BYTES)
        except ExchangeRefused:
            return None

    async def request(self, request: dict[str, Any], inputs: Any = None, timeout: float = 120) -> tuple[dict, Decoder]:
        """Ask the probe to answer ``request``; see ``checks.engine.student`` for the friendly API."""
        limit = self._time_left(timeout)
        request_id = uuid.uuid4().hex[:12]
        encoder = Encoder()
        wire_request = dict(request)
        if inputs is not None:
            wire_request["args"] = encoder.encode(list(inputs.get("args", [])))
            wire_request["kwargs"] = {k: encoder.encode(v) for k, v in inputs.get("kwargs", {}).items()}
        calls = self.job.inbox / "calls"
        request_files = [calls / f"{request_id}.json", calls / f"{request_id}-in.safetensors"]
        encoder.write(wire_request, *request_files)
        for path in request_files:
            readable(path, self.uid)
        try:
            reply = await self._execute(f"__import__({PROBE_PACKAGE!r}).serve({request_id!r})", limit)
        finally:
            for path in request_files:
                path.unlink(missing_ok=True)
        what = request.get("target", request["op"])
        if reply is None:
            await self._after_no_reply(str(what)[:100], limit)
            raise TimeoutError(f"the kernel did not answer within {limit:.0f} s")
        if reply["content"]["status"] != "ok":
            raise RuntimeError(f"the probe failed: {reply['content'].get('evalue', 'no response written')}")
        try:
            text = self.exchange.read_bytes(f"calls/{request_id}-out.json", MAX_JSON_BYTES)
            tensors = self.exchange.read_bytes(f"calls/{request_id}-out.safetensors", MAX_PAYLOAD_BYTES + (1 << 20))
            response = json.loads(text)
            decoder = Decoder(load_tensors(tensors))
        except FileNotFoundError:
            raise RuntimeError("the probe wrote no response") from None
        except (ExchangeRefused, ValueError, RecursionError) as error:
            raise RuntimeError(f"the probe's response was refused: {error}"[:500]) from None
        if not _well_formed(response):
            raise RuntimeError("the probe's response is malformed")
        return response, decoder


MALFORMED_REPLY = {"status": "error", "ename": "MalformedReply", "evalue": "the kernel's reply was malformed"}


def _checked_reply(reply: dict[str, Any]) -> dict[str, Any]:
    """The kernel writes its replies, so one whose content is not a dict with a text status reads as an error
    for every caller, rather than failing each where it looks inside."""
    content = reply.get("content")
    if isinstance(content, dict) and isinstance(content.get("status"), str):
        return reply
    return {**reply, "content": dict(MALFORMED_REPLY)}


def _well_formed(response: Any) -> bool:
    if not isinstance(response, dict) or not isinstance(response.get("ok"), bool):
        return False
    if response["ok"]:
        return "value" in response
    error = response.get("error")
    return isinstance(error, dict) and isinstance(error.get("type"), str) and isinstance(error.get("message"), str)
