"""Explanation and attack methods shared by several assignments, free of any assignment's constants.

Each method runs the model in whatever mode it is in (put it in eval mode first) and leaves the
model's parameters and ``.grad`` untouched; an assignment package adds its own data recipe and
the semantics its starter code asks for.
"""

from reference.methods.attacks import AttackResult, fgsm, logit_ascent
from reference.methods.gradcam import grad_cam
from reference.methods.occlusion import occlusion_grid_size, occlusion_map
from reference.methods.saliency import channel_saliency, input_gradient, vanilla_saliency
from reference.methods.targets import class_scores

__all__ = [
    "AttackResult",
    "channel_saliency",
    "class_scores",
    "fgsm",
    "grad_cam",
    "input_gradient",
    "logit_ascent",
    "occlusion_grid_size",
    "occlusion_map",
    "vanilla_saliency",
]
