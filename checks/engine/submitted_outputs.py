"""The outputs a notebook was submitted with: the evidence a TA marks from, kept beside the re-execution.

Students submit executed notebooks; a training cut by the grading budget or a package the kernel lacks
leaves the re-execution short of what the student saw. The saved outputs are read before the run (the
run overwrites them) and are hostile like everything else in the file: text is stripped of terminal
codes and capped, HTML and JavaScript are never kept, and a PNG is kept only when its base64 decodes
within a size cap, its header declares at most ``MAX_PIXELS`` pixels, and Pillow verifies and decodes it;
it is then written as a fresh PNG of its pixels alone. Nothing here runs a kernel.
"""

from __future__ import annotations

import base64
import binascii
import io
import re
import warnings
from collections.abc import Collection
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

from checks.engine.notebook import cell_number

MAX_CELL_CHARS = 4_000
"""Text kept per cell: its start and its end (where a training log prints its results), cut between."""
MAX_TOTAL_CHARS = 80_000
"""Text kept for the whole notebook; later cells keep only the cut marker."""
MAX_RAW_CHARS = 64 << 10
"""What is read of one output's text before terminal codes are stripped (its start and end)."""
MAX_IMAGES = 40
MAX_PNG_BYTES = 8 << 20
"""A decoded figure's size at most; the base64 is measured before anything is decoded."""
MAX_PIXELS = 16_000_000
MAX_DROPPED = 50
"""Refusals listed one by one; beyond them only counted."""
CUT = "… (cut)"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
KEPT_MODES = {"1", "L", "LA", "P", "RGB", "RGBA"}
TERMINAL_CODES = re.compile(r"\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b\[[0-?]*[ -/]*[@-~]|\x1b[@-_]?")
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
WHITESPACE = re.compile(r"\s+")
UNREADABLE = (OSError, ValueError, SyntaxError, EOFError)


@dataclass
class SubmittedCell:
    cell: int  # index in notebook.cells, as the run's CellRecord.index
    execution_count: int | None  # the saved In [n]
    text: str = ""
    images: list[str] = field(default_factory=list)  # file names in the submitted-figures folder
    cut: bool = False


@dataclass
class SubmittedOutputs:
    code_cells: int = 0
    has_outputs: bool = False  # any output at all, of any kind
    cells: list[SubmittedCell] = field(default_factory=list)  # cells whose outputs left text or images
    dropped: list[dict[str, Any]] = field(default_factory=list)  # {"cell", "what", "why"}
    dropped_more: int = 0  # refusals beyond ``MAX_DROPPED``

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def without_outputs_flag(self) -> str | None:
        """The sentence for a notebook of code cells saved without any output."""
        if self.code_cells and not self.has_outputs:
            return "submitted without outputs: nothing the student ran can be shown beside the re-execution"
        return None


def read_submitted_outputs(notebook: Any, figure_dir: Path) -> SubmittedOutputs:
    """What each code cell of ``notebook`` showed when it was saved; its kept figures go to ``figure_dir``
    as ``cell{n}-{k}.png`` (n: the cell's number from 1, k: the figure's number in the cell from 1)."""
    found = SubmittedOutputs()
    budget = MAX_TOTAL_CHARS
    images = 0
    for index, cell in enumerate(_cells(notebook)):
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        found.code_cells += 1
        outputs = cell.get("outputs")
        if not isinstance(outputs, list) or not outputs:
            continue
        found.has_outputs = True
        record = SubmittedCell(index, _count(cell.get("execution_count")))
        parts: list[str] = []
        for position, output in enumerate(outputs, 1):
            if not isinstance(output, dict):
                _drop(found, index, f"output {position}", "not an output object")
                continue
            parts.append(_output_text(output))
            if _only_markup(output):
                _drop(found, index, f"output {position}", "HTML or JavaScript output, never shown")
            png = _png_payload(output, found, index, position)
            if png is None:
                continue
            if images >= MAX_IMAGES:
                _drop(found, index, f"output {position}", f"more than {MAX_IMAGES} figures in the notebook")
                continue
            name = f"{cell_number(index).replace(' ', '')}-{len(record.images) + 1}.png"
            why = _write_png(png, figure_dir / name)
            if why:
                _drop(found, index, f"output {position}", why)
                continue
            record.images.append(name)
            images += 1
        record.text, record.cut = _capped(_clean("".join(parts)), budget)
        budget -= len(record.text)
        if record.text or record.images:
            found.cells.append(record)
    return found


def output_texts(notebook: Any, only: Collection[int]) -> dict[int, str]:
    """The text the code cells numbered in ``only`` show now (after a run, the re-executed text), read and
    capped as the submitted text is; cells that show none are left out."""
    texts: dict[int, str] = {}
    budget = MAX_TOTAL_CHARS
    for index, cell in enumerate(_cells(notebook)):
        if index not in only or not isinstance(cell, dict) or not isinstance(cell.get("outputs"), list):
            continue
        parts = [_output_text(output) for output in cell["outputs"] if isinstance(output, dict)]
        text, _ = _capped(_clean("".join(parts)), budget)
        budget -= len(text)
        if text:
            texts[index] = text
    return texts


def _cells(notebook: Any) -> list[Any]:
    cells = notebook.get("cells") if isinstance(notebook, dict) else None
    return cells if isinstance(cells, list) else []


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and 0 < value < 10**9 else None


def _drop(found: SubmittedOutputs, cell: int, what: str, why: str) -> None:
    if len(found.dropped) < MAX_DROPPED:
        found.dropped.append({"cell": cell, "what": what, "why": why})
    else:
        found.dropped_more += 1


def _bounded(value: Any) -> str | None:
    """A string field as text (nbformat's list of lines joined), only its start and end when long;
    None when it is neither."""
    if isinstance(value, list) and all(isinstance(part, str) for part in value):
        total = 0
        kept = []
        for part in value:  # joined only as far as the cap, so a million lines cost nothing
            kept.append(part)
            total += len(part)
            if total > 2 * MAX_RAW_CHARS:
                break
        value = "".join(kept)
    if not isinstance(value, str):
        return None
    if len(value) > 2 * MAX_RAW_CHARS:
        return value[:MAX_RAW_CHARS] + f"\n{CUT}\n" + value[-MAX_RAW_CHARS:]
    return value


def _output_text(output: dict) -> str:
    """What one output shows as text: a stream, a value's text/plain, or an error's ``ename: evalue``."""
    kind = output.get("output_type")
    if kind == "stream":
        return _bounded(output.get("text")) or ""
    if kind == "error":
        return f"{_bounded(output.get('ename')) or 'Error'}: {_bounded(output.get('evalue')) or ''}\n"
    data = output.get("data")
    text = _bounded(data.get("text/plain")) if isinstance(data, dict) else None
    if kind not in ("execute_result", "display_data") or not text:
        return ""
    return text if text.endswith("\n") else text + "\n"


def _only_markup(output: dict) -> bool:
    """Whether an output shows only HTML or JavaScript, which a report never renders."""
    data = output.get("data")
    return (
        isinstance(data, dict)
        and "text/plain" not in data
        and any(key in data for key in ("text/html", "application/javascript"))
    )


def _clean(text: str) -> str:
    """Text as a terminal left it: escape codes gone, each line as its last carriage return left it."""
    text = CONTROL.sub("", TERMINAL_CODES.sub("", text.replace("\r\n", "\n")))
    return "\n".join(line.rstrip("\r").rsplit("\r", 1)[-1] for line in text.split("\n")).strip("\n")


def _capped(text: str, budget: int) -> tuple[str, bool]:
    """The text within ``MAX_CELL_CHARS`` and what is left of the notebook's budget: its start and end
    with ``CUT`` between, or only ``CUT`` when nothing is left."""
    limit = min(MAX_CELL_CHARS, budget)
    if not text or len(text) <= limit:
        return text, False
    if limit < 2 * len(CUT):
        return CUT, True
    half = (limit - len(CUT) - 2) // 2
    return f"{text[:half]}\n{CUT}\n{text[-half:]}", True


def _png_payload(output: dict, found: SubmittedOutputs, cell: int, position: int) -> bytes | None:
    """An output's ``image/png`` decoded, within ``MAX_PNG_BYTES``; None (and a refusal when it held an
    image) otherwise."""
    data = output.get("data")
    if not isinstance(data, dict):
        return None
    images = [key for key in data if isinstance(key, str) and key.startswith("image/")]
    if "image/png" not in data:
        if images:
            _drop(found, cell, f"output {position}", f"{images[0]}: only PNG figures are kept")
        return None
    encoded = data["image/png"]
    if isinstance(encoded, list) and all(isinstance(part, str) for part in encoded):
        if sum(len(part) for part in encoded) > _max_encoded():
            encoded = None
        else:
            encoded = "".join(encoded)
    if not isinstance(encoded, str):
        _drop(found, cell, f"output {position}", "image/png is not text")
        return None
    if len(encoded) > _max_encoded():
        _drop(found, cell, f"output {position}", f"image/png over {MAX_PNG_BYTES >> 20} MiB")
        return None
    try:
        payload = base64.b64decode(WHITESPACE.sub("", encoded), validate=True)
    except (binascii.Error, ValueError):
        _drop(found, cell, f"output {position}", "image/png is not base64")
        return None
    if len(payload) > MAX_PNG_BYTES:
        _drop(found, cell, f"output {position}", f"image/png over {MAX_PNG_BYTES >> 20} MiB")
        return None
    return payload


def _max_encoded() -> int:
    """Base64 of ``MAX_PNG_BYTES`` with a line break every 76 characters, at most."""
    return MAX_PNG_BYTES * 4 // 3 * 78 // 76 + 4


def _write_png(payload: bytes, target: Path) -> str | None:
    """Verify ``payload`` as a PNG of at most ``MAX_PIXELS`` and write its pixels to ``target``; why not, else."""
    if not payload.startswith(PNG_SIGNATURE):
        return "image/png does not hold a PNG"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(payload), formats=("PNG",)) as image:
                if image.width * image.height > MAX_PIXELS:
                    return f"a {image.width}x{image.height} PNG, over {MAX_PIXELS:,} pixels"
                image.verify()
            with Image.open(io.BytesIO(payload), formats=("PNG",)) as image:
                image.load()
                pixels = image if image.mode in KEPT_MODES else image.convert("RGBA")
                fresh = io.BytesIO()
                pixels.save(fresh, "PNG")
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        return f"a PNG over {MAX_PIXELS:,} pixels"
    except UNREADABLE:
        return "not a readable PNG"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(fresh.getvalue())
    return None
