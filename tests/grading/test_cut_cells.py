"""Checks held for a TA when the time budget cut the cell they rest on, on a notebook run for real in the
sandbox: a training loop that outlasts its cell timeout, leaving its results dictionary short, and the
tasks after it, one of which is independent of the training."""

from __future__ import annotations

import asyncio

import pytest

from checks.engine.kernel import CellRecord, KernelSession
from checks.grading.cut_cells import TRAINING, cut_cells, hold_cut_checks
from checks.grading.first_causes import attach_first_causes, error_groups
from checks.grading.results import CUT, FAILED, PARTIAL, PASSED
from tests.grading.test_first_causes import check, config, notebook_of

TRAINING_CUT = [
    ("markdown", "## 1.1 Training with several optimisers"),
    ("code", "import torch\nfrom torch import nn\ntorch.manual_seed(0)\nmodel = nn.Linear(4, 2)"),
    (
        "code",
        "results = {}\nfor name in ['SGD', 'Adam']:\n    results[name] = []\n    optimiser = torch.optim.SGD(model.parameters(), lr=0.01)\n"
        "    while True:  # epochs that outlast the budget\n"
        "        loss = model(torch.randn(64, 4)).pow(2).mean()\n"
        "        optimiser.zero_grad()\n        loss.backward()\n        optimiser.step()\n"
        "        results[name].append(float(loss))",
    ),
    ("markdown", "## 1.2 Compare the optimisers"),
    ("code", "print(results['Adam'][-1])"),
    ("markdown", "## 2.1 Something independent"),
    ("code", "answer = 41\nprint(answer)"),
    ("markdown", "## 2.2 A hang that is not training"),
    ("code", "import time\nwhile True:\n    time.sleep(0.5)"),
]
TASKS = {"1.1": [0, 1, 2], "1.2": [3, 4], "2.1": [5, 6], "2.2": [7, 8]}
RESTS_ON = {"accuracy": (TRAINING,), "curves": (TRAINING,)}


@pytest.fixture(scope="module")
def cut(data_root):
    """The cell records, the notebook and the kernel's events (which models changed in which cell)."""
    notebook = notebook_of(TRAINING_CUT)

    async def run():
        async with KernelSession(config(data_root, cell_timeout_s=6, notebook_timeout_s=120)) as session:
            return await session.run_notebook(notebook)

    result = asyncio.run(run())
    return result.cells, notebook, result.events


def test_a_cut_cell_records_the_time_it_was_given_and_whether_it_trained(cut):
    records, notebook, events = cut
    statuses = [(record.index, record.status) for record in records]
    assert statuses == [(1, "ok"), (2, "timeout"), (4, "error"), (6, "ok"), (8, "timeout")]
    assert records[2].error_name == "KeyError", "the dictionary the cut training was filling is short"
    assert {"kind": "weights_changed", "cell": 2, "model": "model"} in events
    cuts = cut_cells(records, events, notebook)
    assert sorted(cuts) == [2, 8]
    assert cuts[2].training and not cuts[8].training
    assert cuts[2].limit_s == 6 and 6 <= cuts[2].ran_s < 15
    assert cuts[2].describe().startswith("the training in cell 3 (In [2]) was cut at ")
    assert cuts[8].describe().startswith("cell 9 (In [5]) was cut at ")


def test_checks_that_rest_on_the_cut_training_are_held_and_independent_ones_keep_their_verdict(cut):
    records, notebook, events = cut
    checks = [
        check("accuracy", "1.1", 4, message="the model classifies 61.0% of the test images correctly, below 97%"),
        check("curves", "1.1", 2, PASSED, 2.0),
        check("comparison", "1.2", 3, message="no comparison of the optimisers was printed"),
        check("answer", "2.1", 2, message="the answer is 41, expected 42"),
        check("partial_answer", "2.1", 2, PARTIAL, 1.0),
        check("after_hang", "2.2", 1, message="no figure was drawn"),
    ]
    attach_first_causes(checks, records, notebook, TASKS, [])
    held = hold_cut_checks(checks, RESTS_ON, cut_cells(records, events, notebook), TASKS)
    by_name = {each.name: each for each in checks}
    assert [each.name for each in held] == ["accuracy", "comparison", "after_hang"]
    accuracy = by_name["accuracy"]
    assert accuracy.status == CUT and accuracy.score == 0 and accuracy.cut["cell"] == 2
    assert "the training in cell 3 (In [2]) was cut at" in accuracy.message
    assert "(failed: the model classifies 61.0%" in accuracy.message, "the verdict it would have given is kept"
    assert by_name["comparison"].first_cause["cell"] == 2, "the KeyError follows the cut that left results short"
    assert by_name["curves"].status == PASSED and by_name["curves"].score == 2, "a passed check keeps its marks"
    assert by_name["answer"].status == FAILED and by_name["partial_answer"].status == PARTIAL
    assert by_name["after_hang"].cut["training"] is False
    assert error_groups(checks, events) == [], "held checks cost nothing, so no error claims them"


def test_a_check_resting_on_training_is_not_held_for_a_cut_after_its_task(cut):
    records, notebook, events = cut
    early = check("accuracy", "1.0", 4, message="below 97%")
    attach_first_causes([early], records, notebook, {"1.0": [0, 1]}, [])
    assert early.first_cause is None
    assert hold_cut_checks([early], RESTS_ON, cut_cells(records, events, notebook), {"1.0": [0, 1]}) == []
    assert early.status == FAILED


def test_a_cut_cell_that_calls_the_notebooks_training_function_trained_a_model_it_made_itself():
    notebook = notebook_of(
        [
            ("code", "def train(model, epochs):\n    for _ in range(epochs):\n        loss.backward()\n"),
            ("code", "bn_model = Net(batch_norm=True)\nhistory = train(bn_model, 15)"),
            ("code", "import time\ntime.sleep(100)"),
            ("code", "!pip install x\n%%time"),
        ]
    )
    records = [CellRecord(0, "ok")] + [CellRecord(index, "timeout", 100.2, limit_s=100) for index in (1, 2, 3)]
    cuts = cut_cells(records, [], notebook)
    assert cuts[1].training and not cuts[2].training and not cuts[3].training
    assert cuts[1].describe() == "the training in cell 2 was cut at 100 s of the 100 s it was given"
