"""First causes: lost marks traced back to the notebook error they follow from, on notebooks run for real
in the sandbox (a Conv2D typo whose NameErrors spread over later tasks, and a notebook that runs past its
deadline) and judged by hand-made check results."""

from __future__ import annotations

import asyncio
from pathlib import Path

import nbformat
import pytest

from checks.engine.kernel import CellRecord, KernelSession, RunConfig
from checks.engine.sandbox import GiB, SandboxLimits
from checks.grading.first_causes import (
    ErrorGroup,
    attach_first_causes,
    cell_label,
    error_groups,
    load_known_causes,
    root_cells,
)
from checks.grading.results import FAILED, NEEDS_TA, PARTIAL, PASSED, CheckResult
from checks.grading.scheme import AssignmentError, load_assignment

CONV2D_TYPO = "AttributeError: module 'torch.nn' has no attribute 'Conv2D'"
CHAIN = [
    ("markdown", "# CS411 A2 - Test Student"),
    ("code", "!pip install torch\nimport torch\nimport torch.nn as nn"),
    ("markdown", "## 2.2 The small CNN"),
    (
        "code",
        "class SmallCNN(nn.Module):\n    layer = nn.Conv2D  # the typo: the class statement itself fails\n\n"
        "    def forward(self, x):\n        return x\n\n\ndef build_model():\n    return SmallCNN()",
    ),
    ("code", "# 2.2 (b) Train\nmodel = SmallCNN()\nlosses = [0.5, 0.25]"),
    ("markdown", "## 2.5 Three digit pairs"),
    ("code", "histories = {}\nfor digit in (3, 1, 4):\n    histories[digit] = model(torch.zeros(1, 1, 28, 28))"),
    ("code", "# 2.6 Loss curves\nfor name, history in histories.items():\n    print(name, history)"),
    ("markdown", "## 1.1 A genuine answer"),
    ("code", "answer = 41\nprint(answer)"),
    ("markdown", "## 1.2 An error of its own"),
    ("code", "print(undefined_thing)"),
]
TIMEOUT = [
    ("code", "x = 1"),
    ("markdown", "## 2.7 Effect of lambda"),
    ("code", "while True:\n    pass"),
    ("code", "print(x)"),
    ("markdown", "## 2.8 Failure analysis"),
    ("code", "y = 2"),
]
CHAIN_TASKS = {"2.2": [2, 3, 4], "2.5": [5, 6], "2.6": [7], "1.1": [8, 9], "1.2": [10, 11]}
"""The cells under each task, as the caller derives them from the headings and leading comments."""
TIMEOUT_TASKS = {"2.7": [1, 2, 3], "2.8": [4, 5]}
CS411_FOLDER = load_assignment("cs411-a2").folder


def notebook_of(cells: list[tuple[str, str]]) -> nbformat.NotebookNode:
    notebook = nbformat.v4.new_notebook()
    make = {"code": nbformat.v4.new_code_cell, "markdown": nbformat.v4.new_markdown_cell}
    notebook.cells = [make[kind](source) for kind, source in cells]
    return notebook


def execute(cells: list[tuple[str, str]], config: RunConfig) -> tuple[list[CellRecord], nbformat.NotebookNode]:
    """The notebook run in the sandbox: its cell records and the executed notebook."""
    notebook = notebook_of(cells)

    async def run():
        async with KernelSession(config) as session:
            return await session.run_notebook(notebook)

    return asyncio.run(run()).cells, notebook


def config(data_root: Path, **timeouts: float) -> RunConfig:
    return RunConfig(
        data_dir=data_root, interrupt_grace_s=3, limits=SandboxLimits(memory_bytes=6 * GiB, processes=128), **timeouts
    )


@pytest.fixture(scope="module")
def chain(data_root):
    return execute(CHAIN, config(data_root, cell_timeout_s=120, notebook_timeout_s=300))


@pytest.fixture(scope="module")
def stopped(data_root):
    """The loop runs into the notebook's deadline, so the cells after it are skipped."""
    return execute(TIMEOUT, config(data_root, cell_timeout_s=120, notebook_timeout_s=30, overtime_s=0))


def check(name: str, task: str, max_score: float, status: str = FAILED, score: float = 0.0, **fields) -> CheckResult:
    return CheckResult(name, task, name.replace("_", " "), max_score, score, status, **fields)


def test_cell_records_carry_jupyters_count_and_the_plain_traceback(chain):
    records, _ = chain
    assert [(record.index, record.status) for record in records] == [
        (1, "ok"),
        (3, "error"),
        (4, "error"),
        (6, "error"),
        (7, "ok"),
        (9, "ok"),
        (11, "error"),
    ]
    assert [record.execution_count for record in records] == [1, 2, 3, 4, 5, 6, 7]
    typo = records[1]
    assert typo.traceback[-1] == CONV2D_TYPO and 1 < len(typo.traceback) <= 8
    assert not any("\x1b" in line for line in typo.traceback) and any("nn.Conv2D" in line for line in typo.traceback)
    assert records[0].traceback == [] and records[4].traceback == []


def test_labels_count_every_cell_from_one_and_name_jupyters_count():
    assert cell_label(15, 12) == "cell 16 (In [12])"
    assert cell_label(3, None) == "cell 4"


def test_task_cells_as_the_caller_builds_them_from_headings_and_leading_comments(chain):
    from checks.grading.figure_placement import task_cells

    _, notebook = chain
    assert task_cells(notebook, ["1.1", "1.2", "2.2", "2.4", "2.5", "2.6"]) == CHAIN_TASKS


def test_name_errors_follow_the_cell_that_failed_to_bind_the_name(chain):
    records, notebook = chain
    # 4 misses SmallCNN (cell 3 failed), 6 misses model (cell 4 failed, itself after 3); 11's name is bound nowhere.
    assert root_cells(records, notebook) == {3: 3, 4: 3, 6: 3, 11: 11}


def test_the_conv2d_typo_is_the_first_cause_of_every_later_task_it_costs(chain):
    records, notebook = chain
    checks = [
        check("trained_accuracy", "2.2", 2, message="no trained MNIST classifier is left in the notebook's namespace"),
        check("pair_distances", "2.5", 3),
        check("pair_loss_curves", "2.6", 2),
        check("loss_labels", "2.6", 2, PARTIAL, 1.0, cause="label both axes"),
        check(
            "build_model",
            "2.4",
            4,
            message="calling build_model raised RequestError: the notebook defines no 'build_model'",
        ),
        check("own_error", "1.2", 1),
    ]
    events = [
        {"kind": "weights_changed", "cell": 3, "model": "cnn", "values": 10},
        {"kind": "weights_changed", "cell": "call:find_counterfactual", "model": "cnn", "values": 10},
        {"kind": "shim", "cell": 11, "shim": "pip", "command": "pip install x"},
    ]
    attach_first_causes(checks, records, notebook, CHAIN_TASKS, load_known_causes(CS411_FOLDER))
    groups = error_groups(checks, events)
    first = checks[0].first_cause
    assert first is not None
    assert (first["cell"], first["label"], first["error"], first["task"]) == (3, "cell 4 (In [2])", CONV2D_TYPO, "2.2")
    assert first["traceback"][-1] == CONV2D_TYPO and "nn.Conv2d" in first["hint"]
    assert all(each.first_cause == first for each in checks[1:5])
    assert checks[0].cause == first["hint"] and checks[3].cause == "label both axes"
    assert checks[5].first_cause["error"] == "NameError: name 'undefined_thing' is not defined"
    assert checks[5].first_cause["hint"] is None and checks[5].first_cause["label"] == "cell 12 (In [7])"
    assert groups == [
        ErrorGroup(
            3,
            "cell 4 (In [2])",
            CONV2D_TYPO,
            first["traceback"],
            first["hint"],
            ["trained_accuracy", "pair_distances", "pair_loss_curves", "loss_labels", "build_model"],
            ["2.2", "2.4", "2.5", "2.6"],
            12.0,
            ["cnn"],
        ),
    ]
    # own_error's task raised in its own cells, but the check found a wrong value, not nothing: maybe, not surely.
    assert checks[5].first_cause["certain"] is False and first["certain"] is True


def test_a_wrong_answer_with_no_earlier_error_has_no_first_cause(chain):
    records, notebook = chain
    checks = [
        check("answer", "1.1", 2, message="the answer is 41, expected 42"),
        check("helper", "1.1", 1, message="calling helper raised RequestError: the notebook defines no 'helper'"),
        check("architecture", "2.2", 1, PASSED, 1.0),
        check("written", "2.5", 2, NEEDS_TA),
    ]
    attach_first_causes(checks, records, notebook, CHAIN_TASKS, [])
    groups = error_groups(checks)
    assert groups == [] and [each.first_cause for each in checks] == [None] * 4
    assert [each.cause for each in checks] == [None] * 4


def test_cells_skipped_after_the_notebook_timeout_follow_the_cell_that_timed_out(stopped):
    records, notebook = stopped
    assert [(record.index, record.status) for record in records] == [
        (0, "ok"),
        (2, "timeout"),
        (3, "not_run"),
        (5, "not_run"),
    ]
    assert [record.execution_count for record in records] == [1, 2, None, None]
    assert root_cells(records, notebook) == {2: 2, 3: 2, 5: 2}
    hung = records[1]
    assert hung.traceback[-1].startswith("KeyboardInterrupt"), "the interrupt shows the line the cut stopped at"
    analysis = check("failure_analysis", "2.8", 5)
    attach_first_causes([analysis], records, notebook, TIMEOUT_TASKS, load_known_causes(CS411_FOLDER))
    cause = analysis.first_cause
    assert cause["cell"] == 2 and cause["label"] == "cell 3 (In [2])" and cause["task"] == "2.7"
    assert cause["error"].startswith("CellTimeoutError: cell still running") and "time limit" in cause["hint"]


def test_every_known_cause_of_both_assignments_loads_and_matches_its_own_kind_of_error():
    for assignment in ("cs411-a2", "ee5179-pa2"):
        causes = load_known_causes(load_assignment(assignment).folder)
        assert len(causes) >= 10
        assert any(cause.matches(CONV2D_TYPO) for cause in causes)
        assert not any(cause.matches("ValueError: the answer is 41") for cause in causes)
    ee5179 = load_known_causes(load_assignment("ee5179-pa2").folder)
    gpu = "RuntimeError: Found no NVIDIA driver on your system"
    assert "torch.cuda.is_available()" in next(cause.hint for cause in ee5179 if cause.matches(gpu))


def test_a_malformed_causes_file_is_refused_and_a_missing_one_is_empty(tmp_path):
    assert load_known_causes(tmp_path) == []
    (tmp_path / "causes.toml").write_text('[[cause]]\npattern = "unclosed ("\nhint = "h"\n')
    with pytest.raises(AssignmentError, match="not a regular expression"):
        load_known_causes(tmp_path)
    (tmp_path / "causes.toml").write_text('[[cause]]\npattern = "x"\n')
    with pytest.raises(AssignmentError, match="needs a pattern and a hint"):
        load_known_causes(tmp_path)


def test_student_text_matched_against_a_cause_is_cut_to_its_first_2000_characters():
    cause = load_known_causes(CS411_FOLDER)[0]
    assert cause.matches(CONV2D_TYPO)
    assert not cause.matches(" " * 2000 + CONV2D_TYPO)


def test_a_name_bound_before_the_line_that_raised_is_not_blamed():
    """``import torch`` ran before the GPU call raised on the grader's CPU: a later wrong answer that reads
    torch has nothing to do with that error."""
    notebook = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_code_cell("import torch\nprint(torch.cuda.get_device_name(0))"),
            nbformat.v4.new_markdown_cell("## 2.2 Train"),
            nbformat.v4.new_code_cell("model = torch.nn.Linear(2, 2)\naccuracy = 0.1"),
        ]
    )
    records = [
        CellRecord(0, "error", 0.1, "RuntimeError", "Found no NVIDIA driver", 1, ["RuntimeError: no driver"], 2),
        CellRecord(2, "ok", 0.1, execution_count=2),
    ]
    wrong = check("trained_accuracy", "2.2", 4, message="model classifies 9.80% of the test images correctly")
    attach_first_causes([wrong], records, notebook, {"2.2": [1, 2]}, [])
    assert error_groups([wrong]) == []
    assert wrong.first_cause is None


def test_shell_and_magic_lines_are_read_in_one_pass(deadline):
    source = "files = !ls\n%matplotlib inline\n" * 50_000 + "model = build()\n"
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source[:190_000] + "\nmodel = build()")])
    records = [CellRecord(0, "error", 0.1, "NameError", "name 'build' is not defined", 1, [], None)]
    assert root_cells(records, notebook) == {0: 0}


def test_a_forged_line_or_a_name_error_in_other_words_changes_no_blame():
    notebook = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_code_cell("model = build()\nx = 1"),
            nbformat.v4.new_code_cell("raise Exception(\"name 'model' is not defined\")"),
        ]
    )
    records = [
        CellRecord(0, "error", 0.1, "NameError", "name 'build' is not defined", 1, [], 1),
        CellRecord(1, "error", 0.1, "Exception", "name 'model' is not defined", 2, [], None),
    ]
    assert root_cells(records, notebook) == {0: 0, 1: 1}, "only a NameError follows the name back"
