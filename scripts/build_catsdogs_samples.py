"""Writes the cats-vs-dogs XAI sample class: six Name_ROLL.zip submissions, each a notebook.

Run from the repository root: .venv/bin/python scripts/build_catsdogs_samples.py
The zips are committed; this script is how they were made and how to change them.
Each student trains a small CNN on 64 x 64 images for a few epochs, so a notebook runs in about a minute
on a laptop CPU; the flawed students differ from the correct one in a single planted defect.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from sample_notebooks import Cell, cell_index, mutate, sample_notebook, write_submission

HERE = Path(__file__).resolve().parent.parent / "student_submissions" / "catsdogs-xai"

IMPORTS = """import numpy as np
import matplotlib.pyplot as plt
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision.transforms as T
from torch.utils.data import DataLoader
from datasets import load_dataset
from sklearn.metrics import confusion_matrix, classification_report, ConfusionMatrixDisplay
from torchinfo import summary
from captum.attr import LayerGradCam, LayerAttribution, Occlusion

torch.manual_seed(0)
device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
print("device:", device)"""

DATA = """# Data: 70% train, 15% validation, 15% test, images resized to 64 x 64 with pixels in [0, 1]
ds = load_dataset("microsoft/cats_vs_dogs")["train"]
first = ds.train_test_split(test_size=0.3, seed=0)
rest = first["test"].train_test_split(test_size=0.5, seed=0)
train_ds, val_ds, test_ds = first["train"], rest["train"], rest["test"]

IMG_SIZE = 64
CLASSES = ["cat", "dog"]
transform = T.Compose([T.Resize((IMG_SIZE, IMG_SIZE)), T.ToTensor()])

def with_transform(batch):
    return {
        "pixel_values": [transform(image.convert("RGB")) for image in batch["image"]],
        "labels": batch["labels"],
    }

def collate(examples):
    images = torch.stack([example["pixel_values"] for example in examples])
    labels = torch.tensor([example["labels"] for example in examples])
    return images, labels

train_ds = train_ds.with_transform(with_transform)
val_ds = val_ds.with_transform(with_transform)
test_ds = test_ds.with_transform(with_transform)
train_loader = DataLoader(train_ds, batch_size=32, shuffle=True, collate_fn=collate)
val_loader = DataLoader(val_ds, batch_size=32, collate_fn=collate)
test_loader = DataLoader(test_ds, batch_size=32, collate_fn=collate)
print("train", len(train_ds), "validation", len(val_ds), "test", len(test_ds))"""

MODEL = """# Three conv blocks (conv 3x3, ReLU, 2x2 max pool), then two fully connected layers
class CatDogCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, kernel_size=3, padding=1)
        self.conv2 = nn.Conv2d(16, 32, kernel_size=3, padding=1)
        self.conv3 = nn.Conv2d(32, 64, kernel_size=3, padding=1)
        self.fc1 = nn.Linear(64 * 8 * 8, 128)
        self.dropout = nn.Dropout(0.3)
        self.fc2 = nn.Linear(128, 2)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = F.max_pool2d(F.relu(self.conv3(x)), 2)
        x = torch.flatten(x, 1)
        x = self.dropout(F.relu(self.fc1(x)))
        return self.fc2(x)

model = CatDogCNN().to(device)"""

SUMMARY = """# Model summary
print(summary(model, input_size=(1, 3, IMG_SIZE, IMG_SIZE)))"""

TRAINING = """# Training: Adam, cross-entropy, 5 epochs
optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
criterion = nn.CrossEntropyLoss()
EPOCHS = 5
train_loss, val_loss, train_acc, val_acc = [], [], [], []

def run_epoch(loader, train):
    model.train(train)
    total_loss, correct, seen = 0.0, 0, 0
    with torch.set_grad_enabled(train):
        for images, labels in loader:
            images, labels = images.to(device), labels.to(device)
            outputs = model(images)
            loss = criterion(outputs, labels)
            if train:
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
            total_loss += loss.item() * len(labels)
            correct += (outputs.argmax(1) == labels).sum().item()
            seen += len(labels)
    return total_loss / seen, correct / seen

for epoch in range(EPOCHS):
    loss, acc = run_epoch(train_loader, train=True)
    v_loss, v_acc = run_epoch(val_loader, train=False)
    train_loss.append(loss)
    train_acc.append(acc)
    val_loss.append(v_loss)
    val_acc.append(v_acc)
    print(f"Epoch {epoch + 1}/{EPOCHS}: train loss {loss:.4f}, train acc {acc:.4f}, "
          f"val loss {v_loss:.4f}, val acc {v_acc:.4f}")"""

CURVES = """# Train vs validation loss and accuracy
epochs = range(1, EPOCHS + 1)
fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(11, 4))
ax_loss.plot(epochs, train_loss, label="train loss")
ax_loss.plot(epochs, val_loss, label="val loss")
ax_loss.set_xlabel("Epoch")
ax_loss.set_ylabel("Loss")
ax_loss.set_title("Train vs validation loss")
ax_loss.legend()
ax_acc.plot(epochs, train_acc, label="train accuracy")
ax_acc.plot(epochs, val_acc, label="val accuracy")
ax_acc.set_xlabel("Epoch")
ax_acc.set_ylabel("Accuracy")
ax_acc.set_title("Train vs validation accuracy")
ax_acc.legend()
plt.tight_layout()
plt.show()"""

EVALUATION = """# Test set: accuracy, confusion matrix and classification report
model.eval()
y_true, y_pred = [], []
with torch.no_grad():
    for images, labels in test_loader:
        outputs = model(images.to(device))
        y_pred.extend(outputs.argmax(1).cpu().tolist())
        y_true.extend(labels.tolist())
accuracy = np.mean(np.array(y_true) == np.array(y_pred))
print(f"Test accuracy: {accuracy:.4f}")

cm = confusion_matrix(y_true, y_pred)
print(cm)
ConfusionMatrixDisplay(cm, display_labels=["cat", "dog"]).plot()
plt.title("Confusion matrix on the test set")
plt.show()

print(classification_report(y_true, y_pred, target_names=["cat", "dog"], digits=4))"""

GRADCAM = """# Grad-CAM of the predicted class at each conv layer, for the first three test images
model.eval()
images, labels = next(iter(test_loader))
x = images[:3].to(device)
with torch.no_grad():
    pred = model(x).argmax(1)

layers = [("conv1", model.conv1), ("conv2", model.conv2), ("conv3", model.conv3)]
cams = {}
for name, layer in layers:
    attr = LayerGradCam(model, layer).attribute(x, target=pred, relu_attributions=True)
    cams[name] = LayerAttribution.interpolate(attr, (IMG_SIZE, IMG_SIZE)).detach().cpu()

fig, axes = plt.subplots(3, 1 + len(layers), figsize=(12, 9))
for i in range(3):
    photo = x[i].permute(1, 2, 0).cpu().numpy()
    axes[i, 0].imshow(photo)
    axes[i, 0].set_title(f"true: {CLASSES[labels[i]]}, pred: {CLASSES[pred[i]]}")
    axes[i, 0].axis("off")
    for j, (name, _) in enumerate(layers, start=1):
        ax = axes[i, j]
        cam = cams[name][i, 0].numpy()
        ax.imshow(photo)
        ax.imshow(cam, cmap="jet", alpha=0.5)
        ax.set_title(f"Grad-CAM {name}")
        ax.axis("off")
plt.tight_layout()
plt.show()"""

LAYER_NOTES = """### Notes on each layer

The conv1 maps respond to low-level features: edges, colour changes and the outline of the animal against the
background, so the heat is spread thinly over the whole image. In conv2 the heat gathers on textures and parts,
such as fur patterns, eyes and the nose. conv3, the deepest layer, highlights object-level regions such as the
face and ears, and these are the features the fully connected layers use for the final decision. Deeper layers
therefore combine the simple features of earlier layers into features that are specific to cats or dogs."""

OCCLUSION = """# Occlusion with three masks: (patch size, fill value), black, black and grey
masks = [(8, 0.0), (16, 0.0), (16, 0.5)]
model.eval()
x0 = x[:1]
pred0 = pred[:1]

def centred_occlusion_accuracy(p, fill):
    start = (IMG_SIZE - p) // 2
    correct, total = 0, 0
    with torch.no_grad():
        for images, labels in test_loader:
            occluded = images.clone()
            occluded[:, :, start:start + p, start:start + p] = fill
            outputs = model(occluded.to(device))
            correct += (outputs.argmax(1).cpu() == labels).sum().item()
            total += len(labels)
    return correct / total

occlusion = Occlusion(model)
for p, fill in masks:
    attr = occlusion.attribute(x0, target=pred0, sliding_window_shapes=(3, p, p),
                               strides=(3, p // 2, p // 2), baselines=fill)
    heat = attr[0].sum(0).detach().cpu().numpy()
    fig, (ax_img, ax_heat) = plt.subplots(1, 2, figsize=(9, 4))
    ax_img.imshow(x0[0].permute(1, 2, 0).cpu().numpy())
    ax_img.set_title(f"pred: {CLASSES[pred0[0]]}")
    ax_img.axis("off")
    shown = ax_heat.imshow(heat, cmap="hot")
    fig.colorbar(shown, ax=ax_heat)
    ax_heat.set_title(f"Occlusion heatmap, patch {p}x{p}, fill {fill}")
    ax_heat.axis("off")
    plt.tight_layout()
    plt.show()

    acc = centred_occlusion_accuracy(p, fill)
    print(f"Occlusion mask {p}x{p}, fill {fill}, centred: test accuracy {acc:.4f}")"""

FGSM = """# FGSM: one step of size epsilon along the sign of the loss gradient
def fgsm(model, images, labels, epsilon):
    images = images.clone().detach().requires_grad_(True)
    loss = F.cross_entropy(model(images), labels)
    model.zero_grad()
    loss.backward()
    adv = images + epsilon * images.grad.sign()
    return adv.clamp(0, 1).detach()

model.eval()
epsilons = [0.01, 0.03, 0.1]
print(f"Clean test accuracy: {accuracy:.4f}")
examples = {}
for eps in epsilons:
    correct, total = 0, 0
    for images, labels in test_loader:
        images, labels = images.to(device), labels.to(device)
        adv = fgsm(model, images, labels, eps)
        with torch.no_grad():
            adv_pred = model(adv).argmax(1)
        correct += (adv_pred == labels).sum().item()
        total += len(labels)
        if eps not in examples:
            examples[eps] = (adv[:4].cpu(), adv_pred[:4].cpu())
    acc = correct / total
    print(f"FGSM epsilon={eps}: adversarial accuracy {acc:.4f}")

fig, axes = plt.subplots(len(epsilons), 4, figsize=(10, 8))
for row, eps in enumerate(epsilons):
    adv_images, adv_preds = examples[eps]
    for col in range(4):
        ax = axes[row, col]
        ax.imshow(adv_images[col].permute(1, 2, 0).numpy())
        name = CLASSES[adv_preds[col]]
        ax.set_title(f"eps={eps} pred: {name}")
        ax.axis("off")
plt.tight_layout()
plt.show()"""

OBSERVATIONS = """### Observations

The CNN learns to separate cats from dogs well above chance after a few epochs on small 64 x 64 images, though
the gap between training and validation accuracy shows some overfitting. Grad-CAM moves from scattered edges in
conv1 to the head of the animal in conv3, and the occlusion heatmaps agree: covering the face lowers the score
most, and a larger patch over the centre costs more accuracy than a small one. FGSM shows how fragile the model
is: even epsilon = 0.03, invisible to the eye, makes the accuracy drop sharply, and 0.1 ruins it."""


def correct_cells() -> list[Cell]:
    """Read at call time, so a test that edits a cell builds from the edited text."""
    return [
        ("markdown", "## Task 1: CNN for cats vs dogs"),
        ("code", IMPORTS),
        ("code", DATA),
        ("code", MODEL),
        ("code", SUMMARY),
        ("code", TRAINING),
        ("code", CURVES),
        ("code", EVALUATION),
        ("markdown", "## Task 2.1: Grad-CAM"),
        ("code", GRADCAM),
        ("markdown", LAYER_NOTES),
        ("markdown", "## Task 2.2: Occlusion"),
        ("code", OCCLUSION),
        ("markdown", "## Task 3: FGSM"),
        ("code", FGSM),
        ("markdown", OBSERVATIONS),
    ]


def with_mutation(cell: str, mutation: str, *changes: tuple[str, str]) -> list[Cell]:
    """The correct notebook with one cell changed: the one planted defect of a flawed student."""
    cells = correct_cells()
    cells[cell_index(cells, cell, mutation)] = ("code", mutate(cell, mutation, *changes))
    return cells


def notebook(cells: list[Cell], student: str) -> nbformat.NotebookNode:
    return sample_notebook(f"# Cats vs dogs: CNN, Grad-CAM, occlusion and FGSM - {student}", cells)


def samples() -> dict[str, nbformat.NotebookNode]:
    keras_summary = with_mutation(
        SUMMARY,
        "crash: Keras-style model.summary()",
        ("print(summary(model, input_size=(1, 3, IMG_SIZE, IMG_SIZE)))", "model.summary()"),
    )
    wrong_gradcam = with_mutation(
        GRADCAM,
        "Grad-CAM without ReLU, conv3 panel from conv2",
        ("relu_attributions=True", "relu_attributions=False"),
        ('("conv3", model.conv3)', '("conv3", model.conv2)'),
    )
    descending_fgsm = with_mutation(
        FGSM,
        "FGSM subtracts the gradient sign",
        ("adv = images + epsilon * images.grad.sign()", "adv = images - epsilon * images.grad.sign()"),
    )
    two_masks = with_mutation(
        OCCLUSION,
        "only two occlusion masks",
        (
            "# Occlusion with three masks: (patch size, fill value), black, black and grey\n"
            "masks = [(8, 0.0), (16, 0.0), (16, 0.5)]",
            "# Occlusion with two masks: (patch size, fill value), both black\nmasks = [(8, 0.0), (16, 0.0)]",
        ),
    )
    leaky_test = with_mutation(
        DATA,
        "test split drawn from the training images",
        (
            'train_ds, val_ds, test_ds = first["train"], rest["train"], rest["test"]',
            'train_ds, val_ds = first["train"], rest["train"]\n'
            'test_ds = first["train"].train_test_split(test_size=0.15, seed=1)["test"]',
        ),
    )
    return {
        "Aditi_Sharma_CD001": notebook(correct_cells(), "Aditi Sharma"),
        "Bilal_Hassan_CD002": notebook(keras_summary, "Bilal Hassan"),
        "Chandra_Das_CD003": notebook(wrong_gradcam, "Chandra Das"),
        "Divya_Menon_CD004": notebook(descending_fgsm, "Divya Menon"),
        "Emil_Novak_CD005": notebook(two_masks, "Emil Novak"),
        "Fatima_Zahra_CD006": notebook(leaky_test, "Fatima Zahra"),
    }


def main(out: Path = HERE) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for name, book in samples().items():
        roll = name.rsplit("_", 1)[1]
        write_submission(out / f"{name}.zip", f"{name}/catsdogs_xai_{roll}.ipynb", book, (2026, 4, 20, 12, 0, 0))


if __name__ == "__main__":
    main()
