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
RESTS_ON = {"accuracy": (TRAINING,), "curves": (TRAINING,), "bn_accuracy": (TRAINING,)}


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
    assert cuts[2].describe() == "the training in cell 3 (In [2]) was cut when the 6 s it was given ran out"
    assert cuts[8].describe() == "cell 9 (In [5]) was cut when the 6 s it was given ran out"
    assert cuts[2].holds and not cuts[8].holds, "a sleep that trains nothing and claims nothing holds nothing"


def test_checks_that_rest_on_the_cut_training_are_held_and_independent_ones_keep_their_verdict(cut):
    records, notebook, events = cut
    checks = [
        check("accuracy", "1.1", 4, message="the model classifies 61.0% of the test images correctly, below 97%"),
        check("curves", "1.1", 2, PASSED, 2.0),
        check("comparison", "1.2", 3, message="no comparison of the optimisers was printed"),
        check("answer", "2.1", 2, message="the answer is 41, expected 42"),
        check("partial_answer", "2.1", 2, PARTIAL, 1.0),
        check("after_hang", "2.2", 1, message="no figure was drawn"),
        check("bn_accuracy", "1.6", 2, message="there is no batch-norm network to measure"),
    ]
    attach_first_causes(checks, records, notebook, TASKS, [])
    held = hold_cut_checks(checks, RESTS_ON, cut_cells(records, events, notebook), TASKS)
    by_name = {each.name: each for each in checks}
    assert [each.name for each in held] == ["accuracy", "comparison"]
    accuracy = by_name["accuracy"]
    assert accuracy.status == CUT and accuracy.score == 0 and accuracy.cut["cell"] == 2
    assert "the training in cell 3 (In [2]) was cut when" in accuracy.message
    assert "the notebook was saved without an output of it; grading again with a larger --cell-timeout" in (
        accuracy.message
    )
    assert "(failed: the model classifies 61.0%" in accuracy.message, "the verdict it would have given is kept"
    assert by_name["comparison"].first_cause["cell"] == 2, "the KeyError follows the cut that left results short"
    assert by_name["curves"].status == PASSED and by_name["curves"].score == 2, "a passed check keeps its marks"
    assert by_name["answer"].status == FAILED and by_name["partial_answer"].status == PARTIAL
    assert by_name["after_hang"].status == FAILED, "a hang that trains nothing fails as before"
    assert by_name["bn_accuracy"].status == FAILED, "a task the notebook never attempted is not the cut's doing"
    groups = error_groups(checks, events)
    assert [(group.cell, group.checks) for group in groups] == [(8, ["after_hang"])], "held checks cost nothing"


def test_a_cut_that_trained_nothing_holds_only_when_the_notebook_was_saved_with_its_output(cut):
    records, notebook, events = cut
    attack = check("attack_hits", "2.2", 3, message="no figure of targeted images")
    attach_first_causes([attack], records, notebook, TASKS, [])
    assert hold_cut_checks([attack], RESTS_ON, cut_cells(records, events, notebook, claimed={8}), TASKS) == [attack]
    assert attack.cut["claimed"] and not attack.cut["training"]
    assert "the notebook's saved output of it is the student's own, unverified claim" in attack.message


def test_a_check_resting_on_training_is_not_held_for_a_cut_after_its_task(cut):
    records, notebook, events = cut
    early = check("accuracy", "1.0", 4, message="below 97%")
    attach_first_causes([early], records, notebook, {"1.0": [0, 1]}, [])
    assert early.first_cause is None
    assert hold_cut_checks([early], RESTS_ON, cut_cells(records, events, notebook), {"1.0": [0, 1]}) == []
    assert early.status == FAILED
    unmarked = hold_cut_checks([early], RESTS_ON, cut_cells(records, events, notebook), {})
    assert unmarked == [early], "in a notebook that marks no task's cells, any training cut may explain it"


def test_a_cut_cell_that_calls_the_notebooks_training_function_trained_a_model_it_made_itself():
    notebook = notebook_of(
        [
            (
                "code",
                "def train(model, epochs):\n    optimiser = torch.optim.Adam(model.parameters())\n"
                "    for _ in range(epochs):\n        loss(model).backward()\n        optimiser.step()\n",
            ),
            ("code", "bn_model = Net(batch_norm=True)\nhistory = train(bn_model, 15)"),
            ("code", "import time\ntime.sleep(100)"),
            ("code", "!pip install x\n%%time"),
            ("code", "while model(x)[0, 3] < 1:\n    x = x + x.grad  # an attack ascends the input's gradient"),
            ("code", "while True:\n    pass  # optimiser = SGD(model.parameters()); optimiser.step()"),
            ("code", "'''model.parameters(); opt.step()'''\nwhile True:\n    pass"),
        ]
    )
    records = [CellRecord(0, "ok")] + [CellRecord(index, "timeout", 100.2, limit_s=100) for index in range(1, 7)]
    cuts = cut_cells(records, [], notebook)
    assert cuts[1].training and not any(cuts[index].training for index in range(2, 7)), "comments do not train"
    assert cuts[1].describe() == "the training in cell 2 was cut when the 100 s it was given ran out"
