"""Code that runs inside the student's kernel, installed before the first student cell.

Inside the sandbox this folder is importable as ``xaigrader_probe``; it imports nothing
from the grader. It records figures and offline substitutions, and answers the
grader's requests to call student code. Everything it learns leaves through files in
the exchange folder, never through pickles.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from .events import EventLog

_state: dict[str, object] = {}


def install(config_file: str) -> None:
    """Set up recording and the offline shims described by the grader's config file."""
    config = json.loads(Path(config_file).read_text(encoding="utf-8"))
    exchange = Path(config["exchange"])
    data_root = Path(config["data"])
    (exchange / "calls").mkdir(exist_ok=True)
    log = EventLog(exchange / "events.jsonl")
    _state.update(log=log, exchange=exchange, inbox=Path(config["inbox"]), data_root=data_root)

    from IPython import get_ipython

    shell = get_ipython()
    from . import shims

    shims.install_pip_shim(shell, log, config.get("kernel_packages", []))
    shims.install_input_shim(shell, log)
    shims.install_colab_shim(log)
    from .drive_folders import install as install_drive_folders

    install_drive_folders(log)
    shims.install_torchvision_shims(data_root, log)
    shims.install_hugging_face_shim(data_root, log)
    from .compat import install_compat

    install_compat(shell, log)
    from .devices import install_cuda_mapping, install_when_mentioned

    if config.get("map_cuda"):
        install_cuda_mapping(log)
    else:
        install_when_mentioned(shell, log)
    index = shims.DataIndex(data_root)
    shims.install_path_shims(index, log)
    if not config.get("allow_network"):
        shims.install_network_shims(index, log)
        from .shell_commands import install as install_shell_commands

        install_shell_commands(shell, index, log)

    from .figures import FigureRecorder

    recorder = FigureRecorder(exchange / "figures", log)
    recorder.install()
    _state["figures"] = recorder
    shell.events.register("post_run_cell", lambda result: recorder.capture_open_figures())

    from . import snapshots

    snapshots.RECORDER = snapshots.ModelSnapshots(log)
    shell.events.register(
        "post_run_cell",
        lambda result: snapshots.RECORDER.capture(shell.user_ns, log.cell if isinstance(log.cell, int) else None),
    )

    os.makedirs(config["workdir"], exist_ok=True)
    os.chdir(config["workdir"])
    _copy_submission_files(config.get("submission"), Path(config["workdir"]), log)
    if config.get("notebook_folder"):  # a repository's notebook runs from its own folder, as on its author's machine
        os.makedirs(config["notebook_folder"], exist_ok=True)
        os.chdir(config["notebook_folder"])


def _copy_submission_files(submission: str | None, workdir: Path, log: EventLog) -> None:
    """Files submitted beside the notebook (data, pickles) are where the notebook expects them; the time after
    copying them tells the files the notebook writes (``workdir_files``) from those it was given."""
    import time

    _state.update(workdir=workdir, given=set())
    if submission and Path(submission).is_dir():
        import shutil

        source = Path(submission)
        for item in source.rglob("*"):
            target = workdir / item.relative_to(source)
            if item.is_dir():
                target.mkdir(parents=True, exist_ok=True)
            elif item.is_file() and not item.name.endswith(".ipynb"):
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(item, target)
                _state["given"].add(item.relative_to(source).as_posix())
        log.record("submission_files", folder=str(source))
    _state["copied_at_ns"] = time.time_ns()


def begin_cell(index: int) -> None:
    _state["log"].cell = index


def serve(request_id: str) -> None:
    """Answer one grader request (see ``calls``); figures drawn meanwhile are tagged with it."""
    from IPython import get_ipython

    from .calls import serve as serve_request

    log = _state["log"]
    recorder = _state["figures"]
    previous_cell = log.cell

    def before(request: dict) -> None:
        log.cell = f"call:{request.get('target', request.get('op'))}"

    def after(request: dict) -> None:
        try:
            recorder.capture_open_figures()
            from . import snapshots

            if snapshots.RECORDER is not None:
                snapshots.RECORDER.capture(get_ipython().user_ns, f"call:{request.get('target', request.get('op'))}")
        finally:
            log.cell = previous_cell

    serve_request(
        _state["inbox"] / "calls",
        _state["exchange"] / "calls",
        request_id,
        get_ipython().user_ns,
        _state["data_root"],
        before,
        after,
    )
