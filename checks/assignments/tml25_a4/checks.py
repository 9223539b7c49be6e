"""The TML25 A4 check suite. Most marks are the TA's, for the analysis in the team's reports; these checks
give the TA what the repository shows and recompute what can be recomputed: the CLIP-dissect outputs it
committed; every Grad-CAM, AblationCAM and ScoreCAM map it drew, against the grader's own map of the same
image (when they differ, the variant that matches names the mistake); the LIME panels of the ten images,
beside the explanations its own parameters give; its Deliverable 4 pickle, read safely and scored as the
course's scoreboard does; the IoUs it states, recomputed from its own regions, and whether its LIME and
Grad-CAM panels are on one grid; and the README and report PDF the assignment asks for. Nothing the team's
kernels computed decides a mark: the maps are taken out of the figures and the numbers are recomputed here.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import zipfile
from collections import Counter
from collections.abc import Collection
from dataclasses import asdict, dataclass, replace

import numpy as np
from skimage.segmentation import mark_boundaries

from checks.assignments.tml25_a4.lime_params import LIMITS, read_lime_parameters
from checks.assignments.tml25_a4.lime_scoring import LimeScore, ScoringOptions, score_lime_pickle
from checks.data.files import write_bytes_atomically, write_json
from checks.engine.notebook import cell_number
from checks.engine.repository_files import UnreadableFile, read_repository_file
from checks.finders.cam_overlays import map_correlation
from checks.finders.dissection_outputs import compare, read_dissections
from checks.finders.iou_code import cell_trees, intersects, random_in, typed_in
from checks.finders.lime_outlines import outline_overlap
from checks.finders.printed_output import cell_output_text
from checks.grading.check_api import CheckFailed, CheckSuite, NeedsTA
from checks.grading.reference_figures import Panel
from reference.tml25_a4 import IMAGE_KEYS, image_map, resnet50
from reference.tml25_a4.images import CROP
from reference.tml25_a4.iou import cam_region, iou

from .findings import (
    SQUASHED,
    CamPanel,
    LimePanel,
    cam_panels,
    cam_setup,
    crops,
    files_of_kind,
    inventory,
    lime_panels,
    resized_image,
)

suite = CheckSuite()

AGREEMENT = 0.8  # correlation of a team's map with the grader's on the 224 x 224 crop
EXPECTED_LAYERS = ("layer4[-1]", "layer4", "layer4[2]", "layer4[-1].conv3", "layer4[2].conv3")
LABELLED_SHARE = 0.9  # of a layer's neurons, for the layer to count as labelled
LAST_LAYERS = 3
SCORING = ScoringOptions(cut_off_s=600, repeats=1)
REPORT_SHARE = 0.6  # of the documentation marks, for a readable report PDF; the rest is the README's
IOU_LINE = re.compile(r"iou|intersection over union|jaccard", re.IGNORECASE)
NUMBER = re.compile(r"(?<![\w.])(\d{1,3}(?:\.\d+)?|\.\d+)\s*(%?)")
LIME_GRID = "IMAGENET1K_V2"  # the crop the scorer explains
RANDOM_LIME = "LIME samples at random, so a difference is no mistake by itself"
NO_THRESHOLD = "the team's code states no threshold the grader reads"
SCOREBOARD_REGION = "the five superpixels of largest positive weight for the predicted class"
THRESHOLD = re.compile(r">=?\s*(?:(?P<kind>percentile|quantile)\s+)?(?P<level>\d+(?:\.\d+)?)")
TYPED_IOUS = 2  # printed IoUs that may also stand in the code as numbers (a threshold, say) before a TA looks


@dataclass(frozen=True)
class Variant:
    """How a Grad-CAM map can be made; the expected one is the last layer's map of the predicted class of the
    normalised input."""

    normalise: bool
    target: int | None  # None: the predicted class

    def differences(self) -> list[str]:
        return [
            *([] if self.normalise else ["the model was given pixels without ImageNet's normalisation"]),
            *(
                []
                if self.target is None
                else [f"every map explains class {self.target}, not the image's predicted class: a constant target"]
            ),
        ]


VARIANTS = (Variant(True, None), Variant(False, None), Variant(True, 0), Variant(False, 0))


def _grader_map(ctx, item: CamPanel, variant: Variant) -> np.ndarray:
    network = ctx.remember(f"resnet50_{item.version}", lambda: resnet50(ctx.data, item.version))
    cam, _ = image_map(
        ctx.data,
        network,
        item.key,
        item.method,
        version=item.version,
        target=variant.target,
        normalise=variant.normalise,
        cache_dir=ctx.cache_dir,
    )
    return cam


def _judge_map(ctx, item: CamPanel) -> tuple[bool, str]:
    """Whether a CAM panel's map is the grader's map of that method, and what was found. ScoreCAM takes a
    forward pass per channel (minutes an image here), so only Grad-CAM and AblationCAM maps are also tried
    against the usual mistakes."""
    expected = map_correlation(item.cam, _grader_map(ctx, item, VARIANTS[0]))
    where = f"{item.key} ({cell_number(item.panel.cell) if isinstance(item.panel.cell, int) else 'a figure'})"
    if expected >= AGREEMENT:
        return True, f"{where}: correlation {expected:.2f}"
    if item.method == "scorecam":
        return False, f"{where}: correlation {expected:.2f}"
    scores = {variant: map_correlation(item.cam, _grader_map(ctx, item, variant)) for variant in VARIANTS[1:]}
    closest = max(scores, key=scores.get)
    if scores[closest] >= AGREEMENT:
        return False, f"{where}: {'; '.join(closest.differences())} (correlation {scores[closest]:.2f} with that map)"
    return False, f"{where}: correlation {expected:.2f}, and none of the usual mistakes reproduces it"


def judged_maps(ctx, method: str) -> tuple[dict[str, tuple[bool, str]], list[str]]:
    """Each image's first panel of ``method`` judged against the grader's map (later panels of an image are no
    second guesses), and why the panels that could not be read were not."""
    judged: dict[str, tuple[bool, str]] = {}
    unread = []
    for item in cam_panels(ctx):
        if item.method != method:
            continue
        if item.cam is None or item.key is None:
            unread.append(f"{item.panel.title[:60]!r}: {item.why}")
            continue
        if item.key not in judged:
            judged[item.key] = _judge_map(ctx, item)
            ctx.cite(item.panel.figure)
    return judged, unread


@suite.check("1", 5, "CLIP-dissect labels the last three layers of both ResNet18s, and what they learned is counted")
def dissection_outputs(ctx) -> str:
    found = read_dissections(ctx.repository)
    models = {}
    for dissection in found:
        complete = [
            layer for layer in dissection.layers if layer.expected and layer.labelled >= LABELLED_SHARE * layer.expected
        ]
        if dissection.model != "unknown" and len(complete) >= LAST_LAYERS:
            models.setdefault(dissection.model, dissection)
    summary = [sentence for dissection in models.values() for sentence in dissection.sentences()[:4]]
    if len(models) == 2:
        first, second = models.values()
        return "; ".join(sentence.rstrip(".") for sentence in summary + compare(first, second).sentences()[:3])
    looked = [f"{dissection.path} ({dissection.model})" for dissection in found] or ["no CLIP-dissect output"]
    raise CheckFailed(
        f"{len(models)} of the two models has its last three layers labelled by committed CLIP-dissect outputs",
        expected="descriptions.csv (and args.txt) of ResNet18 ImageNet and ResNet18 Places365, three layers each",
        found="; ".join(looked),
        fraction=0.5 * len(models),
    )


@suite.check("2", 10, "Grad-CAM of each of the ten images, recomputed by the grader", needs="full")
def gradcam_maps(ctx) -> str:
    judged, unread = judged_maps(ctx, "gradcam")
    agreeing = sorted(key for key, (agrees, _) in judged.items() if agrees)
    if len(agreeing) == len(IMAGE_KEYS):
        return f"the Grad-CAM maps of all ten images agree with the grader's (correlation >= {AGREEMENT})"
    wrong = [said for agrees, said in judged.values() if not agrees]
    missing = [key for key in IMAGE_KEYS if key not in judged]
    setup = [sentence for sentence in cam_setup(ctx).sentences() if "target" in sentence.lower()][:2]
    raise CheckFailed(
        f"{len(agreeing)} of the ten images have a Grad-CAM map that agrees with the grader's",
        expected="each image's Grad-CAM at layer4[-1] for the model's predicted class, on the normalised input",
        found="; ".join(wrong + ([f"no Grad-CAM panel of {', '.join(missing)}"] if missing else []) + unread[:3]),
        cause="; ".join(setup) or None,
        fraction=len(agreeing) / len(IMAGE_KEYS),
    )


@suite.check("2", 5, "AblationCAM and ScoreCAM of the ten images, recomputed by the grader", needs="full")
def other_cams(ctx) -> str:
    names = {"ablationcam": "AblationCAM", "scorecam": "ScoreCAM"}
    judged = {method: judged_maps(ctx, method) for method in names}
    agreeing = {method: sum(agrees for agrees, _ in found.values()) for method, (found, _) in judged.items()}
    if all(count == len(IMAGE_KEYS) for count in agreeing.values()):
        return (
            f"the AblationCAM and ScoreCAM maps of all ten images agree with the grader's (correlation >= {AGREEMENT})"
        )
    said = [
        f"{names[method]}: {len(found)} of 10 images drawn, {agreeing[method]} agreeing"
        for method, (found, _) in judged.items()
    ]
    wrong = [
        f"{names[method]} {text}"
        for method, (found, _) in judged.items()
        for agrees, text in found.values()
        if not agrees
    ]
    unread = [f"{names[method]} {text}" for method, (_, texts) in judged.items() for text in texts]
    cut = [
        cell.index
        for cell in ctx.run.cells
        if cell.status == "timeout" and _builds(ctx, cell.index, tuple(names.values()))
    ]
    if cut:
        cells = ", ".join(map(cell_number, cut))
        unsaved = [cell for cell in cut if cell not in ctx.saved_outputs]
        then = (
            "the notebook was handed in without its output, so grading again with a larger --cell-timeout (these "
            "maps take minutes an image on a CPU) settles it, or a TA marks it from the report's figures"
            if unsaved
            else "a TA judges the saved output beside it"
        )
        raise NeedsTA(f"{'; '.join(said)}; {cells} ran past the time limit here: {then}")
    raise CheckFailed(
        "the AblationCAM and ScoreCAM maps of the ten images do not all agree with the grader's",
        expected="an AblationCAM and a ScoreCAM map of each image at layer4[-1] for the predicted class",
        found="; ".join(said + wrong[:6] + unread[:3]),
        fraction=sum(agreeing.values()) / (2 * len(IMAGE_KEYS)),
    )


def _builds(ctx, cell: int, classes: tuple[str, ...]) -> bool:
    return any(method.cell == cell and method.name in classes for method in cam_setup(ctx).methods)


@suite.check("3", 10, "LIME explanations drawn for the ten images", needs="full")
def lime_explanations(ctx) -> str:
    shown: dict[str, LimePanel] = {}
    for item in lime_panels(ctx):
        shown.setdefault(item.key, item)
        ctx.cite(item.panel.figure)
    recomputed = _recomputed_lime(ctx, shown)
    if len(shown) == len(IMAGE_KEYS):
        return f"LIME explanations of all ten images are drawn (a TA compares them with Grad-CAM's){recomputed}"
    failure = _short_of_ten(
        shown,
        "LIME explanations of {} of the ten images are drawn",
        "a LIME explanation (e.g. mark_boundaries of get_image_and_mask) of each of the ten images",
    )
    failure.message += recomputed
    raise failure


def _recomputed_lime(ctx, shown: dict[str, LimePanel]) -> str:
    """Each image's explanation recomputed from the team's own Deliverable 4 parameters, drawn for the TA beside
    the team's, and how far the team's drawn ones show the same superpixels."""
    found = scored(ctx)
    if found is None or not found[1].masks:
        return "; no valid Deliverable 4 pickle to recompute them from"
    path, score = found
    photos = {key: crops(ctx)[(LIME_GRID, key)] for key in score.masks}
    drawn = {key: mark_boundaries(photos[key], score.masks[key].astype(int)) for key in score.masks}
    keys = [key for key in IMAGE_KEYS if key in drawn]
    rows = [[Panel(drawn[key], key) for key in keys[start : start + 5]] for start in range(0, len(keys), 5)]
    ctx.show_reference(
        "lime", f"the grader's LIME explanations from {path} (seed {SCORING.seed}): {SCOREBOARD_REGION}", rows
    )
    overlaps = [
        outline_overlap(resized_image(item.panel.colour, (CROP, CROP)), photos[key], score.masks[key])
        for key, item in shown.items()
        if item.grid == LIME_GRID and key in score.masks
    ]
    said = f"; recomputed from {path} for {len(keys)} images and drawn beside them"
    if not overlaps:
        return said
    agreement = float(np.median(overlaps))
    return (
        f"{said}: the team's drawn superpixels agree with them by {agreement:.2f} at the median (1: the same "
        f"superpixels; they differ when the team's explainer sampled otherwise, unseeded, or it drew another region "
        f"than {SCOREBOARD_REGION})"
    )


def _short_of_ten(done: Collection[str], what: str, expected: str) -> CheckFailed:
    """The failure of a check that wants something of each of the ten images and has it for ``done``."""
    missing = [key for key in IMAGE_KEYS if key not in done]
    return CheckFailed(
        what.format(len(done)),
        expected=expected,
        found=f"none for {', '.join(missing)}",
        fraction=len(done) / len(IMAGE_KEYS),
    )


def _pickles(ctx) -> list[tuple[str, bytes | str]]:
    """Each pickle of the repository and its bytes, or why it could not be read."""
    read = []
    for path in files_of_kind(ctx, "pickles")[:5]:
        try:
            read.append((path, read_repository_file(ctx.repository, path, LIMITS.max_bytes)))
        except UnreadableFile as error:
            read.append((path, str(error)))
    return read


def deliverable_pickle(ctx) -> tuple[str, bytes] | None:
    """The pickle of LIME parameters: the one that reads as valid, else the first that reads at all."""

    def choose() -> tuple[str, bytes] | None:
        readable = [(path, data) for path, data in _pickles(ctx) if isinstance(data, bytes)]
        valid = [(path, data) for path, data in readable if read_lime_parameters(data).valid]
        return (valid or readable or [None])[0]

    return ctx.remember("tml25_pickle", choose)


@suite.check("4", 10, "The Deliverable 4 pickle holds valid explain_instance arguments for exactly the ten images")
def lime_parameters(ctx) -> str:
    chosen = deliverable_pickle(ctx)
    if chosen is None:
        unread = [f"{path}: {data}" for path, data in _pickles(ctx) if isinstance(data, str)]
        raise CheckFailed(
            "no pickle of LIME parameters in the repository",
            expected="a .pkl file of a dict keyed by the ten image names",
            found="; ".join(unread) or "no .pkl, .pickle or .p file",
        )
    path, data = chosen
    parameters = read_lime_parameters(data)
    images_of: dict[str, list[str]] = {}
    for key, items in parameters.notes.items():
        for note in items:
            images_of.setdefault(note, []).append(key)
    notes = [f"{_which_images(keys)}: {note}" for note, keys in images_of.items()][:5]
    if parameters.valid:
        return f"{path} is valid" + (f" ({'; '.join(notes)})" if notes else "")
    problems = [f"{key}: {problem}" for key, items in parameters.problems.items() for problem in items]
    raise CheckFailed(
        f"{path} cannot be scored: {len(problems)} problem(s)",
        expected="the ten keys exactly as listed, each a dict of explain_instance arguments the scorer accepts",
        found="; ".join(problems[:8]),
    )


def _which_images(keys: list[str]) -> str:
    return "every image" if len(set(keys)) == len(IMAGE_KEYS) else ", ".join(keys)


def stored_score(ctx, pickled: bytes) -> LimeScore:
    """The pickle's score, computed once per cache folder: the same pickle always gets the same IoU, and teams
    often send the same parameters, so a class scores each distinct pickle once (as the course's server would).
    Its masks are kept beside it, for the TA to see the explanations the parameters give."""
    key = hashlib.sha256(pickled + json.dumps(asdict(SCORING), default=str).encode()).hexdigest()
    stored = ctx.cache_dir / "tml25-lime-scores" / f"{key}.json"
    masks = stored.with_suffix(".npz")
    try:
        result = LimeScore(**json.loads(stored.read_text(encoding="utf-8")))
        with np.load(masks, allow_pickle=False) as saved:
            result.masks = {name: saved[name] for name in IMAGE_KEYS if name in saved.files}
        return result
    except (OSError, ValueError, TypeError, zipfile.BadZipFile):
        result = score_lime_pickle(pickled, ctx.data, SCORING)
    if result.complete:
        stored.parent.mkdir(parents=True, exist_ok=True)
        write_bytes_atomically(masks, _npz(result.masks))
        write_json(stored, asdict(replace(result, masks={})))
    return result


def _npz(masks: dict[str, np.ndarray]) -> bytes:
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **masks)
    return buffer.getvalue()


def scored(ctx) -> tuple[str, LimeScore] | None:
    """The Deliverable 4 pickle and its score, when it is valid."""
    chosen = deliverable_pickle(ctx)
    if chosen is None or not read_lime_parameters(chosen[1]).valid:
        return None
    return chosen[0], ctx.remember("tml25_lime_score", lambda: stored_score(ctx, chosen[1]))


@suite.check("4", 5, "The pickle scores as the scoreboard scores it (IoU with the ground truth, time)", needs="full")
def lime_score(ctx) -> str:
    found = scored(ctx)
    if found is None:
        raise CheckFailed("no valid pickle of LIME parameters to score (see the check above)")
    path, result = found
    if not result.complete:
        raise CheckFailed(f"{path}: {result.message()}")
    return f"{path}: {result.message()}; ground truth: {result.ground_truth}"


def _stated_iou(line: str, names: dict[str, re.Pattern[str]]) -> tuple[str, float] | None:
    """(image, IoU) a printed line states: one image's name, then a number in [0, 1] (or a percentage)."""
    found = [(key, match) for key, name in names.items() if (match := name.search(line))]
    if len(found) != 1:
        return None
    key, match = found[0]
    numbers = NUMBER.findall(line[match.end() :])
    if not numbers:
        return None
    value, percent = numbers[-1]
    iou = float(value) / (100 if percent else 1)
    return (key, iou) if 0 <= iou <= 1 else None


def _stated_ious(ctx) -> dict[str, tuple[float, int]]:
    """Per image, an IoU a line of the notebooks' output states beside the image's name, and the cell."""
    names = {key: re.compile(re.escape(key).replace("_", r"[\s_-]?"), re.IGNORECASE) for key in IMAGE_KEYS}
    stated: dict[str, tuple[float, int]] = {}
    for index, cell in enumerate(ctx.executed.cells):
        if cell.cell_type != "code":
            continue
        about_iou = bool(IOU_LINE.search(str(cell.source)))
        for line in cell_output_text(cell).splitlines():
            found = _stated_iou(line, names) if about_iou or IOU_LINE.search(line) else None
            if found:
                stated.setdefault(found[0], (found[1], index))
    return stated


def _grids_apart(ctx) -> str | None:
    """Why the LIME and Grad-CAM regions a team intersects cover different pixels, when its panels show it: LIME
    handed the whole photo squashed to 224 x 224 and Grad-CAM run on the centre crop, say."""
    lime = Counter(item.grid for item in lime_panels(ctx))
    cams = Counter(item.version for item in cam_panels(ctx) if item.method == "gradcam" and item.version)
    if not lime or not cams or (lime.most_common(1)[0][0] == SQUASHED) == (cams.most_common(1)[0][0] == SQUASHED):
        return None
    grids = {"the LIME explanations": lime, "the Grad-CAM maps": cams}
    said = [f"{what} are drawn on {_grid_name(counts.most_common(1)[0][0])}" for what, counts in grids.items()]
    return f"{' and '.join(said)}: their regions cover different pixels unless the code aligns them"


def _grid_name(grid: str) -> str:
    return "the whole photo squashed to 224 x 224" if grid == SQUASHED else f"the 224 x 224 centre crop ({grid})"


@suite.check("5", 5, "IoU of Grad-CAM and LIME regions stated for the ten images, computed by code", needs="full")
def iou_values(ctx) -> str:
    stated = _stated_ious(ctx)
    cells = sorted({cell for _, cell in stated.values()})
    notebook = cell_trees(str(cell.source) for cell in ctx.executed.cells if cell.cell_type == "code")
    printing = cell_trees(str(ctx.executed.cells[cell].source) for cell in cells)
    if any(random_in(tree, notebook) for tree in printing):
        raise CheckFailed(
            "the IoU values are drawn at random, not computed from the maps",
            found=f"{', '.join(map(cell_number, cells))} prints them from random numbers",
        )
    if len(stated) < len(IMAGE_KEYS):
        raise _short_of_ten(
            stated,
            "IoU values of {} of the ten images are printed",
            "one IoU per image, printed by the code that computes it",
        )
    typed = typed_in([value for value, _ in stated.values()], notebook)
    if len(typed) > TYPED_IOUS:
        raise NeedsTA(f"{len(typed)} of the printed IoUs are written in the code as numbers, not computed there")
    if not intersects(notebook):
        raise NeedsTA("IoUs of all ten images are printed, but no code intersects two regions")
    apart = _grids_apart(ctx)
    if apart:
        raise NeedsTA(f"IoUs of all ten images are printed, but {apart}")
    values = ", ".join(f"{key} {value:.2f}" for key, (value, _) in stated.items())
    said = f"IoUs of all ten images, computed in {', '.join(map(cell_number, cells))}: {values}"
    return said + _recomputed_ious(ctx, {key: value for key, (value, _) in stated.items()})


def region_rule(threshold: str) -> str | float | None:
    """``cam_region``'s rule for a threshold ``cam_setup`` read (">= percentile 80", "> 0.5", "> 127"), or None."""
    match = THRESHOLD.fullmatch(threshold.strip())
    if match is None:
        return None
    kind, level = match["kind"], float(match["level"])
    if kind == "percentile" and 0 <= level < 100:
        return f"top{100 - level:g}"
    if kind == "quantile" and 0 <= level < 1:
        return f"top{100 - 100 * level:g}"
    if not kind and 0 < level < 1:
        return level
    return level / 255 if not kind and 1 <= level < 255 else None


def _recomputed_ious(ctx, stated: dict[str, float]) -> str:
    """The IoUs recomputed from the team's own regions: its Grad-CAM maps as its figures show them, and the LIME
    regions its Deliverable 4 parameters give, under the threshold its code states (else the top 20 %)."""
    found = scored(ctx)
    maps = {}
    for item in cam_panels(ctx):
        if item.method == "gradcam" and item.cam is not None and item.version == LIME_GRID:
            maps.setdefault(item.key, np.clip(item.cam, 0, 1))
    if found is None or not found[1].masks or not maps:
        return ""
    path, score = found
    rules = [
        (f"the team's threshold (map {reading.value})", rule)
        for reading in cam_setup(ctx).iou_threshold
        if (rule := region_rule(str(reading.value))) is not None
    ]
    said_rule, rule = rules[0] if rules else (f"the top 20 % ({NO_THRESHOLD})", "top20")
    recomputed = {key: iou(cam_region(cam, rule), score.masks[key]) for key, cam in maps.items() if key in score.masks}
    if not recomputed:
        return ""
    team = np.mean([stated[key] for key in recomputed])
    return (
        f"; recomputed from the team's Grad-CAM maps and the LIME regions of {path} under {said_rule}, "
        f"{len(recomputed)} images average {np.mean(list(recomputed.values())):.2f} where the team states "
        f"{team:.2f} ({RANDOM_LIME})"
    )


@suite.check("6", 5, "A report PDF with text, and a README whose links resolve")
def documentation(ctx) -> str:
    found = inventory(ctx)
    readable = [report for report in ctx.reports if not report.problem and report.text.strip()]
    said = [report.sentence() for report in ctx.reports] or ["no report PDF"]
    readme = found.flags()
    if readable and not readme:
        return f"{'; '.join(said)}; {found.readme}: every link resolves"
    raise CheckFailed(
        "; ".join(([] if readable else ["no report PDF the grader could read"]) + readme),
        expected="a report PDF (the written analysis) and a README.md pointing at the important files",
        found="; ".join(said),
        fraction=(REPORT_SHARE if readable else 0) + (0 if readme else 1 - REPORT_SHARE),
    )
