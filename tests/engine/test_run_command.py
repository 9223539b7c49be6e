"""``xaigrader run``: the files a TA looks at, for good, old-format and broken notebooks."""

import json

import nbformat

from checks.cli import main
from tests.engine.conftest import make_notebook


def test_run_writes_executed_notebook_run_json_and_figures(tmp_path, data_root, capsys):
    notebook = make_notebook("import matplotlib.pyplot as plt\nplt.plot([3, 1])\nplt.title('loss')", "1/0")
    path = tmp_path / "student.ipynb"
    nbformat.write(notebook, path)
    out = tmp_path / "out"
    assert main(["run", str(path), "--out", str(out), "--data-dir", str(data_root), "--cell-timeout", "30"]) == 0
    run = json.loads((out / "run.json").read_text())
    assert run["sandbox"]["mode"] == "bubblewrap" and run["sandbox"]["network"] == "disabled"
    assert [(c["index"], c["status"], c["error_name"]) for c in run["cells"]] == [
        (0, "ok", None),
        (1, "error", "ZeroDivisionError"),
    ]
    assert run["figures"][0]["png"] == "figure-001.png" and (out / "figures" / "figure-001.png").is_file()
    assert json.loads((out / "figures" / "figure-001.json").read_text())["axes"][0]["title"] == "loss"
    executed = nbformat.read(out / "executed.ipynb", as_version=4)
    assert executed.cells[1].outputs[0]["ename"] == "ZeroDivisionError"
    assert "2 code cells (1 error, 1 ok)" in capsys.readouterr().out


def test_a_version_3_notebook_runs(tmp_path, data_root):
    v3 = {
        "nbformat": 3,
        "nbformat_minor": 0,
        "metadata": {},
        "worksheets": [
            {
                "metadata": {},
                "cells": [
                    {"cell_type": "code", "input": "print(40 + 2)", "language": "python", "outputs": [], "metadata": {}}
                ],
            }
        ],
    }
    path = tmp_path / "old.ipynb"
    path.write_text(json.dumps(v3))
    assert main(["run", str(path), "--out", str(tmp_path / "out"), "--data-dir", str(data_root)]) == 0
    executed = nbformat.read(tmp_path / "out" / "executed.ipynb", as_version=4)
    assert executed.cells[0].outputs[0]["text"] == "42\n"


def test_an_invalid_notebook_gets_a_run_json_that_says_why(tmp_path, capsys):
    path = tmp_path / "broken.ipynb"
    path.write_text('{"cells": [')
    assert main(["run", str(path), "--out", str(tmp_path / "out")]) == 1
    assert "not valid JSON" in json.loads((tmp_path / "out" / "run.json").read_text())["invalid"]
