"""Team repositories: named by team, notebooks run one by one in task order from their own folders,
files inventoried, README links to missing files reported."""

from __future__ import annotations

import asyncio
import zipfile
from pathlib import Path

import nbformat
import pytest

from checks.engine.intake import RepositoryRules, discover, intake_one, task_order_key
from checks.engine.kernel import RunConfig
from checks.engine.repository_files import UnreadableFile, read_repository_file, take_inventory
from checks.engine.repository_runs import Part, merged_program, part_offsets, run_parts
from tests.engine.conftest import cell_text, make_notebook

TEAMS = RepositoryRules(team_pattern=r"TML25_A4_\d+")


def write_zip(path: Path, files: dict[str, str | bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as bundle:
        for name, content in files.items():
            bundle.writestr(name, content)
    return path


def notebook_text(*sources: str) -> str:
    return nbformat.writes(make_notebook(*sources))


def test_notebooks_of_a_repository_are_ordered_by_the_task_their_path_names():
    names = ["notebooks/lime_task3.ipynb", "Task2_GradCAM.ipynb", "task-1/dissect.ipynb", "extra.ipynb", "4_iou.ipynb"]
    assert sorted(names, key=task_order_key) == [
        "task-1/dissect.ipynb",
        "Task2_GradCAM.ipynb",
        "notebooks/lime_task3.ipynb",
        "4_iou.ipynb",
        "extra.ipynb",
    ]


def test_a_github_zip_is_named_by_its_team_and_rooted_at_its_top_folder(tmp_path: Path):
    files = {
        "TML25_A4_7-main/README.md": "# Team 7",
        "TML25_A4_7-main/Task2_gradcam.ipynb": notebook_text("x = 2"),
        "TML25_A4_7-main/task1/dissect.ipynb": notebook_text("x = 1"),
        "TML25_A4_7-main/report.pdf": b"%PDF-1.4",
    }
    zipped = write_zip(tmp_path / "download.zip", files)
    submission = intake_one(zipped, tmp_path / "work", repository=TEAMS)
    assert submission.valid, submission.problem
    assert submission.student_id == "TML25_A4_7"
    assert submission.folder is not None and submission.folder.name == "TML25_A4_7-main"
    assert submission.parts == ["task1/dissect.ipynb", "Task2_gradcam.ipynb"]
    assert submission.merged_from == [] and submission.run_order is None


def test_without_team_rules_the_same_zip_is_one_student_whose_notebooks_are_merged(tmp_path: Path):
    files = {
        "TML25_A4_7-main/a.ipynb": notebook_text("x = 1"),
        "TML25_A4_7-main/b.ipynb": notebook_text("y = 2"),
    }
    submission = intake_one(write_zip(tmp_path / "download.zip", files), tmp_path / "work")
    assert submission.student_id == "download" and submission.parts == []
    assert len(submission.merged_from) == 2


def test_a_class_of_team_zips_keeps_team_names_unique(tmp_path: Path):
    folder = tmp_path / "class"
    folder.mkdir()
    write_zip(folder / "TML25_A4_3.zip", {"TML25_A4_3-main/t.ipynb": notebook_text("x = 1")})
    write_zip(folder / "resubmitted.zip", {"tml25_a4_3-master/t.ipynb": notebook_text("x = 1")})
    write_zip(folder / "no_team_here.zip", {"repo/t.ipynb": notebook_text("x = 1")})
    submissions = discover([folder], tmp_path / "work", repository=TEAMS)
    assert sorted(s.student_id for s in submissions) == ["TML25_A4_3", "no_team_here", "tml25_a4_3-2"]


def test_a_repository_without_notebooks_is_invalid_and_says_what_it_holds(tmp_path: Path):
    zipped = write_zip(tmp_path / "TML25_A4_9.zip", {"repo/README.md": "hi", "repo/report.pdf": b"%PDF"})
    submission = intake_one(zipped, tmp_path / "work", repository=TEAMS)
    assert not submission.valid
    assert submission.problem == "no notebook (.ipynb) found in the repository; it holds: README.md, report.pdf"


def test_each_notebook_runs_in_its_own_kernel_from_its_own_folder(tmp_path: Path, engine_config: RunConfig):
    repository = tmp_path / "TML25_A4_5-main"
    (repository / "data").mkdir(parents=True)
    (repository / "task1").mkdir()
    (repository / "data" / "labels.txt").write_text("kite\n")
    first = make_notebook(
        "import os\nprint(open('../data/labels.txt').read().strip(), os.path.basename(os.getcwd()))",
        "import matplotlib.pyplot as plt\nplt.plot([1, 2]); plt.show()\nshared = 41",
    )
    second = make_notebook(
        "print(open('data/labels.txt').read().strip())",
        "print(shared)",
        "import matplotlib.pyplot as plt\nplt.plot([2, 1]); plt.show()",
    )
    parts = [Part("task1/dissect.ipynb", first), Part("task2.ipynb", second)]
    program, offsets = merged_program(parts), part_offsets(parts)
    run = asyncio.run(run_parts(parts, repository, engine_config, tmp_path / "figures"))

    assert offsets == [1, 4]
    assert [cell.index for cell in run.cells] == [1, 2, 4, 5, 6]
    assert [cell.status for cell in run.cells] == ["ok", "ok", "ok", "error", "ok"]
    assert cell_text(program, 1) == "kite task1\n"
    assert cell_text(program, 4) == "kite\n"
    assert run.cells[3].error_name == "NameError"  # the second notebook's kernel never saw the first's variables
    assert [(figure["cell"], figure["png"]) for figure in run.figures] == [(2, "figure-001.png"), (6, "figure-002.png")]
    assert sorted(path.name for path in (tmp_path / "figures").glob("*.png")) == ["figure-001.png", "figure-002.png"]


def test_a_notebook_folder_outside_the_repository_is_refused(tmp_path: Path, engine_config: RunConfig):
    parts = [Part("../elsewhere/x.ipynb", make_notebook("x = 1"))]
    with pytest.raises(ValueError, match="must lie inside its submission"):
        asyncio.run(run_parts(parts, tmp_path, engine_config, tmp_path / "figures"))


README = """# TML25 A4, team 4
See [the report](report/Report.pdf) and [Grad-CAM](Task2_GradCAM.ipynb), the
[LIME notebook](notebooks/lime.ipynb), [outputs](outputs/) and ![histogram](outputs/histogram.png).
Our [pickle](https://github.com/someone/TML25_A4_4/blob/main/lime_params.pkl) and
[CLIP-dissect](https://github.com/Trustworthy-ML-Lab/CLIP-dissect), [top](#task-1),
<img src="figures/missing.png"> and [outside](../secret.txt).
"""


def test_the_inventory_lists_files_by_kind_and_the_readmes_dead_links(tmp_path: Path):
    root = tmp_path / "TML25_A4_4-main"
    for name, content in {
        "README.md": README,
        "report/report.pdf": "%PDF",
        "Task2_GradCAM.ipynb": "{}",
        "outputs/histogram.png": "png",
        "outputs/descriptions.csv": "a,b",
        "lime_params.pkl": "p",
        "model.bin": "x",
    }.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(content)
    (root / "link.pdf").symlink_to("/etc/passwd")

    inventory = take_inventory(root)

    assert inventory.readme == "README.md"
    assert inventory.files == {
        "tables": ["outputs/descriptions.csv"],
        "images": ["outputs/histogram.png"],
        "pickles": ["lime_params.pkl"],
        "reports": ["report/report.pdf"],
        "notebooks": ["Task2_GradCAM.ipynb"],
    }
    assert inventory.other == 2  # README.md and model.bin; the link is not listed
    assert inventory.flags() == [
        "the README points at report/Report.pdf, but the file is report/report.pdf (GitHub tells names apart by case)",
        "the README points at notebooks/lime.ipynb, which is not in the submission",
        "the README points at figures/missing.png, which is not in the submission",
        "the README points at ../secret.txt, which lies outside the repository",
    ]


def test_a_repository_without_readme_is_flagged(tmp_path: Path):
    (tmp_path / "a.ipynb").write_text("{}")
    assert take_inventory(tmp_path).flags() == ["the repository has no README.md"]


def test_repository_files_are_read_without_following_links_and_within_a_limit(tmp_path: Path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "notes.txt").write_text("hello")
    (tmp_path / "passwd").symlink_to("/etc/passwd")
    (tmp_path / "linked").symlink_to(tmp_path / "sub")
    assert read_repository_file(tmp_path, "sub/notes.txt", 100) == b"hello"
    for relative in ("passwd", "linked/notes.txt", "../x", "/etc/passwd", "sub"):
        with pytest.raises(UnreadableFile):
            read_repository_file(tmp_path, relative, 100)
    with pytest.raises(UnreadableFile, match="over the 3-byte limit"):
        read_repository_file(tmp_path, "sub/notes.txt", 3)


def test_a_team_named_only_by_its_zips_top_folder_cannot_take_the_id_of_the_team_its_file_names(tmp_path: Path):
    folder = tmp_path / "class"
    folder.mkdir()
    write_zip(folder / "a_upload.zip", {"TML25_A4_07-main/t.ipynb": notebook_text("x = 1")})
    write_zip(folder / "b_TML25_A4_07.zip", {"TML25_A4_07-main/t.ipynb": notebook_text("x = 1")})
    claimed, real = discover([folder], tmp_path / "work", repository=TEAMS)
    assert (real.source.name, real.student_id, real.notes) == ("b_TML25_A4_07.zip", "TML25_A4_07", [])
    assert claimed.student_id == "TML25_A4_07-2"
    assert claimed.notes == [
        "named TML25_A4_07 by the top folder of a_upload.zip, whose own name names no team; check it is that team's"
    ]


def test_a_readme_past_the_size_markdown_parsing_is_bounded_to_is_said_to_be_too_large(tmp_path: Path):
    (tmp_path / "README.md").write_text("![" * 30_000)  # markdown-it's slowest input per byte, within the bound
    assert take_inventory(tmp_path).flags() == []
    (tmp_path / "README.md").write_text("![" * 524_283)
    assert take_inventory(tmp_path).flags() == [
        "the README's links were not checked: README.md holds 1048566 bytes, over the 65536-byte limit"
    ]


def test_a_record_naming_a_cell_its_own_notebook_lacks_is_dropped_not_moved_onto_another_notebook():
    from checks.engine.kernel import RunResult
    from checks.engine.repository_runs import _join

    parts = [Part("a.ipynb", make_notebook("x = 1", "y = 2")), Part("b.ipynb", make_notebook("z = 3"))]
    forged = RunResult(sandbox={}, figures=[{"cell": 1, "png": "real"}, {"cell": 3, "png": "forged"}, {"cell": -1}])
    forged.events = [{"kind": "shim", "cell": 7}, {"kind": "shim", "cell": "call:f"}]
    joined = _join([forged, RunResult(sandbox={}, figures=[{"cell": 0, "png": "second"}])], parts)
    assert joined.figures == [{"cell": 2, "png": "real"}, {"cell": 4, "png": "second"}]
    assert joined.events == [{"kind": "shim", "cell": "call:f"}]
