"""Score a team's Deliverable 4 pickle: the IoU of the explanations its LIME parameters give against the
ground truth, and their execution time, as the course's scoreboard does.

No code of the pickle ever runs: ``lime_params`` reads it with an allow-list unpickler into plain specs
(or says, per image, why it is refused). LIME then runs on those specs in a sandboxed kernel with the
grader's own images and a fixed seed, one image after another on a warmed model, and the kernel is
killed at the cut-off. Only masks and times come back; the IoU is computed here, so the same pickle
gets the same IoU every time.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import statistics
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import numpy as np

from checks.assignments.tml25_a4.lime_params import LIMITS, read_lime_parameters
from checks.data.assets import DataDir
from checks.engine.exchange import ExchangeRefused
from checks.engine.kernel import KernelSession, RunConfig
from checks.engine.run import npy_matches
from checks.engine.sandbox import SandboxLimits
from reference.tml25_a4.ground_truth import ground_truth, score
from reference.tml25_a4.images import CROP, IMAGE_KEYS, display_image

SEED = 0
DEFAULT_CUT_OFF_S = 900.0
DEFAULT_REPEATS = 3
WARM_UP_S = 120.0
MASK_BYTES = CROP * CROP + 256
TIMES_BYTES = 1 << 16
SCORING_CELL = "from xaigrader_probe.lime_scoring import score\nscore({seed}, {repeats})"


@dataclass(frozen=True)
class ScoringOptions:
    cut_off_s: float = DEFAULT_CUT_OFF_S  # for all ten images together, repeats included
    repeats: int = DEFAULT_REPEATS  # runs per image; its time is their median
    seed: int = SEED
    limits: SandboxLimits = field(default_factory=SandboxLimits)


@dataclass
class LimeScore:
    """What the scoreboard shows (``avg_iou``, ``avg_time``) and why, or why there is no score."""

    problems: dict[str, list[str]] = field(default_factory=dict)  # image key (or "file") -> what is wrong
    notes: dict[str, list[str]] = field(default_factory=dict)  # what was dropped or ignored, not refused
    iou: dict[str, float] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)  # median of the repeats
    stopped: str | None = None  # the cut-off or a broken run: no score
    ground_truth: str = ""
    masks: dict[str, np.ndarray] = field(default_factory=dict, repr=False)  # each image's region, for a TA to see

    @property
    def complete(self) -> bool:
        return not self.problems and self.stopped is None and set(self.iou) == set(IMAGE_KEYS)

    @property
    def avg_iou(self) -> float | None:
        return float(np.mean(list(self.iou.values()))) if self.complete else None

    @property
    def avg_time(self) -> float | None:
        return float(np.mean(list(self.seconds.values()))) if self.complete else None

    def as_dict(self) -> dict[str, object]:
        return {
            "avg_iou": self.avg_iou,
            "avg_time": self.avg_time,
            "iou": self.iou,
            "time": self.seconds,
            "problems": self.problems,
            "notes": self.notes,
            "stopped": self.stopped,
            "ground_truth": self.ground_truth,
        }

    def message(self) -> str:
        if self.problems:
            lines = [f"{key}: {problem}" for key, problems in self.problems.items() for problem in problems]
            return "the pickle was refused; nothing of it ran:\n" + "\n".join(lines)
        if self.stopped:
            return f"no score: {self.stopped}"
        return f"avg_iou {self.avg_iou:.4f}, avg_time {self.avg_time:.3f} s over {len(self.iou)} images"


def _mask(data: bytes | None) -> np.ndarray | None:
    """A boolean crop-sized mask the kernel wrote, read as data (its header checked first, never unpickled)."""
    if data is None or not npy_matches(data, [CROP, CROP]):
        return None
    array = np.load(io.BytesIO(data), allow_pickle=False)
    return array if array.dtype == bool else None


def _times(data: bytes | None, repeats: int) -> dict[str, float]:
    """Each image's median time from the kernel's ``times.json``; anything malformed is dropped."""
    try:
        raw = json.loads(data or b"{}")
    except ValueError:
        return {}
    times = {}
    for key in IMAGE_KEYS:
        runs = raw.get(key) if isinstance(raw, dict) else None
        if isinstance(runs, list) and len(runs) == repeats and all(isinstance(t, int | float) for t in runs):
            if all(0 <= t < 1e6 for t in runs):
                times[key] = float(statistics.median(runs))
    return times


async def _run_in_sandbox(specs: dict[str, dict], data: DataDir, options: ScoringOptions):
    """Masks and median times of the images the kernel finished before the cut-off, and why it stopped if it did."""
    config = RunConfig(
        data_dir=data.root if data.root.is_dir() else None,
        cell_timeout_s=options.cut_off_s,
        notebook_timeout_s=options.cut_off_s + WARM_UP_S,
        overtime_cell_s=0,
        overtime_s=0,
        limits=options.limits,
    )
    async with KernelSession(config) as session:
        session.give(session.job.inbox / "specs.json", json.dumps(specs).encode())
        for key in specs:
            buffer = io.BytesIO()
            np.save(buffer, display_image(data, key), allow_pickle=False)
            session.give(session.job.inbox / f"{key}.npy", buffer.getvalue())
        cell = SCORING_CELL.format(seed=options.seed, repeats=options.repeats)
        notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(cell)])
        run = await session.run_notebook(notebook)
        masks, times = {}, {}
        try:
            times = _times(session.exchange.read_optional("lime/times.json", TIMES_BYTES), options.repeats)
            for key in specs:
                mask = _mask(session.exchange.read_optional(f"lime/{key}.npy", MASK_BYTES))
                if mask is not None:
                    masks[key] = mask
        except ExchangeRefused as error:
            return {}, {}, f"the scoring kernel's files were refused ({error})"
    record = run.cells[0] if run.cells else None
    if record is None or record.status == "timeout" or run.notebook_timed_out:
        stopped = f"the explanations passed the cut-off of {options.cut_off_s:g} s ({len(masks)} of 10 images done)"
    elif record.status != "ok":
        stopped = f"LIME failed on these parameters: {record.error_name}: {record.error_value}"
    else:
        stopped = None
    return masks, times, stopped


def read_pickle_file(path: Path) -> bytes:
    """The file's bytes, refused unread when it is larger than any pickle of parameters can be."""
    with path.open("rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        if size > LIMITS.max_bytes:
            raise OSError(f"{path.name} holds {size} bytes; a pickle of LIME parameters is under {LIMITS.max_bytes}")
        return handle.read(LIMITS.max_bytes + 1)


def score_lime_pickle(pickled: bytes, data: DataDir, options: ScoringOptions = ScoringOptions()) -> LimeScore:
    """The scoreboard's numbers for one pickle, or every reason it was refused; never raises for the pickle."""
    parameters = read_lime_parameters(pickled)
    if not parameters.valid:
        return LimeScore(problems=parameters.problems, notes=parameters.notes)
    truth = ground_truth(data)
    masks, times, stopped = asyncio.run(_run_in_sandbox(parameters.specs, data, options))
    result = LimeScore(
        notes=parameters.notes, seconds=times, stopped=stopped, ground_truth=truth.provenance, masks=masks
    )
    done = {key: masks[key] for key in IMAGE_KEYS if key in masks and key in times}
    if stopped is None and len(done) < len(IMAGE_KEYS):
        result.stopped = f"the scoring kernel returned {len(done)} of 10 explanations"
    result.iou = score(done, {key: truth.masks[key] for key in done})[0] if done else {}
    return result
