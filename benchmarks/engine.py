"""Engine costs: sandboxed execution against plain nbclient, sandbox start-up, quick extraction.

Run: .venv/bin/python benchmarks/engine.py [--data-dir ../shared/data] [--repeats 3]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from checks.engine.kernel import KernelSession, RunConfig
from checks.engine.notebook import extract_definitions
from checks.engine.sandbox import Sandbox

WORKLOAD = [
    "import torch, numpy as np, matplotlib.pyplot as plt\ntorch.manual_seed(0)",
    "net = torch.nn.Sequential(torch.nn.Conv2d(1, 16, 3), torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(16 * 26 * 26, 10))\n"
    "opt = torch.optim.Adam(net.parameters())\nx = torch.randn(64, 1, 28, 28); y = torch.randint(0, 10, (64,))\n"
    "losses = []\nfor _ in range(60):\n    opt.zero_grad(); loss = torch.nn.functional.cross_entropy(net(x), y)\n"
    "    loss.backward(); opt.step(); losses.append(loss.item())",
    "plt.plot(losses); plt.title('loss'); plt.xlabel('step'); plt.ylabel('loss'); plt.show()",
    "fig, axes = plt.subplots(1, 3)\nfor ax in axes:\n    ax.imshow(np.random.rand(28, 28), cmap='hot'); ax.set_title('map')\nplt.show()",
]

ASSIGNMENT_CELLS = [
    "!pip install torch torchvision matplotlib Pillow requests",
    "import torch\nimport torch.nn as nn\nimport torch.nn.functional as F\nimport torch.optim as optim\n"
    "import torchvision\nimport torchvision.models as models\nimport torchvision.transforms as transforms\n"
    "from PIL import Image\nimport requests\nfrom io import BytesIO\nimport numpy as np\nimport matplotlib.pyplot as plt",
    "model = models.mobilenet_v2(weights=models.MobileNet_V2_Weights.IMAGENET1K_V1)\nmodel.eval()",
    "url = 'https://example.org/cat.jpg'\nimg = Image.open(BytesIO(requests.get(url).content)).convert('RGB')\n"
    "plt.imshow(img); plt.title('input'); plt.axis('off'); plt.show()\nprint(img.size)",
    "MEAN = [0.485, 0.456, 0.406]\nSTD = [0.229, 0.224, 0.225]\n"
    "def preprocess(pil_img):\n    transform = transforms.Compose([transforms.Resize((224, 224)), transforms.ToTensor(),\n"
    "        transforms.Normalize(mean=MEAN, std=STD)])\n    x = transform(pil_img).unsqueeze(0)\n"
    "    x.requires_grad_(True)\n    return x",
    "def generate_saliency_map(model, x, target_class=None):\n    model.zero_grad()\n    logits = model(x)\n"
    "    if target_class is None:\n        target_class = int(logits.argmax(dim=1).item())\n"
    "    logits[0, target_class].backward()\n    saliency = x.grad.abs().squeeze(0).max(dim=0)[0]\n"
    "    return saliency.detach().numpy(), target_class",
    "def smooth_grad(model, pil_img, target_class=None, n_samples=20, noise_level=0.10):\n    maps = []\n"
    "    for _ in range(n_samples):\n        x = preprocess(pil_img).detach()\n"
    "        x_noisy = (x + noise_level * torch.randn_like(x)).requires_grad_(True)\n"
    "        s, tc = generate_saliency_map(model, x_noisy, target_class)\n        target_class = tc\n"
    "        maps.append(s)\n    return np.mean(maps, axis=0)",
    "class SmallCNN(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
    "        self.conv1 = nn.Conv2d(1, 16, 3, padding=1)\n        self.conv2 = nn.Conv2d(16, 32, 3, padding=1)\n"
    "        self.pool = nn.MaxPool2d(2, 2)\n        self.fc1 = nn.Linear(32 * 7 * 7, 128)\n        self.fc2 = nn.Linear(128, 10)\n"
    "    def forward(self, x):\n        x = self.pool(F.relu(self.conv1(x)))\n        x = self.pool(F.relu(self.conv2(x)))\n"
    "        x = x.view(x.size(0), -1)\n        x = F.relu(self.fc1(x))\n        return self.fc2(x)",
    "train_set = torchvision.datasets.MNIST(root='./data', train=True, download=True, transform=transforms.ToTensor())\n"
    "loader = torch.utils.data.DataLoader(train_set, batch_size=128, shuffle=True)\ncnn = SmallCNN()\n"
    "opt = optim.Adam(cnn.parameters(), lr=1e-3)\nfor epoch in range(5):\n    for xb, yb in loader:\n"
    "        opt.zero_grad(); loss = F.cross_entropy(cnn(xb), yb); loss.backward(); opt.step()",
    "def cf_loss(model, x_prime, x_orig, target_class, p_target=0.90, lam=0.10):\n    model.eval()\n"
    "    probs = F.softmax(model(x_prime), dim=1)\n    return (probs[0, target_class] - p_target) ** 2 + lam * (x_prime - x_orig).abs().sum()",
    "def find_counterfactual(model, x_orig, target_class, p_target=0.90, lam=0.10, lr=0.05, n_iter=500):\n"
    "    x_prime = x_orig.clone().detach().requires_grad_(True)\n    optimizer = optim.Adam([x_prime], lr=lr)\n"
    "    loss_hist = []\n    for _ in range(n_iter):\n        optimizer.zero_grad()\n"
    "        loss = cf_loss(model, x_prime, x_orig, target_class, p_target, lam)\n        loss.backward()\n"
    "        optimizer.step()\n        loss_hist.append(loss.item())\n    return x_prime.detach(), loss_hist",
] * 3


def notebook_of(sources: list[str]) -> nbformat.NotebookNode:
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in sources]
    return notebook


def plain_nbclient(notebook) -> float:
    started = time.perf_counter()
    NotebookClient(notebook, timeout=600, kernel_name="python3").execute()
    return time.perf_counter() - started


def sandboxed(notebook, config: RunConfig) -> float:
    async def go() -> float:
        started = time.perf_counter()
        async with KernelSession(config) as session:
            result = await session.run_notebook(notebook)
            assert all(cell.status == "ok" for cell in result.cells), result.cells
        return time.perf_counter() - started

    return asyncio.run(go())


def sandbox_launch(config: RunConfig) -> float:
    from checks.engine.sandbox import JobPaths

    sandbox = Sandbox(config.limits)
    with tempfile.TemporaryDirectory() as root:
        job = JobPaths.create(Path(root))
        command = sandbox.wrap(["/usr/bin/true"], job, config.data_dir, {}, None)
        started = time.perf_counter()
        subprocess.run(command, check=True)
        return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", default=str(Path(__file__).resolve().parents[1].parent / "shared" / "data"))
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    config = RunConfig(data_dir=Path(args.data_dir), cell_timeout_s=600)
    workload = notebook_of(WORKLOAD)

    launches = [sandbox_launch(config) for _ in range(10)]
    print(
        f"sandbox launch (bwrap + prlimit + setpriv, /usr/bin/true): median {statistics.median(launches) * 1000:.1f} ms"
    )
    empty = notebook_of(["pass"])
    plain_empty = statistics.median(plain_nbclient(empty) for _ in range(args.repeats))
    boxed_empty = statistics.median(sandboxed(empty, config) for _ in range(args.repeats))
    print(
        f"one-cell notebook: plain nbclient {plain_empty:.2f} s, xaigrader sandbox {boxed_empty:.2f} s "
        f"(kernel start-up + probe install overhead {boxed_empty - plain_empty:+.2f} s)"
    )
    plain = statistics.median(plain_nbclient(workload) for _ in range(args.repeats))
    boxed = statistics.median(sandboxed(workload, config) for _ in range(args.repeats))
    print(
        f"workload notebook (torch training steps + 2 figures): plain nbclient {plain:.2f} s, "
        f"xaigrader sandbox {boxed:.2f} s, ratio {boxed / plain:.2f}"
    )

    assignment = notebook_of(ASSIGNMENT_CELLS)
    timings = []
    for _ in range(20):
        started = time.perf_counter()
        extraction = extract_definitions(assignment)
        timings.append(time.perf_counter() - started)
    print(
        f"quick extraction of a {len(assignment.cells)}-cell CS411-style notebook: "
        f"median {statistics.median(timings) * 1000:.1f} ms, kept {len(extraction.cells)} cells"
    )


if __name__ == "__main__":
    main()
