"""A model exported from a live sandboxed kernel and rebuilt by the grader gives the logits the
kernel computes; a forward the probe cannot describe arrives as ExportRefused with its reason."""

import asyncio

import pytest
import torch

from checks.engine.exported_model import ExportRefused
from checks.engine.student import StudentProxy
from tests.engine.conftest import make_notebook

NOTEBOOK = make_notebook(
    "import torch, torch.nn as nn, torch.nn.functional as F\n"
    "torch.manual_seed(0)\n"
    "class Net(nn.Module):\n"
    "    def __init__(self):\n"
    "        super().__init__()\n"
    "        self.conv = nn.Conv2d(1, 8, 3, padding=1)\n"
    "        self.bn = nn.BatchNorm2d(8)\n"
    "        self.fc = nn.Linear(8 * 14 * 14, 10)\n"
    "    def forward(self, x):\n"
    "        x = F.max_pool2d(F.relu(self.bn(self.conv(x))), 2)\n"
    "        return self.fc(x.view(x.size(0), -1))\n"
    "model = Net()\n"
    "optimiser = torch.optim.SGD(model.parameters(), lr=0.1)\n"
    "for step in range(5):\n"
    "    images = torch.randn(32, 1, 28, 28)\n"
    "    loss = F.cross_entropy(model(images), (images.mean((1, 2, 3)) > 0).long())\n"
    "    optimiser.zero_grad(); loss.backward(); optimiser.step()",
    "class Cheat(nn.Module):\n"
    "    def forward(self, x):\n"
    "        return F.one_hot(torch.tensor([int(image.sum()) % 10 for image in x]), 10).float()\n"
    "cheat = Cheat()",
)


def test_a_kernel_model_rebuilt_by_the_grader_gives_the_kernels_logits(live_session):
    images = torch.rand(4, 1, 28, 28, generator=torch.Generator().manual_seed(3))

    async def probe(session, result):
        student = StudentProxy(session, asyncio.get_running_loop(), timeout=60)

        def in_thread():
            rebuilt = student.export("model", (2, 1, 28, 28))
            still_training = student.evaluate("model.training")
            student.run("model.eval()")
            kernel_logits = student.call("model", images).result
            with pytest.raises(ExportRefused) as refusal:
                student.export("cheat", (2, 1, 28, 28))
            return rebuilt, still_training, kernel_logits, str(refusal.value)

        return result, await asyncio.to_thread(in_thread)

    result, (rebuilt, still_training, kernel_logits, refusal) = live_session(NOTEBOOK, probe)
    assert [cell.status for cell in result.cells] == ["ok", "ok"]
    assert still_training, "the export put the model back in training mode"
    with torch.no_grad():
        assert torch.allclose(rebuilt(images), kernel_logits, atol=1e-5)
    assert type(rebuilt).__name__ == "Net"
    assert "cannot be traced as a fixed graph" in refusal
