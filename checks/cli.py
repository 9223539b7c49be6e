"""The ``xaigrader`` command: a thin layer over functions that do the work."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from checks.data.assets import DATA_ENV_VAR, DataDir
from checks.data.model_cache import CACHE_ENV_VAR, resolve_cache_dir
from checks.engine.sandbox import SandboxLimits
from checks.grading.scheme import Assignment, AssignmentError, available_assignments

if TYPE_CHECKING:
    from checks.grading.check_api import CheckSpec

PRETRAINED_IN_USE = (("mobilenet_v2", "IMAGENET1K_V1"),)
CACHE_DIR_HELP = f"where trained reference models are cached (default: ${CACHE_ENV_VAR}, else the user cache)"


def list_assignments(args: argparse.Namespace) -> int:
    """With ``--checks`` each suite is loaded, so a suite that disagrees with its mark scheme is reported here."""
    for assignment in available_assignments():
        specs = _specs_by_task(assignment) if args.checks else {}
        print(f"{assignment.id}  {assignment.title}  ({assignment.total:g} marks)")
        for task in assignment.tasks:
            split = f"  [{task.written:g} written]" if task.written else ""
            automatic = f"  (automatic {task.automatic:g})" if args.checks else ""
            print(f"  {task.id:>5}  {task.marks:>4g}  {task.title}{split}{automatic}")
            _print_specs(specs.get(task.id, []))
        for advisory in assignment.advisories if args.checks else ():
            print(f"  {advisory.id:>5}  advisory, no marks: {advisory.title}")
            _print_specs(specs.get(advisory.id, []))
    return 0


def _specs_by_task(assignment: Assignment) -> dict[str, list[CheckSpec]]:
    from checks.grading.submission import load_suite

    grouped: dict[str, list[CheckSpec]] = {}
    for spec in load_suite(assignment).specs:
        grouped.setdefault(spec.task, []).append(spec)
    return grouped


def _print_specs(specs: list[CheckSpec]) -> None:
    for spec in specs:
        print(f"  {'':>5}  {spec.points:>4g}  {spec.needs:<5}  {spec.name}: {spec.title}")


def describe_data(args: argparse.Namespace) -> int:
    data = DataDir(args.data_dir)
    print(f"data directory: {data.root}")
    print(f"model cache:    {resolve_cache_dir(args.cache_dir)}")
    if not data.root.is_dir():
        print(f"missing: pass --data-dir or set {DATA_ENV_VAR}", file=sys.stderr)
        return 1
    for arch, weights in PRETRAINED_IN_USE:
        print(data.load_pretrained(arch, weights).note)
    if not args.verify:
        return 0
    problems = data.verify()
    for problem in problems:
        print(f"  {problem}")
    print(f"{len(data.manifest)} files listed, {len(problems)} problems")
    return 1 if problems else 0


def run_notebook(args: argparse.Namespace) -> int:
    from pathlib import Path

    from checks.engine.kernel import RunConfig
    from checks.engine.run import run_notebook_file

    data = DataDir(args.data_dir)
    config = RunConfig(
        data_dir=data.root if data.root.is_dir() else None,
        cell_timeout_s=args.cell_timeout,
        notebook_timeout_s=args.timeout,
        allow_network=args.allow_network,
        force_fallback=args.sandbox == "fallback",
        limits=SandboxLimits(memory_bytes=int(args.memory_gib * (1 << 30)), threads=args.threads),
    )
    out = Path(args.out)
    result = run_notebook_file(Path(args.notebook), out, config)
    if result is None:
        print(f"invalid notebook: see {out / 'run.json'}", file=sys.stderr)
        return 1
    if result.sandbox.get("warning"):
        print(result.sandbox["warning"], file=sys.stderr)
    counts: dict[str, int] = {}
    for cell in result.cells:
        counts[cell.status] = counts.get(cell.status, 0) + 1
    summary = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
    print(
        f"{len(result.cells)} code cells ({summary}) in {result.total_s:.1f} s; "
        f"{len(result.figures)} figures, {len(result.shims)} shims; wrote {out}"
    )
    return 0


def _grade_options(args: argparse.Namespace, mode: str):
    from pathlib import Path

    from checks.batch.capacity import threads_per_job
    from checks.grading.submission import GradeOptions

    jobs = getattr(args, "jobs", 1)
    return GradeOptions(
        mode=mode,
        data_dir=Path(args.data_dir) if args.data_dir else None,
        cache_dir=resolve_cache_dir(args.cache_dir),
        jobs=jobs,
        cell_timeout_s=getattr(args, "cell_timeout", None),
        notebook_timeout_s=getattr(args, "timeout", None),
        limits=SandboxLimits(threads=threads_per_job(jobs)) if jobs else SandboxLimits(),
    )


def grade(args: argparse.Namespace) -> int:
    from pathlib import Path

    from checks.batch.class_grading import grade_class
    from checks.data.class_folder import OVERRIDES_FILE
    from checks.grading.scheme import load_assignment
    from checks.publish.overrides import load_overrides

    assignment = load_assignment(args.assignment)
    out = Path(args.out)
    options = _grade_options(args, args.mode)
    results = grade_class([Path(p) for p in args.paths], assignment, options, out, regrade=args.regrade)
    print(
        f"graded {len(results)} submissions; overview: {out / 'index.html'}; gradebook: {out / 'grades.csv'}; "
        f"TA marks go in {out / OVERRIDES_FILE}"
    )
    problems = load_overrides(out / OVERRIDES_FILE, results, assignment).problems
    if problems:
        lines = "\n".join(f"  {problem}" for problem in problems)
        print(f"xaigrader: not applied from {out / OVERRIDES_FILE}:\n{lines}", file=sys.stderr)
        return 1
    return 0


def rerender(args: argparse.Namespace) -> int:
    """Re-renders with every valid line of overrides.csv; exits 1 when some lines were not applied, listing them."""
    from pathlib import Path

    from checks.data.class_folder import OVERRIDES_FILE
    from checks.publish.publisher import publish

    out = Path(args.folder)
    try:
        published = publish(out)
    except FileNotFoundError as error:
        print(f"xaigrader: {error}", file=sys.stderr)
        return 2
    finals = published.finals
    written = sum(1 for final in finals if any("ta" in task for task in final["tasks"].values()))
    corrected = sum(1 for final in finals if final["corrected_checks"])
    waiting = [final for final in finals if not final["final"]]
    print(
        f"re-rendered {len(finals)} reports, {out / 'index.html'}, {out / 'grades.csv'} and gradescope.json per "
        f"student: {written} with written marks from a TA, {corrected} with corrected checks, {len(waiting)} with "
        f"marks still pending ({sum(final['pending'] for final in waiting):g} in all)"
    )
    if published.override_problems:
        lines = "\n".join(f"  {problem}" for problem in published.override_problems)
        print(
            f"xaigrader: not applied from {out / OVERRIDES_FILE}:\n{lines}\nfix them and run: xaigrader report {out}",
            file=sys.stderr,
        )
        return 1
    return 0


def check_notebook(args: argparse.Namespace) -> int:
    import json
    import tempfile
    from pathlib import Path

    from checks.engine.intake import intake_one
    from checks.grading.scheme import load_assignment
    from checks.grading.submission import grade_submission, load_suite, repository_rules
    from checks.publish.self_check import render_summary

    assignment = load_assignment(args.assignment)
    load_suite(assignment)
    with tempfile.TemporaryDirectory(prefix="xaigrader-check-") as work:
        options = _grade_options(args, "full" if args.full else "quick")
        submission = intake_one(
            Path(args.notebook),
            Path(work) / "intake",
            data_dir=options.data_dir,
            repository=repository_rules(assignment),
        )
        payload = grade_submission(submission, assignment, options, Path(work) / "out")
    print(render_summary(payload, assignment))
    if args.json:
        Path(args.json).write_text(json.dumps(payload, indent=2, default=str), encoding="utf-8")
    return 0 if payload["problem"] is None else 1


def lime_score(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from checks.assignments.tml25_a4.lime_scoring import ScoringOptions, read_pickle_file, score_lime_pickle
    from checks.data.assets import DataDir

    try:
        pickled = read_pickle_file(Path(args.pickle))
    except OSError as error:
        print(f"xaigrader: {error}", file=sys.stderr)
        return 2
    result = score_lime_pickle(pickled, DataDir(args.data_dir), ScoringOptions(args.cut_off, args.repeats))
    for key, value in result.iou.items():
        print(f"{key:<30} IoU {value:.4f}   {result.seconds[key]:.3f} s")
    print(result.message())
    if result.ground_truth:
        print(f"ground truth: {result.ground_truth}")
    if args.json:
        Path(args.json).write_text(json.dumps(result.as_dict(), indent=2), encoding="utf-8")
    return 0 if result.complete else 1


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not a positive number of jobs")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="xaigrader", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    listing = commands.add_parser("list", help="assignments, their tasks and marks")
    listing.add_argument(
        "--checks",
        action="store_true",
        help="also every check: its points and whether it needs a full run, under its task",
    )
    listing.set_defaults(handler=list_assignments)

    data = commands.add_parser("data", help="where the offline data lives and which weights are real")
    data.add_argument("--data-dir", help=f"data directory (default: ${DATA_ENV_VAR}, else the user cache)")
    data.add_argument("--cache-dir", help=CACHE_DIR_HELP)
    data.add_argument("--verify", action="store_true", help="check every file against SHA256SUMS")
    data.set_defaults(handler=describe_data)
    run = commands.add_parser("run", help="execute one notebook in the sandbox and keep what it produced")
    run.add_argument("notebook")
    run.add_argument("--out", required=True, help="folder for executed.ipynb, run.json and figures/")
    run.add_argument("--data-dir", help=f"data directory (default: ${DATA_ENV_VAR}, else the user cache)")
    run.add_argument("--cell-timeout", type=float, default=600, help="seconds per cell (default 600)")
    run.add_argument("--timeout", type=float, default=1800, help="seconds for the whole notebook (default 1800)")
    run.add_argument("--memory-gib", type=float, default=8, help="address-space limit of the kernel (default 8)")
    run.add_argument("--threads", type=int, default=1, help="CPU threads the kernel may use (default 1)")
    run.add_argument("--allow-network", action="store_true", help="let student code reach the network")
    run.add_argument(
        "--sandbox",
        choices=("auto", "fallback"),
        default="auto",
        help="auto uses bubblewrap when it works; fallback forces the weaker mode",
    )
    run.set_defaults(handler=run_notebook)

    grading = commands.add_parser("grade", help="grade a class: zips, notebooks or folders")
    grading.add_argument("paths", nargs="+", help="a class folder, or submission files")
    grading.add_argument("--assignment", required=True)
    grading.add_argument("--out", required=True, help="folder for <student>/results.json and grades.csv")
    grading.add_argument("--mode", choices=("full", "quick"), default="full")
    grading.add_argument(
        "--jobs", type=positive_int, help="submissions graded at once (default: as many as cores and memory allow)"
    )
    grading.add_argument("--regrade", action="store_true", help="grade again even where a stored result is current")
    grading.add_argument("--data-dir", help=f"data directory (default: ${DATA_ENV_VAR}, else the user cache)")
    grading.add_argument("--cache-dir", help=CACHE_DIR_HELP)
    grading.add_argument("--cell-timeout", type=float, help="seconds per cell (default: the assignment's)")
    grading.add_argument("--timeout", type=float, help="seconds per notebook (default: the assignment's)")
    grading.set_defaults(handler=grade)

    report = commands.add_parser("report", help="re-render reports and exports from stored results and overrides.csv")
    report.add_argument("folder", help="a folder written by xaigrader grade")
    report.set_defaults(handler=rerender)

    checking = commands.add_parser("check", help="a student's self-check of one notebook (quick by default)")
    checking.add_argument("notebook")
    checking.add_argument("--assignment", required=True)
    checking.add_argument("--full", action="store_true", help="run the whole notebook (accuracy, figures)")
    checking.add_argument("--json", help="also write results.json here")
    checking.add_argument("--data-dir", help=f"data directory (default: ${DATA_ENV_VAR}, else the user cache)")
    checking.add_argument("--cache-dir", help=CACHE_DIR_HELP)
    checking.set_defaults(handler=check_notebook)

    scoring = commands.add_parser(
        "lime-score", help="score a TML25 A4 pickle of LIME parameters (IoU and time), running none of its code"
    )
    scoring.add_argument("pickle")
    scoring.add_argument("--cut-off", type=float, default=900, help="seconds for all ten images (default 900)")
    scoring.add_argument("--repeats", type=positive_int, default=3, help="runs per image, timed by their median")
    scoring.add_argument("--json", help="also write the score and its details here")
    scoring.add_argument("--data-dir", help=f"data directory (default: ${DATA_ENV_VAR}, else the user cache)")
    scoring.set_defaults(handler=lime_score)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except AssignmentError as error:
        print(f"xaigrader: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
