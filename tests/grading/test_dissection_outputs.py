"""TML25 A4 Task 1: the descriptions.csv and args.txt a team's CLIP-dissect runs wrote, found by their
header wherever and however the team saved them, and read within bounds (files, bytes, rows, text)."""

from __future__ import annotations

import csv
import io
import json
import random
from collections import Counter
from pathlib import Path

import pytest

from checks.finders import dissection_outputs
from checks.finders.dissection_outputs import IMAGENET, PLACES, UNKNOWN, Dissection, compare, read_dissections

OBJECTS = ["dog", "cat", "bird", "fish", "car", "bus", "boat", "airplane", "person", "head", "wheel", "flower"]
SCENES = ["kitchen-s", "bedroom-s", "street-s", "forest", "mountain", "sea", "building", "ceiling", "floor", "bed"]
STUFF = ["grass", "sky", "water", "sand", "snow", "tree", "road", "wall", "window", "wood", "metal", "glass"]
COLOURS_AND_TEXTURES = ["red-c", "blue-c", "green-c", "white-c", "black-c", "striped", "dotted", "chequered"]
SIZES = {"layer2": 128, "layer3": 256, "layer4": 512}


def labels(model: str, layers: dict[str, int], seed: int) -> list[tuple[str, int, str, str]]:
    """Rows as describe_neurons.py writes them: the ImageNet model leans to objects, the Places one to scenes."""
    rng = random.Random(seed)
    vocabulary = OBJECTS + SCENES + STUFF + COLOURS_AND_TEXTURES
    leaning = OBJECTS if model == "resnet18" else SCENES
    weights = [4 if concept in leaning else 1 for concept in vocabulary]
    return [
        (layer, unit, rng.choices(vocabulary, weights)[0], f"{rng.uniform(0.05, 0.4):.8f}")
        for layer, size in layers.items()
        for unit in range(size)
    ]


def csv_text(rows: list[tuple[object, ...]], separator: str = ",", index: bool = False) -> str:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=separator, lineterminator="\n")
    writer.writerow(([""] if index else []) + ["layer", "unit", "description", "similarity"])
    for number, row in enumerate(rows):
        writer.writerow(([number] if index else []) + list(row))
    return out.getvalue()


def clip_dissect_args(model: str, layers: list[str]) -> dict[str, object]:
    return {
        "clip_model": "ViT-B/16",
        "target_model": model,
        "target_layers": layers,
        "d_probe": "broden",
        "concept_set": "data/broden_labels_clean.txt",
        "batch_size": 200,
        "device": "cuda",
        "activation_dir": "saved_activations",
        "result_dir": "results",
        "pool_mode": "avg",
        "similarity_fn": "soft_wpmi",
    }


def write_run(
    root: Path, model: str, seed: int, layers: dict[str, int] | None = None, **style
) -> list[tuple[str, int, str, str]]:
    """A results/<model>_<time>/ folder as describe_neurons.py leaves it; the rows it wrote."""
    layers = layers or SIZES
    folder = root / "results" / f"{model}_25_07_01_10_{seed:02d}"
    folder.mkdir(parents=True)
    rows = labels(model, layers, seed)
    (folder / "descriptions.csv").write_text(csv_text(rows, **style))
    with open(folder / "args.txt", "w") as file:
        json.dump(clip_dissect_args(model, list(layers)), file, indent=2)
    return rows


def counted(rows: list[tuple[str, int, str, str]], layer: str | None = None) -> Counter[str]:
    return Counter(row[2].removesuffix("-c").removesuffix("-s") for row in rows if layer in (None, row[0]))


def by_path(root: Path) -> dict[str, Dissection]:
    return {dissection.path: dissection for dissection in read_dissections(root)}


def test_runs_of_both_models_are_read_with_their_arguments_and_counted_per_layer(tmp_path: Path):
    imagenet_rows = write_run(tmp_path, "resnet18", 1)
    places_rows = write_run(tmp_path, "resnet18_places", 2)
    imagenet, places = read_dissections(tmp_path)
    assert imagenet.path == "results/resnet18_25_07_01_10_01/descriptions.csv"
    assert (imagenet.model, places.model) == (IMAGENET, PLACES)
    assert places.args_path == "results/resnet18_places_25_07_01_10_02/args.txt"
    assert (places.target_model, places.probe_dataset, places.concept_set) == (
        "resnet18_places",
        "broden",
        "data/broden_labels_clean.txt",
    )
    assert [(layer.layer, layer.labelled, layer.expected) for layer in places.layers] == [
        ("layer2", 128, 128),
        ("layer3", 256, 256),
        ("layer4", 512, 512),
    ]
    assert all(layer.note is None for layer in places.layers) and places.problems == imagenet.problems == []
    expected = sorted(counted(places_rows).items(), key=lambda item: (-item[1], item[0]))
    assert places.top_concepts() == expected[:10]
    assert (
        places.top_concepts(3, layer="layer4")
        == sorted(counted(places_rows, "layer4").items(), key=lambda item: (-item[1], item[0]))[:3]
    )
    assert imagenet.concepts == set(counted(imagenet_rows)) and "red" in imagenet.concepts
    assert "red-c" not in imagenet.concepts, "Broden's category suffix is not part of the concept"
    assert places.top_concepts(layer="fc") == []


def test_top_concepts_break_ties_by_name(tmp_path: Path):
    named = ["sky", "dog", "sky", "dog", "cat", "dog, sitting", "dog, sitting"]
    rows = [("layer4", unit, concept, "0.2") for unit, concept in enumerate(named)]
    (tmp_path / "descriptions.csv").write_text(csv_text(rows))
    assert '"dog, sitting"' in csv_text(rows), "a description with a comma is quoted"
    (dissection,) = read_dissections(tmp_path)
    assert dissection.top_concepts(3) == [("dog", 2), ("dog, sitting", 2), ("sky", 2)]
    assert dissection.top_concepts(2) != [("sky", 2), ("dog", 2)]


def test_two_models_are_compared_by_shared_and_own_concepts(tmp_path: Path):
    one = [("layer4", 0, "dog", "0.3"), ("layer4", 1, "dog", "0.3"), ("layer4", 2, "grass", "0.2")]
    one += [("layer4", 3, "wheel", "0.2"), ("layer3", 0, "sky", "0.1")]
    other = [("layer4", 0, "sky", "0.3"), ("layer4", 1, "kitchen-s", "0.3"), ("layer4", 2, "grass", "0.2")]
    other += [("layer3", 0, "sky", "0.1"), ("layer3", 1, "Sky", "0.1")]
    (tmp_path / "imagenet").mkdir()
    (tmp_path / "places").mkdir()
    (tmp_path / "imagenet" / "descriptions.csv").write_text(csv_text(one))
    (tmp_path / "places" / "descriptions.csv").write_text(csv_text(other))
    imagenet, places = read_dissections(tmp_path)
    comparison = compare(imagenet, places)
    assert (comparison.first, comparison.second) == (IMAGENET, PLACES)
    assert comparison.shared == [("sky", 1, 3), ("grass", 1, 1)]
    assert comparison.only_first == [("dog", 2), ("wheel", 1)]
    assert comparison.only_second == [("kitchen", 1)]
    assert (comparison.distinct_first, comparison.distinct_second) == (4, 3)
    assert "dog" not in {concept for concept, _, _ in comparison.shared}
    said = comparison.sentences()
    assert said[0] == "ResNet18 ImageNet labels 4 distinct concepts, ResNet18 Places365 3; 2 are shared."
    assert said[1] == "Shared concepts by neurons: sky (1 + 3), grass (1 + 1)."
    assert said[3] == "Only in ResNet18 Places365: kitchen (1)."
    rerun = compare(places, places)
    assert (rerun.first, rerun.second) == ("places/descriptions.csv", "places/descriptions.csv")
    assert rerun.only_first == rerun.only_second == [] and len(rerun.shared) == 3


def test_realistic_runs_compare_as_their_rows_say(tmp_path: Path):
    imagenet_rows = write_run(tmp_path, "resnet18", 3)
    places_rows = write_run(tmp_path, "resnet18_places", 4)
    comparison = compare(*read_dissections(tmp_path))
    one, other = counted(imagenet_rows), counted(places_rows)
    assert [concept for concept, _, _ in comparison.shared] == sorted(
        one.keys() & other.keys(), key=lambda concept: (-(one[concept] + other[concept]), concept)
    )
    assert comparison.distinct_first == len(one) and comparison.distinct_second == len(other)
    assert comparison.shared[0][1] + comparison.shared[0][2] >= comparison.shared[-1][1] + comparison.shared[-1][2]


def test_tables_saved_again_by_pandas_or_excel_or_renamed_are_found_by_their_header(tmp_path: Path):
    write_run(tmp_path, "resnet18_places", 5, index=True)
    (tmp_path / "task1").mkdir()
    rows = labels("resnet18", SIZES, 6)
    (tmp_path / "task1" / "descriptions_imagenet.csv").write_text(csv_text(rows, separator=";"))
    tabbed = [("Layer4", 0, "red-c", "0.3"), ("Layer4", 1, "dog, sitting", "0.3"), ("Layer4", "2.0", " Red ", "0.2")]
    tabbed.append(("Layer4", "2.5", "dog", "0.1"))
    (tmp_path / "task1" / "neurons.tsv").write_text(
        "\ufeff" + csv_text(tabbed, separator="\t").replace("layer\tunit", "Layer\tUnit").replace("\n", "\r\n")
    )
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "classes.csv").write_text("index,label,description\n0,tench,a fish\n")
    (tmp_path / "data" / "layers.csv").write_text("layer;unit;similarity\nlayer4;0;0.2\n")
    found = by_path(tmp_path)
    assert sorted(found) == [
        "results/resnet18_places_25_07_01_10_05/descriptions.csv",
        "task1/descriptions_imagenet.csv",
        "task1/neurons.tsv",
    ]
    places = found["results/resnet18_places_25_07_01_10_05/descriptions.csv"]
    assert places.model == PLACES and [layer.labelled for layer in places.layers] == [128, 256, 512]
    assert places.problems == []
    renamed = found["task1/descriptions_imagenet.csv"]
    assert renamed.model == IMAGENET and renamed.args_path is None and renamed.problems == []
    assert renamed.concept_counts() == counted(rows)
    excel = found["task1/neurons.tsv"]
    assert excel.model == UNKNOWN, "its path names no model, and the ImageNet table beside it does not count"
    assert excel.concept_counts("Layer4") == Counter({"red": 2, "dog, sitting": 1})
    assert excel.layers[0].labelled == 3, "pandas writes unit 2 as 2.0 once its column held a gap"
    assert excel.problems == ["1 row(s) give no layer, unit number and description (first: line 5)"]
    assert "data/classes.csv" not in found and "data/layers.csv" not in found


def test_an_unknown_model_is_said_so_and_its_class_layer_has_no_expected_size(tmp_path: Path):
    rows = [("layer4", unit, "dog", "0.2") for unit in range(512)] + [("fc", unit, "dog", "0.2") for unit in range(10)]
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "labels.csv").write_text(csv_text(rows))
    (dissection,) = read_dissections(tmp_path)
    assert dissection.model == UNKNOWN
    assert [(layer.layer, layer.expected, layer.note) for layer in dissection.layers] == [
        ("layer4", 512, None),
        ("fc", None, None),
    ]
    assert dissection.sentences()[1] == "layer4: all 512 neurons labelled; fc: 10 neurons labelled."


@pytest.mark.parametrize(("model", "classes"), [("resnet18", 1000), ("resnet18_places", 365)])
def test_the_class_layer_has_as_many_neurons_as_the_model_has_classes(tmp_path: Path, model: str, classes: int):
    write_run(tmp_path, model, 15, layers={"layer3": 256, "layer4": 512, "fc": classes})
    (dissection,) = read_dissections(tmp_path)
    assert dissection.layers[-1] == dissection_outputs.LayerCount("fc", classes, classes)
    assert dissection.problems == [] and dissection.layers[-1].note is None, (
        "fc is not measured against the other model"
    )


def test_fewer_neurons_than_the_layer_has_are_noted(tmp_path: Path):
    write_run(tmp_path, "resnet18", 7, layers={"layer3": 256, "layer4": 300})
    args = tmp_path / "results" / "resnet18_25_07_01_10_07" / "args.txt"
    args.write_text(json.dumps(clip_dissect_args("resnet18", ["layer3", "layer4", "fc"])))
    (dissection,) = read_dissections(tmp_path)
    layer3, layer4 = dissection.layers
    assert layer4.note == "layer4: 300 of its 512 neurons labelled"
    assert layer3.note is None
    assert dissection.problems == [f"{args.relative_to(tmp_path)} names layer fc but no neuron of it is labelled"]
    said = dissection.sentences()
    assert said[0] == (
        "results/resnet18_25_07_01_10_07/descriptions.csv labels neurons of ResNet18 ImageNet"
        " (results/resnet18_25_07_01_10_07/args.txt: target model resnet18, probe data broden,"
        " concept set data/broden_labels_clean.txt)."
    )
    assert said[1] == "layer3: all 256 neurons labelled; layer4: 300 of its 512 neurons labelled."
    assert said[2].startswith("Concepts most neurons learned: ")


def test_a_truncated_garbled_table_reads_what_it_can_and_says_what_it_could_not(tmp_path: Path):
    rows = labels("resnet18_places", {"layer4": 512}, 8)
    text = csv_text(rows)
    lines = text.splitlines()
    lines[3] = "layer4,2,\x00\x00"
    lines[5] = "layer4,seventeen,dog,0.2"
    lines[7] = "layer4,6,dog,nan"
    lines[9] = "layer4,3,grass,0.2"
    lines.append("layer4,600,sky,0.1")
    lines.append("layer4,51")
    folder = tmp_path / "resnet18_places"
    folder.mkdir()
    (folder / "descriptions.csv").write_bytes(
        "\n".join(lines[:-1]).encode() + b"\n\xff\xfe\x00 garbage\n" + lines[-1].encode()
    )
    (folder / "args.txt").write_text('{"target_model": "resnet18_places", "d_probe": ')
    (dissection,) = read_dissections(tmp_path)
    assert dissection.model == PLACES, "an unreadable args.txt leaves the path to name the model"
    assert dissection.problems == [
        "4 row(s) give no layer, unit number and description (first: line 4)",
        "1 row(s) have a similarity that is not a number (first: line 8)",
        "resnet18_places/args.txt could not be read as CLIP-dissect's arguments"
        " (Expecting value: line 1 column 48 (char 47))",
        "layer4: 1 unit(s) labelled more than once (first: unit 3)",
        "layer4: 1 unit(s) numbered outside 0-511 (first: unit 600)",
    ]
    assert (
        dissection.layers[0].labelled == 510 and dissection.layers[0].note == "layer4: 510 of its 512 neurons labelled"
    )
    assert "sky" in dissection.concepts and "" not in dissection.concepts


def test_more_neurons_than_the_layer_has_and_a_broken_quote_are_problems(tmp_path: Path):
    rows = [("layer2", unit, "sky", "0.2") for unit in range(130)]
    (tmp_path / "descriptions.csv").write_text(csv_text(rows) + 'layer2,130,"' + "x" * 200_000 + "\n")
    (dissection,) = read_dissections(tmp_path)
    assert dissection.problems[0].startswith("line 132 is not CSV (field larger than field limit")
    assert dissection.problems[1] == "layer2: 130 neurons labelled, more than the 128 ResNet18 has there"
    assert dissection.layers[0].note is None and dissection.concepts == {"sky"}


def test_a_link_named_like_a_dissection_is_not_read(tmp_path: Path):
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "descriptions.csv").symlink_to("/etc/passwd")
    (tmp_path / "linked").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    (tmp_path / "elsewhere").mkdir()
    assert read_dissections(tmp_path) == []
    (tmp_path / "elsewhere" / "descriptions.csv").write_text(csv_text([("layer4", 0, "dog", "0.2")]))
    assert [dissection.path for dissection in read_dissections(tmp_path)] == ["elsewhere/descriptions.csv"]


def test_a_table_too_large_is_refused_with_a_message_when_named_as_a_dissection(tmp_path: Path, deadline):
    row = "layer4,1,dog,0.2\n"
    big = "layer,unit,description,similarity\n" + row * (30 * (1 << 20) // len(row))
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "descriptions_places.csv").write_text(big)
    (tmp_path / "results" / "activations.csv").write_text(big)
    (dissection,) = read_dissections(tmp_path)
    assert dissection.path == "results/descriptions_places.csv" and dissection.model == PLACES
    assert dissection.layers == [] and dissection.concepts == set()
    assert dissection.problems == [
        f"results/descriptions_places.csv holds {len(big)} bytes, over the {20 << 20}-byte limit, so it was not read"
    ]
    assert dissection.sentences()[1:] == [dissection.problems[0] + "."]


def test_rows_files_and_layers_are_bounded(tmp_path: Path, monkeypatch, deadline):
    monkeypatch.setattr(dissection_outputs, "MAX_FILES", 5)
    monkeypatch.setattr(dissection_outputs, "MAX_LAYERS", 3)
    for number in range(8):
        (tmp_path / f"a{number}.csv").write_text(csv_text([("layer4", 0, "dog", "0.2")]))
    rows = [(f"layer{number % 5}", number, "d" * 150, "0.1") for number in range(100_050)]
    (tmp_path / "z_descriptions.csv").write_text(csv_text(rows))
    found = by_path(tmp_path)
    assert sorted(found) == ["a0.csv", "a1.csv", "a2.csv", "a3.csv", "z_descriptions.csv"]
    big = found["z_descriptions.csv"]
    assert big.problems[:2] == [
        "rows past its first 100000 were not read",
        "40000 row(s) of layers past the first 3 were not read (first: line 5)",
    ]
    assert big.concepts == {"d" * 100} and [layer.layer for layer in big.layers] == ["layer0", "layer1", "layer2"]


def test_rows_read_from_all_tables_together_are_bounded(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(dissection_outputs, "MAX_TOTAL_ROWS", 1500)
    write_run(tmp_path, "resnet18", 13)
    write_run(tmp_path, "resnet18_places", 14)
    imagenet, places = read_dissections(tmp_path)
    assert imagenet.problems == [] and sum(layer.labelled for layer in imagenet.layers) == 896
    assert places.problems == ["rows past its first 604 were not read, as 1500 rows were read from all tables together"]
    assert [layer.labelled for layer in places.layers] == [128, 256, 220]


def test_args_that_contradict_the_path_or_name_another_model_are_problems(tmp_path: Path):
    write_run(tmp_path, "resnet18_places", 9)
    write_run(tmp_path, "resnet50", 10, layers={"layer4": 2048})
    places_args = tmp_path / "results" / "resnet18_places_25_07_01_10_09" / "args.txt"
    places_args.write_text(json.dumps(clip_dissect_args("resnet18", ["layer2", "layer3", "layer4"])))
    places, resnet50 = read_dissections(tmp_path)
    assert places.model == IMAGENET
    assert places.problems == [
        "results/resnet18_places_25_07_01_10_09/args.txt names target model resnet18"
        " but the path says ResNet18 Places365"
    ]
    assert resnet50.model == UNKNOWN and resnet50.layers[0].expected == 512
    assert resnet50.problems[0] == (
        "results/resnet50_25_07_01_10_10/args.txt names target model resnet50, not a ResNet18 of the assignment"
    )


def test_args_files_are_matched_to_their_own_table_in_a_shared_folder(tmp_path: Path):
    (tmp_path / "task1").mkdir()
    for model, tag in (("resnet18", "imagenet"), ("resnet18_places", "places")):
        (tmp_path / "task1" / f"descriptions_{tag}.csv").write_text(csv_text(labels(model, {"layer4": 512}, 11)))
        (tmp_path / "task1" / f"args_{tag}.txt").write_text(json.dumps(clip_dissect_args(model, ["layer4"])))
    (tmp_path / "task1" / "descriptions.csv").write_text(csv_text(labels("resnet18", {"layer4": 512}, 12)))
    (tmp_path / "task1" / "args.txt").write_text(json.dumps(clip_dissect_args("resnet18", ["layer4"])))
    found = by_path(tmp_path)
    assert found["task1/descriptions_imagenet.csv"].args_path == "task1/args_imagenet.txt"
    assert found["task1/descriptions_places.csv"].args_path == "task1/args_places.txt"
    assert found["task1/descriptions_places.csv"].target_model == "resnet18_places"
    assert found["task1/descriptions.csv"].args_path is None, "three tables share the folder's args.txt"


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ("[1, 2]", "args.txt is not a JSON object of CLIP-dissect's arguments"),
        ("[" * 60_000, "args.txt could not be read as CLIP-dissect's arguments (maximum recursion depth"),
        ("[" * 100_000, "args.txt could not be read as CLIP-dissect's arguments (args.txt holds 100000 bytes"),
        ('{"target_model": "' + "x" * 40_000 + '"}', "args.txt names target model " + "x" * 100 + ", not a ResNet18"),
    ],
)
def test_a_hostile_args_file_is_a_problem_not_a_crash(tmp_path: Path, raw: str, problem: str):
    (tmp_path / "descriptions.csv").write_text(csv_text([("layer4", 0, "dog", "0.2")]))
    (tmp_path / "args.txt").write_text(raw)
    (dissection,) = read_dissections(tmp_path)
    assert dissection.model == UNKNOWN and dissection.concepts == {"dog"}
    assert len(dissection.problems) == 1 and dissection.problems[0].startswith(problem)
    assert len(dissection.problems[0]) < 300


def test_blank_lines_count_against_the_reading_budget_like_rows(tmp_path: Path):
    blank = b"layer,unit,description,similarity\n" + b" ,\n" * (dissection_outputs.MAX_ROWS + 10)
    for number in range(4):
        (tmp_path / f"descriptions_{number}.csv").write_bytes(blank)
    found = read_dissections(tmp_path)
    assert [dissection.problems[0] for dissection in found[:3]] == [
        f"rows past its first {dissection_outputs.MAX_ROWS} were not read"
    ] * 3
    assert (
        found[3]
        .problems[0]
        .endswith(f"were not read, as {dissection_outputs.MAX_TOTAL_ROWS} rows were read from all tables together")
    )
