"""A CS411 notebook that gets every automatically checked requirement wrong, cheaply
(no training), so that each check is seen failing as well as passing."""

import nbformat

CELLS = [
    """import torch, torch.nn as nn, torch.nn.functional as F, torch.optim as optim
import torchvision, torchvision.models as models, torchvision.transforms as transforms
import numpy as np, matplotlib.pyplot as plt
from PIL import Image
model = models.resnet18(weights=None).eval()
img = Image.new('RGB', (320, 240), (120, 60, 30))""",
    """def preprocess(pil_img):
    x = transforms.Compose([transforms.Resize((224, 224)), transforms.ToTensor()])(pil_img).unsqueeze(0)
    return x.requires_grad_(True)""",
    """def generate_saliency_map(model, x, target_class=None):
    logits = model(x)
    target_class = int(logits.argmax(dim=1).item()) + 1
    (grad,) = torch.autograd.grad(logits[0, target_class], x)
    return grad.squeeze(0).max(dim=0)[0], target_class""",
    """def smooth_grad(model, pil_img, target_class=None, n_samples=20, noise_level=0.10):
    x = preprocess(pil_img)
    saliency, _ = generate_saliency_map(model, x, target_class)
    return np.abs(saliency.detach().numpy())""",
    """saliency, pred = generate_saliency_map(model, preprocess(img))
fig, axes = plt.subplots(1, 2)
axes[0].imshow(saliency.detach().numpy(), cmap='jet'); axes[1].imshow(saliency.detach().numpy(), cmap='hot')
plt.show()""",
    """train_set = torchvision.datasets.MNIST(root='./data', train=True, download=True, transform=transforms.ToTensor())
fig, axes = plt.subplots(1, 10)
for d in range(10):
    axes[d].imshow(train_set.data[d])
plt.show()""",
    """class SmallCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(784, 5)
    def forward(self, x):
        return self.fc(x.view(x.size(0), -1))

class Classifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(784, 10)
    def forward(self, x):
        return self.fc(x.view(x.size(0), -1))

cnn = Classifier()
print('Test accuracy: 97.0%')""",
    """def cf_loss(model, x_prime, x_orig, target_class, p_target=0.90, lam=0.10):
    probs = F.softmax(model(x_prime), dim=1)
    return float((probs[0, target_class] - p_target) ** 2 + lam * ((x_prime - x_orig) ** 2).sum())

def find_counterfactual(model, x_orig, target_class, p_target=0.90, lam=0.10, lr=0.05, n_iter=500):
    x_prime = x_orig.clone().detach().requires_grad_(True)
    optimizer = optim.Adam([x_prime] + list(model.parameters()), lr=lr)
    loss_hist = []
    for _ in range(n_iter):
        optimizer.zero_grad()
        probs = F.softmax(model(x_prime), dim=1)
        loss = (probs[0, target_class] - p_target) ** 2 + lam * (x_prime - x_orig).abs().sum()
        loss.backward()
        optimizer.step()
        loss_hist.append(loss.detach())
    return x_prime, loss_hist""",
    """x0 = torch.zeros(1, 1, 28, 28)
fig, axes = plt.subplots(1, 2)
axes[0].imshow(x0[0, 0], cmap='gray'); axes[1].imshow(x0[0, 0], cmap='gray')
plt.show()
plt.plot([1.0, 0.5, 0.2]); plt.plot([1.0, 0.6, 0.3]); plt.plot([1.0, 0.7, 0.4])
plt.show()
plt.plot([0.001, 0.01, 0.10, 0.50, 2.00], [5.0, 4.0, 3.0, 2.0, 1.0])
plt.show()""",
]


def mutant_notebook() -> nbformat.NotebookNode:
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in CELLS]
    return notebook
