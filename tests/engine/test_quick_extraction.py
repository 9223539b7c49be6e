"""Quick mode: only imports, definitions and simple constants run, in cell order."""

import time

import nbformat

from checks.engine.notebook import extract_definitions
from tests.engine.conftest import cell_text, make_notebook
from tests.engine.deadline import within_seconds

STUDENT = make_notebook(
    "!pip install torch torchvision\nimport time\nimport torch\nimport torchvision.transforms as transforms\n"
    "MEAN = [0.485, 0.456, 0.406]\nSTD = (0.229, 0.224, 0.225)\ndevice = torch.device('cpu')\n"
    "transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize(MEAN, STD)])",
    "train_set = load_everything()\nscale = compute_scale(train_set)",
    "for epoch in range(600):\n    time.sleep(1)\nmodel = train(epochs=600)",
    "def normalise(x):\n    return (x - torch.tensor(MEAN)[:, None, None]) * scale\n"
    "class Net(torch.nn.Module):\n    def forward(self, x):\n        return x\n"
    "def helper(values, factor=2):\n    total = 0\n    for value in values:\n        total += value * factor\n    return total",
    "print(helper([1, 2, 3]))\n%timeit helper([1])",
    "def broken(:\n    pass",
)


def test_extraction_keeps_definitions_and_constants_only():
    extraction = extract_definitions(STUDENT)
    kept = "\n".join(source for _, source in extraction.cells)
    for expected in (
        "import torch",
        "MEAN = [",
        "device = torch.device('cpu')",
        "transform = transforms.Compose(",
        "def normalise",
        "class Net",
        "def helper",
    ):
        assert expected in kept
    for unwanted in ("pip", "sleep", "load_everything", "print(helper", "timeit", "train(epochs"):
        assert unwanted not in kept
    assert [index for index, _ in extraction.cells] == [0, 3]
    assert extraction.syntax_errors == ["cell 6, line 1: invalid syntax"]


def test_definitions_that_need_skipped_statements_are_reported():
    extraction = extract_definitions(STUDENT)
    assert extraction.unresolved == [
        "normalise (cell 4) uses scale, which is set by a skipped statement in cell 2: scale = compute_scale(train_set)"
    ]


def test_a_cell_of_thousands_of_definitions_is_cut_into_statements_once():
    """Once quadratic: ``ast.get_source_segment`` split the whole cell again for each of its statements."""
    definitions = "".join(f"def f{i}(): return 'é{i}'\n" for i in range(6000))
    one_line = ";".join(f"a{i} = {i}" for i in range(3000)) + "; run(a0)\r\n"
    decorated = "@torch.no_grad()\ndef g(x,\n      y='€'):\r\n    return x\nclass K: pass"
    with within_seconds(10, "statements are cut from their cell in quadratic time"):
        extraction = extract_definitions(make_notebook(definitions + one_line + decorated))
    kept = extraction.cells[0][1].split("\n")
    assert kept[:6000] == [f"def f{i}(): return 'é{i}'" for i in range(6000)]
    assert kept[6000:9000] == [f"a{i} = {i}" for i in range(3000)]
    assert kept[9000:] == ["def g(x,", "      y='€'):\r", "    return x", "class K: pass"], (
        "as ast.get_source_segment cuts them"
    )
    assert [(skipped.line, skipped.text) for skipped in extraction.skipped] == [(6001, "run(a0)")]


def test_the_extracted_program_runs_in_seconds(run_cells):
    extraction = extract_definitions(STUDENT)
    quick = extraction.as_notebook()
    quick.cells.append(nbformat.v4.new_code_cell("print(helper([1, 2, 3]), device, Net()(torch.ones(1)).item())"))
    started = time.monotonic()
    result, executed, _ = run_cells(notebook=quick)
    assert time.monotonic() - started < 60
    assert [cell.status for cell in result.cells] == ["ok", "ok", "ok"]
    assert cell_text(executed, 2).strip() == "12 cpu 1.0"
    assert quick.cells[1].metadata["source_cell"] == 3
