"""Reference solution of the cats-vs-dogs XAI assignment (a small CNN explained with Grad-CAM and
occlusion, attacked with FGSM)."""

from reference.catsdogs_xai.data import (
    IMAGE_SIZE,
    Preprocessing,
    Split,
    image_count,
    load_images,
    load_split,
    split_indices,
)
from reference.catsdogs_xai.explain import (
    fgsm_accuracy,
    fgsm_images,
    grad_cam_maps,
    masked_accuracy,
    model_mode,
    occlusion_heatmap,
    patch_corner,
)
from reference.catsdogs_xai.metrics import confusion, report
from reference.catsdogs_xai.network import CatDogCNN, conv_layers
from reference.catsdogs_xai.training import (
    History,
    TrainedModel,
    TrainingRecipe,
    evaluate,
    predict,
    reference_model,
    train,
)

__all__ = [
    "IMAGE_SIZE",
    "CatDogCNN",
    "History",
    "Preprocessing",
    "Split",
    "TrainedModel",
    "TrainingRecipe",
    "confusion",
    "conv_layers",
    "evaluate",
    "fgsm_accuracy",
    "fgsm_images",
    "grad_cam_maps",
    "image_count",
    "load_images",
    "load_split",
    "masked_accuracy",
    "model_mode",
    "occlusion_heatmap",
    "patch_corner",
    "predict",
    "reference_model",
    "report",
    "split_indices",
    "train",
]
