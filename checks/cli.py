"""The ``xaigrader`` command: a thin layer over functions that do the work."""

from __future__ import annotations

import argparse
import os
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
TOKEN_ENV_VAR = "XAIGRADER_TOKEN"
SCHEDULER_ENV_VAR = "XAIGRADER_SCHEDULER"
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

    from checks.batch.class_grading import BatchStopped, grade_class
    from checks.data.class_folder import OVERRIDES_FILE
    from checks.grading.scheme import load_assignment
    from checks.publish.overrides import load_overrides

    assignment = load_assignment(args.assignment)
    out = Path(args.out)
    options = _grade_options(args, args.mode)
    scheduler = args.scheduler or (None if args.jobs else os.environ.get(SCHEDULER_ENV_VAR)) or None
    if scheduler and args.jobs:
        print("xaigrader: --jobs sizes this machine's pool; a cluster's workers declare their kernels", file=sys.stderr)
        return 2
    if scheduler and args.cache_dir:
        print(
            "xaigrader: --cache-dir is this machine's model cache; a cluster's workers use their own "
            f"(${CACHE_ENV_VAR} on each worker)",
            file=sys.stderr,
        )
        return 2
    try:
        results = grade_class(
            [Path(p) for p in args.paths], assignment, options, out, regrade=args.regrade, scheduler=scheduler
        )
    except BatchStopped as error:
        print(f"xaigrader: {error}", file=sys.stderr)
        return 3
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
    if args.server:
        return _check_on_server(args, assignment)
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


def _check_on_server(args: argparse.Namespace, assignment: Assignment) -> int:
    """The same check, graded by the course server: nothing of the reference is needed here."""
    import json
    import os
    from pathlib import Path

    from checks.publish.self_check import render_summary
    from checks.server.client import ServerCheckError, check_on_server

    token = args.token or os.environ.get(TOKEN_ENV_VAR)
    if not token:
        print(f"xaigrader: --server needs --token or ${TOKEN_ENV_VAR}", file=sys.stderr)
        return 2
    try:
        job = check_on_server(args.server, token, Path(args.notebook), assignment.id, "full" if args.full else "quick")
    except (ServerCheckError, OSError) as error:
        print(f"xaigrader: {error}", file=sys.stderr)
        return 2
    print(render_summary(job["result"], assignment))
    print(f"  on the server: {args.server.rstrip('/')}{job['page']}")
    if args.json:
        Path(args.json).write_text(json.dumps(job["result"], indent=2), encoding="utf-8")
    return 0 if job["result"]["problem"] is None else 1


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


def _server_store_url(args: argparse.Namespace) -> str:
    from pathlib import Path

    from checks.server.store import default_store_url

    return args.db or default_store_url(Path(args.server_dir))


def issue_tokens(args: argparse.Namespace) -> int:
    """Tokens go to a file only the instructor can read, never to the terminal."""
    from pathlib import Path

    from checks.server.settings import private_folder
    from checks.server.store import open_store
    from checks.server.tokens import RosterError, issue_tokens, read_roster, revoke, write_token_file

    private_folder(Path(args.server_dir))
    store = open_store(_server_store_url(args))
    if args.revoke:
        print(f"revoked {revoke(store, args.revoke)} token(s) of {args.revoke}")
        return 0
    if not args.roster or not args.out:
        print("xaigrader: tokens needs ROSTER and --out (or --revoke ID)", file=sys.stderr)
        return 2
    try:
        roster = read_roster(Path(args.roster).read_text(encoding="utf-8-sig"), args.role)
    except (OSError, RosterError) as error:
        print(f"xaigrader: {args.roster}: {error}", file=sys.stderr)
        return 2
    issued = issue_tokens(store, roster, renew=args.renew)
    write_token_file(Path(args.out), issued)
    kept = len(roster) - len(issued)
    print(
        f"{len(issued)} new token(s) written to {args.out} (readable by you only); {kept} member(s) keep their "
        "token (--renew replaces them)"
    )
    return 0


def import_results(args: argparse.Namespace) -> int:
    """A `grade` output folder joins the server's class view; its overrides.csv lines become marks by ``--by``."""
    from pathlib import Path

    from checks.server.class_folders import import_graded_folder
    from checks.server.settings import ServerSettings, private_folder
    from checks.server.store import STAFF_ROLES, Member, open_store

    private_folder(Path(args.server_dir))
    store_url = _server_store_url(args)
    store = open_store(store_url)
    with store() as session:
        marker = session.get(Member, args.by)
        if marker is None or marker.role not in STAFF_ROLES:
            print(f"xaigrader: --by {args.by} is not a TA or instructor of this server's roster", file=sys.stderr)
            return 2
        served = tuple(args.assignment or [assignment.id for assignment in available_assignments()])
        settings = ServerSettings(folder=Path(args.server_dir), store_url=store_url, assignments=served)
        try:
            imported = import_graded_folder(settings, store, Path(args.folder), args.by)
        except ValueError as error:
            print(f"xaigrader: {error}", file=sys.stderr)
            return 2
        strangers = [student for student in imported if session.get(Member, student) is None]
    print(f"imported {len(imported)} student(s) from {args.folder} into the server's class view")
    if strangers:
        print(
            f"{len(strangers)} of them are not roster ids (e.g. {strangers[0]}): their rows stay apart from any "
            "self-check the same student sends with a token; give the roster the ids `grade` uses to join them"
        )
    return 0


def serve(args: argparse.Namespace) -> int:
    from pathlib import Path

    import uvicorn

    from checks.engine.sandbox import bubblewrap_works
    from checks.grading.scheme import load_assignment
    from checks.grading.submission import load_suite
    from checks.server.app import create_app
    from checks.server.settings import MIB, RateLimit, ServerSettings

    if not bubblewrap_works():
        if not args.allow_fallback_sandbox:
            print(
                "xaigrader: bubblewrap cannot confine student code on this machine (install bubblewrap; it needs user "
                "namespaces or root). In the fallback sandbox a student's notebook runs as this server's user unless "
                "it runs as root, and could read or change the server's files and every result; "
                "--allow-fallback-sandbox starts it anyway",
                file=sys.stderr,
            )
            return 2
        print("xaigrader: WARNING: serving with the fallback sandbox (--allow-fallback-sandbox)", file=sys.stderr)
    for assignment in args.assignment:
        load_suite(load_assignment(assignment))  # an unknown id or a suite at odds with its marks stops it here
    folder = Path(args.server_dir)
    settings = ServerSettings(
        folder=folder,
        store_url=_server_store_url(args),
        assignments=tuple(args.assignment),
        data_dir=Path(args.data_dir) if args.data_dir else None,
        full_mode=args.full_per_day > 0,
        full_per_day=args.full_per_day,
        max_upload_bytes=int(args.max_upload_mib * MIB),
        rate=RateLimit(uploads=args.uploads_per_minute, window_s=60, waiting=args.waiting_per_member),
        workers=args.workers,
        secure_cookies=args.behind_tls_proxy,
        public_url=args.public_url,
    )
    app = create_app(settings)
    print(f"xaigrader server for {', '.join(settings.assignments)} on http://{args.host}:{args.port}/ ({folder})")
    uvicorn.run(app, host=args.host, port=args.port, proxy_headers=args.behind_tls_proxy, log_level="info")
    return 0


def run_cluster(args: argparse.Namespace) -> int:
    """Serves until interrupted; `grade --scheduler` (the address printed) sends its submissions here."""
    import time
    from pathlib import Path

    from checks.batch.local_cluster import start_local_cluster

    data_dir = Path(args.data_dir) if args.data_dir else None
    with start_local_cluster(args.workers, args.kernels_per_worker, data_dir, args.port) as cluster:
        kernels = args.workers * args.kernels_per_worker
        address = cluster.scheduler_address
        print(f"Dask cluster: {args.workers} worker(s), {kernels} kernel(s); grade with --scheduler {address}")
        print("stop it with Ctrl-C", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            return 0


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not a positive number of jobs")
    return value


def web_address(text: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise argparse.ArgumentTypeError(f"{text} is not an http:// or https:// address")
    return text


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
    grading.add_argument(
        "--scheduler",
        help=f"grade on the Dask cluster whose scheduler has this address (default: ${SCHEDULER_ENV_VAR} unless "
        "--jobs is given, else here)",
    )
    grading.add_argument("--regrade", action="store_true", help="grade again even where a stored result is current")
    grading.add_argument("--data-dir", help=f"data directory (default: ${DATA_ENV_VAR}, else the user cache)")
    grading.add_argument("--cache-dir", help=CACHE_DIR_HELP)
    grading.add_argument("--cell-timeout", type=float, help="seconds per cell (default: the assignment's)")
    grading.add_argument("--timeout", type=float, help="seconds per notebook (default: the assignment's)")
    grading.set_defaults(handler=grade)

    cluster = commands.add_parser("cluster", help="start a Dask cluster to grade on")
    cluster.add_argument("kind", choices=("local",), help="local: worker processes on this machine")
    cluster.add_argument("--workers", type=positive_int, default=2, help="worker processes (default 2)")
    cluster.add_argument("--kernels-per-worker", type=positive_int, default=1, help="kernels each runs (default 1)")
    cluster.add_argument("--port", type=int, default=8786, help="the scheduler's port (default 8786)")
    cluster.add_argument("--data-dir", help=f"the workers' data directory (default: ${DATA_ENV_VAR}, else the cache)")
    cluster.set_defaults(handler=run_cluster)

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
    checking.add_argument("--server", help="have the course server at this URL grade it (no reference needed here)")
    checking.add_argument("--token", help=f"your token for --server (default: ${TOKEN_ENV_VAR})")
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

    server_dir_help = "the server's folder: its SQLite store, CSRF key, uploads and results (default xaigrader-server)"
    db_help = "a database URL instead of the folder's SQLite file, e.g. postgresql://user@host/course"
    tokens = commands.add_parser("tokens", help="issue, renew or revoke the course server's tokens from a roster")
    tokens.add_argument("roster", nargs="?", help="CSV with id,name,email and an optional role column")
    tokens.add_argument("--out", help="CSV to write the new tokens to (mode 0600; tokens are never printed)")
    tokens.add_argument("--role", default="student", choices=("student", "team", "ta", "instructor"))
    tokens.add_argument("--renew", action="store_true", help="replace every listed member's token")
    tokens.add_argument("--revoke", metavar="ID", help="revoke this member's tokens")
    tokens.add_argument("--server-dir", default="xaigrader-server", help=server_dir_help)
    tokens.add_argument("--db", help=db_help)
    tokens.set_defaults(handler=issue_tokens)

    importing = commands.add_parser("import-results", help="add a `grade` output folder to the server's TA pages")
    importing.add_argument("folder", help="the --out folder of `xaigrader grade`")
    importing.add_argument("--by", required=True, help="the roster id of the TA or instructor the marks are from")
    importing.add_argument("--assignment", action="append", help="accept only this assignment (default: any)")
    importing.add_argument("--server-dir", default="xaigrader-server", help=server_dir_help)
    importing.add_argument("--db", help=db_help)
    importing.set_defaults(handler=import_results)

    serving = commands.add_parser("serve", help="the course server: self-checks, the LIME scoreboard, TA marking")
    serving.add_argument("--assignment", action="append", required=True, help="an assignment it serves (repeatable)")
    serving.add_argument("--server-dir", default="xaigrader-server", help=server_dir_help)
    serving.add_argument("--db", help=db_help)
    serving.add_argument("--data-dir", help=f"data directory (default: ${DATA_ENV_VAR}, else the user cache)")
    serving.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serving.add_argument("--port", type=int, default=8000)
    serving.add_argument("--workers", type=positive_int, help="notebooks graded at once (default: cores and memory)")
    serving.add_argument(
        "--full-per-day", type=int, default=0, help="full runs a student may ask for a day (default 0)"
    )
    serving.add_argument("--max-upload-mib", type=float, default=20, help="largest upload taken (default 20 MiB)")
    serving.add_argument(
        "--uploads-per-minute", type=positive_int, default=6, help="uploads a token may send a minute (default 6)"
    )
    serving.add_argument(
        "--waiting-per-member", type=positive_int, default=2, help="a token's uploads queued at once (default 2)"
    )
    serving.add_argument(
        "--public-url",
        type=web_address,
        help="the address students open when a proxy stands in front (https://course.example.edu): login forms "
        "must come from it",
    )
    serving.add_argument(
        "--allow-fallback-sandbox",
        action="store_true",
        help="serve even where bubblewrap does not work (students' code then runs far less confined)",
    )
    serving.add_argument(
        "--behind-tls-proxy",
        action="store_true",
        help="trust the proxy's X-Forwarded headers; cookies go over HTTPS only",
    )
    serving.set_defaults(handler=serve)
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
