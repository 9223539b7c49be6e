"""The outputs a notebook was submitted with: the evidence a TA marks from, kept beside the re-execution.

Students submit executed notebooks; a training cut by the grading budget or a package the kernel lacks
leaves the re-execution short of what the student saw. The saved outputs are read before the run (the
run overwrites them) and are hostile like everything else in the file: text is stripped of terminal
codes and invisible format characters and capped, HTML and JavaScript are never kept, and a PNG is kept
only when its base64 decodes within a size cap, its header declares at most ``MAX_PIXELS`` pixels, and
Pillow verifies and decodes it; it is then written as a fresh PNG of its pixels alone. Decoding runs on
the grader before any sandbox, so every PNG opened counts against the notebook's budget of decodes and of
pixels, kept or refused, and past it no further figure is read. Nothing here runs a kernel.
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
"""Figures kept per notebook."""
MAX_DECODES = 2 * MAX_IMAGES
"""PNGs opened per notebook, kept or refused: a refusal after a full decode cost as much as a figure kept."""
MAX_PNG_BYTES = 8 << 20
"""A decoded figure's size at most; the base64 is measured before anything is decoded."""
MAX_PIXELS = 8_000_000
"""One figure's pixels at most, from its header (a 20x20 inch figure at 144 dpi is 8.3 million)."""
MAX_NOTEBOOK_PIXELS = 64_000_000
"""Pixels decoded per notebook at most, each figure counted from its header before it is decoded."""
MAX_DROPPED = 50
"""Refusals listed one by one; beyond them only counted (but for ``FURTHER``, always listed once)."""
CUT = "… (cut)"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
KEPT_MODES = {"1", "L", "LA", "P", "RGB", "RGBA"}
TERMINAL_CODES = re.compile(r"\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b\[[0-?]*[ -/]*[@-~]|\x1b[@-_]?")
CONTROL = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\xad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u180e"
    "\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb\U000110bd\U000110cd"
    "\U00013430-\U0001343f\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0001\U000e0020-\U000e007f]"
)
"""Control characters but tab and newline (carriage returns are read as a terminal reads them), and the
Unicode format characters (category Cf: bidi overrides and isolates, zero-width and invisible ones), which
let saved text show a reader something other than what it holds."""
WHITESPACE = re.compile(r"\s+")
UNREADABLE = (OSError, ValueError, SyntaxError, EOFError)
FURTHER = (
    f"further figures not read: the notebook's figures reached {MAX_IMAGES} kept, {MAX_DECODES} read or "
    f"{MAX_NOTEBOOK_PIXELS:,} pixels"
)


WITHOUT_OUTPUTS = "submitted without outputs: nothing the student ran can be shown beside the re-execution"


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
            return WITHOUT_OUTPUTS
        return None


@dataclass
class _FigureBudget:
    """What reading a notebook's figures may still cost the grader; spent, it says so once."""

    kept: int = 0
    decodes_left: int = MAX_DECODES
    pixels_left: int = MAX_NOTEBOOK_PIXELS
    said_spent: bool = False

    def spent(self) -> bool:
        return self.kept >= MAX_IMAGES or self.decodes_left <= 0 or self.pixels_left <= 0

    def refuse_further(self, found: SubmittedOutputs, cell: int, what: str) -> None:
        if not self.said_spent:
            found.dropped.append({"cell": cell, "what": what, "why": FURTHER})
            self.said_spent = True

    def charge(self, pixels: int) -> bool:
        """Take ``pixels`` from what is left; False (and the budget spent) when they do not fit."""
        if pixels > self.pixels_left:
            self.pixels_left = 0
            return False
        self.pixels_left -= pixels
        return True


def read_submitted_outputs(notebook: Any, figure_dir: Path) -> SubmittedOutputs:
    """What each code cell of ``notebook`` showed when it was saved; its kept figures go to ``figure_dir``
    as ``cell{n}-{k}.png`` (n: the cell's number from 1, k: the figure's number in the cell from 1)."""
    found = SubmittedOutputs()
    budget = MAX_TOTAL_CHARS
    figures = _FigureBudget()
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
            if figures.spent():
                figures.refuse_further(found, index, f"output {position}")
                continue
            name = f"{cell_number(index).replace(' ', '')}-{len(record.images) + 1}.png"
            figures.decodes_left -= 1
            why = _write_png(png, figure_dir / name, figures)
            if why == FURTHER:
                figures.refuse_further(found, index, f"output {position}")
            elif why:
                _drop(found, index, f"output {position}", why)
            else:
                record.images.append(name)
                figures.kept += 1
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


def _write_png(payload: bytes, target: Path, figures: _FigureBudget) -> str | None:
    """Verify ``payload`` as a PNG of at most ``MAX_PIXELS`` and write its pixels to ``target``; why not, else
    (``FURTHER`` when its pixels, charged before decoding, pass what the notebook's budget has left)."""
    if not payload.startswith(PNG_SIGNATURE):
        return "image/png does not hold a PNG"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(payload), formats=("PNG",)) as image:
                if image.width * image.height > MAX_PIXELS:
                    return f"a {image.width}x{image.height} PNG, over {MAX_PIXELS:,} pixels"
                if not figures.charge(image.width * image.height):
                    return FURTHER
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
