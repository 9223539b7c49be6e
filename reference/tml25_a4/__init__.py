"""Reference solution of TML25 A4: ResNet50 on the ten ImageNet images, explained with Grad-CAM,
AblationCAM, ScoreCAM and LIME, and the IoU that scores a team's LIME parameters."""

from checks.probe.lime_scoring import explanation_label, explanation_mask
from reference.tml25_a4.cams import (
    LAST_CONV_LAYER,
    METHODS,
    CamKey,
    cached_map,
    class_activation_map,
    image_map,
)
from reference.tml25_a4.ground_truth import INSTRUCTOR_FOLDER, GroundTruth, ground_truth, score
from reference.tml25_a4.images import (
    IMAGE_KEYS,
    TRUE_CLASSES,
    centre_crop,
    display_image,
    image_file,
    input_tensor,
    load_image,
    to_input,
    weights_version,
)
from reference.tml25_a4.iou import DEFAULT_RULE, align, cam_region, iou
from reference.tml25_a4.lime_explain import classifier_fn, explain
from reference.tml25_a4.network import ResNet50, layer, predict, resnet50

__all__ = [
    "DEFAULT_RULE",
    "IMAGE_KEYS",
    "INSTRUCTOR_FOLDER",
    "LAST_CONV_LAYER",
    "METHODS",
    "TRUE_CLASSES",
    "CamKey",
    "GroundTruth",
    "ResNet50",
    "align",
    "cached_map",
    "cam_region",
    "centre_crop",
    "class_activation_map",
    "classifier_fn",
    "display_image",
    "explain",
    "explanation_label",
    "explanation_mask",
    "ground_truth",
    "image_file",
    "image_map",
    "input_tensor",
    "iou",
    "layer",
    "load_image",
    "predict",
    "resnet50",
    "score",
    "to_input",
    "weights_version",
]
