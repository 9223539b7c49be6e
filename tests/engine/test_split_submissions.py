"""Split submissions: notebooks run in the order their files require, on a Drive with the folders they expect."""

from __future__ import annotations

import zipfile
from pathlib import Path

import nbformat

from checks.engine.intake import intake_one
from checks.engine.notebook import PART_MARKER
from checks.engine.notebook_order import notebook_files, order_notebooks
from tests.engine.conftest import cell_text, make_notebook
from tests.engine.deadline import within_seconds

MOUNT = "from google.colab import drive\ndrive.mount('/content/drive')\nimport os, torch"
TRAINING = (
    MOUNT,
    "os.chdir('/content/drive/MyDrive/Course/')\ntorch.manual_seed(0)\nmodel = torch.nn.Linear(2, 1)\n"
    "torch.save(model.state_dict(), 'model.pth')\nprint('saved in', os.getcwd())",
)
PROBING = (
    MOUNT,
    "os.chdir('/content/drive/MyDrive/Course')\nprobe = torch.nn.Linear(2, 1)\n"
    "probe.load_state_dict(torch.load('model.pth'))\nprint('loaded', sorted(os.listdir('.')))",
)


def drive_folders(result) -> list[dict]:
    return [event for event in result.shims if event["shim"] == "drive_folder"]


def test_a_probing_notebook_named_first_runs_after_the_training_notebook_that_writes_its_model():
    order = order_notebooks(
        [("A_probing.ipynb", make_notebook(*PROBING)), ("B_training.ipynb", make_notebook(*TRAINING))]
    )
    assert order.names == ("B_training.ipynb", "A_probing.ipynb") and order.by_files
    assert order.sentence() == (
        "in the order their files require: B_training.ipynb (writes model.pth) then A_probing.ipynb"
    )
    assert order.notes == ()


def test_notebooks_that_share_no_file_keep_name_order():
    order = order_notebooks(
        [
            ("part1.ipynb", make_notebook("x = 1\nplt.savefig('curve.png')")),
            ("part2.ipynb", make_notebook("y = np.load(root + '/activations.npy')")),
        ],
        available={"activations.npy"},
    )
    assert order.names == ("part1.ipynb", "part2.ipynb") and not order.by_files
    assert order.sentence() == "in name order: part1.ipynb then part2.ipynb"
    assert order.notes == ()


def test_notebooks_that_need_each_other_keep_name_order_among_themselves_and_run_before_their_reader():
    order = order_notebooks(
        [
            ("0_report.ipynb", make_notebook("summary = torch.load('x.pth')")),
            ("1_x.ipynb", make_notebook("y = torch.load('y.pth')", "torch.save(x, 'x.pth')")),
            ("2_y.ipynb", make_notebook("x = torch.load('x.pth')", "torch.save(y, 'y.pth')")),
        ]
    )
    assert order.names == ("1_x.ipynb", "2_y.ipynb", "0_report.ipynb") and order.by_files
    assert order.notes == ()


def test_a_file_no_notebook_writes_is_reported_unless_the_submission_or_the_data_directory_holds_it():
    parts = [
        ("A_probe.ipynb", make_notebook("model = torch.load('/content/drive/MyDrive/EE5179/weights.pth')")),
        ("B_plots.ipynb", make_notebook("plt.savefig('plot.png')")),
    ]
    assert order_notebooks(parts).notes == (
        "A_probe.ipynb reads weights.pth, which no notebook of this submission writes",
    )
    assert order_notebooks(parts, available={"weights.pth"}).notes == ()


def test_paths_are_read_from_literals_f_strings_joins_and_names_and_unreadable_cells_are_skipped():
    notebook = make_notebook(
        "!pip install torchsummary\nfiles = !ls\nROOT = '/content/drive/MyDrive/EE5179'\n"
        "MODEL_PATH = os.path.join(ROOT, 'cnn.pth')",
        "torch.save(model, MODEL_PATH)\nnp.save(f'{ROOT}/acts', a)\nnp.savez(Path(ROOT) / 'bank', w=w)\n"
        "with open(ROOT + '/log.txt', 'a') as handle: pass\npickle.dump(h, open(f'{unknown}/hist.pkl', 'wb'))\n"
        "df.to_csv('results.csv')\nfig.savefig(f'{out}/{name}.png')",
        "def broken(:\n    torch.load('never.pth')",
        "%%bash\necho torch.load('shell.pth')",
        "history = pickle.load(open('hist.pkl', 'rb'))\nimage = Image.open(f'{DATA}/cat.jpg')\n"
        "table = pd.read_csv(os.path.join(unknown, sub, 'table.csv'))\nnp.load('acts.npy')\n"
        "torch.load(unknown_path)\nwith open('notes.txt') as handle: pass\nimgs = cv2.imread('https://x.org/a.png')",
    )
    files = notebook_files("n.ipynb", notebook)
    assert files.writes == {"cnn.pth", "acts.npy", "bank.npz", "log.txt", "hist.pkl", "results.csv"}
    assert files.needs == {"cat.jpg", "table.csv", "notes.txt"}


def test_hostile_cells_are_bounded_not_fatal():
    deep = "x = " + " + ".join(["'a'"] * 3000) + "\ntorch.save(m, x + '/model.pth')"
    nested = "torch.load(" * 300 + "'m.pth'" + ")" * 300
    files = notebook_files("n.ipynb", make_notebook(deep, nested, "\x00", "torch.save(m, 'ok.pth')"))
    assert "ok.pth" in files.writes


def test_a_path_repeating_a_long_name_is_ignored_without_building_it():
    """Once quadratic: the f-string's text was built in full (gigabytes) before its length was checked."""
    long_names = "a = '" + "x" * 150_000 + "'\nb = '" + "y" * 4000 + "'"
    bomb = "open(f'" + "{b}" * 20_000 + "', 'w')\nopen(os.path.join(" + "b, " * 20_000 + "'c.txt'), 'w')"
    paths = (
        "torch.save(m, f'{b}{b}/two.pth')\ntorch.save(m, f'{b}/{b}.pth')\n"
        "torch.save(m, f'{b}{b}{unknown}/after.pth')\ntorch.save(m, a + '/unread.pth')"
    )
    with within_seconds(10, "a path expression builds a long string"):
        files = notebook_files("n.ipynb", make_notebook(long_names, bomb, paths))
    assert files.writes == {"after.pth", "unread.pth"}, (
        "past 4096 characters a path is not read; an unknown piece starts a new ending; a name bound to a "
        "longer literal is not kept, like one bound to an expression the reader does not follow"
    )
    many_pieces = "np.save(f'" + "{d}" * 63 + "/sixty_four', x)\nnp.save(f'" + "{d}" * 64 + "/more', x)"
    assert notebook_files("n.ipynb", make_notebook("d = 'd'", many_pieces)).writes == {"sixty_four.npy"}, (
        "an f-string of 64 pieces is read, one of 65 is not"
    )


def _zip(path: Path, members: dict[str, str | bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as bundle:
        for name, content in members.items():
            bundle.writestr(name, content)
    return path


def test_intake_merges_a_split_zip_in_the_order_its_files_require(tmp_path: Path, data_root: Path):
    source = _zip(
        tmp_path / "Asha_Rao_EE19B001.zip",
        {
            "A_probe.ipynb": nbformat.writes(make_notebook(*PROBING)),
            "B_train.ipynb": nbformat.writes(make_notebook(*TRAINING)),
        },
    )
    submission = intake_one(source, tmp_path / "work", data_dir=data_root)
    assert submission.valid and submission.merged_from == ["B_train.ipynb", "A_probe.ipynb"]
    assert submission.run_order is not None and submission.run_order.notes == ()
    merged = nbformat.read(submission.notebook, as_version=4)
    parts = [cell.metadata[PART_MARKER] for cell in merged.cells if PART_MARKER in cell.metadata]
    assert parts == ["B_train.ipynb", "A_probe.ipynb"]


def test_intake_reports_only_files_neither_the_notebooks_the_zip_nor_the_data_directory_provide(
    tmp_path: Path, data_root: Path
):
    probe = make_notebook(
        "model = torch.load('model.pth')\nstats = pd.read_csv('stats.csv')\n"
        "dog = Image.open('/content/drive/MyDrive/pytorch_hub_dog.jpg')"
    )
    source = _zip(
        tmp_path / "Ravi_EE19B002.zip",
        {
            "A_probe.ipynb": nbformat.writes(probe),
            "B_plots.ipynb": nbformat.writes(make_notebook("plt.plot([1, 2])")),
            "model.pth": b"weights",
        },
    )
    submission = intake_one(source, tmp_path / "work", data_dir=data_root)
    assert submission.merged_from == ["A_probe.ipynb", "B_plots.ipynb"]
    assert submission.run_order.notes == ("A_probe.ipynb reads stats.csv, which no notebook of this submission writes",)
    assert submission.run_order.sentence() == "in name order: A_probe.ipynb then B_plots.ipynb"


def test_a_split_submission_runs_clean_with_the_drive_folders_it_expects(tmp_path: Path, data_root: Path, run_cells):
    source = _zip(
        tmp_path / "Asha_Rao_EE19B001.zip",
        {
            "A_probe.ipynb": nbformat.writes(make_notebook(*PROBING)),
            "B_train.ipynb": nbformat.writes(
                make_notebook(
                    *TRAINING,
                    "import numpy as np\nimport matplotlib.pyplot as plt\n"
                    "torch.save(model, '/content/drive/MyDrive/Course/checkpoints/whole.pth')\n"
                    "np.save('/content/drive/MyDrive/Course/arrays/weights.npy', np.ones(2))\n"
                    "plt.plot([1, 2]); plt.savefig('/content/drive/MyDrive/Course/figures/curve.png')\n"
                    "from pathlib import Path\nPath('/content/drive/MyDrive/Course/logs/loss.txt').write_text('0.1')\n"
                    "open('/content/drive/MyDrive/Course/notes/n.txt', 'w').write('IPython opens this')",
                )
            ),
        },
    )
    submission = intake_one(source, tmp_path / "work", data_dir=data_root)
    result, executed, _ = run_cells(notebook=nbformat.read(submission.notebook, as_version=4))
    code = [cell for cell in result.cells if cell.status != "skipped"]
    assert [cell.status for cell in code] == ["ok"] * len(code), [cell.error_value for cell in code]
    course = "/content/drive/MyDrive/Course"
    assert [(event["path"], event["call"]) for event in drive_folders(result)] == [
        (course, "chdir"),
        (f"{course}/checkpoints", "torch.save"),
        (f"{course}/arrays", "open"),
        (f"{course}/figures", "open"),
        (f"{course}/logs", "open"),
        (f"{course}/notes", "open"),
    ]
    printed = "".join(cell_text(executed, index) for index in range(len(executed.cells)))
    assert f"saved in {course}" in printed
    assert "loaded ['arrays', 'checkpoints', 'figures', 'logs', 'model.pth', 'notes']" in printed


def test_folders_outside_the_mounted_drive_are_never_created(run_cells):
    result, executed, _ = run_cells(
        "import os\ntry:\n    os.chdir('/content/drive/MyDrive/Course')\nexcept FileNotFoundError:\n"
        "    print('not mounted: no folder')",
        "from google.colab import drive\ndrive.mount('/content/drive')\nos.symlink('/tmp', '/content/drive/MyDrive/link')",
        "for path in ('/content/drive/../../etc/xaigrader_escape', '/content/drive/../escaped',\n"
        "             '/content/drive/MyDrive/link/made'):\n"
        "    try:\n        os.chdir(path)\n    except OSError as error:\n        print(type(error).__name__)\n"
        "try:\n    open('/content/drive/../outside/x.txt', 'w')\nexcept OSError as error:\n"
        "    print(type(error).__name__)",
        "print([os.path.exists(p) for p in ('/etc/xaigrader_escape', '/content/escaped', '/tmp/made',\n"
        "       '/content/outside', '/content/drive/MyDrive/Course')])",
    )
    assert cell_text(executed, 0).strip() == "not mounted: no folder"
    assert cell_text(executed, 2).split()[1:] == ["FileNotFoundError"] * 3  # /etc is not even searchable
    assert cell_text(executed, 3).strip() == "[False, False, False, False, False]"
    assert drive_folders(result) == []
