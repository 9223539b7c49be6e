"""Reference solution of CS411 Assignment 2 (saliency maps and MNIST counterfactuals)."""

from reference.cs411_a2.counterfactual import (
    DIGIT_PAIRS,
    LAMBDA_SWEEP,
    CounterfactualRun,
    cf_loss,
    find_counterfactual,
    first_correct_example,
    lambda_sweep,
    run_digit_pairs,
    run_pair,
)
from reference.cs411_a2.saliency import (
    Prediction,
    generate_saliency_map,
    load_model,
    preprocess,
    smooth_grad,
    top_k,
)
from reference.cs411_a2.small_cnn import (
    MIN_TEST_ACCURACY,
    PARAMETER_COUNT,
    SmallCNN,
    TrainedSmallCNN,
    TrainingRecipe,
    accuracy,
    mnist_split,
    reference_small_cnn,
    train_small_cnn,
)
from reference.torch_tools import trainable_parameter_count

__all__ = [
    "DIGIT_PAIRS",
    "LAMBDA_SWEEP",
    "MIN_TEST_ACCURACY",
    "PARAMETER_COUNT",
    "CounterfactualRun",
    "Prediction",
    "SmallCNN",
    "TrainedSmallCNN",
    "TrainingRecipe",
    "accuracy",
    "cf_loss",
    "find_counterfactual",
    "first_correct_example",
    "generate_saliency_map",
    "lambda_sweep",
    "load_model",
    "mnist_split",
    "preprocess",
    "reference_small_cnn",
    "run_digit_pairs",
    "run_pair",
    "smooth_grad",
    "top_k",
    "train_small_cnn",
    "trainable_parameter_count",
]
