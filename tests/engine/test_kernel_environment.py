"""The kernel's environment a course declares: its packages, `!pip install`, the compat layer, Python 2."""

import json

import nbformat
import pytest

from checks.engine.exchange_records import events_from_lines
from checks.engine.notebook import python2_note
from checks.grading.scheme import AssignmentError, load_assignment, load_assignment_file
from checks.probe.shims import requested_packages
from tests.engine.conftest import cell_text, make_notebook

STUDENT_NET = (
    "import torch\nfrom torch import nn\n"
    "class Net(nn.Module):\n"
    "    def __init__(self):\n"
    "        super().__init__()\n"
    "        self.fc = nn.Linear(4, 2)\n"
    "    def forward(self, x):\n"
    "        return self.fc(x)\n"
)


def compat_uses(result) -> list[tuple[int, str]]:
    return [(shim["cell"], shim["api"]) for shim in result.shims if shim["shim"] == "compat"]


def pip_events(result) -> list[dict]:
    return [shim for shim in result.shims if shim["shim"] == "pip"]


def test_a_notebook_importing_the_declared_packages_runs_clean(run_cells):
    result, executed, _ = run_cells(
        "import seaborn as sns, pandas as pd, cv2, sklearn\nfrom sklearn.metrics import confusion_matrix\n"
        "from torchsummary import summary\nimport torchinfo\n"
        "print(pd.DataFrame(confusion_matrix([0, 1, 1], [0, 1, 0])).values.sum())",
        STUDENT_NET + "summary(Net(), (4,))\nprint(torchinfo.summary(Net(), input_size=(1, 4)).total_params)",
        "import some_package_no_course_declares",
    )
    assert [cell.status for cell in result.cells] == ["ok", "ok", "error"], executed
    assert cell_text(executed, 0).strip() == "3"
    assert cell_text(executed, 1).strip().endswith("10")
    assert result.cells[2].error_name == "ModuleNotFoundError"


def test_pip_install_is_a_no_op_for_what_the_kernel_has_and_refused_otherwise(run_cells):
    result, executed, _ = run_cells(
        "!pip install seaborn",
        "!pip install -q some-unknown-pkg 'torch>=2' > /dev/null",
        "%pip install declared-but-absent",
        "!pip list\nprint('after')",
        "!pip install seaborn; touch X && echo done",
        kernel_packages=("seaborn>=0.12", "declared-but-absent"),
    )
    assert [cell.status for cell in result.cells] == ["ok"] * 5, executed
    events = pip_events(result)
    assert [(event["cell"], event["outcome"], event.get("refused")) for event in events] == [
        (0, "preinstalled", False),
        (1, "refused", True),
        (2, "missing", True),
        (3, "skipped", None),
        (4, "preinstalled", False),
    ]
    assert events[0]["packages"] == ["seaborn"] and events[0]["refused_packages"] == []
    assert events[1]["packages"] == ["some-unknown-pkg", "torch"]
    assert events[1]["refused_packages"] == ["some-unknown-pkg"]
    assert "seaborn is preinstalled for this course" in cell_text(executed, 0)
    refusal = cell_text(executed, 1)
    assert "some-unknown-pkg is not among the packages this course declares; ask your instructor" in refusal
    assert "torch is preinstalled" in refusal
    assert "declared by this course but missing" in cell_text(executed, 2)
    assert cell_text(executed, 3).endswith("after\n")
    assert events[4]["packages"] == ["seaborn"], "the words after `;` are another command, not packages"


@pytest.mark.parametrize(
    "arguments, packages",
    [
        ("seaborn; touch X", ["seaborn"]),
        ("seaborn;touch X", ["seaborn"]),
        ("seaborn&&rm -rf data", ["seaborn"]),
        ("seaborn || true", ["seaborn"]),
        ("seaborn|tail -1", ["seaborn"]),
        ("seaborn& sleep 1", ["seaborn"]),
        ("-q seaborn 2>&1 >/dev/null", ["seaborn"]),
        ("torch>=2 numpy 2> err.log", ["torch", "numpy"]),
        ("'torch>=2' 'scipy; python_version>\"3\"' six", ["torch", "scipy", "six"]),
        ("-U --index-url https://x.org/simple grad-cam[all]==1.4 -r req.txt", ["grad-cam", "-r req.txt"]),
        ("git+https://github.com/a/b.git#egg=b", ["git+https://github.com/a/b.git#egg=b"]),
        ("seaborn 'unclosed", ["seaborn"]),
    ],
)
def test_a_pip_line_asks_for_the_packages_of_its_first_command_only(arguments, packages):
    assert requested_packages(arguments) == packages


def test_each_compat_entry_works_and_is_recorded_once_per_cell(run_cells):
    result, executed, _ = run_cells(
        "import numpy as np\nx = np.asfarray([1, 2])\ny = np.asfarray([3], dtype=np.float32)\nprint(x.dtype, y.dtype)",
        "import torch\nloader = torch.utils.data.DataLoader(list(range(6)), batch_size=2)\n"
        "print(iter(loader).next().tolist())",
        "t = torch.cuda.FloatTensor([1.0])\nprint(t.device, t.dtype, isinstance(t, torch.cuda.FloatTensor))",
        STUDENT_NET + "torch.save(Net(), 'whole_model.pt')\nprint(type(torch.load('whole_model.pt')).__name__)",
        "!nvidia-smi",
        "print(np.asfarray(3).dtype)",
    )
    assert [cell.status for cell in result.cells] == ["ok"] * 6, executed
    assert cell_text(executed, 0).strip() == "float64 float32"
    assert cell_text(executed, 1).strip() == "[0, 1]"
    assert cell_text(executed, 2).strip() == "cpu torch.float32 True"
    assert cell_text(executed, 3).strip() == "Net"
    assert "no GPU while grading" in cell_text(executed, 4)
    assert compat_uses(result) == [
        (0, "np.asfarray"),
        (1, "DataLoader iterator .next()"),
        (2, "torch.cuda.FloatTensor"),
        (3, "torch.load(weights_only=False)"),
        (4, "nvidia-smi"),
        (5, "np.asfarray"),
    ]


def test_the_compat_layer_leaves_working_and_deliberate_calls_alone(run_cells):
    result, executed, _ = run_cells(
        "import numpy as np, torch\nloader = torch.utils.data.DataLoader(list(range(4)), batch_size=2)\n"
        "print(np.asarray([1]).dtype, next(iter(loader)).tolist())",
        "iter([1, 2]).next()",
        "torch.save(torch.nn.Linear(2, 1).state_dict(), 'state.pt')\nprint(sorted(torch.load('state.pt')))",
        "torch.save(torch.nn.Linear(2, 1), 'whole.pt')\ntorch.load('whole.pt', weights_only=True)",
        "!echo hello from the shell",
        "torch.cuda.NotATensorType",
    )
    statuses = [cell.status for cell in result.cells]
    assert statuses == ["ok", "error", "ok", "error", "ok", "error"], executed
    assert cell_text(executed, 0).strip() == "int64 [0, 1]"
    assert result.cells[1].error_name == "AttributeError"
    assert cell_text(executed, 2).strip() == "['bias', 'weight']"
    assert result.cells[3].error_name == "UnpicklingError"
    assert "hello from the shell" in cell_text(executed, 4)
    assert result.cells[5].error_name == "AttributeError"
    assert compat_uses(result) == []


def test_forged_pip_events_are_bounded_and_typed():
    good = {"kind": "shim", "shim": "pip", "cell": 0, "packages": ["seaborn"], "refused_packages": [], "outcome": "x"}
    forged = [
        {**good, "packages": "seaborn"},
        {**good, "packages": [1]},
        {**good, "refused_packages": ["p"] * 33},
        {**good, "shim": "compat2"},
    ]
    data = "\n".join(json.dumps(event) for event in [good, *forged, {**good, "packages": ["n" * 500]}]).encode()
    validated = events_from_lines(data)
    assert [event["packages"] for event in validated.records] == [["seaborn"], ["n" * 100]]
    assert validated.dropped == ["4 malformed events written by the kernel were ignored"]


def test_the_assignments_declare_their_kernel_packages():
    assert {"torchsummary>=1.5", "torchinfo>=1.8", "seaborn>=0.12", "opencv-python-headless>=4.8"} <= set(
        load_assignment("ee5179-pa2").kernel_packages
    )
    assert {"scikit-learn>=1.3", "pandas>=2.0", "seaborn>=0.12"} <= set(load_assignment("cs411-a2").kernel_packages)


SCHEME = (
    'id = "x"\ntitle = "X"\nreference = "reference.x"\ntotal = 4\n{kernel}\n'
    "[limits]\ncell_timeout_s = 1\nnotebook_timeout_s = 2\n"
    '[[tasks]]\nid = "1"\ntitle = "one"\nmarks = 4\n'
)


@pytest.mark.parametrize(
    ("kernel", "message"),
    [
        ('kernel = "seaborn"', "must be a table"),
        ('[kernel]\npackages = "seaborn"', "must be a list of non-empty pip requirement strings"),
        ('[kernel]\npackages = ["seaborn", " "]', "must be a list of non-empty pip requirement strings"),
        ("[kernel]\npackages = [3]", "must be a list of non-empty pip requirement strings"),
        ('[kernel]\npackages = ["seaborn>=>0.12"]', "'seaborn>=>0.12' is not a pip requirement"),
        ('[kernel]\npackages = ["scikit-learn", "Scikit_Learn>=1"]', "names the package scikit-learn twice"),
        ('[kernel]\npackage = ["seaborn"]', "unknown keys package"),
    ],
)
def test_a_bad_kernel_table_is_refused(tmp_path, kernel, message):
    scheme = tmp_path / "assignment.toml"
    scheme.write_text(SCHEME.format(kernel=kernel))
    with pytest.raises(AssignmentError, match=message):
        load_assignment_file(scheme)


def test_a_good_kernel_table_and_none_are_read(tmp_path):
    scheme = tmp_path / "assignment.toml"
    scheme.write_text(SCHEME.format(kernel='[kernel]\npackages = ["seaborn>=0.12", "torchinfo"]'))
    assert load_assignment_file(scheme).kernel_packages == ("seaborn>=0.12", "torchinfo")
    scheme.write_text(SCHEME.format(kernel=""))
    assert load_assignment_file(scheme).kernel_packages == ()


def notebook_with(metadata: dict) -> nbformat.NotebookNode:
    notebook = make_notebook("print 'hello'")
    notebook.metadata = metadata
    return notebook


def test_a_python2_notebook_is_named_and_a_python3_one_is_not():
    python2 = python2_note(notebook_with({"kernelspec": {"name": "python2", "display_name": "Python 2"}}))
    assert python2 is not None and python2.startswith("saved with a Python 2 kernel (python2); it runs here under")
    by_version = python2_note(notebook_with({"language_info": {"name": "python", "version": "2.7.18"}}))
    assert by_version is not None and "(Python 2.7.18)" in by_version
    python3 = {"kernelspec": {"name": "python3"}, "language_info": {"name": "python", "version": "3.11.7"}}
    assert python2_note(notebook_with(python3)) is None
    assert python2_note(notebook_with({"kernelspec": ["python2"], "language_info": {"version": 2.7}})) is None
