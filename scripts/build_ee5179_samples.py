"""Writes the EE5179 PA2 sample class: six PA2_ROLL-style submissions, each a notebook in a zip.

Run from the repository root: .venv/bin/python scripts/build_ee5179_samples.py
The zips are committed; this script is how they were made and how to change them.
Each student trains for one epoch so the class grades in minutes on a laptop CPU.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from sample_notebooks import Cell, mutate, rewrite_every, sample_notebook, write_submission

HERE = Path(__file__).resolve().parent.parent / "student_submissions" / "ee5179-pa2"

IMPORTS = """import time
import numpy as np
import matplotlib.pyplot as plt
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision
import torchvision.transforms as transforms
from torch.utils.data import DataLoader, random_split

torch.manual_seed(0)
device = torch.device("cuda" if torch.cuda.is_available() else "cpu")"""

DATA = """# Data: 50,000 train / 10,000 validation / 10,000 test
transform = transforms.ToTensor()
full_train = torchvision.datasets.MNIST(root="./data", train=True, download=True, transform=transform)
test_set = torchvision.datasets.MNIST(root="./data", train=False, download=True, transform=transform)
train_set, val_set = random_split(full_train, [50000, 10000], generator=torch.Generator().manual_seed(0))
train_loader = DataLoader(train_set, batch_size=64, shuffle=True)
val_loader = DataLoader(val_set, batch_size=1000)
test_loader = DataLoader(test_set, batch_size=1000)
print("train", len(train_set), "validation", len(val_set), "test", len(test_set))"""

DATA_TEST_AS_VALIDATION = """# Data: MNIST train and test (the test set doubles as validation)
transform = transforms.ToTensor()
train_set = torchvision.datasets.MNIST(root="./data", train=True, download=True, transform=transform)
test_set = torchvision.datasets.MNIST(root="./data", train=False, download=True, transform=transform)
val_set = test_set
train_loader = DataLoader(train_set, batch_size=64, shuffle=True)
val_loader = DataLoader(val_set, batch_size=1000)
test_loader = DataLoader(test_set, batch_size=1000)
print("train", len(train_set), "validation", len(val_set), "test", len(test_set))"""

NETWORK = """# 1. The network: conv-pool-conv-pool-fc500-fc10-softmax, ReLU
class Net(nn.Module):
    def __init__(self, batch_norm=False):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, kernel_size=3, stride=1, padding=1)
        self.conv2 = nn.Conv2d(32, 32, kernel_size=3, stride=1, padding=1)
        self.pool = nn.MaxPool2d(2, 2)
        self.fc1 = nn.Linear(32 * 7 * 7, 500)
        self.fc2 = nn.Linear(500, 10)
        self.bn1 = nn.BatchNorm2d(32) if batch_norm else nn.Identity()
        self.bn2 = nn.BatchNorm2d(32) if batch_norm else nn.Identity()
        self.bn3 = nn.BatchNorm1d(500) if batch_norm else nn.Identity()

    def forward(self, x):
        x = self.pool(F.relu(self.bn1(self.conv1(x))))
        x = self.pool(F.relu(self.bn2(self.conv2(x))))
        x = F.relu(self.bn3(self.fc1(x.flatten(1))))
        logits = self.fc2(x)
        return logits, F.softmax(logits, dim=1)

model = Net().to(device)
print(model)"""

NETWORK_WRONG = mutate(
    NETWORK,
    "wrong architecture: 64 conv1 filters, one pooling",
    (
        "# 1. The network: conv-pool-conv-pool-fc500-fc10-softmax, ReLU",
        "# 1. The network (wider first layer; one pooling is enough)",
    ),
    ("nn.Conv2d(1, 32, kernel_size=3", "nn.Conv2d(1, 64, kernel_size=3"),
    ("nn.Conv2d(32, 32, kernel_size=3", "nn.Conv2d(64, 32, kernel_size=3"),
    (
        "nn.BatchNorm2d(32) if batch_norm else nn.Identity()\n        self.bn2",
        "nn.BatchNorm2d(64) if batch_norm else nn.Identity()\n        self.bn2",
    ),
    ("nn.Linear(32 * 7 * 7, 500)", "nn.Linear(32 * 14 * 14, 500)"),
    ("x = self.pool(F.relu(self.bn2(self.conv2(x))))", "x = F.relu(self.bn2(self.conv2(x)))"),
)

TRAINING = """# Training, recording the training error, validation error and accuracy every 200 iterations
def evaluate(model, loader):
    model.eval()
    correct, total = 0, 0
    with torch.no_grad():
        for images, labels in loader:
            logits, _ = model(images.to(device))
            correct += (logits.argmax(1) == labels.to(device)).sum().item()
            total += len(labels)
    return correct / total

def train(model, epochs=1, every=200):
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-3)
    history = {"iteration": [], "train_error": [], "val_error": [], "val_accuracy": []}
    step, wrong, seen = 0, 0, 0
    started = time.time()
    for epoch in range(epochs):
        for images, labels in train_loader:
            model.train()
            images, labels = images.to(device), labels.to(device)
            logits, _ = model(images)
            loss = F.cross_entropy(logits, labels)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            wrong += (logits.argmax(1) != labels).sum().item()
            seen += len(labels)
            step += 1
            if step % every == 0:
                accuracy = evaluate(model, val_loader)
                history["iteration"].append(step)
                history["train_error"].append(wrong / seen)
                history["val_error"].append(1 - accuracy)
                history["val_accuracy"].append(100 * accuracy)
                wrong, seen = 0, 0
    return history, time.time() - started

history, seconds = train(model)
print(f"trained in {seconds:.1f} s")"""

CURVES = """# 1.1 Training error, validation error and prediction accuracy as training progresses
fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
left.plot(history["iteration"], history["train_error"], label="training error")
left.plot(history["iteration"], history["val_error"], label="validation error")
left.set_xlabel("iteration")
left.set_ylabel("error rate")
left.set_title("Training and validation error")
left.legend()
right.plot(history["iteration"], history["val_accuracy"], color="green")
right.set_xlabel("iteration")
right.set_ylabel("accuracy (%)")
right.set_title("Prediction accuracy on the validation set")
plt.show()

test_accuracy = 100 * evaluate(model, test_loader)
print(f"Average prediction accuracy on the 10000 test images: {test_accuracy:.2f}%")"""

RANDOM_IMAGES = """# 1.2 Random test images with their true and predicted labels
picks = np.random.RandomState(7).choice(len(test_set), 8, replace=False)
fig, axes = plt.subplots(2, 4, figsize=(8, 4.5))
model.eval()
for ax, index in zip(axes.flat, picks):
    image, label = test_set[index]
    with torch.no_grad():
        predicted = model(image.unsqueeze(0).to(device))[0].argmax(1).item()
    ax.imshow(image[0], cmap="gray")
    ax.set_title(f"true {label}, predicted {predicted}", fontsize=9)
    ax.axis("off")
plt.tight_layout()
plt.show()"""

DIMENSIONS = """# 1.3 Input and output dimensions of each layer (one image, batch dimension left out)
def layer_dimensions(model):
    x = torch.zeros(1, 1, 28, 28).to(device)
    steps = [("conv1", lambda t: F.relu(model.bn1(model.conv1(t)))), ("pool1", model.pool),
             ("conv2", lambda t: F.relu(model.bn2(model.conv2(t)))), ("pool2", model.pool),
             ("fc1", lambda t: F.relu(model.bn3(model.fc1(t.flatten(1))))), ("fc2", model.fc2),
             ("softmax", lambda t: F.softmax(t, dim=1))]
    model.eval()
    with torch.no_grad():
        for name, step in steps:
            y = step(x)
            print(f"{name:8s} input {tuple(x.shape[1:])} -> output {tuple(y.shape[1:])}")
            x = y

layer_dimensions(model)"""

DIMENSIONS_WRONG = mutate(
    DIMENSIONS,
    "wrong architecture: no second pooling in the dimensions",
    (
        '("conv2", lambda t: F.relu(model.bn2(model.conv2(t)))), ("pool2", model.pool),',
        '("conv2", lambda t: F.relu(model.bn2(model.conv2(t)))),',
    ),
)

PARAMETERS = """# 1.4 Parameters in the convolutional and fully connected layers
conv_parameters = sum(p.numel() for m in model.modules() if isinstance(m, nn.Conv2d) for p in m.parameters())
fc_parameters = sum(p.numel() for m in model.modules() if isinstance(m, nn.Linear) for p in m.parameters())
print(f"convolutional layers: {conv_parameters} parameters")
print(f"fully connected layers: {fc_parameters} parameters")
print(f"total: {conv_parameters + fc_parameters} parameters")"""

NEURONS = """### 1.5 Neurons

Counting one neuron per output value of each convolutional and fully connected layer:

- convolutional layers: conv1 32 x 28 x 28 = 25,088 and conv2 32 x 14 x 14 = 6,272, so 31,360 neurons
- fully connected layers: fc1 500 and fc2 10, so 510 neurons
- total: 31,870 neurons"""

NEURONS_WRONG = """### 1.5 Neurons

One neuron per output value: conv1 64 x 28 x 28 = 50,176 and conv2 32 x 14 x 14 = 6,272, so 56,448 in the
convolutional layers; fc1 500 + fc2 10 = 510 in the fully connected layers; 56,958 in total."""

BATCH_NORM = """# 1.6 The same network with batch normalisation after each convolution and after fc1
bn_model = Net(batch_norm=True).to(device)
bn_history, bn_seconds = train(bn_model)
bn_accuracy = 100 * evaluate(bn_model, test_loader)
print(f"with batch norm: test accuracy {bn_accuracy:.2f}% in {bn_seconds:.1f} s")
print(f"without batch norm: test accuracy {test_accuracy:.2f}% in {seconds:.1f} s")"""

BATCH_NORM_ANSWER = """**Does batch normalisation improve the test accuracy? Does it affect training time?**

With batch normalisation the validation error falls faster in the first few hundred iterations and the test
accuracy after one epoch is about the same or slightly higher. Each iteration takes a little longer because of
the extra normalisation layers, so the training time per epoch goes up by roughly 10-20%."""

FILTERS = """# 2.1 The 32 conv1 filters
weights = model.conv1.weight.detach().cpu()
fig, axes = plt.subplots(4, 8, figsize=(8, 4.5))
for i, ax in enumerate(axes.flat):
    ax.imshow(weights[i, 0], cmap="gray")
    ax.set_title(str(i), fontsize=7)
    ax.axis("off")
fig.suptitle("conv1 filters (3 x 3)")
plt.show()"""

FILTERS_ANSWER = """**Do you observe interesting patterns?** Several conv1 filters are oriented edge detectors (a bright
row or column next to a dark one), others respond to blobs or diagonal strokes, like the pen strokes of digits."""

HIGHER_FILTERS = """# 2.2 Filters of a higher layer: conv2, first input channel of each of the 32 filters
weights2 = model.conv2.weight.detach().cpu()
fig, axes = plt.subplots(4, 8, figsize=(8, 4.5))
for i, ax in enumerate(axes.flat):
    ax.imshow(weights2[i, 0], cmap="gray")
    ax.axis("off")
fig.suptitle("conv2 filters (channel 0)")
plt.show()"""

HIGHER_FILTERS_ANSWER = """**Compare with conv1.** The conv2 filters look less like clean edges: they combine the conv1 feature
maps, so each 3 x 3 slice is harder to interpret on its own and the patterns are noisier."""

ACTIVATIONS = """# 2.3 Activations of the convolutional layers for one test image
image, label = test_set[0]
model.eval()
with torch.no_grad():
    a1 = F.relu(model.conv1(image.unsqueeze(0).to(device)))
    a2 = F.relu(model.conv2(model.pool(a1)))
for name, maps in (("conv1", a1), ("conv2", a2)):
    fig, axes = plt.subplots(4, 8, figsize=(8, 4.5))
    for i, ax in enumerate(axes.flat):
        ax.imshow(maps[0, i].cpu(), cmap="viridis")
        ax.axis("off")
    fig.suptitle(f"{name} activations for a test digit {label}")
    plt.show()"""

ACTIVATIONS_ANSWER = """**What do you observe as you go deeper?** conv1 activations still look like the digit with
different edges highlighted; conv2 activations are smaller and more abstract, keeping only parts of the strokes."""

OCCLUSION = """# 2.4 Occlusion: probability of the true class as a grey 4 x 4 patch slides with stride 2
def occlusion_map(model, image, label, patch=4, stride=2):
    cells = (28 - patch) // stride + 1
    heat = np.zeros((cells, cells))
    model.eval()
    for r in range(cells):
        for c in range(cells):
            occluded = image.clone()
            occluded[:, r * stride:r * stride + patch, c * stride:c * stride + patch] = 0.5
            with torch.no_grad():
                heat[r, c] = model(occluded.unsqueeze(0).to(device))[1][0, label].item()
    return heat

image, label = test_set[3]
heat = occlusion_map(model, image, label)
fig, (left, right) = plt.subplots(1, 2, figsize=(8, 4))
left.imshow(image[0], cmap="gray")
left.set_title(f"test digit {label}")
shown = right.imshow(heat, cmap="hot", vmin=0, vmax=1)
right.set_title(f"occlusion: P(class {label}) by patch position")
right.set_xlabel("patch x")
right.set_ylabel("patch y")
fig.colorbar(shown, ax=right)
plt.show()"""

OCCLUSION_ANSWER = """**Is the learning meaningful?** The probability only drops when the patch covers the strokes of the
digit; occluding the background changes nothing. The network looks at the digit itself, so the learning is
meaningful."""

NON_TARGETED = """# 3.1 Non-targeted attack: gradient ascent on logits[target] from Gaussian noise around 128
best = model if test_accuracy >= bn_accuracy else bn_model
best.eval()
for p in best.parameters():
    p.requires_grad_(False)

def generate(target, target_image=None, beta=0.01, steps=200, step_size=1000.0, seed=0):
    generator = torch.Generator().manual_seed(seed)
    X = (128 + 32 * torch.randn(1, 1, 28, 28, generator=generator)).to(device)
    costs = []
    for _ in range(steps):
        X.requires_grad_(True)
        logits, _ = best(X / 255)
        cost = logits[0, target]
        if target_image is not None:
            cost = cost - beta * F.mse_loss(X, target_image)
        cost.backward()
        costs.append(cost.item())
        X = (X + step_size * X.grad).detach()
    return X, costs

generated, cost_curves = [], []
for target in range(10):
    X, costs = generate(target, seed=target)
    generated.append(X)
    cost_curves.append(costs)

fig, axes = plt.subplots(2, 5, figsize=(10, 4.5))
for target, ax in enumerate(axes.flat):
    with torch.no_grad():
        probabilities = best(generated[target] / 255)[1][0]
    ax.imshow(generated[target][0, 0].cpu(), cmap="gray")
    ax.set_title(f"target {target}: p={probabilities[target]:.2f}", fontsize=9)
    ax.axis("off")
fig.suptitle("Non-targeted attack")
plt.show()

for target, costs in enumerate(cost_curves):
    plt.plot(costs, label=str(target))
plt.xlabel("iteration")
plt.ylabel("cost = logit of the target class")
plt.title("Cost during the non-targeted attack")
plt.legend(title="target", ncol=2)
plt.show()"""

NON_TARGETED_ANSWER = """**Is the network always predicting the target class with high confidence?** Yes, every generated image
is classified as its target with probability close to 1.

**Do the generated images look like a number?** No, they look like noise. The cost only asks for a high logit,
and the network responds to many patterns that are not digits, since nothing keeps the image on the manifold of
handwritten digits.

**Plot the cost function. Is it increasing or decreasing?** It increases: gradient ascent raises the target logit."""

TARGETED = """# 3.2 Targeted attack: look like a 2, be classified as each class
source_index = (test_set.targets == 2).nonzero()[0].item()
target_image = (test_set[source_index][0] * 255).unsqueeze(0).to(device)
fooled = [generate(target, target_image=target_image, beta=0.003, steps=400, seed=10 + target)[0] for target in range(10)]

fig, axes = plt.subplots(2, 5, figsize=(10, 4.5))
for target, ax in enumerate(axes.flat):
    with torch.no_grad():
        predicted = best(fooled[target] / 255)[0].argmax(1).item()
    ax.imshow(fooled[target][0, 0].cpu(), cmap="gray")
    ax.set_title(f"target {target}, predicted {predicted}", fontsize=9)
    ax.axis("off")
fig.suptitle("Targeted attack on an image of a 2")
plt.show()"""

TARGETED_ANSWER = """**Does the generated image resemble a digit?** Yes: every image still resembles the 2 it started
from, with faint noise, yet the network classifies each as its target class."""

COLAB_MOUNT = """from google.colab import drive
drive.mount('/content/drive')"""

COLAB_NAME = """roll_number = input("Enter your roll number: ")
print("PA2 of", roll_number)"""

COLAB_SAVE = """# keep the best model on Drive
torch.save(model.state_dict(), "/content/drive/MyDrive/pa2_mnist_cnn.pt")"""

COLAB_LOAD = """# reload the saved model for question 3
model = Net().cuda()
model.load_state_dict(torch.load("/content/drive/MyDrive/pa2_mnist_cnn.pt"))"""


def notebook(cells: list[Cell], title: str) -> nbformat.NotebookNode:
    return sample_notebook(f"# EE5179 PA2 - {title}", cells)


def part_one(
    network: str = NETWORK, data: str = DATA, dimensions: str = DIMENSIONS, neurons: str = NEURONS
) -> list[Cell]:
    return [
        ("code", IMPORTS),
        ("code", data),
        ("code", network),
        ("code", TRAINING),
        ("code", CURVES),
        ("code", RANDOM_IMAGES),
        ("code", dimensions),
        ("code", PARAMETERS),
        ("markdown", neurons),
    ]


BATCH_NORM_PART = [("code", BATCH_NORM), ("markdown", BATCH_NORM_ANSWER)]
PART_TWO = [
    ("code", FILTERS),
    ("markdown", FILTERS_ANSWER),
    ("code", HIGHER_FILTERS),
    ("markdown", HIGHER_FILTERS_ANSWER),
    ("code", ACTIVATIONS),
    ("markdown", ACTIVATIONS_ANSWER),
    ("code", OCCLUSION),
    ("markdown", OCCLUSION_ANSWER),
]
PART_THREE = [
    ("code", NON_TARGETED),
    ("markdown", NON_TARGETED_ANSWER),
    ("code", TARGETED),
    ("markdown", TARGETED_ANSWER),
]


def colab_cells() -> list[Cell]:
    """The correct notebook as a Colab user writes it: a hard-coded GPU and data on the Colab disk."""
    cells = [("code", "!pip install -q torch torchvision matplotlib"), ("code", COLAB_MOUNT), ("code", COLAB_NAME)]
    cells += part_one() + BATCH_NORM_PART + [("code", COLAB_SAVE), ("code", COLAB_LOAD)] + PART_TWO + PART_THREE
    return rewrite_every(
        cells,
        "Colab habits",
        ('torch.device("cuda" if torch.cuda.is_available() else "cpu")', 'torch.device("cuda")'),
        ('root="./data"', 'root="/content/data"'),
        (".to(device)", ".cuda()"),
    )


def out_of_order(book: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Execution counts as a notebook saved after re-running cells in another order has them."""
    code = [cell for cell in book.cells if cell.cell_type == "code"]
    for number, cell in enumerate(code, start=1):
        cell.execution_count = number
    code[3].execution_count, code[4].execution_count = code[4].execution_count, code[3].execution_count
    return book


def samples() -> dict[str, nbformat.NotebookNode]:
    no_batch_norm_attack = mutate(
        NON_TARGETED,
        "no batch norm: attack the plain model",
        ("best = model if test_accuracy >= bn_accuracy else bn_model", "best = model"),
    )
    return {
        "Arun_Kumar_EE21B001": notebook(part_one() + BATCH_NORM_PART + PART_TWO + PART_THREE, "Arun Kumar"),
        "Bhavna_Iyer_EE21B002": notebook(
            part_one(NETWORK_WRONG, dimensions=DIMENSIONS_WRONG, neurons=NEURONS_WRONG)
            + BATCH_NORM_PART
            + PART_TWO
            + PART_THREE,
            "Bhavna Iyer",
        ),
        "Chitra_Menon_EE21B003": notebook(
            part_one(data=DATA_TEST_AS_VALIDATION) + BATCH_NORM_PART + PART_TWO + PART_THREE, "Chitra Menon"
        ),
        "Deepak_Rao_EE21B004": notebook(
            part_one() + PART_TWO + [("code", no_batch_norm_attack)] + PART_THREE[1:], "Deepak Rao"
        ),
        "Esther_Paul_EE21B005": notebook(part_one() + BATCH_NORM_PART + PART_TWO, "Esther Paul"),
        "Faisal_Ahmed_EE21B006": out_of_order(notebook(colab_cells(), "Faisal Ahmed")),
    }


def main(out: Path = HERE) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for name, book in samples().items():
        roll = name.rsplit("_", 1)[1]
        write_submission(out / f"{name}.zip", f"{name}/PA2_{roll}.ipynb", book, (2025, 10, 3, 12, 0, 0))


if __name__ == "__main__":
    main()
