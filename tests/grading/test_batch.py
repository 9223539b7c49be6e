"""Batch grading: stored results reused, a killed batch resumed, progress shown, jobs sized."""

import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from checks.batch.capacity import default_jobs, threads_per_job
from checks.cli import build_parser

REPO = Path(__file__).resolve().parents[2]
STUDENTS = ("Ana_R1", "Ben_R2", "Cai_R3")


@pytest.fixture
def class_folder(tmp_path):
    """Three small notebooks (their checks fail fast), so a batch can be killed half way and rerun."""
    notebook = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_markdown_cell("# A2 by Asha Rao"),
            nbformat.v4.new_code_cell("import time\ntime.sleep(2)"),
        ]
    )
    folder = tmp_path / "class"
    folder.mkdir()
    for student in STUDENTS:
        nbformat.write(notebook, folder / f"{student}.ipynb")
    return folder


def grade_command(folder: Path, out: Path, data_root: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "checks.cli",
        "grade",
        str(folder),
        "--assignment",
        "cs411-a2",
        "--mode",
        "quick",
        "--jobs",
        "1",
        "--out",
        str(out),
        "--data-dir",
        str(data_root),
    ]


def finished(out: Path) -> list[str]:
    return sorted(path.parent.name for path in out.glob("*/results.json"))


@pytest.mark.slow
def test_a_killed_batch_resumes_without_regrading_what_was_done(class_folder, tmp_path, data_root):
    out = tmp_path / "out"
    batch = subprocess.Popen(
        grade_command(class_folder, out, data_root),
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    deadline = time.monotonic() + 300
    while not finished(out) and time.monotonic() < deadline and batch.poll() is None:
        time.sleep(0.5)
    os.killpg(batch.pid, signal.SIGKILL)
    batch.wait()
    done_before = finished(out)
    assert 1 <= len(done_before) < len(STUDENTS), "the batch should be killed half way"
    kept = {student: (out / student / "results.json").read_bytes() for student in done_before}
    assert not list(out.rglob("*.partial")), "a killed batch leaves no half-written file"

    rerun = subprocess.run(
        grade_command(class_folder, out, data_root), cwd=REPO, capture_output=True, text=True, timeout=600
    )
    assert rerun.returncode == 0, rerun.stderr
    assert f"{len(done_before)} unchanged submissions keep their stored results" in rerun.stdout
    assert finished(out) == list(STUDENTS)
    for student, content in kept.items():
        assert (out / student / "results.json").read_bytes() == content
    graded_now = [line for line in rerun.stdout.splitlines() if "done," in line]
    assert len(graded_now) == len(STUDENTS) - len(done_before)
    assert graded_now[-1].endswith(
        f"[{len(graded_now)}/{len(graded_now)} done, 0 failed, elapsed "
        f"{graded_now[-1].split('elapsed ')[1].split(',')[0]}, left ~0:00]"
    )
    for student in STUDENTS:
        assert (out / student / "report.html").is_file() and (out / student / "gradescope.json").is_file()

    unchanged = subprocess.run(
        grade_command(class_folder, out, data_root), cwd=REPO, capture_output=True, text=True, timeout=600
    )
    assert "3 unchanged submissions keep their stored results; 0 to grade" in unchanged.stdout

    (class_folder / "Ben_R2.ipynb").write_text((class_folder / "Ben_R2.ipynb").read_text().replace("Asha Rao", "Ben"))
    changed = subprocess.run(
        grade_command(class_folder, out, data_root), cwd=REPO, capture_output=True, text=True, timeout=600
    )
    assert "2 unchanged submissions keep their stored results; 1 to grade" in changed.stdout
    assert "Ben_R2" in changed.stdout.split("to grade")[1]


def test_jobs_default_to_what_cores_and_memory_allow():
    cores = len(os.sched_getaffinity(0))
    jobs = default_jobs(8 << 30)
    assert 1 <= jobs <= cores
    assert default_jobs(1 << 50) == 1, "a kernel limit above the machine's memory leaves one job"
    assert threads_per_job(1) == cores and threads_per_job(cores) == 1


def test_unset_jobs_never_outnumber_the_notebooks_waiting(monkeypatch):
    from checks.batch import capacity
    from checks.batch.class_grading import sized_for
    from checks.engine.sandbox import SandboxLimits
    from checks.grading.submission import GradeOptions

    monkeypatch.setattr(capacity, "available_cores", lambda: 4)
    monkeypatch.setattr(capacity, "total_memory_bytes", lambda: 64 << 30)
    unset = GradeOptions(limits=SandboxLimits(memory_bytes=4 << 30))
    lone = sized_for(unset, 1)
    assert (lone.jobs, lone.limits.threads) == (1, 4), "one notebook gets every core"
    assert (sized_for(unset, 3).jobs, sized_for(unset, 3).limits.threads) == (3, 1)
    assert (sized_for(unset, 40).jobs, sized_for(unset, 40).limits.threads) == (4, 1)
    assert sized_for(unset, 0).jobs == 1
    chosen = GradeOptions(jobs=2, limits=SandboxLimits(threads=1))
    assert sized_for(chosen, 1) == chosen, "jobs the instructor chose are kept"


def test_the_command_line_leaves_jobs_to_the_batch_unless_given():
    from checks.cli import _grade_options

    def options(*extra: str):
        args = build_parser().parse_args(["grade", "x", "--assignment", "cs411-a2", "--out", "o", *extra])
        return _grade_options(args, args.mode)

    assert options().jobs is None
    given = options("--jobs", "2")
    assert (given.jobs, given.limits.threads) == (2, threads_per_job(2))


def test_zero_jobs_is_refused(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["grade", "x", "--assignment", "cs411-a2", "--out", "o", "--jobs", "0"])
    assert "0 is not a positive number of jobs" in capsys.readouterr().err


def test_a_grader_bug_on_one_submission_costs_only_that_result_and_is_retried(tmp_path, data_root, monkeypatch):
    from checks.batch import class_grading
    from checks.grading.scheme import load_assignment
    from checks.grading.submission import GradeOptions

    folder = tmp_path / "class"
    folder.mkdir()
    (folder / "Ana_R1.ipynb").write_text("")
    (folder / "Ben_R2.ipynb").write_text("{not json")
    real = class_grading.grade_submission

    def flaky(submission, *args, **kwargs):
        if submission.student_id == "Ben_R2":
            raise MemoryError("the grader ran out of memory")
        return real(submission, *args, **kwargs)

    monkeypatch.setattr(class_grading, "grade_submission", flaky)
    options = GradeOptions(mode="quick", data_dir=data_root)
    out = tmp_path / "out"
    first = {p["student"]: p for p in class_grading.grade_class([folder], load_assignment("cs411-a2"), options, out)}
    assert first["Ana_R1"]["problem"].startswith("invalid submission") and first["Ana_R1"]["grading_key"]
    assert (
        first["Ben_R2"]["problem"] == "the grader failed on this submission: MemoryError: the grader ran out of memory"
    )
    assert first["Ben_R2"]["grading_key"] is None and (out / "Ben_R2" / "report.html").is_file()

    monkeypatch.setattr(class_grading, "grade_submission", real)
    second = {p["student"]: p for p in class_grading.grade_class([folder], load_assignment("cs411-a2"), options, out)}
    assert second["Ana_R1"] == first["Ana_R1"], "the settled invalid result is reused"
    assert second["Ben_R2"]["problem"].startswith("invalid submission"), "the grader failure is retried"


@pytest.mark.slow
def test_a_submission_split_across_two_notebooks_runs_as_one_and_says_so(tmp_path, data_root):
    import nbformat

    from checks.engine.intake import intake_one
    from checks.grading.scheme import load_assignment
    from checks.grading.submission import GradeOptions, grade_submission

    folder = tmp_path / "Dan_R4"
    folder.mkdir()
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 41")]), folder / "PA_part1.ipynb")
    nbformat.write(
        nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print(x + 1)")]), folder / "PA_part2.ipynb"
    )
    submission = intake_one(folder, tmp_path / "intake")
    payload = grade_submission(
        submission,
        load_assignment("cs411-a2"),
        GradeOptions(mode="full", data_dir=data_root, cell_timeout_s=60),
        tmp_path / "out",
    )
    assert "2 notebooks graded as one, in name order: PA_part1.ipynb then PA_part2.ipynb" in payload["flags"]
    executed = nbformat.read(tmp_path / "out" / "executed.ipynb", as_version=4)
    assert executed.cells[3].outputs[0]["text"] == "42\n"
    assert [cell["status"] for cell in payload["run"]["cells"]] == ["ok", "ok"]


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_on_a_terminal_a_live_bar_names_the_running_students(capsys):
    from checks.batch.progress import BatchProgress

    terminal = Terminal()
    progress = BatchProgress(2, 1, lambda payload: payload["student"], stream=terminal)
    progress.began("Ana_R1")
    progress.began("Ben_R2")
    time.sleep(1.2)
    assert "0/2" in terminal.getvalue() and "running Ana_R1, Ben_R2" in terminal.getvalue()
    progress.finished({"student": "Ana_R1", "problem": "invalid submission: empty"})
    progress.close()
    assert "1/2" in terminal.getvalue() and "1 failed; running Ben_R2" in terminal.getvalue()
    printed = capsys.readouterr().out
    assert printed.startswith("1 unchanged submissions keep their stored results; 2 to grade")
    assert "Ana_R1  [1/2 done, 1 failed, elapsed 0:01, left ~0:01]" in printed
