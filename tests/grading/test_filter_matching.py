"""A plotted 3 x 3 panel is recognised as a layer's kernel up to the rescaling a plot applies, and
only then."""

import numpy as np

from checks.finders.filters import kernel_matches

WEIGHTS = np.random.default_rng(0).normal(size=(32, 4, 3, 3))


def test_rescaled_kernels_and_channel_means_match_but_noise_and_flat_panels_do_not():
    panels = [
        3.0 * WEIGHTS[5, 2] + 0.5,  # one input channel of one kernel, as imshow's colour scale shows it
        WEIGHTS[7].mean(axis=0) * 255,  # the mean over input channels
        np.random.default_rng(1).normal(size=(3, 3)),
        np.full((3, 3), 0.2),
        -WEIGHTS[5, 2],  # inverted: a different picture
    ]
    assert kernel_matches(panels, WEIGHTS).tolist() == [True, True, False, False, False]


def test_a_layer_of_another_kernel_size_matches_nothing():
    five = np.random.default_rng(2).normal(size=(32, 1, 5, 5))
    panels = [five[0, 0, :3, :3], WEIGHTS[0, 0]]
    assert kernel_matches(panels, five).tolist() == [False, False]
