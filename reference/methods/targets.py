"""Which class a gradient method explains, for every image of a batch."""

from __future__ import annotations

import torch

ClassChoice = int | torch.Tensor | None
"""One class for the whole batch, one per image (a length-N tensor), or None for each image's argmax."""


def class_scores(logits: torch.Tensor, target_class: ClassChoice) -> tuple[torch.Tensor, torch.Tensor]:
    """``logits[i, k_i]`` and the classes ``k``: summing the scores backpropagates each image's own class,
    since the images of a batch do not interact in eval mode."""
    if target_class is None:
        classes = logits.argmax(dim=1)
    else:
        classes = torch.as_tensor(target_class, device=logits.device).long().reshape(-1).expand(len(logits))
    return logits.gather(1, classes[:, None])[:, 0], classes
