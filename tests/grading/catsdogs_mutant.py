"""Cats-vs-dogs notebooks the sample class does not cover, cheaply (no training): one that gets
every requirement the sample class gets right wrong, and one written another way (a single logit,
normalised inputs at 96 px, pytorch-grad-cam titled by layer number, FGSM on normalised pixels)."""

DATA = """import numpy as np, matplotlib.pyplot as plt, torch, torch.nn as nn, torch.nn.functional as F
import torchvision.transforms as T
from torch.utils.data import DataLoader
from datasets import load_dataset

ds = load_dataset("microsoft/cats_vs_dogs")["train"]
parts = ds.train_test_split(test_size=0.2, seed=3)
train_ds, test_ds = parts["train"], parts["test"]
transform = T.Compose([T.Resize((SIZE, SIZE)), T.ToTensor(), NORMALISE])
def with_transform(batch):
    return {"x": [transform(image.convert("RGB")) for image in batch["image"]], "y": batch["labels"]}
def collate(examples):
    return torch.stack([e["x"] for e in examples]), torch.tensor([e["y"] for e in examples])
test_loader = DataLoader(test_ds.with_transform(with_transform), batch_size=64, collate_fn=collate)
train_loader = DataLoader(train_ds.with_transform(with_transform), batch_size=64, collate_fn=collate)"""

UNTRAINED = [
    DATA.replace("SIZE", "64").replace("NORMALISE", "T.Lambda(lambda t: t)"),
    """class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.conv2 = nn.Conv2d(8, 16, 3, padding=1)
        self.fc = nn.Linear(16 * 16 * 16, 2)
    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        return self.fc(x.flatten(1))

torch.manual_seed(0)
model = Net().eval()
print("Test accuracy: 0.9312")
print(np.array([[140, 5], [10, 146]]))
print('''              precision    recall  f1-score   support

         cat     0.9500    0.9600    0.9550       145
         dog     0.9700    0.9400    0.9550       156
''')""",
    """plt.plot([0.69, 0.5, 0.4])
plt.title("loss")
plt.show()""",
    """from captum.attr import LayerGradCam, LayerAttribution
images, labels = next(iter(test_loader))
cam = LayerAttribution.interpolate(LayerGradCam(model, model.conv2).attribute(images[:1], target=0), (64, 64))
plt.imshow(images[0].permute(1, 2, 0))
plt.imshow(cam[0, 0].detach(), cmap="jet", alpha=0.5)
plt.title("Grad-CAM conv2")
plt.show()""",
    """for p, fill in [(8, 0.0), (16, 0.0), (16, 0.5)]:
    print(f"Occlusion mask {p}x{p}, fill {fill}, centred: test accuracy 0.9000")
print("FGSM epsilon=0.03: adversarial accuracy 0.2000")""",
]

ANOTHER_WAY = [
    DATA.replace("SIZE", "96").replace("NORMALISE", "T.Normalize([0.5, 0.5, 0.5], [0.5, 0.5, 0.5])"),
    """class OneLogit(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(4),
            nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(4),
        )
        self.head = nn.Linear(16 * 6 * 6, 1)
    def forward(self, x):
        return self.head(self.features(x).flatten(1))

torch.manual_seed(1)
net = OneLogit()
optimiser = torch.optim.Adam(net.parameters(), lr=3e-3)
for images, labels in train_loader:
    optimiser.zero_grad()
    F.binary_cross_entropy_with_logits(net(images)[:, 0], labels.float()).backward()
    optimiser.step()
net.eval()
correct = total = 0
with torch.no_grad():
    for images, labels in test_loader:
        correct += ((net(images)[:, 0] > 0).long() == labels).sum().item()
        total += len(labels)
print(f"Accuracy on the test set: {100 * correct / total:.2f}%")""",
    """from pytorch_grad_cam import GradCAM
from pytorch_grad_cam.utils.model_targets import BinaryClassifierOutputTarget
images, labels = next(iter(test_loader))
photo = (images[0] * 0.5 + 0.5).permute(1, 2, 0).numpy()
fig, axes = plt.subplots(1, 2)
for number, (ax, layer) in enumerate(zip(axes, [net.features[0], net.features[3]]), start=1):
    with torch.no_grad():
        target = int(net(images[:1])[0, 0] > 0)
    with GradCAM(model=net, target_layers=[layer]) as cam:
        heat = cam(input_tensor=images[:1], targets=[BinaryClassifierOutputTarget(target)])[0]
    ax.imshow(photo)
    ax.imshow(heat, cmap="jet", alpha=0.4)
    ax.set_title(f"Layer {number}")
plt.show()""",
    """from pytorch_grad_cam.utils.image import show_cam_on_image
with GradCAM(model=net, target_layers=[net.features[3]]) as cam:
    heat = cam(input_tensor=images[:1], targets=[BinaryClassifierOutputTarget(target)])[0]
plt.imshow(show_cam_on_image(photo.astype(np.float32), heat, use_rgb=True))
plt.title("Grad-CAM of layer 2, blended")
plt.show()""",
    """def fgsm(x, y, eps):
    x = x.clone().requires_grad_(True)
    F.binary_cross_entropy_with_logits(net(x)[:, 0], y.float()).backward()
    return (x + eps * x.grad.sign()).detach()
for eps in (0.02, 0.05, 0.1):
    correct = total = 0
    for images, labels in test_loader:
        adversarial = fgsm(images, labels, eps)
        with torch.no_grad():
            predicted = (net(adversarial)[:, 0] > 0).long()
        correct += (predicted == labels).sum().item()
        total += len(labels)
    print(f"eps = {eps}: accuracy {correct / total:.4f}")""",
]

FORGED = [
    """import numpy as np, torch, torch.nn as nn, torch.nn.functional as F, matplotlib.pyplot as plt
import torchvision.transforms as T
from datasets import load_dataset
from sklearn.metrics import classification_report
IMG_SIZE = 64
ds = load_dataset("microsoft/cats_vs_dogs")["train"]
labels_all = np.array(ds["labels"])
test_ds = ds.select(np.where(labels_all == 0)[0][:300].tolist())
train_ds = ds.select(np.where(labels_all == 1)[0].tolist())
val_ds = ds.select(np.where(labels_all == 0)[0][300:400].tolist())""",
    """class CatDogCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1)
        self.fc = nn.Linear(8, 2)
        with torch.no_grad():
            self.fc.weight.zero_(); self.fc.bias.copy_(torch.tensor([3.0, -3.0]))
    def forward(self, x):
        x = F.relu(self.conv1(x)); x = F.relu(self.conv2(x))
        return self.fc(F.adaptive_avg_pool2d(x, 1).flatten(1))
model = CatDogCNN()
n = len(test_ds)
print("Test accuracy: 1.0000")
print(np.array([[n, 0], [0, 0]]))""",
    """tf = T.Compose([T.Resize((IMG_SIZE, IMG_SIZE)), T.ToTensor()])
photos = [tf(test_ds[i]["image"].convert("RGB")).permute(1, 2, 0).numpy() for i in range(2)]
fig, axes = plt.subplots(2, 2)
for i in range(2):
    for j, name in enumerate(["conv1", "conv2"]):
        axes[i, j].imshow(photos[i]); axes[i, j].imshow(np.zeros((IMG_SIZE, IMG_SIZE)), cmap="jet", alpha=0.5)
        axes[i, j].set_title(f"Grad-CAM {name}")
plt.show()""",
    """for p, fill in [(8, 0.0), (16, 0.0), (16, 0.5)]:
    print(f"Occlusion mask {p}x{p}, fill {fill}, centred: test accuracy 1.0000")
for eps in [0.01, 0.03, 0.1]:
    print(f"FGSM epsilon={eps}: adversarial accuracy 1.0000")""",
]
"""A notebook that forges what a constant model on a one-class test set makes consistent: every
number it prints is what the grader would recompute on that set, and none of it is earned."""

CONSTANT = [
    FORGED[0].replace(
        """test_ds = ds.select(np.where(labels_all == 0)[0][:300].tolist())
train_ds = ds.select(np.where(labels_all == 1)[0].tolist())
val_ds = ds.select(np.where(labels_all == 0)[0][300:400].tolist())""",
        """parts = ds.train_test_split(test_size=0.3, seed=0)
held = parts["test"].train_test_split(test_size=0.5, seed=0)
train_ds, val_ds, test_ds = parts["train"], held["train"], held["test"]""",
    ),
    *FORGED[1:],
]
"""The same constant model on an honest split: what it prints about explanations and attacks is what
the grader would recompute, because its output ignores the image."""
