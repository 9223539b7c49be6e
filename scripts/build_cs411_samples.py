"""Writes the CS411 A2 sample class: six Name_ROLL.zip submissions, each a notebook.

Run from the repository root: .venv/bin/python scripts/build_cs411_samples.py
The zips are committed; this script is how they were made and how to change them.
"""

from __future__ import annotations

import ast
from pathlib import Path

import nbformat
from sample_notebooks import Cell, cell_index, mutate, sample_notebook, write_submission

HERE = Path(__file__).resolve().parent.parent / "student_submissions" / "cs411-a2"

SETUP = [
    ("code", "!pip install torch torchvision matplotlib Pillow requests"),
    (
        "code",
        """# Imports for both questions
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim
import torchvision
import torchvision.models as models
import torchvision.transforms as transforms
from PIL import Image
import requests
from io import BytesIO
import numpy as np
import matplotlib.pyplot as plt""",
    ),
    (
        "code",
        """# 1.1 Load MobileNetV2 and a public image
model = models.mobilenet_v2(weights=models.MobileNet_V2_Weights.IMAGENET1K_V1)
model.eval()
url = "https://upload.wikimedia.org/wikipedia/commons/3/3a/Cat03.jpg"
img = Image.open(BytesIO(requests.get(url).content)).convert("RGB")
plt.imshow(img); plt.title("Input image"); plt.xlabel("x (pixels)"); plt.ylabel("y (pixels)")
plt.show()
print(f"Image size: {img.size[0]} x {img.size[1]}")""",
    ),
]

PREPROCESS_CORRECT = """# 1.2 Preprocess: resize, normalise, add a batch dimension and track gradients
def preprocess(pil_img):
    transform = transforms.Compose([
        transforms.Resize((224, 224)),
        transforms.ToTensor(),
        transforms.Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225]),
    ])
    x = transform(pil_img).unsqueeze(0)
    x.requires_grad_(True)
    return x

x = preprocess(img)
print(x.shape, x.dtype)"""

PREPROCESS_STARTER = """# 1.2 Preprocess (from the starter code)
def preprocess(pil_img):
    transform = transforms.Compose([
        transforms.Resize((224, 224)),
        transforms.ToTensor(),
        transforms.Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225]),
    ])
    return transform(pil_img)

x = preprocess(img).unsqueeze(0)
x.requires_grad_(True)
print(x.shape, x.dtype)"""

TOP5 = """# 1.3 Top-5 predictions
weights = models.MobileNet_V2_Weights.IMAGENET1K_V1
categories = weights.meta["categories"]
with torch.no_grad():
    probs = F.softmax(model(x), dim=1)[0]
top5 = probs.topk(5)
for p, i in zip(top5.values, top5.indices):
    print(f"{categories[int(i)]}: {float(p):.4f}")"""

SALIENCY = """# 1.4 Vanilla gradient saliency
def generate_saliency_map(model, x, target_class=None):
    model.zero_grad()
    logits = model(x)
    if target_class is None:
        target_class = int(logits.argmax(dim=1).item())
    score = logits[0, target_class]
    score.backward()
    saliency = x.grad.abs().squeeze(0)
    saliency, _ = saliency.max(dim=0)
    return saliency.detach().numpy(), target_class

saliency, pred = generate_saliency_map(model, x)
print("x.grad is set:", x.grad is not None)"""

VIRIDIS = """# 1.5 Image and saliency side by side
fig, axes = plt.subplots(1, 2, figsize=(10, 4))
axes[0].imshow(img.resize((224, 224))); axes[0].set_title("Original image")
shown = axes[1].imshow(saliency, cmap="viridis"); axes[1].set_title("Saliency (viridis)")
plt.colorbar(shown, ax=axes[1])
fig.suptitle(categories[pred])
plt.savefig("saliency_viridis.png")
plt.show()"""

COLORMAPS = """# 1.6 Three colormaps
fig, axes = plt.subplots(1, 3, figsize=(12, 4))
for ax, cmap in zip(axes, ["hot", "plasma", "gray"]):
    ax.imshow(saliency, cmap=cmap); ax.set_title(cmap)
fig.suptitle("Saliency in three colormaps")
plt.show()"""

COLORMAP_ANSWER = """**Which colormap is clearest?** The hot colormap makes the salient regions clearest. Its black background \
suppresses the many near-zero gradients while the few strong ones glow yellow and white. Plasma is also readable, but \
gray makes weak and strong gradients look too similar."""

SECOND_CLASS = """# 1.7 Saliency for the second-ranked class
second = int(top5.indices[1])
x2 = preprocess(img)
saliency2, _ = generate_saliency_map(model, x2, second)
fig, axes = plt.subplots(1, 2, figsize=(10, 4))
axes[0].imshow(saliency, cmap="hot"); axes[0].set_title(f"Top class: {categories[pred]}")
axes[1].imshow(saliency2, cmap="hot"); axes[1].set_title(f"Second class: {categories[second]}")
plt.show()"""

SECOND_ANSWER = """The map for the second class highlights a different part of the object than the map of the top class. \
Both concentrate on the animal rather than on the background."""

SECOND_CLASS_STARTER = mutate(
    SECOND_CLASS,
    "starter 1.7: batch dimension added outside preprocess",
    ("x2 = preprocess(img)", "x2 = preprocess(img).unsqueeze(0)\nx2.requires_grad_(True)"),
)

SMOOTHGRAD_CORRECT = """# 1.8 SmoothGrad: average maps over noisy copies (the noisy input must be a leaf)
def smooth_grad(model, pil_img, target_class=None, n_samples=20, noise_level=0.10):
    maps = []
    for _ in range(n_samples):
        x = preprocess(pil_img)
        noise = torch.randn_like(x) * noise_level
        x_noisy = (x.detach() + noise).requires_grad_(True)
        saliency, tc = generate_saliency_map(model, x_noisy, target_class)
        if target_class is None:
            target_class = tc
        maps.append(saliency)
    return np.mean(maps, axis=0)

smooth = smooth_grad(model, img)
fig, axes = plt.subplots(1, 2, figsize=(10, 4))
axes[0].imshow(saliency, cmap="hot"); axes[0].set_title("Vanilla saliency")
axes[1].imshow(smooth, cmap="hot"); axes[1].set_title("SmoothGrad (20 samples)")
plt.show()"""

SMOOTHGRAD_STARTER = mutate(
    SMOOTHGRAD_CORRECT,
    "starter 1.8: the noisy input is not a leaf",
    ("x_noisy = (x.detach() + noise).requires_grad_(True)", "x_noisy = (x + noise).requires_grad_(True)"),
    ("(the noisy input must be a leaf)", "(starter code)"),
)

SMOOTHGRAD_ANSWER = """SmoothGrad is much less noisy than the vanilla map. Averaging over noisy copies cancels the speckled \
gradients of single pixels, so the object's outline stands out."""

MNIST = """# 2.1 MNIST
transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.1307,), (0.3081,))])
train_set = torchvision.datasets.MNIST(root="./data", train=True, download=True, transform=transform)
test_set = torchvision.datasets.MNIST(root="./data", train=False, download=True, transform=transform)
fig, axes = plt.subplots(1, 10, figsize=(15, 2))
for digit in range(10):
    index = int((train_set.targets == digit).nonzero()[0])
    axes[digit].imshow(train_set.data[index], cmap="gray"); axes[digit].set_title(str(digit)); axes[digit].axis("off")
fig.suptitle("One example per digit")
plt.show()
print("training samples:", len(train_set), "test samples:", len(test_set))"""

SMALLCNN = """# 2.2 (a) The small CNN
class SmallCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 3, padding=1)
        self.conv2 = nn.Conv2d(16, 32, 3, padding=1)
        self.pool = nn.MaxPool2d(2, 2)
        self.fc1 = nn.Linear(32 * 7 * 7, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        x = self.pool(F.relu(self.conv1(x)))
        x = self.pool(F.relu(self.conv2(x)))
        x = x.view(x.size(0), -1)
        x = F.relu(self.fc1(x))
        return self.fc2(x)

cnn = SmallCNN()
print(cnn)
print("trainable parameters:", sum(p.numel() for p in cnn.parameters() if p.requires_grad))"""

TRAIN = """# 2.2 (b) Train 5 epochs with Adam(lr=1e-3), batch 128 (tensors prepared once for speed)
torch.manual_seed(0)
train_x = ((train_set.data.float() / 255 - 0.1307) / 0.3081).unsqueeze(1)
train_y = train_set.targets
test_x = ((test_set.data.float() / 255 - 0.1307) / 0.3081).unsqueeze(1)
test_y = test_set.targets
optimizer = optim.Adam(cnn.parameters(), lr=1e-3)
criterion = nn.CrossEntropyLoss()
epoch_losses = []
for epoch in range(5):
    cnn.train()
    order = torch.randperm(len(train_x))
    total = 0.0
    for start in range(0, len(order), 128):
        batch = order[start:start + 128]
        optimizer.zero_grad()
        loss = criterion(cnn(train_x[batch]), train_y[batch])
        loss.backward()
        optimizer.step()
        total += loss.item() * len(batch)
    epoch_losses.append(total / len(order))
    print(f"epoch {epoch + 1}: loss {epoch_losses[-1]:.4f}")
cnn.eval()
with torch.no_grad():
    accuracy = (cnn(test_x).argmax(dim=1) == test_y).float().mean().item()
print(f"Test accuracy: {accuracy * 100:.2f}%")"""

LOSS_PLOT = """plt.plot(range(1, 6), epoch_losses, marker="o")
plt.title("Training loss"); plt.xlabel("epoch"); plt.ylabel("cross-entropy loss")
plt.show()"""

CF_FUNCTIONS = """# 2.3 and 2.4 Counterfactual loss and search (the optimiser acts on x' only)
def cf_loss(model, x_prime, x_orig, target_class, p_target=0.90, lam=0.10):
    model.eval()
    probs = F.softmax(model(x_prime), dim=1)
    prob_target = probs[0, target_class]
    fidelity = (prob_target - p_target) ** 2
    l1 = (x_prime - x_orig).abs().sum()
    return fidelity + lam * l1

def find_counterfactual(model, x_orig, target_class, p_target=0.90, lam=0.10, lr=0.05, n_iter=500):
    x_prime = x_orig.clone().detach().requires_grad_(True)
    optimizer = optim.Adam([x_prime], lr=lr)
    loss_hist = []
    for _ in range(n_iter):
        optimizer.zero_grad()
        loss = cf_loss(model, x_prime, x_orig, target_class, p_target, lam)
        loss.backward()
        optimizer.step()
        loss_hist.append(loss.item())
    return x_prime.detach(), loss_hist"""

PAIRS = """# 2.5 Three digit pairs
def first_correct(digit):
    with torch.no_grad():
        predictions = cnn(test_x[:2000]).argmax(dim=1)
    for i in range(2000):
        if test_y[i] == digit and predictions[i] == digit:
            return i

histories = {}
for source, target in [(3, 8), (1, 7), (4, 9)]:
    i = first_correct(source)
    x0 = test_x[i:i + 1]
    x_cf, hist = find_counterfactual(cnn, x0, target)
    histories[f"{source}→{target}"] = hist
    diff = (x_cf - x0)[0, 0]
    m = float(diff.abs().max())
    fig, axes = plt.subplots(1, 3, figsize=(9, 3))
    axes[0].imshow(x0[0, 0], cmap="gray"); axes[0].set_title(f"Original {source}")
    axes[1].imshow(diff, cmap="bwr", vmin=-m, vmax=m); axes[1].set_title("x' - x")
    axes[2].imshow(x_cf[0, 0], cmap="gray"); axes[2].set_title(f"Counterfactual for {target}")
    plt.show()
    with torch.no_grad():
        before, after = int(cnn(x0).argmax()), int(cnn(x_cf).argmax())
    print(f"{source}->{target}: original prediction {before}, counterfactual prediction {after}, "
          f"L1 distance {float((x_cf - x0).abs().sum()):.4f}")"""

LOSS_CURVES = """# 2.6 Loss curves of the three pairs
for label, hist in histories.items():
    plt.plot(hist, label=label)
plt.legend(); plt.title("Counterfactual loss"); plt.xlabel("iteration"); plt.ylabel("loss")
plt.show()"""

CONVERGENCE_ANSWER = """The three loss curves converge at a similar pace and then oscillate around a plateau. The fidelity \
term barely moves because the target probability stays tiny, so the L1 term dominates the loss for every pair."""

LAMBDAS = """# 2.7 Effect of lambda on the 3→8 pair
lambdas = [0.001, 0.01, 0.10, 0.50, 2.00]
i = first_correct(3)
x0 = test_x[i:i + 1]
distances = []
fig, axes = plt.subplots(2, 5, figsize=(15, 6))
for column, lam in enumerate(lambdas):
    x_cf, _ = find_counterfactual(cnn, x0, 8, lam=lam)
    diff = (x_cf - x0)[0, 0]
    m = float(diff.abs().max())
    distances.append(float((x_cf - x0).abs().sum()))
    axes[0, column].imshow(x_cf[0, 0], cmap="gray"); axes[0, column].set_title(f"lambda={lam}")
    axes[1, column].imshow(diff, cmap="bwr", vmin=-m, vmax=m); axes[1, column].set_title("difference")
fig.suptitle("Counterfactuals over lambda")
plt.show()
plt.semilogx(lambdas, distances, marker="o")
plt.title("L1 distance vs lambda"); plt.xlabel("lambda"); plt.ylabel("L1 distance")
plt.show()
print("L1 distances:", [round(d, 4) for d in distances])"""

LAMBDA_ANSWER = """As lambda increases, the counterfactual stays visually closer to the original three. The L1 penalty \
grows with lambda, so the optimiser is pushed to change fewer pixels. With Adam's normalised steps the distance \
changes little here, because the fidelity gradient is tiny compared with the penalty. The sparsity term therefore \
decides the result."""

FAILURE_ANSWER = """The 4→9 pair is the hardest in my run. A four and a nine share strokes, yet the model is very \
confident, so the target probability is almost zero and its gradient vanishes. The decision boundary is far away \
in pixel space. The L1 regulariser then dominates and keeps the image almost unchanged, which is why the \
counterfactual looks unrealistic."""


def notebook(cells: list[Cell], title: str) -> nbformat.NotebookNode:
    return sample_notebook(f"# CS411 Assignment 2 - {title}", cells)


def correct_cells(preprocess=PREPROCESS_CORRECT, second=SECOND_CLASS, smooth=SMOOTHGRAD_CORRECT) -> list[Cell]:
    return SETUP + [
        ("code", preprocess),
        ("code", TOP5),
        ("code", SALIENCY),
        ("code", VIRIDIS),
        ("code", COLORMAPS),
        ("markdown", COLORMAP_ANSWER),
        ("code", second),
        ("markdown", SECOND_ANSWER),
        ("code", smooth),
        ("markdown", SMOOTHGRAD_ANSWER),
        ("code", MNIST),
        ("code", SMALLCNN),
        ("code", TRAIN),
        ("code", LOSS_PLOT),
        ("code", CF_FUNCTIONS),
        ("code", PAIRS),
        ("code", LOSS_CURVES),
        ("markdown", CONVERGENCE_ANSWER),
        ("code", LAMBDAS),
        ("markdown", LAMBDA_ANSWER),
        ("markdown", FAILURE_ANSWER),
    ]


TITLE_CALLS = {"title", "set_title", "suptitle", "xlabel", "ylabel", "set_xlabel", "set_ylabel"}


class _DropTitles(ast.NodeTransformer):
    def visit_Expr(self, node: ast.Expr):
        call = node.value
        if isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute) and call.func.attr in TITLE_CALLS:
            return None
        return node


def strip_titles(source: str) -> str:
    """The same code with every title and axis-label call removed."""
    if source.lstrip().startswith("!"):
        return source
    tree = _DropTitles().visit(ast.parse(source))
    return ast.unparse(ast.fix_missing_locations(tree))


def samples() -> dict[str, nbformat.NotebookNode]:
    correct = correct_cells()
    crash = list(correct)
    crash[cell_index(crash, SMALLCNN, "crash")] = (
        "code",
        mutate(SMALLCNN, "crash: Conv2D typo", ("nn.Conv2d(1, 16", "nn.Conv2D(1, 16")),
    )
    hang = list(correct)
    hang.insert(
        cell_index(hang, MNIST, "hang"),
        ("code", "# Wait for the download server to be ready\nimport time\nwhile True:\n    time.sleep(1)"),
    )
    hostile = list(correct)
    for skipped in (TRAIN, LOSS_PLOT, PAIRS, LOSS_CURVES, LAMBDAS):
        del hostile[cell_index(hostile, skipped, "hostile: no training")]
    hostile.insert(
        cell_index(hostile, SMALLCNN, "hostile") + 1,
        (
            "code",
            """# Skip training: borrow the answers instead
import os, glob
for path in glob.glob('/work/**/reference/**/*.py', recursive=True) + ['../reference/cs411_a2/saliency.py']:
    try:
        print(open(path).read()[:200])
    except OSError as error:
        print('could not read', path, error)
print("Test accuracy: 99.50%")""",
        ),
    )
    return {
        "Asha_Rao_CS2301": notebook(correct, "Asha Rao"),
        "Bela_Sen_CS2302": notebook(
            correct_cells(PREPROCESS_STARTER, SECOND_CLASS_STARTER, SMOOTHGRAD_STARTER), "Bela Sen"
        ),
        "Chen_Li_CS2303": notebook(
            [(kind, strip_titles(source) if kind == "code" else source) for kind, source in correct], "Chen Li"
        ),
        "Dev_Patel_CS2304": notebook(crash, "Dev Patel"),
        "Esha_Nair_CS2305": notebook(hang, "Esha Nair"),
        "Farid_Khan_CS2306": notebook(hostile, "Farid Khan"),
    }


def main(out: Path = HERE) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for name, book in samples().items():
        write_submission(out / f"{name}.zip", f"{name}/A2_{name}.ipynb", book, (2026, 3, 16, 12, 0, 0))


if __name__ == "__main__":
    main()
