"""Costs of the hardened exchange boundary: measuring a model on the grader's rebuilt copy
against measuring it through kernel calls, the decoder on a hostile reply, and the text
readers on hostile text.

Run: .venv/bin/python benchmarks/boundary.py [--data-dir ../shared/data]
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import time
from pathlib import Path

import nbformat
import torch

from checks.data.assets import DataDir
from checks.engine.kernel import KernelSession, RunConfig
from checks.engine.student import StudentProxy
from checks.finders.classifiers import SCALINGS, KernelClassifier, RebuiltClassifier, correct_fraction
from checks.finders.stated_numbers import integers, shapes
from checks.grading.written import count_sentences
from checks.probe.wire import Decoder, WireError
from reference.ee5179_pa2 import to_tensor_scale

NETWORK = """import torch, torch.nn as nn, torch.nn.functional as F
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, padding=1)
        self.conv2 = nn.Conv2d(32, 32, 3, padding=1)
        self.fc1 = nn.Linear(32 * 7 * 7, 500)
        self.fc2 = nn.Linear(500, 10)
    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        return self.fc2(F.relu(self.fc1(x.view(x.size(0), -1))))
torch.manual_seed(0)
model = Net().eval()"""


def timed(action) -> tuple[float, object]:
    started = time.perf_counter()
    value = action()
    return time.perf_counter() - started, value


async def measure_both(data_dir: Path) -> None:
    images, labels = DataDir(data_dir).mnist_arrays(train=False)
    images = to_tensor_scale(images)
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(NETWORK)]
    async with KernelSession(RunConfig(data_dir=data_dir)) as session:
        await session.run_notebook(notebook)
        student = StudentProxy(session, asyncio.get_running_loop())

        def through_kernel() -> float:
            return correct_fraction(KernelClassifier(student, "model", SCALINGS[0]), images, labels)

        def on_rebuilt_copy() -> float:
            rebuilt = student.export("model", (2, 1, 28, 28))
            return correct_fraction(RebuiltClassifier(student, rebuilt, SCALINGS[0]), images, labels)

        kernel_s, kernel_accuracy = await asyncio.to_thread(timed, through_kernel)
        rebuilt_s, rebuilt_accuracy = await asyncio.to_thread(timed, on_rebuilt_copy)
    print(
        f"accuracy of the EE5179 CNN on 10,000 test images: through kernel calls {kernel_s:.2f} s "
        f"({kernel_accuracy:.4f}); export + rebuild + grader forward {rebuilt_s:.2f} s ({rebuilt_accuracy:.4f})"
    )


def hostile_decoder() -> None:
    tensors = {"t0": torch.zeros(1 << 18)}
    reply = [{"$tensor": "t0", "dtype": "float32", "shape": [1 << 18]} for _ in range(1000)]
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    seconds, refused = timed(lambda: _refused(lambda: Decoder(tensors).decode(reply)))
    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    print(
        f"a reply naming one 1 MiB tensor 1,000 times: refused={refused} in {seconds * 1000:.1f} ms, "
        f"peak memory grew {grown / 1024:.1f} MiB"
    )


def _refused(action) -> bool:
    try:
        action()
    except WireError:
        return True
    return False


def hostile_text() -> None:
    for name, action in (
        ("400 KB of newlines, sentences", lambda: count_sentences("\n" * 400_000)),
        ("20,000 digits, integers", lambda: integers("7" * 20_000)),
        ("20,000 digits, shapes", lambda: shapes("7" * 20_000)),
    ):
        seconds, _ = timed(action)
        print(f"{name}: {seconds * 1000:.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", type=Path, default=Path("../shared/data"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    asyncio.run(measure_both(args.data_dir.resolve()))
    hostile_decoder()
    hostile_text()


if __name__ == "__main__":
    main()
