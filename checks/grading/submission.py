"""Grade one submission: run it in the sandbox, judge it with the assignment's checks, write results.

One submission's catastrophe (invalid file, crash, hang, hostile code, a bug in a check)
becomes that submission's result, never an exception for the caller.
"""

from __future__ import annotations

import asyncio
import importlib
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import nbformat
import torch

from checks.data.assets import DataDir
from checks.data.class_folder import RESULTS_FILE, SUBMITTED_FIGURES
from checks.data.files import write_json
from checks.data.model_cache import resolve_cache_dir
from checks.engine.displayed_figures import audit_figures
from checks.engine.intake import RepositoryRules, Submission
from checks.engine.kernel import KernelSession, RunConfig, RunResult
from checks.engine.notebook import InvalidNotebook, extract_definitions, load_notebook, out_of_order_note, python2_note
from checks.engine.pdf_reports import PdfReport, printable, read_pdf_reports
from checks.engine.repository_files import take_inventory
from checks.engine.repository_runs import Part, merged_program, run_parts
from checks.engine.run import copy_figures
from checks.engine.sandbox import SandboxLimits
from checks.engine.student import StudentProxy
from checks.engine.submitted_outputs import SubmittedOutputs, read_submitted_outputs
from checks.grading.check_api import CheckSuite, run_suite, validate_suite
from checks.grading.context import GradingContext
from checks.grading.cut_cells import CutCell, cut_cells, hold_cut_checks
from checks.grading.figure_placement import place_figures, task_cells
from checks.grading.first_causes import (
    KnownCause,
    attach_first_causes,
    cell_label,
    error_groups,
    load_known_causes,
)
from checks.grading.results import SubmissionResult
from checks.grading.scheme import Assignment
from checks.grading.written import Question, ReportPage, locate_answers, locate_repository_answers


@dataclass(frozen=True)
class GradeOptions:
    mode: str = "full"
    data_dir: Path | None = None
    cache_dir: Path | None = None  # trained reference models; None: $XAIGRADER_CACHE, else the user cache
    jobs: int | None = None  # None: sized by grade_class to the machine and the notebooks waiting
    cell_timeout_s: float | None = None
    notebook_timeout_s: float | None = None
    limits: SandboxLimits = field(default_factory=SandboxLimits)

    def settings(self) -> dict[str, Any]:
        """The options that can change a verdict (threads and memory are sized not to)."""
        return {"mode": self.mode, "cell_timeout_s": self.cell_timeout_s, "notebook_timeout_s": self.notebook_timeout_s}


def repository_rules(assignment: Assignment) -> RepositoryRules | None:
    """How intake reads this assignment's submissions: as team repositories, or (None) as notebooks."""
    layout = assignment.layout
    return RepositoryRules(layout.team_pattern) if layout.repository else None


def load_suite(assignment: Assignment) -> CheckSuite:
    """The assignment's checks, refused (AssignmentError) when their points disagree with its mark scheme."""
    suite = importlib.import_module(f"{assignment.module}.checks").suite
    validate_suite(suite, assignment)
    return suite


def questions_of(assignment: Assignment) -> list[Question]:
    return [
        Question(task.id, task.question.prompt, task.question.keywords, task.question.sentences, task.written)
        for task in assignment.tasks
        if task.question is not None
    ]


def _page_markdown(text: str) -> str:
    """A PDF page's text as markdown that keeps its lines (headings stay apart from the text under them) and
    rejoins words the page broke at a line's end ("Grad-" and "CAM")."""
    lines = [line.rstrip() for line in text.splitlines()]
    joined: list[str] = []
    for line in lines:
        if joined and joined[-1].endswith("-") and line[:1].isalnum():
            joined[-1] += line
        else:
            joined.append(line)
    return "  \n".join(joined).strip()


def report_pages(reports: list[PdfReport]) -> list[ReportPage]:
    """The pages of a team's report PDFs, where its written answers are."""
    return [
        ReportPage(f"{printable(report.path)}, page {number}", _page_markdown(text))
        for report in reports
        for number, text in enumerate(report.texts, 1)
        if text.strip()
    ]


def _run_config(assignment: Assignment, options: GradeOptions, data: DataDir) -> RunConfig:
    quick = options.mode == "quick"
    limits = assignment.limits
    return RunConfig(
        data_dir=data.root if data.root.is_dir() else None,
        cell_timeout_s=options.cell_timeout_s or (limits.quick_timeout_s if quick else limits.cell_timeout_s),
        notebook_timeout_s=options.notebook_timeout_s
        or (limits.quick_timeout_s if quick else limits.notebook_timeout_s),
        overtime_cell_s=limits.overtime_cell_s,
        overtime_s=0 if quick else limits.overtime_s,
        limits=options.limits,
        kernel_packages=assignment.kernel_packages,
    )


def _program(notebook: nbformat.NotebookNode, options: GradeOptions, result: SubmissionResult) -> nbformat.NotebookNode:
    """What runs: the notebook, or in quick mode its definitions alone."""
    if options.mode != "quick":
        return notebook
    extraction = extract_definitions(notebook)
    result.flags += [f"quick mode: {note}" for note in extraction.unresolved]
    return extraction.as_notebook()


def _submitted_outputs(
    program: nbformat.NotebookNode, options: GradeOptions, out: Path, result: SubmissionResult
) -> SubmittedOutputs | None:
    """The outputs the notebook was handed in with, read before the run overwrites them (full mode)."""
    if options.mode != "full":
        return None
    submitted = read_submitted_outputs(program, out / SUBMITTED_FIGURES)
    result.submitted = submitted.as_dict()
    if flag := submitted.without_outputs_flag():
        result.flags.append(flag)
    return submitted


async def _grade_notebook(
    submission: Submission, notebook, assignment: Assignment, options: GradeOptions, out: Path, result: SubmissionResult
) -> None:
    data = DataDir(options.data_dir)
    program = _program(notebook, options, result)
    submitted = _submitted_outputs(program, options, out, result)
    async with KernelSession(_run_config(assignment, options, data), submission_dir=submission.folder) as session:
        run = await session.run_notebook(program)
        session.deadline = time.monotonic() + checks_time(assignment, options)
        run.figures = copy_figures(session, run.figures, out / "figures")
        student = StudentProxy(session, asyncio.get_running_loop())
        await _judge(program, run, student, submitted, assignment, options, out, result)
    nbformat.write(program, out / "executed.ipynb")


def _loaded_parts(submission: Submission, result: SubmissionResult) -> list[Part]:
    """A repository's notebooks; one that cannot be read is left out with a flag, the others still graded."""
    assert submission.folder is not None
    parts = []
    for name in submission.parts:
        try:
            parts.append(Part(name, load_notebook(submission.folder / name)))
        except InvalidNotebook as error:
            result.flags.append(f"{name} was not run: {error}")
    if submission.parts and not parts:
        raise InvalidNotebook(f"none of the repository's notebooks can be read ({', '.join(submission.parts)})")
    return parts


async def _grade_repository(
    submission: Submission,
    loaded: list[Part],
    assignment: Assignment,
    options: GradeOptions,
    out: Path,
    result: SubmissionResult,
) -> None:
    """A team's notebooks each run in a kernel of their own, from their folder; the checks then judge what
    all of them did, with no kernel left to call."""
    assert submission.folder is not None
    inventory = take_inventory(submission.folder)
    result.repository, result.flags = inventory.as_dict(), result.flags + inventory.flags()
    parts = [Part(part.name, _program(part.notebook, options, result)) for part in loaded]
    program = merged_program(parts)
    submitted = _submitted_outputs(program, options, out, result)
    config = _run_config(assignment, options, DataDir(options.data_dir))
    reports = await asyncio.to_thread(
        read_pdf_reports, submission.folder, inventory.files.get("reports", []), config.limits
    )
    result.written_answers = locate_repository_answers(program, questions_of(assignment), report_pages(reports))
    run = await run_parts(parts, submission.folder, config, out / "figures")
    await _judge(program, run, None, submitted, assignment, options, out, result, submission.folder, reports)
    nbformat.write(program, out / "executed.ipynb")


async def _judge(
    program: nbformat.NotebookNode,
    run: RunResult,
    student: StudentProxy | None,
    submitted: SubmittedOutputs | None,
    assignment: Assignment,
    options: GradeOptions,
    out: Path,
    result: SubmissionResult,
    repository: Path | None = None,
    reports: list[PdfReport] | None = None,
) -> None:
    """Run the assignment's checks on what the run did (``run.figures`` copied into ``out/figures``)."""
    saved = frozenset(cell.cell for cell in submitted.cells) if submitted else frozenset()
    cuts = cut_cells(run.cells, run.events, program, saved)
    audit = audit_figures(run.figures, program, out / "figures")
    figures = run.figures = audit.shown
    result.flags += run.dropped + audit.flags()
    result.sandbox = run.sandbox
    result.run = {key: value for key, value in run.as_dict().items() if key not in ("figures", "sandbox")}
    if run.startup_error:
        result.problem = f"the notebook's kernel could not start: {run.startup_error}"
        return
    context = GradingContext(
        mode=options.mode,
        student=student,
        executed=program,
        run=run,
        figures=figures,
        figure_dir=out / "figures",
        data=DataDir(options.data_dir),
        cache_dir=resolve_cache_dir(options.cache_dir),
        task_cells=task_cells(program, [task.id for task in assignment.tasks]),
        repository=repository,
        reports=reports or [],
        saved_outputs=saved,
    )
    result.task_cells = context.task_cells
    suite = load_suite(assignment)
    result.checks = await asyncio.to_thread(run_suite, suite, context)
    if submitted is not None and suite.output_comparison is not None:
        comparison = suite.output_comparison(submitted, program, run.cells, context.memo)
        result.reexecuted = comparison.reexecuted
        result.output_disagreements = [found.as_dict() for found in comparison.disagreements]
        result.flags += [found.sentence() for found in comparison.disagreements]
    if options.mode == "full":  # quick mode runs extracted cells, whose numbers are not the notebook's
        known = load_known_causes(assignment.folder)
        await asyncio.to_thread(_explain_lost_marks, result, suite, run, program, cuts, context.task_cells, known)
    result.stand_ins, result.flags = sorted(set(context.stand_ins)), result.flags + context.flags
    result.stand_in_assets, result.substitutions = context.stand_in_assets, context.substitutions
    result.figures = place_figures(figures, result.checks, program, [task.id for task in assignment.tasks])
    _flag_run_problems(run, cuts, result)


def _explain_lost_marks(
    result: SubmissionResult,
    suite: CheckSuite,
    run: RunResult,
    program: nbformat.NotebookNode,
    cuts: dict[int, CutCell],
    cells_of_tasks: dict[str, list[int]],
    known: list[KnownCause],
) -> None:
    """Each lost mark traced to the notebook error it follows from; those a cell cut by the budget explains are
    held for a TA, and the rest grouped under their errors."""
    attach_first_causes(result.checks, run.cells, program, cells_of_tasks, known)
    rests_on = {spec.name: spec.rests_on for spec in suite.specs}
    hold_cut_checks(result.checks, rests_on, cuts, cells_of_tasks)
    result.error_groups = [asdict(group) for group in error_groups(result.checks, run.events)]


def checks_time(assignment: Assignment, options: GradeOptions) -> float:
    """How long the checks may spend in the kernel (calls and set-up code) after the run."""
    return assignment.limits.quick_timeout_s if options.mode == "quick" else assignment.limits.checks_timeout_s


def _flag_run_problems(run: RunResult, cuts: dict[int, CutCell], result: SubmissionResult) -> None:
    result.flags += [
        f"timeout: {cut.describe()}" + ("" if cut.holds else "; it trained no model and its output was not saved")
        for cut in cuts.values()
    ]
    for cell in run.cells:
        if cell.status == "kernel_died":
            result.flags.append(f"{cell_label(cell.index, cell.execution_count)}: kernel died ({cell.error_value})")
    errors = [cell for cell in run.cells if cell.status == "error"]
    if errors:
        first = errors[0]
        where = cell_label(first.index, first.execution_count)
        result.flags.append(
            f"{len(errors)} cell(s) raised errors, first in {where}: {first.error_name}: {first.error_value}"
        )
    if run.notebook_timed_out:
        result.flags.append("the notebook ran past its time and its overtime; later cells did not run")
    if run.quota_exceeded:
        result.flags.append(run.quota_exceeded)


def grade_submission(
    submission: Submission, assignment: Assignment, options: GradeOptions, out: Path, grading_key: str | None = None
) -> dict[str, Any]:
    """Grade and write ``out/results.json``; never raises for anything the submission did."""
    started = time.monotonic()
    out.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(out / "figures", ignore_errors=True)
    shutil.rmtree(out / SUBMITTED_FIGURES, ignore_errors=True)
    # The reference must reduce floats in the same order as the kernel, which has this many threads.
    torch.set_num_threads(max(1, options.limits.threads))
    result = SubmissionResult(submission.student_id, assignment.id, options.mode, flags=list(submission.notes))
    if not submission.valid:
        result.problem = f"invalid submission: {submission.problem}"
    else:
        try:
            parts = _loaded_parts(submission, result)
            notebook = merged_program(parts) if submission.parts else load_notebook(submission.notebook)
        except InvalidNotebook as error:
            result.problem = f"invalid submission: {error}"
        else:
            if submission.run_order is not None:
                result.flags.append(
                    f"{len(submission.run_order.names)} notebooks graded as one, {submission.run_order.sentence()}"
                )
                result.flags.extend(submission.run_order.notes)
            result.flags += [note for note in (out_of_order_note(notebook), python2_note(notebook)) if note]
            result.written_answers = locate_answers(notebook, questions_of(assignment))
            try:
                if submission.parts:
                    asyncio.run(_grade_repository(submission, parts, assignment, options, out, result))
                else:
                    asyncio.run(_grade_notebook(submission, notebook, assignment, options, out, result))
            except Exception as error:
                result.problem = f"grading stopped: {type(error).__name__}: {error}"
    result.execution_time = time.monotonic() - started
    payload = result.as_json(assignment)
    # A kernel that could not start or a grading step that broke may go better next time.
    settled = result.problem is None or result.problem.startswith("invalid submission")
    payload["grading_key"] = grading_key if settled else None
    write_json(out / RESULTS_FILE, payload)
    return payload


def grader_failure(
    submission: Submission, assignment: Assignment, options: GradeOptions, out: Path, error: Exception
) -> dict[str, Any]:
    """A bug in the grader itself becomes this student's result (without a key, so it is retried)."""
    result = SubmissionResult(
        submission.student_id,
        assignment.id,
        options.mode,
        problem=f"the grader failed on this submission: {type(error).__name__}: {error}",
    )
    payload = result.as_json(assignment)
    payload["grading_key"] = None
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / RESULTS_FILE, payload)
    return payload
