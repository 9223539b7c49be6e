"""The CS411 sample class graded through a Dask scheduler (a LocalCluster of two single-core worker processes,
or `xaigrader cluster local` as an instructor starts it): the same results as the local pool, a worker killed
mid-batch, a scheduler that goes away and a resumed batch, and a worker whose data differs refused."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from checks.batch.class_grading import BatchStopped, grade_class
from checks.batch.cluster_worker import KERNELS
from checks.batch.local_cluster import start_local_cluster
from checks.cli import main
from checks.data.assets import DATA_ENV_VAR, MANIFEST_NAME
from checks.data.class_folder import RESULTS_FILE
from checks.engine.sandbox import SandboxLimits
from checks.grading.submission import GradeOptions
from tests.grading.conftest import SAMPLES

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]
VERDICT = ("score", "max_score", "problem", "tasks", "checks", "flags", "output", "written_answers", "grading_key")


def quick(data_root: Path, **options: Any) -> GradeOptions:
    return GradeOptions(mode="quick", data_dir=data_root, limits=SandboxLimits(threads=1), **options)


def comparable(payload: dict[str, Any]) -> dict[str, Any]:
    """What a student is marked and told (the run's timings may differ between two gradings)."""
    return {key: payload[key] for key in VERDICT}


def stored(out: Path) -> dict[str, dict[str, Any]]:
    return {
        path.parent.name: json.loads(path.read_text(encoding="utf-8")) for path in sorted(out.glob(f"*/{RESULTS_FILE}"))
    }


@pytest.fixture(scope="module")
def cluster(data_root: Path):
    with start_local_cluster(2, 1, data_root) as running:
        yield running


@pytest.fixture(scope="module")
def locally_graded(assignment, data_root: Path, tmp_path_factory) -> dict[str, dict[str, Any]]:
    out = tmp_path_factory.mktemp("local-pool")
    grade_class([SAMPLES], assignment, quick(data_root, jobs=2), out)
    return stored(out)


def test_the_class_graded_through_the_scheduler_matches_the_local_pool(
    data_root: Path, cluster, locally_graded, tmp_path: Path, capsys
):
    address = cluster.scheduler_address
    command = ["grade", str(SAMPLES), "--assignment", "cs411-a2", "--mode", "quick", "--data-dir", str(data_root)]
    assert main([*command, "--out", str(tmp_path), "--scheduler", address]) == 0
    assert f"grading on the Dask cluster at {address}: 2 worker(s), 2 kernel(s)" in capsys.readouterr().out
    on_cluster = stored(tmp_path)
    assert sorted(on_cluster) == sorted(locally_graded) and len(on_cluster) == 6
    for student, payload in on_cluster.items():
        assert comparable(payload) == comparable(locally_graded[student]), student
    assert (tmp_path / "grades.csv").is_file() and (tmp_path / "index.html").is_file()
    assert not (tmp_path / ".transfer").exists(), "no staging folder is left behind"
    assert main([*command, "--out", str(tmp_path), "--scheduler", address, "--jobs", "2"]) == 2


def _worker_pids(client) -> dict[str, int]:
    return client.run(os.getpid)


def test_a_worker_killed_mid_batch_has_its_submission_graded_on_another(
    assignment, data_root: Path, cluster, locally_graded, tmp_path: Path
):
    from distributed import Client

    killed: list[int] = []

    def kill_a_busy_worker() -> None:
        with Client(cluster.scheduler_address) as client:
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline and not killed:
                started = {address for address, keys in client.processing().items() if keys}
                time.sleep(3)  # well into the notebook
                still = [address for address, keys in client.processing().items() if keys and address in started]
                if still:
                    pid = _worker_pids(client)[still[0]]
                    os.kill(pid, signal.SIGKILL)
                    killed.append(pid)

    killer = threading.Thread(target=kill_a_busy_worker)
    killer.start()
    grade_class([SAMPLES], assignment, quick(data_root), tmp_path, scheduler=cluster.scheduler_address)
    killer.join()
    assert killed, "no worker was busy to kill"
    on_cluster = stored(tmp_path)
    assert sorted(on_cluster) == sorted(locally_graded)
    for student, payload in on_cluster.items():
        assert comparable(payload) == comparable(locally_graded[student]), student


def test_a_scheduler_that_goes_away_stops_the_batch_and_the_same_command_resumes_it(
    assignment, data_root: Path, locally_graded, tmp_path: Path
):
    out = tmp_path / "out"
    command = [sys.executable, "-m", "checks.cli", "cluster", "local", "--workers", "1", "--port", "0"]
    environment = {**os.environ, DATA_ENV_VAR: str(data_root)}
    started = subprocess.Popen(
        [*command, "--data-dir", str(data_root)],
        cwd=REPO,
        env=environment,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    address = started.stdout.readline().rsplit(" ", 1)[-1].strip()
    assert address.startswith("tcp://"), address

    def stop_the_cluster_after_two_results() -> None:
        deadline = time.monotonic() + 600
        while len(list(out.glob(f"*/{RESULTS_FILE}"))) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        os.killpg(started.pid, signal.SIGKILL)

    stopper = threading.Thread(target=stop_the_cluster_after_two_results)
    stopper.start()
    with pytest.raises(BatchStopped) as stopped:
        grade_class([SAMPLES], assignment, quick(data_root), out, scheduler=address)
    stopper.join()
    started.wait(30)
    done = stored(out)
    assert 2 <= len(done) < 6
    assert f"of 6 results are stored in {out}; run the same command again" in str(stopped.value)
    assert "went away" in str(stopped.value)
    before = {student: (out / student / RESULTS_FILE).stat().st_mtime_ns for student in done}

    with start_local_cluster(2, 1, data_root) as cluster:
        grade_class([SAMPLES], assignment, quick(data_root), out, scheduler=cluster.scheduler_address)
    after = stored(out)
    assert sorted(after) == sorted(locally_graded)
    assert all(comparable(after[student]) == comparable(locally_graded[student]) for student in after)
    assert {student: (out / student / RESULTS_FILE).stat().st_mtime_ns for student in done} == before


def test_a_worker_whose_data_differs_is_refused_before_it_grades(
    assignment, data_root: Path, cluster, tmp_path: Path, capsys
):
    from distributed import Client

    other = tmp_path / "other-data"
    other.mkdir()
    (other / MANIFEST_NAME).write_text("0" * 64 + "  MNIST/elsewhere.gz\n", encoding="utf-8")
    dask = Path(sys.executable).with_name("dask")
    worker = subprocess.Popen(
        [
            str(dask),
            "worker",
            cluster.scheduler_address,
            "--no-nanny",
            "--nthreads",
            "1",
            "--resources",
            f"{KERNELS}=1",
        ],
        env={**os.environ, DATA_ENV_VAR: str(other)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        with Client(cluster.scheduler_address) as client:
            client.wait_for_workers(3, timeout=120)
            stranger = next(address for address, pid in _worker_pids(client).items() if pid == worker.pid)
            two = [SAMPLES / "Asha_Rao_CS2301.zip", SAMPLES / "Bela_Sen_CS2302.zip"]
            grade_class(two, assignment, quick(data_root), tmp_path / "out", scheduler=cluster.scheduler_address)
            said = capsys.readouterr().out
            resources = client.run(lambda dask_worker: dict(dask_worker.state.total_resources), workers=[stranger])
    finally:
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(30)
    assert f"worker {stranger} is refused: its data directory {other}" in said
    assert said.index("is refused") < said.index("grading on the Dask cluster")
    assert not [name for name in resources[stranger] if name.startswith("xaigrader-")], (
        "never granted a task's resource"
    )
    assert len(stored(tmp_path / "out")) == 2
    shutil.rmtree(other)
