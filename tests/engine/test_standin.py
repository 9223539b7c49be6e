"""Stand-in weights are the same however many submissions the grader judges at once."""

from concurrent.futures import ThreadPoolExecutor

import torch
import torchvision

from checks.probe.standin import seeded_stand_in


def weights(model: torch.nn.Module) -> list[torch.Tensor]:
    return [value.clone() for value in model.state_dict().values()]


def test_stand_ins_built_in_parallel_threads_equal_one_built_alone():
    alone = weights(seeded_stand_in(torchvision.models.mobilenet_v2))
    with ThreadPoolExecutor(max_workers=3) as pool:
        built = list(pool.map(lambda _: weights(seeded_stand_in(torchvision.models.mobilenet_v2)), range(3)))
    for each in built:
        assert all(torch.equal(a, b) for a, b in zip(alone, each, strict=True))
