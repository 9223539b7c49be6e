"""The outputs a notebook was submitted with, read before the run: text, figures, and what is refused."""

from __future__ import annotations

import base64
import io
import struct
import sys
import unicodedata
import zlib

import nbformat
from PIL import Image, PngImagePlugin

from checks.engine.kernel import CellRecord
from checks.engine.submitted_outputs import (
    CUT,
    FURTHER,
    MAX_CELL_CHARS,
    MAX_DECODES,
    MAX_DROPPED,
    MAX_IMAGES,
    MAX_NOTEBOOK_PIXELS,
    MAX_PIXELS,
    MAX_PNG_BYTES,
    MAX_TOTAL_CHARS,
    read_submitted_outputs,
)
from checks.finders.classifiers import MNIST_INPUT, TO_TENSOR, FoundModel, Measured
from checks.finders.output_disagreements import compare_with_submitted
from tests.engine.conftest import make_notebook
from tests.engine.deadline import within_seconds


def png_bytes(size=(6, 4), colour=(200, 30, 30), text: str | None = None) -> bytes:
    info = PngImagePlugin.PngInfo()
    if text:
        info.add_text("Comment", text)
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, "PNG", pnginfo=info)
    return buffer.getvalue()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def decompression_bomb(side: int = 40_000) -> bytes:
    """A valid 1-bit PNG of side x side pixels: about 200 KB that inflate to 200 MB (1.6 G pixels)."""
    rows = zlib.compressobj(9)
    row = b"\0" * (1 + side // 8)
    idat = b"".join(rows.compress(row * 1000) for _ in range(side // 1000)) + rows.flush()
    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def stream(text: str) -> dict:
    return nbformat.v4.new_output("stream", name="stdout", text=text)


def shown(data: dict, kind: str = "display_data") -> dict:
    if kind == "execute_result":
        return nbformat.v4.new_output(kind, data=data, execution_count=3)
    return nbformat.v4.new_output(kind, data=data)


def submitted(*cells: list[dict], counts: list[int] | None = None) -> nbformat.NotebookNode:
    """A notebook saved after running: a heading, then one code cell per list of outputs."""
    notebook = make_notebook(*[f"cell_{i}()" for i in range(len(cells))], markdown={0: "# 1.1 Training"})
    for position, outputs in enumerate(cells):
        cell = notebook.cells[position + 1]
        cell.outputs = outputs
        cell.execution_count = (counts or list(range(1, len(cells) + 1)))[position]
    return notebook


def by_cell(found) -> dict:
    return {cell.cell: cell for cell in found.cells}


def test_text_and_figures_are_read_with_their_cells_and_counts(tmp_path):
    notebook = submitted(
        [stream("epoch 1 loss 0.3\n"), shown({"text/plain": "0.9922"}, "execute_result")],
        [
            stream("the figure:\n"),
            shown({"image/png": b64(png_bytes(text="private note")), "text/plain": "<Figure size 640x480>"}),
        ],
        [
            nbformat.v4.new_output(
                "error", ename="ModuleNotFoundError", evalue="No module named 'seaborn'", traceback=[]
            )
        ],
        counts=[7, 9, 12],
    )
    found = read_submitted_outputs(notebook, tmp_path / "submitted-figures")
    cells = by_cell(found)
    assert found.has_outputs and found.code_cells == 3 and found.without_outputs_flag() is None
    assert cells[1].text == "epoch 1 loss 0.3\n0.9922" and cells[1].execution_count == 7
    assert cells[2].images == ["cell3-1.png"] and "<Figure size 640x480>" in cells[2].text
    assert cells[3].text == "ModuleNotFoundError: No module named 'seaborn'"
    written = (tmp_path / "submitted-figures" / "cell3-1.png").read_bytes()
    assert Image.open(io.BytesIO(written)).size == (6, 4) and b"private note" not in written
    assert found.as_dict()["cells"][0] == {
        "cell": 1,
        "execution_count": 7,
        "text": "epoch 1 loss 0.3\n0.9922",
        "images": [],
        "cut": False,
    }


def test_terminal_codes_and_progress_bars_are_left_as_a_terminal_shows_them(tmp_path):
    notebook = submitted(
        [
            stream("\x1b[31mred\x1b[0m text\x1b]8;;http://x\x07link\x1b]8;;\x07\n"),
            stream(" 10%|#\r 50%|#####\r100%|##########\n"),
        ]
    )
    text = read_submitted_outputs(notebook, tmp_path).cells[0].text
    assert text == "red textlink\n100%|##########"
    assert "\x1b" not in text and "\r" not in text


def test_long_text_keeps_its_start_and_end_within_the_caps(tmp_path):
    log = "".join(f"epoch {i}: loss {1 / (i + 1):.4f}\n" for i in range(20_000)) + "Test accuracy: 99.22%\n"
    notebook = submitted(*[[stream(log)] for _ in range(40)])
    found = read_submitted_outputs(notebook, tmp_path)
    first = found.cells[0]
    assert first.cut and len(first.text) <= MAX_CELL_CHARS and CUT in first.text
    assert first.text.startswith("epoch 0: loss 1.0000") and first.text.endswith("Test accuracy: 99.22%")
    assert sum(len(cell.text) for cell in found.cells) <= MAX_TOTAL_CHARS + len(CUT) * len(found.cells)
    assert found.cells[-1].text == CUT, "past the notebook's budget a cell keeps only the marker"
    short = read_submitted_outputs(submitted([stream("Test accuracy: 98%\n")]), tmp_path)
    assert not short.cells[0].cut and CUT not in short.cells[0].text


def test_a_payload_that_is_not_base64_is_refused(tmp_path):
    notebook = submitted([shown({"image/png": "iVBORw0KGgo!!!not*base64", "text/plain": "<Figure>"})])
    found = read_submitted_outputs(notebook, tmp_path)
    assert found.cells[0].images == [] and not list(tmp_path.iterdir())
    assert found.dropped == [{"cell": 1, "what": "output 1", "why": "image/png is not base64"}]


def test_a_decompression_bomb_and_an_oversized_payload_are_refused_before_decoding(tmp_path):
    notebook = submitted(
        [shown({"image/png": b64(decompression_bomb())})],
        [shown({"image/png": b64(decompression_bomb(5_000))})],
        [shown({"image/png": "A" * (MAX_PNG_BYTES * 2)})],
        [shown({"image/png": b64(png_bytes())})],
    )
    found = read_submitted_outputs(notebook, tmp_path)
    assert [entry["why"] for entry in found.dropped] == [
        "a PNG over 8,000,000 pixels",  # Pillow's own limit refuses it on opening
        "a 5000x5000 PNG, over 8,000,000 pixels",  # within Pillow's limit, over ours: read from the header
        "image/png over 8 MiB",
    ]
    assert [path.name for path in tmp_path.iterdir()] == ["cell5-1.png"], "a sound figure beside them is kept"


def test_payloads_that_are_not_png_are_refused(tmp_path):
    jpeg = io.BytesIO()
    Image.new("RGB", (4, 4)).save(jpeg, "JPEG")
    notebook = submitted(
        [shown({"image/png": b64(jpeg.getvalue())})],
        [shown({"image/png": b64(b"\x89PNG\r\n\x1a\n" + b"\0" * 64)})],
        [shown({"image/png": b64(png_bytes((64, 64))[:-40])})],
        [shown({"image/jpeg": b64(jpeg.getvalue()), "text/plain": "<IPython.core.display.Image object>"})],
        [shown({"text/html": "<script>alert('x')</script>", "application/javascript": "alert('y')"})],
    )
    found = read_submitted_outputs(notebook, tmp_path)
    assert [(entry["cell"], entry["why"]) for entry in found.dropped] == [
        (1, "image/png does not hold a PNG"),
        (2, "not a readable PNG"),
        (3, "not a readable PNG"),  # cut short
        (4, "image/jpeg: only PNG figures are kept"),
        (5, "HTML or JavaScript output, never shown"),
    ]
    assert not list(tmp_path.iterdir()) and "alert" not in str(found.as_dict()["cells"])


def test_figures_past_the_notebook_cap_are_refused_once(tmp_path):
    notebook = submitted(*[[shown({"image/png": b64(png_bytes())})] for _ in range(MAX_IMAGES + 2)])
    found = read_submitted_outputs(notebook, tmp_path)
    assert len(list(tmp_path.iterdir())) == MAX_IMAGES
    assert found.dropped == [{"cell": MAX_IMAGES + 1, "what": "output 1", "why": FURTHER}]


def cut_short_png(side: int) -> bytes:
    """A grey side x side PNG whose zlib stream stops 64 bytes short: its header and ``verify()`` pass,
    and only a full decode finds it broken."""
    pixels = zlib.compress(b"\0" * (side * (side + 1)), 9)
    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels[:-64]) + chunk(b"IEND", b"")


def test_broken_figures_count_against_the_notebooks_budget_of_pixels_and_decodes(tmp_path):
    """Once refusals were not counted: 631 such figures fit in a notebook, each a full decode on the grader."""
    side = 2800  # 7.84 million pixels: under the per-figure cap, eight of them fill the notebook's budget
    broken = b64(cut_short_png(side))
    with within_seconds(20, "broken figures are decoded without a budget"):
        found = read_submitted_outputs(submitted(*[[shown({"image/png": broken})] for _ in range(60)]), tmp_path)
    decoded = MAX_NOTEBOOK_PIXELS // (side * side)
    assert [entry["why"] for entry in found.dropped] == ["not a readable PNG"] * decoded + [FURTHER]
    assert found.dropped[-1]["cell"] == decoded + 1 and found.dropped_more == 0 and not list(tmp_path.iterdir())
    small = b64(cut_short_png(8))
    many = read_submitted_outputs(submitted([shown({"image/png": small})] * (MAX_DECODES + 5)), tmp_path)
    assert [entry["why"] for entry in many.dropped] == ["not a readable PNG"] * MAX_DROPPED + [FURTHER]
    assert many.dropped_more == MAX_DECODES - MAX_DROPPED, "past the decodes allowed, nothing is read or counted"


def test_large_figures_are_kept_until_the_notebooks_pixels_are_spent(tmp_path):
    side = 2400  # 5.76 million pixels: eleven fit in the notebook's budget
    large = io.BytesIO()
    Image.new("L", (side, side), 128).save(large, "PNG")
    figures = [shown({"image/png": b64(large.getvalue())})] * 12 + [shown({"image/png": b64(png_bytes())})]
    found = read_submitted_outputs(submitted(figures), tmp_path)
    kept = MAX_NOTEBOOK_PIXELS // (side * side)
    assert found.cells[0].images == [f"cell2-{k}.png" for k in range(1, kept + 1)]
    assert found.dropped == [{"cell": 1, "what": f"output {kept + 1}", "why": FURTHER}], "the small one after too"
    assert MAX_PIXELS < 3000 * 3000, "a figure above ~8 megapixels is refused from its header alone"


def test_invisible_format_characters_are_stripped_from_saved_text(tmp_path):
    hostile = "Test \u202eaccuracy\u202c: 9\u200b9.\u20669\u2069 %\ufeff\u00ad\U000e0041\n"
    every_format_character = "".join(
        chr(code) for code in range(sys.maxunicode + 1) if unicodedata.category(chr(code)) == "Cf"
    )
    kept = "é 😀 中文 עברית\tok"
    notebook = submitted([stream(hostile), stream(every_format_character + kept)])
    assert read_submitted_outputs(notebook, tmp_path).cells[0].text == "Test accuracy: 99.9 %\n" + kept


def test_a_notebook_saved_without_outputs_says_so(tmp_path):
    bare = read_submitted_outputs(make_notebook("import torch", "print(1)"), tmp_path)
    assert not bare.has_outputs and bare.cells == [] and bare.code_cells == 2
    assert bare.without_outputs_flag() == (
        "submitted without outputs: nothing the student ran can be shown beside the re-execution"
    )
    prose = read_submitted_outputs(make_notebook(markdown={0: "only words"}), tmp_path)
    assert prose.code_cells == 0 and prose.without_outputs_flag() is None


def test_hostile_shapes_of_a_notebook_are_read_without_raising(tmp_path):
    hostile = {
        "cells": [
            {"cell_type": "code", "execution_count": "7", "outputs": [42, {"output_type": "stream", "text": 5}]},
            {"cell_type": "code", "execution_count": True, "outputs": {"not": "a list"}},
            {"cell_type": "code", "outputs": [{"output_type": "display_data", "data": {"image/png": ["iVBOR", 3]}}]},
            "not a cell",
        ]
    }
    found = read_submitted_outputs(hostile, tmp_path)
    assert found.code_cells == 3 and found.cells == []
    assert [entry["why"] for entry in found.dropped] == ["not an output object", "image/png is not text"]
    assert read_submitted_outputs([], tmp_path).code_cells == 0


def test_submitted_accuracies_are_compared_with_the_run_in_the_sandbox(run_cells, tmp_path):
    """Saved outputs claim more than the re-execution prints, and a training cell is cut by its timeout:
    the reader keeps what was submitted, the run overwrites the notebook, and the comparison names both."""
    notebook = make_notebook(
        "print('Test accuracy: 97.9%')",
        "print('accuracy 0.981')",
        "import time\nprint('epoch 1', flush=True)\ntime.sleep(60)\nprint('Test accuracy: 98.6%')",
        "print('nothing to compare')",
        markdown={0: "# 1.1"},
    )
    saved = ["Test accuracy: 99.22%\n", "accuracy 0.983\n", "epoch 1\nepoch 2\nTest accuracy: 98.6%\n", "done\n"]
    for cell, text in zip(notebook.cells[1:], saved):
        cell.outputs = [stream(text)]
    before = read_submitted_outputs(notebook, tmp_path / "submitted-figures")
    result, executed, _ = run_cells(notebook=notebook, cell_timeout_s=8)
    assert [cell.status for cell in result.cells] == ["ok", "ok", "timeout", "ok"]
    assert before.cells[0].text == "Test accuracy: 99.22%", "read before the run"
    comparison = compare_with_submitted(before, executed, result.cells, {})
    again = {entry["cell"]: entry["text"] for entry in comparison.reexecuted}
    assert again[1] == "Test accuracy: 97.9%" and again[3].startswith("epoch 1")
    found = {entry.cell: entry for entry in comparison.disagreements}
    assert sorted(found) == [1, 3], "0.983 against 0.981 is within half a point"
    assert found[1].sentence() == (
        "cell 2 (In [1]): the submitted notebook printed 99.22 %; re-executed it printed 97.9 %"
    )
    assert found[3].reexecuted is None and found[3].within_budget
    assert found[3].sentence().endswith("re-executed within the budget it printed no accuracy")


def test_the_graders_own_measurement_joins_a_disagreement(tmp_path):
    notebook = submitted([stream("Test accuracy: 99.22%\n")])
    before = read_submitted_outputs(notebook, tmp_path)
    notebook.cells[1].outputs = [stream("Test accuracy: 97.9%\n")]
    model = FoundModel("net", "Net", {"parameters": 1000}, None, spec=MNIST_INPUT)
    memo = {"measured": [Measured(model, TO_TENSOR, 0.978)], "mnist_test": [1, 2]}
    records = [CellRecord(1, "timeout", duration_s=300, execution_count=9)]
    found = compare_with_submitted(before, notebook, records, memo).disagreements
    assert [entry.sentence() for entry in found] == [
        "cell 2 (In [9]): the submitted notebook printed 99.22 %; re-executed within the budget it printed "
        "97.9 %; the grader measured 97.8 % on net as the notebook left it"
    ]
    agreeing = compare_with_submitted(before, submitted([stream("Test accuracy: 99.3%\n")]), records, memo)
    assert agreeing.disagreements == []
    snapshot = FoundModel("net", "Net", {"parameters": 1000}, None, spec=MNIST_INPUT, as_of_cell=5)
    memo["measured@5"] = [Measured(snapshot, TO_TENSOR, 0.95), Measured(snapshot, TO_TENSOR, 0.981)]
    nearest = compare_with_submitted(before, notebook, records, memo).disagreements[0]
    assert (nearest.measured, nearest.measured_on) == (98.1, "net as cell 6 left it")
    notebook.cells[1].source = "print(f'Test accuracy: {evaluate(bn_net)}')"
    batch_norm = FoundModel("bn_net", "Net", {"parameters": 1000}, None, spec=MNIST_INPUT)
    both = {"measured": [Measured(model, TO_TENSOR, 0.99), Measured(batch_norm, TO_TENSOR, 0.96)]}
    named = compare_with_submitted(before, notebook, records, both).disagreements[0]
    assert (named.measured, named.measured_on) == (96.0, "bn_net as the notebook left it"), "the model it evaluates"
    assert compare_with_submitted(before, notebook, records, {"measured": []}).disagreements[0].measured is None
