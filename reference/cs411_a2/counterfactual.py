"""CS411 A2 tasks 2.3-2.7: counterfactual explanations on MNIST.

With the assignment's defaults (lambda=0.10, 500 steps) the L1 term often wins and
the prediction does not flip; the reference records what happens, it assumes no flip.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
import torch.optim as optim
from torch import nn

from reference.torch_tools import frozen

DIGIT_PAIRS = ((3, 8), (1, 7), (4, 9))
LAMBDA_SWEEP = (0.001, 0.01, 0.10, 0.50, 2.00)
SWEEP_PAIR = (3, 8)


def cf_loss(
    model: nn.Module,
    x_prime: torch.Tensor,
    x_orig: torch.Tensor,
    target_class: int,
    p_target: float = 0.90,
    lam: float = 0.10,
) -> torch.Tensor:
    """(softmax(model(x'))[t] - p_t)^2 + lam * ||x' - x||_1 as a scalar tensor."""
    model.eval()
    probs = F.softmax(model(x_prime), dim=1)
    fidelity = (probs[0, target_class] - p_target) ** 2
    l1 = (x_prime - x_orig).abs().sum()
    return fidelity + lam * l1


def find_counterfactual(
    model: nn.Module,
    x_orig: torch.Tensor,
    target_class: int,
    p_target: float = 0.90,
    lam: float = 0.10,
    lr: float = 0.05,
    n_iter: int = 500,
) -> tuple[torch.Tensor, list[float]]:
    """Adam on x' alone; returns the detached x' and the loss before each step."""
    x_orig = x_orig.detach()
    x_prime = x_orig.clone().requires_grad_(True)
    optimizer = optim.Adam([x_prime], lr=lr)
    loss_hist: list[float] = []
    with frozen(model):
        for _ in range(n_iter):
            optimizer.zero_grad()
            loss = cf_loss(model, x_prime, x_orig, target_class, p_target, lam)
            loss.backward()
            optimizer.step()
            loss_hist.append(loss.item())
    return x_prime.detach(), loss_hist


def predict(model: nn.Module, x: torch.Tensor) -> int:
    model.eval()
    with torch.no_grad():
        return int(model(x).argmax(dim=1).item())


def first_correct_example(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, digit: int) -> int:
    """Index of the first test image of ``digit`` that the model classifies correctly."""
    for index in torch.nonzero(labels == digit).flatten().tolist():
        if predict(model, images[index : index + 1]) == digit:
            return index
    raise LookupError(f"the model classifies no test image of digit {digit} correctly")


@dataclass(frozen=True)
class CounterfactualRun:
    source: int
    target: int
    lam: float
    example_index: int
    original_prediction: int
    counterfactual_prediction: int
    l1_distance: float
    x_orig: torch.Tensor
    x_cf: torch.Tensor
    loss_hist: list[float]

    @property
    def flipped(self) -> bool:
        return self.counterfactual_prediction == self.target


def run_pair(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    source: int,
    target: int,
    lam: float = 0.10,
    p_target: float = 0.90,
    lr: float = 0.05,
    n_iter: int = 500,
) -> CounterfactualRun:
    index = first_correct_example(model, images, labels, source)
    x_orig = images[index : index + 1]
    x_cf, loss_hist = find_counterfactual(model, x_orig, target, p_target, lam, lr, n_iter)
    return CounterfactualRun(
        source=source,
        target=target,
        lam=lam,
        example_index=index,
        original_prediction=predict(model, x_orig),
        counterfactual_prediction=predict(model, x_cf),
        l1_distance=float((x_cf - x_orig).abs().sum()),
        x_orig=x_orig,
        x_cf=x_cf,
        loss_hist=loss_hist,
    )


def run_digit_pairs(model: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> list[CounterfactualRun]:
    """Task 2.5: the three digit pairs with the default parameters."""
    return [run_pair(model, images, labels, source, target) for source, target in DIGIT_PAIRS]


def lambda_sweep(model: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> list[CounterfactualRun]:
    """Task 2.7: the 3->8 pair for each lambda, everything else at its default."""
    source, target = SWEEP_PAIR
    return [run_pair(model, images, labels, source, target, lam=lam) for lam in LAMBDA_SWEEP]
