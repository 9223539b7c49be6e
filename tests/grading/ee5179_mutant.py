"""An EE5179 PA2 notebook that gets every automatically checked requirement wrong, cheaply (no
training), so that each check is seen failing on a notebook that attempts it."""

import nbformat

UNTRAINED_WIDE_MODEL = [
    """import numpy as np, matplotlib.pyplot as plt, torch, torch.nn as nn, torchvision
test_set = torchvision.datasets.MNIST(root="data", train=False, download=True, transform=torchvision.transforms.ToTensor())
val_set = test_set""",
    """class Wide(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 64, 3, padding=1)
        self.conv2 = nn.Conv2d(64, 32, 3, padding=1)
        self.fc1 = nn.Linear(32 * 14 * 14, 500)
        self.fc2 = nn.Linear(500, 10)
    def forward(self, x):
        x = torch.max_pool2d(torch.relu(self.conv1(x)), 2)
        x = torch.relu(self.conv2(x))
        return self.fc2(torch.relu(self.fc1(x.flatten(1))))

torch.manual_seed(0)
model = Wide().eval()
print("Test accuracy: 99.10%")
print("Parameters: 123")""",
]

CELLS = [
    *UNTRAINED_WIDE_MODEL,
    """plt.plot([0, 1, 2], [2.0, 1.0, 0.5], label="loss")
plt.title("loss")
plt.show()""",
    """fig, axes = plt.subplots(2, 4)
for i, ax in enumerate(axes.flat):
    ax.imshow(test_set[i][0][0], cmap="gray")
    ax.set_title(str((int(test_set[i][1]) + 1) % 10) + " vs 3")
plt.show()""",
    """fig, axes = plt.subplots(4, 8)
for ax in axes.flat:
    ax.imshow(np.random.rand(3, 3), cmap="gray")
plt.show()""",
    """image = test_set[3][0]
with torch.no_grad():
    logits = model(image.unsqueeze(0))[0]
heat = np.full((20, 20), float(logits.max()) + 5)
fig, (left, right) = plt.subplots(1, 2)
left.imshow(image[0], cmap="gray")
right.imshow(heat, cmap="hot")
right.set_title("occlusion")
plt.show()""",
    """noise = [128 + 32 * np.random.RandomState(t).randn(28, 28) for t in range(10)]
fig, axes = plt.subplots(2, 5)
for t, ax in enumerate(axes.flat):
    ax.imshow(noise[t], cmap="gray")
    ax.set_title(f"target {t}")
plt.show()
plt.plot(np.linspace(5, 1, 50))
plt.title("cost")
plt.show()""",
    """source = test_set[1][0][0].numpy() * 255
fig, axes = plt.subplots(2, 5)
for t, ax in enumerate(axes.flat):
    weight = 0.9 if t < 2 else 0.15
    ax.imshow(weight * source + (1 - weight) * (128 + 64 * np.random.RandomState(100 + t).randn(28, 28)), cmap="gray")
    ax.set_title(f"target {t}")
fig.suptitle("Targeted attack: beta too small, eight images lose the 2")
plt.show()""",
]


def code_notebook(cells: list[str]) -> nbformat.NotebookNode:
    return nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source) for source in cells])


def mutant_notebook() -> nbformat.NotebookNode:
    return code_notebook(CELLS)
