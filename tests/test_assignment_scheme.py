import pytest

from checks.cli import main
from checks.grading.scheme import AssignmentError, load_assignment, load_assignment_file

CS411_MARKS = {
    "1.1": 4,
    "1.2": 4,
    "1.3": 4,
    "1.4": 10,
    "1.5": 5,
    "1.6": 5,
    "1.7": 6,
    "1.8": 12,
    "2.1": 2,
    "2.2": 8,
    "2.3": 6,
    "2.4": 8,
    "2.5": 9,
    "2.6": 4,
    "2.7": 8,
    "2.8": 5,
}


def test_cs411_mark_scheme_is_the_assignments_own():
    assignment = load_assignment("cs411-a2")
    assert {task.id: task.marks for task in assignment.tasks} == CS411_MARKS
    assert assignment.total == 100
    assert assignment.task("1.2").names == ("preprocess",)
    assert assignment.task("2.8").automatic == 0


def test_a_scheme_that_does_not_add_up_is_refused(tmp_path):
    scheme = tmp_path / "assignment.toml"
    scheme.write_text(
        'id = "x"\ntitle = "X"\nreference = "reference.x"\ntotal = 10\n'
        "[limits]\ncell_timeout_s = 1\nnotebook_timeout_s = 2\n"
        '[[tasks]]\nid = "1"\ntitle = "one"\nmarks = 4\n'
    )
    with pytest.raises(AssignmentError, match="add up to 4, not the stated total 10"):
        load_assignment_file(scheme)


def test_unknown_assignment_lists_the_known_ones():
    with pytest.raises(AssignmentError, match="known assignments: .*cs411-a2"):
        load_assignment("cs999")


def test_list_command_prints_tasks_and_marks(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "cs411-a2" in out and "smooth_grad" in out and "[5 written]" in out


def test_data_command_says_when_weights_are_stand_ins(data_root, capsys, tmp_path):
    assert main(["data", "--data-dir", str(data_root), "--cache-dir", str(tmp_path)]) == 0
    assert "stand-in weights: predicted class names are meaningless" in capsys.readouterr().out
