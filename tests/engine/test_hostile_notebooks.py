"""The hostile corpus: each notebook is contained, the grader survives, run.json says what
happened, and the next notebook runs normally."""

import json
import os
import socket
import threading
import time
from pathlib import Path

import torch

from tests.engine.conftest import cell_text, json_lines, make_notebook

REPO = Path(__file__).resolve().parents[2]


def test_sandbox_is_bubblewrap_with_a_separate_uid(run_cells):
    result, executed, _ = run_cells("import os; print(os.getuid(), os.getcwd())")
    assert result.sandbox["mode"] == "bubblewrap" and result.sandbox["warning"] is None
    uid, cwd = cell_text(executed, 0).split()
    assert int(uid) != os.getuid() and cwd == "/job"


def test_grader_code_and_reference_are_invisible(run_cells):
    probe = f"""
import os, json
seen = {{}}
for path in [{str(REPO / "reference/cs411_a2/saliency.py")!r}, {str(REPO / "checks/kernel.py")!r},
             '../../work/main/reference/cs411_a2/saliency.py', '/proc/1/root/work/main/README.md']:
    try:
        open(path).read(); seen[path] = 'READ'
    except Exception as error:
        seen[path] = type(error).__name__
hits = [os.path.join(d, f) for d, _, files in os.walk('/') for f in files
        if f in ('saliency.py', 'kernel.py', 'SHA256SUMS_not') and '/proc' not in d]
print(json.dumps({{"opened": seen, "walk_hits": hits}}))
"""
    result, executed, _ = run_cells(probe)
    report = json_lines(cell_text(executed, 0))[0]
    assert "READ" not in report["opened"].values(), report["opened"]
    assert [hit for hit in report["walk_hits"] if "xaigrader" not in hit and "site-packages" not in hit] == []


def test_output_folder_and_grader_environment_are_out_of_reach(run_cells, tmp_path, monkeypatch):
    monkeypatch.setenv("XAIGRADER_SECRET_TOKEN", "s3cret-value")
    target = tmp_path / "planted.txt"
    result, executed, out = run_cells(f"""
import os, glob
try:
    open({str(target)!r}, 'w').write('pwned'); print('WROTE')
except Exception as error:
    print('blocked', type(error).__name__)
environ = ''.join(open(p, errors='replace').read() for p in glob.glob('/proc/*/environ') if os.access(p, os.R_OK))
print('secret' if 's3cret' in environ or 'XAIGRADER_SECRET_TOKEN' in os.environ else 'no secret')
""")
    text = cell_text(executed, 0)
    assert "WROTE" not in text and "no secret" in text
    assert not target.exists()


def test_network_is_unreachable_even_on_loopback(run_cells):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.settimeout(8)
    port = listener.getsockname()[1]
    connections = []

    def accept():
        try:
            connections.append(listener.accept())
        except OSError:
            pass

    thread = threading.Thread(target=accept)
    thread.start()
    result, executed, _ = run_cells(f"""
import socket
for action in (lambda: socket.create_connection(('127.0.0.1', {port}), timeout=3),
               lambda: socket.getaddrinfo('pypi.org', 443)):
    try:
        action(); print('CONNECTED')
    except Exception as error:
        print('refused', type(error).__name__)
""")
    thread.join()
    listener.close()
    assert connections == []
    assert "CONNECTED" not in cell_text(executed, 0) and cell_text(executed, 0).count("refused") == 2


def test_memory_is_capped_at_once_and_in_steps(run_cells):
    result, executed, _ = run_cells(
        "try:\n    block = bytearray(30 * 2**30); print('ALLOCATED')\nexcept MemoryError:\n    print('capped at once')",
        "import numpy as np\nheld = []\ntry:\n    for step in range(40):\n        held.append(np.ones(2**27))\n"
        "    print('ALLOCATED')\nexcept MemoryError:\n    print('capped after', len(held), 'GiB')\ndel held",
        "print('still alive')",
    )
    assert cell_text(executed, 0).strip() == "capped at once"
    steps = cell_text(executed, 1)
    assert steps.startswith("capped after") and int(steps.split()[2]) < 6
    assert cell_text(executed, 2).strip() == "still alive"
    assert [cell.status for cell in result.cells] == ["ok", "ok", "ok"]


def test_fork_bomb_is_held_by_the_process_limit(run_cells):
    result, executed, _ = run_cells(
        """
import os, time
children = 0
try:
    for _ in range(2000):
        pid = os.fork()
        if pid == 0:
            time.sleep(60)
            os._exit(0)
        children += 1
except OSError as error:
    print('held at', children, type(error).__name__)
""",
        "print('next cell runs')",
    )
    text = cell_text(executed, 0)
    assert text.startswith("held at") and int(text.split()[2]) < 200
    assert cell_text(executed, 1).strip() == "next cell runs"


def test_a_cell_that_ignores_signals_is_stopped_and_the_notebook_goes_on(run_cells):
    result, executed, _ = run_cells(
        "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "while True:\n    pass",
        "print('after the hang')",
        cell_timeout_s=3,
    )
    assert [cell.status for cell in result.cells] == ["timeout", "ok"]
    assert result.kernel_restarts == [{"reason": "cell ignored the interrupt after its timeout", "cell": 0}]
    assert cell_text(executed, 1).strip() == "after the hang"


def test_an_interruptible_slow_cell_is_interrupted_without_losing_the_kernel(run_cells):
    result, executed, _ = run_cells("x = 41", "import time\ntime.sleep(60)", "print(x + 1)", cell_timeout_s=2)
    assert [cell.status for cell in result.cells] == ["ok", "timeout", "ok"]
    assert result.kernel_restarts == [] and cell_text(executed, 2).strip() == "42"


def test_when_recovering_from_a_timeout_fails_the_cell_says_so_and_a_fresh_kernel_runs_the_rest(run_cells, monkeypatch):
    from nbclient.exceptions import CellTimeoutError

    from checks.engine.kernel import KernelSession

    async def slow_machine(self, notebook, index):
        raise CellTimeoutError("the interrupt reply never came")

    monkeypatch.setattr(KernelSession, "_recover_after_timeout", slow_machine)
    result, executed, _ = run_cells(
        "import time\ntime.sleep(60)", "print('after the failed recovery')", cell_timeout_s=2
    )
    assert [cell.status for cell in result.cells] == ["kernel_died", "ok"]
    assert result.cells[0].error_name == "CellTimeoutError"
    assert "could not be recovered" in result.cells[0].error_value
    assert result.kernel_restarts == [{"reason": "recovery failed", "cell": 0}]
    assert cell_text(executed, 1).strip() == "after the failed recovery"


def test_a_daemon_cannot_outlive_the_notebook(live_session):
    notebook = make_notebook("""
import os, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        time.sleep(4)
        open('/exchange/late.txt', 'w').write('still here')
        os._exit(0)
    os._exit(0)
print('daemon started')
""")

    async def probe(session, result):
        return result

    result = live_session(notebook, probe)
    assert result.cells[0].status == "ok"
    time.sleep(6)
    assert not list(live_session.job_root.glob("exchange-*/late.txt"))
    survivors = [
        p for p in Path("/proc").iterdir() if p.name.isdigit() and _cmdline_mentions(p, str(live_session.job_root))
    ]
    assert survivors == []


def _cmdline_mentions(process: Path, text: str) -> bool:
    try:
        return text in (process / "cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return False


def test_monkeypatched_allclose_cannot_fool_an_out_of_process_comparison(live_session):
    notebook = make_notebook(
        "import torch\ntorch.allclose = lambda *args, **kwargs: True\ndef double(x):\n    return x * 3"
    )

    async def probe(session, result):
        response, decoder = await session.request({"op": "call", "target": "double"}, {"args": [torch.ones(3)]})
        return decoder.decode(response["value"])["result"]

    got = live_session(notebook, probe)
    assert not torch.allclose(got, 2 * torch.ones(3))


def test_the_kernel_named_in_the_notebook_is_ignored(run_cells):
    notebook = make_notebook("import os; print(os.getuid())")
    notebook.metadata["kernelspec"] = {"name": "python3-unconfined", "display_name": "evil", "language": "python"}
    result, executed, _ = run_cells(notebook=notebook)
    assert result.sandbox["mode"] == "bubblewrap" and int(cell_text(executed, 0)) != 0


def test_a_fake_printed_score_is_only_output(run_cells):
    result, executed, _ = run_cells("print('Test accuracy: 99.70%')\nscore = 100")
    assert "99.70" in cell_text(executed, 0)
    assert "99.70" not in json.dumps(result.as_dict())


def test_a_killed_kernel_is_reported_and_replaced(run_cells):
    result, executed, _ = run_cells("import os, signal\nos.kill(os.getpid(), signal.SIGKILL)", "print('fresh kernel')")
    assert result.cells[0].status == "kernel_died" and result.kernel_died
    assert result.cells[1].status == "ok" and cell_text(executed, 1).strip() == "fresh kernel"


def test_output_floods_are_capped(run_cells):
    result, executed, out = run_cells("for _ in range(200):\n    print('x' * 50_000)")
    assert "further output of this cell was dropped" in cell_text(executed, 0)
    assert (out / "executed.ipynb").stat().st_size < 3 << 20


def test_past_the_notebook_deadline_each_cell_gets_a_short_overtime_until_it_is_spent(run_cells):
    result, executed, _ = run_cells(
        "import time; time.sleep(1)",
        "time.sleep(1)",
        "time.sleep(30)",
        "print('late')",
        "time.sleep(30)",
        "print('after the second cut')",
        "time.sleep(30)",
        "time.sleep(30)",
        "time.sleep(30)",
        "print('never')",
        notebook_timeout_s=10,
        overtime_cell_s=4,
        overtime_s=9,
    )
    statuses = [cell.status for cell in result.cells]
    assert statuses[:6] == ["ok", "ok", "timeout", "ok", "timeout", "ok"]
    assert cell_text(executed, 3).strip() == "late" and cell_text(executed, 5).strip() == "after the second cut"
    assert statuses[-1] == "not_run" and result.notebook_timed_out
    assert result.cells[4].limit_s == 4 and result.cells[2].limit_s < 10
    assert result.budget == {"cell_timeout_s": 60, "notebook_timeout_s": 10, "overtime_cell_s": 4, "overtime_s": 9}
    assert result.total_s < 40


def test_a_notebook_without_overtime_stops_at_its_deadline(run_cells):
    result, _, _ = run_cells(
        "import time; time.sleep(1)", "time.sleep(30)", "print('late')", notebook_timeout_s=6, overtime_s=0
    )
    assert [cell.status for cell in result.cells] == ["ok", "timeout", "not_run"]
    assert result.notebook_timed_out and result.total_s < 20


def test_writing_past_the_exchange_quota_kills_the_kernel(run_cells, engine_config):
    from dataclasses import replace as with_changes

    small = with_changes(engine_config.limits, exchange_bytes=8 << 20)
    result, executed, _ = run_cells(
        "import time\nfor i in range(40):\n    open(f'/exchange/fill{i}', 'wb').write(b'0' * (1 << 20))\n    time.sleep(0.05)\n"
        "time.sleep(3)",
        limits=small,
    )
    assert result.quota_exceeded and "limit 8388608" in result.quota_exceeded


def test_working_folder_is_size_limited(run_cells, engine_config):
    from dataclasses import replace as with_changes

    result, executed, _ = run_cells(
        "try:\n    open('big', 'wb').write(b'0' * (64 << 20)); print('WROTE')\nexcept OSError as e:\n    print('full', e.errno)",
        limits=with_changes(engine_config.limits, workdir_bytes=16 << 20),
    )
    assert cell_text(executed, 0).strip() == "full 28"


def test_fallback_mode_runs_and_says_it_is_weaker(run_cells):
    result, executed, _ = run_cells("print(6 * 7)", force_fallback=True)
    assert result.sandbox["mode"] == "fallback" and "weaker" in result.sandbox["warning"]
    assert cell_text(executed, 0).strip() == "42"


def test_a_normal_notebook_runs_normally_right_after_a_hostile_one(run_cells):
    run_cells(
        "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        break\nwhile True:\n    pass",
        cell_timeout_s=3,
    )
    result, executed, _ = run_cells("import numpy as np\nprint(np.arange(4).sum())")
    assert [cell.status for cell in result.cells] == ["ok"] and cell_text(executed, 0).strip() == "6"


def test_fallback_mode_ends_daemons_of_the_job_uid(live_session):
    notebook = make_notebook(
        "import os, time\nif os.fork() == 0:\n    os.setsid()\n    time.sleep(30)\n    os._exit(0)\nprint(os.getuid())"
    )

    async def probe(session, result):
        return int(cell_text(notebook, 0))

    uid = live_session(notebook, probe, force_fallback=True)
    time.sleep(0.5)
    assert not any(_owned_by(p, uid) for p in Path("/proc").iterdir() if p.name.isdigit())


def _owned_by(process: Path, uid: int) -> bool:
    """A live (not zombie) process of ``uid``; a killed orphan stays a zombie until init reaps it."""
    try:
        lines = (process / "status").read_text().splitlines()
    except OSError:
        return False
    fields = {line.split(":")[0]: line.split()[1] for line in lines if ":" in line and len(line.split()) > 1}
    return fields.get("Uid") == str(uid) and fields.get("State") != "Z"


def test_memory_is_limited_for_the_job_across_processes_and_tmpfs(run_cells, engine_config):
    from dataclasses import replace as with_changes

    from checks.engine.sandbox import GiB

    result, executed, _ = run_cells(
        """
import os, time
children = []
for _ in range(3):
    pid = os.fork()
    if pid == 0:
        try:
            block = bytearray(400 << 20)
            time.sleep(20)
        finally:
            os._exit(0)
    children.append(pid)
for folder in ('/dev/shm', '/tmp'):
    try:
        with open(folder + '/fill', 'wb') as fill:
            for _ in range(700):
                fill.write(b'1' * (1 << 20))
    except OSError as error:
        print('refused', error.errno)
print([os.waitpid(pid, 0)[1] for pid in children])""",
        limits=with_changes(engine_config.limits, memory_bytes=1 * GiB),
    )
    limits = result.sandbox["job_limits"]
    assert limits["mode"] in ("cgroup v1", "cgroup v2") and limits["memory_bytes"] == 1 * GiB
    assert limits["oom_killed"] and limits["peak_memory_bytes"] <= 1 * GiB + (64 << 20)


def test_a_deep_folder_chain_neither_hides_the_quota_nor_survives_cleanup(run_cells, engine_config, tmp_path):
    from dataclasses import replace as with_changes

    import checks.engine.kernel

    before = set(Path(checks.engine.kernel.tempfile.gettempdir()).glob("xaigrader-job-*"))
    result, _, _ = run_cells(
        """
import os, time
depth = os.open('/exchange', os.O_RDONLY)
for _ in range(1100):
    os.mkdir('d', dir_fd=depth)
    deeper = os.open('d', os.O_RDONLY, dir_fd=depth)
    os.close(depth)
    depth = deeper
for i in range(40):
    with open(os.open(f'f{i}', os.O_WRONLY | os.O_CREAT, dir_fd=depth), 'wb') as fill:
        fill.write(b'0' * (1 << 20))
    time.sleep(0.05)
time.sleep(3)""",
        limits=with_changes(engine_config.limits, exchange_bytes=8 << 20),
    )
    assert result.cells[0].status != "error", result.cells[0]
    assert result.quota_exceeded and "limit 8388608" in result.quota_exceeded
    assert set(Path(checks.engine.kernel.tempfile.gettempdir()).glob("xaigrader-job-*")) == before


def test_no_new_user_namespace_or_ptrace_inside(run_cells):
    result, executed, _ = run_cells("""
import ctypes, os, subprocess
libc = ctypes.CDLL(None, use_errno=True)
print('unshare', libc.unshare(0x10000000), ctypes.get_errno())
print('ptrace', libc.ptrace(0, 0, None, None), ctypes.get_errno())
print('shell', subprocess.run(['unshare', '-Ur', 'id', '-u'], capture_output=True).returncode != 0)""")
    assert cell_text(executed, 0).split("\n")[:3] == ["unshare -1 1", "ptrace -1 1", "shell True"]
    assert result.sandbox["seccomp"]["architecture"]
