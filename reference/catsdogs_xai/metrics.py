"""Task 1's confusion matrix and classification report, computed as scikit-learn computes them
(``confusion_matrix(labels=[0, 1])``, ``classification_report(output_dict=True, zero_division=0)``)
without making scikit-learn a dependency of the grader."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from checks.data.assets import CATS_VS_DOGS_CLASSES

Labels = Sequence[int] | np.ndarray | torch.Tensor


def _classes(values: Labels, name: str) -> np.ndarray:
    array = np.asarray(values.detach().cpu() if isinstance(values, torch.Tensor) else values).reshape(-1)
    if array.size and not np.isin(array, (0, 1)).all():
        raise ValueError(f"{name} must be 0 (cat) or 1 (dog)")
    return array.astype(np.int64)


def confusion(labels: Labels, predictions: Labels) -> np.ndarray:
    """2x2 counts, rows the true class and columns the predicted one (cat first)."""
    truth, predicted = _classes(labels, "labels"), _classes(predictions, "predictions")
    if len(truth) != len(predicted):
        raise ValueError(f"{len(truth)} labels but {len(predicted)} predictions")
    return np.bincount(truth * 2 + predicted, minlength=4).reshape(2, 2)


def _ratio(numerator: float, denominator: float) -> float:
    """zero_division=0: an empty denominator scores 0, as scikit-learn's report does when told so."""
    return numerator / denominator if denominator else 0.0


def report(labels: Labels, predictions: Labels) -> dict[str, dict[str, float] | float]:
    """Precision, recall, f1-score and support per class name, their macro and support-weighted means,
    and the accuracy, keyed as ``classification_report(..., output_dict=True)`` keys them."""
    matrix = confusion(labels, predictions)
    rows: dict[str, dict[str, float] | float] = {}
    for label, name in enumerate(CATS_VS_DOGS_CLASSES):
        hits = float(matrix[label, label])
        predicted, support = float(matrix[:, label].sum()), float(matrix[label].sum())
        rows[name] = {
            "precision": _ratio(hits, predicted),
            "recall": _ratio(hits, support),
            "f1-score": _ratio(2 * hits, predicted + support),
            "support": support,
        }
    per_class = [rows[name] for name in CATS_VS_DOGS_CLASSES]
    total = float(matrix.sum())
    rows["accuracy"] = _ratio(float(np.trace(matrix)), total)
    for average, weights in (("macro avg", [1.0, 1.0]), ("weighted avg", [row["support"] for row in per_class])):
        mean = {
            key: _ratio(sum(w * row[key] for w, row in zip(weights, per_class)), sum(weights)) for key in per_class[0]
        }
        rows[average] = {**mean, "support": total}
    return rows
