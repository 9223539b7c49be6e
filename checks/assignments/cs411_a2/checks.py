"""The CS411 A2 check suite: every auto-checkable requirement of the assignment.

Function checks call the student's code in the sandboxed kernel on hidden inputs and
compare with ``reference.cs411_a2`` computed here on the same inputs. So that one
mistake costs only its own task, later functions are exercised with grader-built
inputs (a correct preprocess, the grader's MobileNetV2, a seeded SmallCNN) rather
than with the student's earlier functions.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import torch
from PIL import Image

from checks.engine.notebook import cell_number
from checks.finders.classifiers import (
    AS_GIVEN,
    MNIST_NORMALISED,
    TO_TENSOR,
    InputSpec,
    Measured,
    ScalingChoice,
    classifier_of,
    find_classifiers,
    measure_classifiers,
    weights_changed_after,
)
from checks.finders.figures import (
    DIVERGING_CMAPS,
    image_axes,
    is_centred,
    label_summary,
    load_image,
    missing_labels,
    plot_axes,
    title_text,
    unlabelled,
)
from checks.finders.output_disagreements import compare_with_submitted
from checks.finders.printed_output import notebook_output_text
from checks.finders.stated_numbers import AccuracyClaims, judge_accuracy_claims
from checks.grading.check_api import CheckFailed, CheckSuite, NeedsTA
from checks.grading.cut_cells import TRAINING
from checks.grading.reference_figures import Panel
from checks.probe.standin import seeded_global_rng
from checks.probe.wire import DataImage, KernelObject
from reference.cs411_a2 import (
    DIGIT_PAIRS,
    LAMBDA_SWEEP,
    MIN_TEST_ACCURACY,
    PARAMETER_COUNT,
    SmallCNN,
    cf_loss,
    find_counterfactual,
    generate_saliency_map,
    load_model,
    mnist_split,
    preprocess,
    reference_small_cnn,
    run_digit_pairs,
    smooth_grad,
    top_k,
    trainable_parameter_count,
)

suite = CheckSuite(output_comparison=compare_with_submitted)

HIDDEN_IMAGES = (
    "imagenet-samples/n02007558_flamingo.JPEG",
    "imagenet-samples/n04037443_racer.JPEG",
    "imagenet-samples/n01616318_vulture.JPEG",
)
HIDDEN_CLASSES = (130, 751, 23)
SALIENCY_TOLERANCE = 1e-3  # of the reference map's maximum
COUNTERFACTUAL_INPUTS = "a seeded SmallCNN, an MNIST test image, target 8, p_target 0.9, lam 0.1, lr 0.05, n_iter 30"
KERNEL_MOBILENET = "__xaigrader_mobilenet"
KERNEL_CNN = "__xaigrader_cnn"
KERNEL_PREPROCESS = "__xaigrader_preprocess"
CNN_SEED = 1234
PREFERRED_IMAGE_NAMES = ("img", "image", "pil_img", "pil_image", "original_img", "input_image")
SEQUENTIAL_SMALL_CNN = (
    "import torch.nn as __nn\n"
    f"{KERNEL_CNN} = __nn.Sequential(__nn.Conv2d(1, 16, 3, padding=1), __nn.ReLU(), __nn.MaxPool2d(2, 2),\n"
    "    __nn.Conv2d(16, 32, 3, padding=1), __nn.ReLU(), __nn.MaxPool2d(2, 2), __nn.Flatten(),\n"
    "    __nn.Linear(32 * 7 * 7, 128), __nn.ReLU(), __nn.Linear(128, 10))\n"
    f"{KERNEL_CNN}.load_state_dict(__xaigrader_tensors)\n{KERNEL_CNN}.eval()\ndel __nn\n"
)
SEQUENTIAL_KEYS = {"conv1": "0", "conv2": "3", "fc1": "7", "fc2": "9"}
CORRECT_PREPROCESS = (
    "def __xaigrader_preprocess(pil_img):\n"
    "    import torchvision.transforms as __t\n"
    "    x = __t.Compose([__t.Resize((224, 224)), __t.ToTensor(),\n"
    "        __t.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])(pil_img.convert('RGB')).unsqueeze(0)\n"
    "    return x.requires_grad_(True)\n"
)


# ---- shared set-up, computed once per submission ---------------------------------------


PRETRAINED = "pretrained weights"


def pretrained(ctx):
    """MobileNetV2 with its ImageNet weights from the data directory, or a labelled stand-in."""
    return ctx.remember("pretrained", lambda: load_model(ctx.data))


@suite.stand_ins
def pretrained_stand_ins(ctx) -> dict[str, str]:
    """Without ImageNet weights every prediction and saliency map of part 1 is noise: the checks that
    read meaning into them (class names, the second class) cannot be verified."""
    model = pretrained(ctx)
    return {PRETRAINED: model.note} if model.stand_in else {}


def mobilenet(ctx) -> tuple[torch.nn.Module, list[str], KernelObject]:
    """The grader's MobileNetV2 and an identical one inside the kernel (same weights or stand-in)."""

    def build():
        model = pretrained(ctx)
        if model.stand_in:
            ctx.stand_ins.append(model.note)
        ctx.student.run(
            "import torchvision as __tv\n"
            f"{KERNEL_MOBILENET} = __tv.models.mobilenet_v2("
            "weights=__tv.models.MobileNet_V2_Weights.IMAGENET1K_V1).eval()\n"
            "del __tv"
        )
        return model.model, model.categories, KernelObject(KERNEL_MOBILENET)

    return ctx.remember("mobilenet", build)


def hidden_image(ctx, position: int) -> Image.Image:
    with Image.open(ctx.data.path(HIDDEN_IMAGES[position])) as image:
        return image.convert("RGB")


def reference_x(ctx, position: int) -> torch.Tensor:
    return preprocess(hidden_image(ctx, position))


def seeded_cnn(ctx) -> tuple[SmallCNN, KernelObject]:
    """A seeded SmallCNN here and the same function as an nn.Sequential in the kernel."""

    def build():
        with seeded_global_rng(CNN_SEED):
            model = SmallCNN().eval()
        tensors = {}
        for key, value in model.state_dict().items():
            layer, _, rest = key.partition(".")
            tensors[f"{SEQUENTIAL_KEYS[layer]}.{rest}"] = value
        ctx.student.run(SEQUENTIAL_SMALL_CNN, tensors=tensors)
        return model, KernelObject(KERNEL_CNN)

    return ctx.remember("cnn", build)


def mnist_test(ctx) -> tuple[torch.Tensor, torch.Tensor]:
    return ctx.remember("mnist_test", lambda: mnist_split(ctx.data, train=False))


def using_correct_preprocess(ctx, action):
    """Run ``action`` while the student's ``preprocess`` is the assignment's correct one."""
    ctx.substitute(
        "preprocess",
        "smooth_grad (1.8) calls preprocess; it was checked with the grader's correct preprocess so that a "
        "mistake in 1.2 costs 1.2 only",
    )
    ctx.student.run(
        CORRECT_PREPROCESS + f"__xaigrader_saved = globals().get('preprocess')\npreprocess = {KERNEL_PREPROCESS}"
    )
    try:
        return action()
    finally:
        ctx.student.run(
            "preprocess = __xaigrader_saved\nif preprocess is None:\n    del preprocess\ndel __xaigrader_saved"
        )


def saliency_difference(got: Any, expected: np.ndarray) -> float:
    got = np.asarray(got, dtype=np.float64)
    if got.shape != expected.shape:
        return float("inf")
    return float(np.abs(got - expected).max() / max(float(np.abs(expected).max()), 1e-12))


def describe_tensor(value: Any) -> str:
    if isinstance(value, torch.Tensor):
        dtype = str(value.dtype).removeprefix("torch.")
        return f"tensor of shape {tuple(value.shape)}, {dtype}, requires_grad={value.requires_grad}"
    if isinstance(value, np.ndarray):
        return f"numpy array of shape {value.shape}, {value.dtype}"
    return f"{type(value).__name__}: {str(value)[:80]}"


def student_image(ctx) -> tuple[str, Image.Image]:
    """The PIL image the notebook worked on (the first under a usual name, else the first found)."""

    def find():
        found = [item["name"] for item in ctx.student.find("PIL.Image.Image")]
        if not found:
            raise CheckFailed(
                "no PIL image is left in the notebook's namespace after the run",
                cause="task 1.1 asks to open the downloaded image with PIL.Image",
            )
        name = next((n for n in PREFERRED_IMAGE_NAMES if n in found), found[0])
        array = ctx.student.evaluate(name)
        return name, Image.fromarray(np.asarray(array, dtype=np.uint8)).convert("RGB")

    return ctx.remember("student_image", find)


def student_top(ctx, k: int = 5):
    model, categories, _ = mobilenet(ctx)
    _, image = student_image(ctx)
    return top_k(model, preprocess(image), categories, k)


def reference_maps(ctx) -> dict[str, Any]:
    """The reference's maps for the notebook's own image: what its figures in 1.5-1.8 should show."""

    def compute():
        model, categories, _ = mobilenet(ctx)
        _, image = student_image(ctx)
        first, second = student_top(ctx, 2)
        vanilla, _ = generate_saliency_map(model, preprocess(image), first.class_index)
        runner_up, _ = generate_saliency_map(model, preprocess(image), second.class_index)
        return {
            "image": np.asarray(image.resize((224, 224))),
            "vanilla": vanilla,
            "second": runner_up,
            "first_name": first.class_name,
            "second_name": second.class_name,
            "model": model,
        }

    return ctx.remember("reference_maps", compute)


def show_saliency_reference(ctx, kind: str) -> None:
    """Draw the reference version of a 1.5-1.8 figure for the notebook's own image, when it has one."""
    try:
        maps = reference_maps(ctx)
    except CheckFailed:
        return
    image, vanilla = Panel(maps["image"], "image"), maps["vanilla"]
    if kind == "viridis":
        rows = [[image, Panel(vanilla, "saliency", "viridis", colorbar=True)]]
        caption = "reference map for the notebook's image and its top-1 class"
    elif kind == "colormaps":
        rows = [[Panel(vanilla, cmap, cmap) for cmap in ("hot", "plasma", "gray")]]
        caption = "reference map in the three colormaps"
    elif kind == "second":
        rows = [
            [
                Panel(vanilla, f"top-1: {maps['first_name']}", "hot"),
                Panel(maps["second"], f"top-2: {maps['second_name']}", "hot"),
            ]
        ]
        caption = "reference maps of the top-1 and top-2 classes"
    else:
        _, pil_image = student_image(ctx)
        smoothed = smooth_grad(
            maps["model"], pil_image, student_top(ctx, 1)[0].class_index, generator=torch.Generator().manual_seed(0)
        )
        rows = [[Panel(vanilla, "vanilla", "hot"), Panel(smoothed, "SmoothGrad (20 samples, noise 0.1)", "hot")]]
        caption = "reference vanilla and SmoothGrad maps (seeded; a student's noise differs)"
    ctx.show_reference(kind, caption, rows, maps["first_name"])


def printed(ctx) -> str:
    return notebook_output_text(ctx.executed)


def word_present(text: str, phrase: str) -> bool:
    return re.search(rf"(?<![A-Za-z]){re.escape(phrase)}(?![A-Za-z])", text, re.IGNORECASE) is not None


# ---- Q1: saliency maps -------------------------------------------------------------------


@suite.check("1.1", 2, "MobileNetV2 is loaded", needs="full")
def model_loaded(ctx):
    modules = [item for item in ctx.student.find("torch.nn.Module") if item["type"] == "MobileNetV2"]
    if not modules:
        raise CheckFailed(
            "no MobileNetV2 model in the notebook's namespace",
            expected="models.mobilenet_v2(...)",
            found=", ".join(i["type"] for i in ctx.student.find("torch.nn.Module")) or "no models",
        )
    return f"found {modules[0]['name']}"


@suite.check("1.1", 2, "The image is displayed and its size printed", needs="full")
def image_displayed_with_size(ctx):
    _, image = student_image(ctx)
    width, height = image.size
    shown_in = [figure for figure in ctx.figures if image_axes(figure, ndim=3)]
    ctx.cite(*shown_in[:1])
    shown = bool(shown_in)
    size_pattern = rf"\(?\s*{width}\s*[,x×*]\s*{height}\s*\)?|width\D{{0,12}}{width}\D{{0,30}}height\D{{0,12}}{height}"
    size_printed = re.search(size_pattern, printed(ctx), re.IGNORECASE) is not None
    if shown and size_printed:
        return None
    missing = [
        text
        for ok, text in (
            (shown, "an RGB image shown with imshow"),
            (size_printed, f"the size {width} x {height} printed"),
        )
        if not ok
    ]
    raise CheckFailed(
        "missing: " + "; ".join(missing),
        expected=f"image shown and '{width} x {height}' printed",
        found="not found",
        fraction=0.5 if shown or size_printed else 0.0,
    )


@suite.check(
    "1.2",
    2,
    "preprocess returns a (1, 3, 224, 224) float32 leaf tensor that requires grad",
    inputs="hidden ImageNet image 1 of 3 (not shown) as a PIL image",
)
def preprocess_shape(ctx):
    outcome = ctx.student.call("preprocess", DataImage(HIDDEN_IMAGES[0]))
    x, wire = outcome.result, outcome.wire_result
    if not isinstance(x, torch.Tensor):
        raise CheckFailed("preprocess must return a torch tensor", expected="torch.Tensor", found=describe_tensor(x))
    problems, causes = [], []
    if tuple(x.shape) != (1, 3, 224, 224):
        problems.append(f"shape {tuple(x.shape)}")
        if tuple(x.shape) == (3, 224, 224):
            causes.append("the starter code returns transform(pil_img) and forgets .unsqueeze(0)")
    if x.dtype != torch.float32:
        problems.append(f"dtype {x.dtype}")
    if not (wire.get("requires_grad") and wire.get("is_leaf")):
        problems.append("requires_grad=False" if not wire.get("requires_grad") else "not a leaf tensor")
        causes.append("the starter code never calls x.requires_grad_(True)")
    if problems:
        raise CheckFailed(
            "preprocess returned " + ", ".join(problems),
            expected="(1, 3, 224, 224) float32, requires_grad=True",
            found=describe_tensor(x),
            cause="; ".join(causes) or None,
        )


@suite.check(
    "1.2",
    2,
    "preprocess values equal the reference on hidden images",
    inputs="three hidden ImageNet images (not shown) as PIL images",
)
def preprocess_values(ctx):
    for position in range(len(HIDDEN_IMAGES)):
        got = ctx.student.call("preprocess", DataImage(HIDDEN_IMAGES[position])).result
        expected = reference_x(ctx, position).detach()
        if not isinstance(got, torch.Tensor) or got.numel() != expected.numel():
            raise CheckFailed(
                "preprocess returned the wrong number of values",
                expected=tuple(expected.shape),
                found=describe_tensor(got),
            )
        difference = float((got.detach().reshape(expected.shape) - expected).abs().max())
        if difference > 1e-4:
            raise CheckFailed(
                f"preprocess values differ from the reference on hidden image {position + 1}",
                expected="Resize((224, 224)), ToTensor(), Normalize(ImageNet mean, std)",
                found=f"largest difference {difference:.4g}",
            )


def saliency_call(ctx, position: int, target: int | None):
    _, _, kernel_model = mobilenet(ctx)
    return ctx.student.call("generate_saliency_map", kernel_model, reference_x(ctx, position), target)


def unpack_saliency(result: Any) -> tuple[Any, Any]:
    if not isinstance(result, tuple) or len(result) != 2:
        raise CheckFailed(
            "generate_saliency_map must return (saliency, pred_class)",
            expected="a 2-tuple",
            found=describe_tensor(result),
        )
    return result


@suite.check(
    "1.3",
    4,
    "The printed top-5 classes agree with the grader's top-5 for the notebook's image",
    needs="full",
    rests_on=(PRETRAINED,),
)
def top5_printed(ctx):
    expected = [prediction.class_name for prediction in student_top(ctx, 5)]
    text = printed(ctx)
    found = [name for name in expected if word_present(text, name)]
    if len(found) < 5:
        raise CheckFailed(
            "the printed top-5 differ from the grader's softmax over the notebook's own image",
            expected=", ".join(expected),
            found=", ".join(found) or "none of them printed",
            fraction=len(found) / 5,
        )
    return "all five class names printed"


@suite.check(
    "1.4",
    2,
    "generate_saliency_map returns a non-negative (224, 224) array and an int",
    inputs="the grader's MobileNetV2 (eval mode), hidden image 1 preprocessed correctly, target_class=None",
)
def saliency_types(ctx):
    saliency, used = unpack_saliency(saliency_call(ctx, 0, None).result)
    if not isinstance(saliency, np.ndarray) or saliency.shape != (224, 224):
        raise CheckFailed(
            "the saliency map must be a numpy array of shape (224, 224)",
            expected="ndarray (224, 224)",
            found=describe_tensor(saliency),
            cause="convert with .detach().numpy() after the channel max",
        )
    if (saliency < 0).any():
        raise CheckFailed(
            "saliency values must be >= 0", expected="abs() before the max", found=f"min {saliency.min():.4g}"
        )
    if not isinstance(used, int):
        raise CheckFailed(
            "pred_class must be a Python int",
            expected="int",
            found=type(used).__name__,
            cause="use int(logits.argmax(dim=1).item())",
        )


@suite.check(
    "1.4",
    2,
    "generate_saliency_map uses the argmax class when target_class is None",
    inputs="the grader's MobileNetV2, hidden images 1 and 2 preprocessed correctly, target_class=None",
)
def saliency_argmax(ctx):
    model, _, _ = mobilenet(ctx)
    for position in range(2):
        _, used = unpack_saliency(saliency_call(ctx, position, None).result)
        with torch.no_grad():
            expected = int(model(reference_x(ctx, position)).argmax(dim=1))
        if used != expected:
            raise CheckFailed(
                "with target_class=None the returned class is not the model's prediction", expected=expected, found=used
            )


@suite.check(
    "1.4",
    2,
    "generate_saliency_map honours a given target_class",
    inputs="the grader's MobileNetV2, hidden image 2 preprocessed correctly, a hidden target_class",
)
def saliency_target(ctx):
    model, _, _ = mobilenet(ctx)
    saliency, used = unpack_saliency(saliency_call(ctx, 1, HIDDEN_CLASSES[1]).result)
    expected, _ = generate_saliency_map(model, reference_x(ctx, 1), HIDDEN_CLASSES[1])
    if used != HIDDEN_CLASSES[1] or saliency_difference(saliency, expected) > SALIENCY_TOLERANCE:
        raise CheckFailed(
            "the map is not the gradient of the requested class",
            expected=f"class {HIDDEN_CLASSES[1]}",
            found=f"class {used}, relative difference {saliency_difference(saliency, expected):.3g}",
        )


@suite.check(
    "1.4",
    1,
    "x.grad is populated after the call",
    inputs="the grader's MobileNetV2, hidden image 1 as a leaf that requires grad, a hidden target_class",
)
def saliency_grad_populated(ctx):
    outcome = saliency_call(ctx, 0, HIDDEN_CLASSES[0])
    if outcome.grad_of_arg(1) is None:
        raise CheckFailed(
            "x.grad is still None after generate_saliency_map",
            expected="x.grad set by score.backward()",
            found="None",
            cause="the gradient must flow to the input tensor x itself",
        )


@suite.check(
    "1.4",
    3,
    "generate_saliency_map equals the reference on hidden images and classes",
    inputs="the grader's MobileNetV2, three hidden images preprocessed correctly, hidden target classes",
)
def saliency_values(ctx):
    model, _, _ = mobilenet(ctx)
    worst = 0.0
    for position, target in enumerate(HIDDEN_CLASSES):
        saliency, _ = unpack_saliency(saliency_call(ctx, position, target).result)
        expected, _ = generate_saliency_map(model, reference_x(ctx, position), target)
        worst = max(worst, saliency_difference(saliency, expected))
    if worst > SALIENCY_TOLERANCE:
        raise CheckFailed(
            "the saliency map differs from max_c |d logit_k / d x_c|",
            expected="the reference map",
            found=f"relative difference {worst:.3g} (tolerance {SALIENCY_TOLERANCE})",
        )


def cell_source(ctx, cell: int | str | None) -> str:
    """The code of the notebook cell that drew a figure ("" for a figure a grader call drew)."""
    cells = ctx.executed.cells
    return str(cells[cell].source) if isinstance(cell, int) and 0 <= cell < len(cells) else ""


def saliency_figures(ctx) -> list[dict]:
    return [figure for figure in ctx.figures if image_axes(figure, ndim=2, shape=(224, 224))]


@suite.check("1.5", 2, "Image and viridis saliency side by side with a colorbar", needs="full")
def viridis_layout(ctx):
    for figure in ctx.figures:
        rgb = image_axes(figure, ndim=3)
        maps = [
            axes
            for axes in image_axes(figure, ndim=2)
            if axes["images"][0]["cmap"] == "viridis" and axes["has_colorbar"]
        ]
        if rgb and maps:
            ctx.cite(figure)
            show_saliency_reference(ctx, "viridis")
            return f"figure in {cell_number(figure['cell'])}"
    ctx.cite(*saliency_figures(ctx)[:1])
    show_saliency_reference(ctx, "viridis")
    raise CheckFailed(
        "no figure shows the image beside a viridis saliency map with a colorbar",
        expected="plt.subplots(1, 2): imshow(image) | imshow(saliency, cmap='viridis') + colorbar",
        found=f"{len(ctx.figures)} figures, none with that layout",
    )


@suite.check("1.5", 1, "The figure is saved as saliency_viridis.png", needs="full")
def viridis_saved(ctx):
    saved = [path for figure in ctx.figures for path in figure["saved_to"]]
    if not any(path.replace("\\", "/").split("/")[-1] == "saliency_viridis.png" for path in saved):
        raise CheckFailed(
            "saliency_viridis.png was never saved",
            expected="plt.savefig('saliency_viridis.png')",
            found=", ".join(saved) or "no savefig call",
        )


@suite.check("1.5", 2, "The figure's title is the predicted class name", needs="full", rests_on=(PRETRAINED,))
def viridis_title(ctx):
    predicted = student_top(ctx, 1)[0].class_name
    candidates = [figure for figure in ctx.figures if image_axes(figure, ndim=3) and image_axes(figure, ndim=2)]
    if any(predicted.lower() in title_text(figure).lower() for figure in candidates):
        return None
    raise CheckFailed(
        "the saliency figure's title does not name the predicted class",
        expected=predicted,
        found=" / ".join(title_text(figure) or "(no title)" for figure in candidates) or "no such figure",
    )


@suite.check("1.6", 3, "Saliency in hot, plasma and gray in one row", needs="full")
def three_colormaps(ctx):
    wanted = {"hot", "plasma", "gray"}
    best: set[str] = set()
    best_figure: dict = {}
    for figure in ctx.figures:
        cmaps = {axes["images"][0]["cmap"] for axes in image_axes(figure, ndim=2)}
        aliases = {"grey": "gray", "Greys_r": "gray", "binary_r": "gray"}
        cmaps = {aliases.get(c, c) for c in cmaps}
        if len(cmaps & wanted) > len(best):
            best, best_figure = cmaps & wanted, figure
    if best:
        ctx.cite(best_figure)
    show_saliency_reference(ctx, "colormaps")
    if best != wanted:
        raise CheckFailed(
            "no single figure shows the map in hot, plasma and gray",
            expected="hot, plasma, gray",
            found=", ".join(sorted(best)) or "none of them",
            fraction=len(best) / 3,
        )


@suite.check("1.7", 2, "Two saliency maps side by side", needs="full")
def second_class_layout(ctx):
    for figure in saliency_figures(ctx):
        axes = image_axes(figure, ndim=2, shape=(224, 224))
        arrays = [load_image(ctx.figure_dir, a) for a in axes]
        arrays = [a for a in arrays if a is not None]
        if len(arrays) >= 2 and any(not np.allclose(arrays[0], other) for other in arrays[1:]):
            ctx.cite(figure)
            return f"figure in {cell_number(figure['cell'])}"
    raise CheckFailed(
        "no figure shows two different saliency maps side by side",
        expected="two 224 x 224 maps",
        found=f"{len(saliency_figures(ctx))} figures with saliency maps",
    )


@suite.check("1.7", 2, "One map is the saliency of the second-ranked class", needs="full", rests_on=(PRETRAINED,))
def second_class_map(ctx):
    model, categories, _ = mobilenet(ctx)
    _, image = student_image(ctx)
    second = student_top(ctx, 2)[1]
    expected = reference_maps(ctx)["second"]
    show_saliency_reference(ctx, "second")
    for figure in saliency_figures(ctx):
        for axes in image_axes(figure, ndim=2, shape=(224, 224)):
            shown = load_image(ctx.figure_dir, axes)
            if shown is not None and saliency_difference(shown, expected) <= 1e-2:
                ctx.cite(figure)
                return f"{cell_number(figure['cell'])} shows class {second.class_index} ({second.class_name})"
    raise CheckFailed(
        "no displayed map matches the saliency of the second-ranked class",
        expected=f"class {second.class_index} ({second.class_name})",
        found="no matching map",
        cause="call preprocess again and pass the second class index as target_class",
    )


def smooth_call(ctx, **kwargs):
    _, _, kernel_model = mobilenet(ctx)
    return using_correct_preprocess(
        ctx, lambda: ctx.student.call("smooth_grad", kernel_model, DataImage(HIDDEN_IMAGES[0]), **kwargs)
    )


@suite.check(
    "1.8",
    1,
    "smooth_grad runs with its defaults and returns a non-negative (224, 224) map",
    inputs="the grader's MobileNetV2, hidden image 1 (PIL), a hidden target_class, defaults otherwise",
)
def smoothgrad_runs(ctx):
    result = smooth_call(ctx, target_class=HIDDEN_CLASSES[0]).result
    if not isinstance(result, np.ndarray) or result.shape != (224, 224) or (result < 0).any():
        raise CheckFailed(
            "smooth_grad must return a non-negative (224, 224) array",
            expected="ndarray (224, 224)",
            found=describe_tensor(result),
        )


@suite.check(
    "1.8",
    2,
    "smooth_grad with noise_level=0 equals vanilla saliency",
    inputs="hidden image 1, a hidden target_class, n_samples=2, noise_level=0.0, with a correct preprocess",
)
def smoothgrad_noise_free(ctx):
    model, _, _ = mobilenet(ctx)
    got = smooth_call(ctx, target_class=HIDDEN_CLASSES[0], n_samples=2, noise_level=0.0).result
    expected, _ = generate_saliency_map(model, reference_x(ctx, 0), HIDDEN_CLASSES[0])
    if saliency_difference(got, expected) > SALIENCY_TOLERANCE:
        raise CheckFailed(
            "without noise SmoothGrad must reduce to the vanilla map",
            expected="the vanilla map",
            found=f"relative difference {saliency_difference(got, expected):.3g}",
        )


@suite.check(
    "1.8",
    4,
    "Seeded smooth_grad equals the reference",
    inputs="hidden image 1, a hidden target_class, n_samples=3, noise_level=0.1, torch.manual_seed(7) first",
)
def smoothgrad_seeded(ctx):
    model, _, _ = mobilenet(ctx)
    seed, target = 7, HIDDEN_CLASSES[0]
    got = smooth_call(ctx, target_class=target, n_samples=3, noise_level=0.1, seed=seed).result
    expected = smooth_grad(model, hidden_image(ctx, 0), target, 3, 0.1, generator=torch.Generator().manual_seed(seed))
    if saliency_difference(got, expected) > SALIENCY_TOLERANCE:
        raise CheckFailed(
            "with torch.manual_seed(7) the averaged map differs from the reference",
            expected="mean of 3 maps, noise = noise_level * torch.randn_like(x) per sample",
            found=f"relative difference {saliency_difference(got, expected):.3g}",
            cause="noise must be drawn once per sample after preprocess, on a leaf input",
        )


@suite.check(
    "1.8",
    2,
    "n_samples is honoured with a fresh preprocess per sample",
    inputs="hidden image 1, a hidden target_class, n_samples=3, preprocess wrapped to count its calls",
)
def smoothgrad_samples(ctx):
    _, _, kernel_model = mobilenet(ctx)

    def counted():
        ctx.student.run(
            "__xaigrader_calls = [0]\n__xaigrader_inner = preprocess\n"
            "def preprocess(pil_img):\n    __xaigrader_calls[0] += 1\n    return __xaigrader_inner(pil_img)\n"
        )
        try:
            ctx.student.call("smooth_grad", kernel_model, DataImage(HIDDEN_IMAGES[0]), HIDDEN_CLASSES[0], n_samples=3)
            return ctx.student.evaluate("__xaigrader_calls")[0]
        finally:
            ctx.student.run("preprocess = __xaigrader_inner")

    calls = using_correct_preprocess(ctx, counted)
    if calls != 3:
        raise CheckFailed(
            "preprocess must be called once per sample", expected="3 calls for n_samples=3", found=f"{calls} calls"
        )


@suite.check("1.8", 1, "Vanilla and SmoothGrad maps shown side by side", needs="full")
def smoothgrad_figure(ctx):
    show_saliency_reference(ctx, "smoothgrad")
    untitled = []
    for figure in saliency_figures(ctx):
        if len(image_axes(figure, ndim=2, shape=(224, 224))) < 2:
            continue
        if "smooth" in title_text(figure).lower():
            ctx.cite(figure)
            return None
        if "smooth_grad(" in cell_source(ctx, figure["cell"]):
            untitled.append(figure)
    if untitled:
        ctx.cite(*untitled)
        raise CheckFailed(
            f"the SmoothGrad figure in {cell_number(untitled[0]['cell'])} has no title naming SmoothGrad",
            expected="two maps, one titled SmoothGrad",
            found=f"titles: {title_text(untitled[0]) or 'none'}",
        )
    raise CheckFailed(
        "no figure shows vanilla and SmoothGrad maps side by side",
        expected="two maps, one titled SmoothGrad",
        found="no figure of two or more 224 x 224 maps drawn from smooth_grad's output",
    )


@suite.check("plots", 0, "Every plot has a title and labelled axes", needs="full")
def plots_labelled(ctx):
    misses = unlabelled(ctx.figures)
    if misses:
        raise NeedsTA("the assignment requires a title and labelled axes on every plot; missing: " + "; ".join(misses))


# ---- Q2: counterfactuals on MNIST -------------------------------------------------------


@suite.check("2.1", 1, "One image per digit with the digit as title", needs="full")
def digits_shown(ctx):
    untitled = []
    for figure in ctx.figures:
        axes = image_axes(figure, ndim=2, shape=(28, 28)) or image_axes(figure, ndim=3, shape=(1, 28))
        digits = {match for a in axes for match in re.findall(r"\d", a["title"])}
        if len(axes) >= 10 and digits >= set("0123456789"):
            ctx.cite(figure)
            return None
        if len(axes) >= 10:
            untitled.append(figure)
    if untitled:
        ctx.cite(untitled[0])
        raise CheckFailed(
            f"the ten digit images in {cell_number(untitled[0]['cell'])} are not titled with their digits",
            expected="10 images, titles 0..9",
            found=f"titles: {title_text(untitled[0]) or 'none'}",
        )
    raise CheckFailed("no figure shows ten digit images", expected="10 images, titles 0..9", found="none")


@suite.check("2.1", 1, "Training and test sample counts printed", needs="full")
def counts_printed(ctx):
    text = printed(ctx).replace(",", "")
    found = [count for count in ("60000", "10000") if count in text]
    if len(found) < 2:
        raise CheckFailed(
            "the numbers of training and test samples are not printed",
            expected="60000 and 10000",
            found=", ".join(found) or "neither",
            fraction=len(found) / 2,
        )


@suite.check(
    "2.2",
    2,
    "SmallCNN: the stated architecture (or another valid MNIST classifier)",
    inputs="SmallCNN() called on a (2, 1, 28, 28) batch of zeros",
)
def small_cnn_architecture(ctx):
    ctx.student.run("__xaigrader_smallcnn = SmallCNN()", label="SmallCNN()")
    output = ctx.student.call("__xaigrader_smallcnn", torch.zeros(2, 1, 28, 28)).result
    summary = ctx.student.evaluate("__xaigrader_smallcnn")
    count = summary.get("parameters") if isinstance(summary, dict) else None
    if not isinstance(output, torch.Tensor) or tuple(output.shape) != (2, 10):
        raise CheckFailed(
            "SmallCNN must map a (N, 1, 28, 28) batch to (N, 10) logits",
            expected="(2, 10)",
            found=describe_tensor(output),
        )
    if count == PARAMETER_COUNT == trainable_parameter_count(SmallCNN()):
        return f"{count:,} parameters, as specified"
    return f"a different architecture with {count:,} parameters (allowed by the assignment)"


CS411_INPUT = InputSpec(scalings=(MNIST_NORMALISED, TO_TENSOR))
"""MNIST digits in 10 classes, fed as the assignment normalises them, or as ToTensor's values."""
EVERY_IMAGE = ScalingChoice(probe=None, margin=0.0, enough=MIN_TEST_ACCURACY)
"""Each scaling measured on the whole test set until one reaches the target, which then counts; below the
target, a later scaling counts only when it leads by more than chance."""


def mnist_test_values(ctx) -> tuple[torch.Tensor, torch.Tensor]:
    """The test set as ToTensor's [0, 1] values, which the classifiers' scalings start from."""

    def load():
        images, labels = ctx.data.mnist_arrays(train=False)
        return images.unsqueeze(1).to(torch.float32).div(255), labels

    return ctx.remember("mnist_test_values", load)


def accuracy_claims(ctx) -> AccuracyClaims:
    return ctx.remember("accuracy_claims", lambda: judge_accuracy_claims(ctx.executed, []))


def trained_cell(ctx) -> int | None:
    """Where task 2.2 ends (its model is judged as that cell left it): the last cell under 2.2, else
    the cell that prints the reported accuracy, else None (the model as the notebook left it)."""
    claim = accuracy_claims(ctx).reported_claim
    end = ctx.end_of_task("2.2")
    return end if end is not None else claim.cell if claim else None


def measured(ctx, as_of: int | None) -> list[Measured]:
    """The notebook's MNIST classifiers with the weights they had at the end of cell ``as_of``, each
    with its accuracy on the real test set, best first."""

    def measure():
        images, labels = mnist_test_values(ctx)
        models = find_classifiers(ctx.student, CS411_INPUT, as_of_cell=as_of)
        return measure_classifiers(ctx.student, models, images, labels, EVERY_IMAGE)

    return ctx.remember(f"measured@{as_of}", measure)


def best_classifier(ctx, as_of: int | None = None) -> Measured:
    found = measured(ctx, as_of)
    if not found:
        raise CheckFailed(
            "no trained MNIST classifier is left in the notebook's namespace",
            expected="a model mapping (N, 1, 28, 28) to (N, 10)",
            found="none",
        )
    return found[0]


def changed_later(ctx, best: Measured, after: int | None) -> str:
    """Where the notebook changed the model's weights after ``after``, in words ("" when it did not)."""
    if after is None or best.model.rebuilt is None:
        return ""
    cells = weights_changed_after(ctx.run.events, best.model.name, after)
    if not cells:
        return ""
    where = ", ".join(cell_number(cell) for cell in cells[:5])
    ctx.flags.append(
        f"the weights of {best.model.name} changed after task 2.2 ended ({where}): tasks using the model later "
        "see the changed weights"
    )
    return f"; its weights were changed later, in {where}, which does not count against 2.2"


def best_of_states(ctx, *cells: int | None) -> Measured:
    """The best classifier over the given states of the notebook's models (a cell's end, or None for the
    end of the notebook): all are the student's own weights, so reading the notebook's task markers wrong
    can cost nothing."""
    found = [item for cell in dict.fromkeys(cells) for item in measured(ctx, cell)[:1]]
    if not found:
        return best_classifier(ctx)
    return max(found, key=lambda item: item.accuracy)


@suite.check(
    "2.2",
    4,
    "The trained model reaches 98% on the real MNIST test set (re-measured)",
    needs="full",
    rests_on=(TRAINING,),
)
def trained_accuracy(ctx):
    as_of = trained_cell(ctx)
    best = best_of_states(ctx, as_of, None)
    name, accuracy, how = best.model.name, best.accuracy, best.model.measured_how
    if accuracy < MIN_TEST_ACCURACY:
        raise CheckFailed(
            f"{name} classifies {accuracy:.2%} of the 10,000 test images correctly",
            expected=f">= {MIN_TEST_ACCURACY:.2%}",
            found=f"{accuracy:.2%}, {how}",
            cause="train for 5 epochs with Adam(lr=1e-3) and batch_size=128",
        )
    return f"{name}: {accuracy:.2%} {how}{changed_later(ctx, best, best.model.as_of_cell)}"


def when_measured(item: Measured) -> str:
    cell = item.model.as_of_cell
    return "at the end of the notebook" if cell is None else f"after {cell_number(cell)}"


@suite.check("2.2", 1, "The printed test accuracy agrees with the measurement", needs="full", rests_on=(TRAINING,))
def printed_accuracy(ctx):
    claim = accuracy_claims(ctx).reported_claim
    if claim is None:
        best = best_of_states(ctx, trained_cell(ctx), None)
        raise CheckFailed("no test accuracy is printed", expected=f"about {best.accuracy:.2%}", found="nothing")
    where = cell_number(claim.cell)
    states = [item for cell in dict.fromkeys([claim.cell, trained_cell(ctx), None]) for item in measured(ctx, cell)]
    if AccuracyClaims(accuracy_claims(ctx).stated, [item.accuracy for item in states]).agree:
        return f"{claim.percent:.2f}% printed in {where}"
    if not states:
        best_classifier(ctx)  # raises: no classifier is left to compare the claim with
    readings = "; ".join(f"{item.accuracy:.2%} ({item.model.name}, {when_measured(item)})" for item in states)
    ctx.flags.append(f"printed accuracy {claim.percent:.2f}% in {where} but the grader measured {readings}")
    raise CheckFailed(
        f"the accuracy printed in {where} is not what the notebook's models achieved then or later",
        expected=readings,
        found=f"{claim.percent:.2f}% printed in {where}",
    )


@suite.check("2.2", 1, "The training loss curve is plotted with labelled axes", needs="full")
def loss_curve(ctx):
    unnamed = []
    for figure in ctx.figures:
        for axes in plot_axes(figure):
            text = " ".join((axes["title"], axes["ylabel"], figure["suptitle"])).lower()
            pair_curves = any("→" in line["label"] or "->" in line["label"] for line in axes["lines"])
            if not axes["lines"] or pair_curves:
                continue
            if "loss" in text:
                ctx.cite(figure)
                if not missing_labels(axes, figure):
                    return None
                raise CheckFailed(
                    f"the loss curve in {cell_number(figure['cell'])} lacks a title or axis labels",
                    expected="title, x and y labels",
                    found=label_summary(axes),
                )
            if "loss" in cell_source(ctx, figure["cell"]).lower() and not any("->" in name for name in axes["legend"]):
                unnamed.append((figure, axes))
    if unnamed:
        figure, axes = unnamed[0]
        ctx.cite(figure)
        raise CheckFailed(
            f"a loss curve in {cell_number(figure['cell'])}, without a title or axis labels naming the loss",
            expected="title, x and y labels",
            found=label_summary(axes),
        )
    raise CheckFailed("no training loss curve found", expected="a line plot of the loss per epoch", found="none")


def hidden_counterfactual_inputs(ctx):
    images, _ = mnist_test(ctx)
    noise = torch.Generator().manual_seed(99)
    cases = []
    for index, target, p_target, lam in ((17, 8, 0.9, 0.1), (123, 2, 0.6, 0.02)):
        x = images[index : index + 1]
        x_prime = x + 0.3 * torch.randn(x.shape, generator=noise)
        cases.append((x_prime, x, target, p_target, lam))
    return cases


@suite.check(
    "2.3",
    4,
    "cf_loss equals the reference on hidden inputs",
    inputs="a seeded SmallCNN; two MNIST test images plus seeded noise as x_prime, varied targets",
)
def cf_loss_values(ctx):
    model, kernel_model = seeded_cnn(ctx)
    for x_prime, x, target, p_target, lam in hidden_counterfactual_inputs(ctx):
        got = ctx.student.call(
            "cf_loss", kernel_model, x_prime.clone().requires_grad_(True), x, target, p_target=p_target, lam=lam
        ).result
        expected = float(cf_loss(model, x_prime.clone().requires_grad_(True), x, target, p_target, lam).detach())
        value = float(got.detach()) if isinstance(got, torch.Tensor) and got.numel() == 1 else None
        if value is None or abs(value - expected) > 1e-5 * max(1.0, abs(expected)):
            raise CheckFailed(
                "cf_loss differs from (softmax(f(x'))[t] - p)^2 + lam * ||x' - x||_1",
                expected=f"{expected:.6g} for target {target}, p={p_target}, lam={lam}",
                found=describe_tensor(got) if value is None else f"{value:.6g}",
            )


@suite.check(
    "2.3",
    2,
    "cf_loss returns a scalar tensor that carries the gradient",
    inputs="a seeded SmallCNN; an MNIST test image with seeded noise as x_prime (requires grad)",
)
def cf_loss_gradient(ctx):
    _, kernel_model = seeded_cnn(ctx)
    x_prime, x, target, p_target, lam = hidden_counterfactual_inputs(ctx)[0]
    got = ctx.student.call(
        "cf_loss", kernel_model, x_prime.clone().requires_grad_(True), x, target, p_target, lam
    ).result
    if not isinstance(got, torch.Tensor) or got.numel() != 1 or not got.requires_grad:
        raise CheckFailed(
            "cf_loss must return a scalar tensor connected to x_prime",
            expected="0-d tensor, requires_grad",
            found=describe_tensor(got),
            cause="do not convert to float or call .item() inside cf_loss",
        )


def counterfactual_call(ctx, n_iter: int):
    _, kernel_model = seeded_cnn(ctx)
    x_prime, x, target, p_target, lam = hidden_counterfactual_inputs(ctx)[0]
    return ctx.remember(
        f"cf-{n_iter}",
        lambda: ctx.student.call(
            "find_counterfactual", kernel_model, x, target, p_target=p_target, lam=lam, lr=0.05, n_iter=n_iter
        ),
    )


def moved_from_input(ctx):
    """The call's outcome once the grader has seen that the returned image differs from the input:
    what the kernel reports about its search is not taken on trust, so returning the input earns
    nothing in 2.4."""
    outcome = counterfactual_call(ctx, 30)
    _, x, _, _, _ = hidden_counterfactual_inputs(ctx)[0]
    x_cf = outcome.result[0] if isinstance(outcome.result, tuple) and outcome.result else None
    if not isinstance(x_cf, torch.Tensor) or x_cf.numel() != x.numel():
        raise CheckFailed(
            "find_counterfactual must return (x_cf, loss_hist) with x_cf shaped like x",
            expected="a (1, 1, 28, 28) tensor first",
            found=describe_tensor(outcome.result),
        )
    x_cf = x_cf.detach().reshape(x.shape).to(torch.float32)
    change = float((x_cf - x).abs().max()) if bool(torch.isfinite(x_cf).all()) else float("nan")
    if not change > 0:
        raise CheckFailed(
            "find_counterfactual returned its input unchanged (or non-finite values), so its search cannot be judged",
            expected="x_cf != x after 30 Adam steps",
            found=f"largest pixel change {change:.3g}",
            cause="optimise a copy of x with requires_grad=True and return it",
        )
    return outcome


@suite.check("2.4", 3, "Every model parameter is bit-identical after find_counterfactual", inputs=COUNTERFACTUAL_INPUTS)
def counterfactual_frozen(ctx):
    model, _ = seeded_cnn(ctx)
    moved_from_input(ctx)
    ctx.student.run(f"__xaigrader_state = {KERNEL_CNN}.state_dict()")
    after = ctx.student.evaluate("__xaigrader_state")
    changed = [key for key, value in after.items() if not torch.equal(value, model.state_dict()[_reference_key(key)])]
    if changed:
        raise CheckFailed(
            "find_counterfactual changed the model's weights",
            expected="weights untouched",
            found="changed: " + ", ".join(changed),
            cause="the optimiser must act on [x_prime] only",
        )


def _reference_key(sequential_key: str) -> str:
    index, _, rest = sequential_key.partition(".")
    layer = {value: key for key, value in SEQUENTIAL_KEYS.items()}[index]
    return f"{layer}.{rest}"


@suite.check("2.4", 1, "find_counterfactual returns a detached (1, 1, 28, 28) tensor", inputs=COUNTERFACTUAL_INPUTS)
def counterfactual_result(ctx):
    outcome = moved_from_input(ctx)
    if not isinstance(outcome.result, tuple) or len(outcome.result) != 2:
        raise CheckFailed(
            "find_counterfactual must return (x_cf, loss_hist)",
            expected="2-tuple",
            found=describe_tensor(outcome.result),
        )
    wire = outcome.wire_result["$tuple"][0]
    if not isinstance(wire, dict) or wire.get("shape") != [1, 1, 28, 28] or wire.get("requires_grad"):
        raise CheckFailed(
            "x_cf must be detached with shape (1, 1, 28, 28)",
            expected="x_prime.detach()",
            found=describe_tensor(outcome.result[0]),
        )


@suite.check("2.4", 1, "The loss history holds n_iter floats", inputs=COUNTERFACTUAL_INPUTS)
def counterfactual_history(ctx):
    outcome = moved_from_input(ctx)
    history = outcome.result[1] if isinstance(outcome.result, tuple) else None
    if not isinstance(history, list) or len(history) != 30 or not all(isinstance(v, float) for v in history):
        raise CheckFailed(
            "loss_hist must be a list of n_iter Python floats",
            expected="30 floats",
            found=describe_tensor(history),
            cause="append loss.item() once per iteration",
        )


@suite.check("2.4", 3, "The optimisation trajectory equals the reference", inputs=COUNTERFACTUAL_INPUTS)
def counterfactual_trajectory(ctx):
    model, _ = seeded_cnn(ctx)
    outcome = counterfactual_call(ctx, 30)
    x_prime, x, target, p_target, lam = hidden_counterfactual_inputs(ctx)[0]
    expected_x, expected_history = find_counterfactual(model, x, target, p_target, lam, 0.05, 30)
    got_x, got_history = outcome.result
    history_gap = (
        max(abs(a - b) for a, b in zip(got_history, expected_history)) if len(got_history) == 30 else float("inf")
    )
    x_gap = float((got_x.detach().reshape(expected_x.shape) - expected_x).abs().max())
    if history_gap > 1e-4 * max(1.0, max(expected_history)) or x_gap > 1e-4:
        raise CheckFailed(
            "the loss history or x_cf differs from Adam(lr) on x' with the specified loss",
            expected=f"first losses {[round(v, 5) for v in expected_history[:3]]}",
            found=f"first losses {[round(float(v), 5) for v in got_history[:3]]}, largest pixel gap {x_gap:.3g}",
        )


def counterfactual_rows(ctx) -> list[tuple[dict, list[dict]]]:
    """Triples of 28 x 28 images in a row: original | difference | counterfactual."""
    rows = []
    for figure in ctx.figures:
        axes = image_axes(figure, ndim=2, shape=(28, 28))
        if len(axes) >= 10:
            continue
        for start in range(0, len(axes) - 2, 3):
            rows.append((figure, axes[start : start + 3]))
    return rows


@suite.check("2.5", 3, "Three rows: original, difference, counterfactual", needs="full")
def pair_rows(ctx):
    rows = counterfactual_rows(ctx)
    ctx.cite(*[figure for figure, _ in rows])
    show_counterfactual_reference(ctx)
    if len(rows) < 3:
        raise CheckFailed(
            "fewer than three rows of (original, difference, counterfactual) images",
            expected="3 rows of 3 images",
            found=f"{len(rows)} rows",
            fraction=len(rows) / 3,
        )


@suite.check("2.5", 3, "The difference uses a diverging colormap centred at zero", needs="full")
def pair_difference_colormap(ctx):
    rows = counterfactual_rows(ctx)[:3]
    ctx.cite(*[figure for figure, _ in rows])
    good = [
        row for _, row in rows if row[1]["images"][0]["cmap"] in DIVERGING_CMAPS and is_centred(row[1]["images"][0])
    ]
    if len(good) < 3:
        found = [
            f"{row[1]['images'][0]['cmap']} [{row[1]['images'][0]['vmin']}, {row[1]['images'][0]['vmax']}]"
            for _, row in rows
        ]
        raise CheckFailed(
            "the pixel difference must use a diverging colormap with vmin = -vmax",
            expected="cmap='bwr', vmin=-m, vmax=m",
            found="; ".join(found) or "no rows",
            fraction=len(good) / 3,
        )


def reference_pair_runs(ctx):
    """The reference search on the reference SmallCNN: what a correct 2.5 figure looks like.

    The trained model comes from the cache (trained once per cache folder, see ``reference_model``).
    """

    def compute():
        trained = ctx.reference_model("small_cnn", reference_small_cnn)
        images, labels = mnist_test(ctx)
        return run_digit_pairs(trained.model, images, labels)

    return ctx.remember("reference_pairs", compute)


def show_counterfactual_reference(ctx) -> None:
    rows = []
    for run in reference_pair_runs(ctx):
        original, counterfactual = run.x_orig[0, 0].numpy(), run.x_cf[0, 0].numpy()
        rows.append(
            [
                Panel(original, f"original {run.source}", "gray"),
                Panel(counterfactual - original, "x_cf - x", "bwr", centred=True, colorbar=True),
                Panel(counterfactual, f"counterfactual (pred {run.counterfactual_prediction})", "gray"),
            ]
        )
    ctx.show_reference(
        "counterfactual-rows",
        "the reference search on the reference SmallCNN (lambda 0.1, 500 steps)",
        rows,
        "3->8, 1->7, 4->9",
    )


def student_l1(ctx, source: int, target: int, lam: float) -> float:
    model = best_classifier(ctx, trained_cell(ctx)).model
    name = model.name
    images, labels = mnist_test(ctx)
    key = f"l1-{source}-{target}-{lam}"

    def compute():
        with torch.no_grad():
            logits = classifier_of(ctx.student, model, AS_GIVEN)(images[:2000])
        predictions = logits.argmax(dim=1)
        index = next(
            (int(i) for i in torch.nonzero(labels[:2000] == source).flatten() if predictions[int(i)] == source), None
        )
        if index is None:
            raise CheckFailed(
                f"{name} classifies no test image of digit {source} correctly, so there is no example to explain",
                expected="a trained model",
                found=f"{name} untrained or broken",
            )
        x = images[index : index + 1]
        x_cf, _ = ctx.student.call("find_counterfactual", KernelObject(name), x, target, 0.90, lam, 0.05, 500).result
        return float((x_cf.detach() - x).abs().sum())

    return ctx.remember(key, compute)


def numbers_printed(ctx) -> list[float]:
    return [float(n) for n in re.findall(r"(?<![\w.])\d+\.\d+", printed(ctx))]


def close_to_any(value: float, candidates: list[float]) -> bool:
    return any(abs(value - c) <= max(0.01, 0.01 * abs(value)) for c in candidates)


@suite.check("2.5", 3, "The printed L1 distances match the grader's recomputation", needs="full")
def pair_distances(ctx):
    numbers = numbers_printed(ctx)
    missing = []
    for source, target in DIGIT_PAIRS:
        distance = student_l1(ctx, source, target, 0.10)
        if not close_to_any(distance, numbers):
            missing.append(f"{source}->{target}: {distance:.3f}")
    if missing:
        raise CheckFailed(
            "printed L1 distances do not match a rerun of the notebook's own find_counterfactual",
            expected="; ".join(missing),
            found="not among the printed numbers",
            fraction=(3 - len(missing)) / 3,
        )


@suite.check("2.6", 2, "Three loss curves with a legend naming the pairs", needs="full")
def pair_loss_curves(ctx):
    for figure in ctx.figures:
        for axes in plot_axes(figure):
            legend = " ".join(axes["legend"])
            named = sum(bool(re.search(rf"{s}\D{{0,6}}{t}", legend)) for s, t in DIGIT_PAIRS)
            if len(axes["lines"]) >= 3 and named == 3:
                ctx.cite(figure)
                if not missing_labels(axes, figure):
                    return None
                raise CheckFailed(
                    "the loss curves lack a title or axis labels",
                    expected="title, x and y labels",
                    found=label_summary(axes),
                    fraction=0.5,
                )
    raise CheckFailed(
        "no figure with three loss curves and a legend naming 3->8, 1->7, 4->9",
        expected="legend entries for the three pairs",
        found="none",
    )


@suite.check("2.7", 2, "A 2 x 5 grid of counterfactuals and differences over lambda", needs="full")
def lambda_grid(ctx):
    grids = []
    for figure in ctx.figures:
        panels = image_axes(figure, ndim=2, shape=(28, 28))
        if len(panels) < 10:
            continue
        grid = panels[0]["grid"]
        if sorted(grid or []) == [2, 5]:
            ctx.cite(figure)
            return None
        shape = f"a {grid[0]} x {grid[1]} grid" if grid else "panels outside a grid"
        grids.append(shape)
        ctx.consider(figure, f"{shape} of 28 x 28 images, not 2 x 5")
    raise CheckFailed(
        "no 2 x 5 grid of 28 x 28 panels (5 lambdas x counterfactual and difference)",
        expected="plt.subplots(2, 5)",
        found=", ".join(grids) or "none",
    )


def lambda_line(ctx):
    for figure in ctx.figures:
        for axes in plot_axes(figure):
            for line in axes["lines"]:
                xs = line["x"]
                if len(xs) == len(LAMBDA_SWEEP) and all(
                    x is not None and abs(x - lam) < 1e-9 for x, lam in zip(xs, LAMBDA_SWEEP)
                ):
                    return axes, line
    return None, None


@suite.check("2.7", 1, "L1 distance plotted against lambda on a log x-axis", needs="full")
def lambda_plot(ctx):
    axes, _ = lambda_line(ctx)
    ctx.cite(*[figure for figure in ctx.figures if axes is not None and axes in figure["axes"]])
    if axes is None:
        raise CheckFailed(
            "no line plotted over the five lambda values", expected="x = [0.001, 0.01, 0.1, 0.5, 2.0]", found="none"
        )
    if axes["xscale"] != "log":
        raise CheckFailed("the lambda axis should be logarithmic", expected="xscale log", found=axes["xscale"])
    if missing_labels(axes):
        raise CheckFailed(
            "the L1-vs-lambda plot lacks a title or axis labels",
            expected="title, x and y labels",
            found=label_summary(axes),
            fraction=0.5,
        )


@suite.check("2.7", 2, "The L1 distances over lambda match the grader's recomputation", needs="full")
def lambda_distances(ctx):
    _, line = lambda_line(ctx)
    reported = (line["y"] if line else []) + numbers_printed(ctx)
    wrong = []
    for lam in LAMBDA_SWEEP:
        distance = student_l1(ctx, 3, 8, lam)
        if not close_to_any(distance, [v for v in reported if v is not None]):
            wrong.append(f"lambda {lam}: {distance:.3f}")
    if wrong:
        raise CheckFailed(
            "reported L1 distances do not match a rerun of the notebook's own find_counterfactual",
            expected="; ".join(wrong),
            found="not plotted or printed",
            fraction=1 - len(wrong) / 5,
        )
