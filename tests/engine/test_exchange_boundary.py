"""Attacks on the folder the kernel shares with the grader: links to host files, swapped
folders, forged records, a kernel that stops answering. Each is contained."""

import io
import json
import os
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from checks.engine.call_errors import GradingTimeUp, KernelUnavailable, StudentCallError
from checks.engine.displayed_figures import audit_figures
from checks.engine.exchange import ExchangeFolder, ExchangeRefused
from checks.engine.exchange_records import (
    RECORD_FORMAT,
    AxesRecord,
    FigureRecord,
    ImageRecord,
    LineRecord,
    figures_from_index,
)
from checks.engine.run import copy_figures
from tests.engine.conftest import cell_text, make_notebook

SECRET = '{"kind": "shim", "shim": "pip", "command": "TOPSECRET host file"}\n'


@pytest.fixture
def host_secret(tmp_path: Path) -> Path:
    secret = tmp_path / "host-only" / "secret.jsonl"
    secret.parent.mkdir()
    secret.write_text(SECRET)
    os.chmod(secret, 0o600)
    return secret


def test_links_fifos_and_oversized_files_in_the_exchange_are_refused(tmp_path, host_secret):
    exchange = ExchangeFolder.create(tmp_path / "exchange-0", 0, None)
    try:
        (exchange.path / "ok.txt").write_text("fine")
        (exchange.path / "link.txt").symlink_to(host_secret)
        (exchange.path / "figures").symlink_to(host_secret.parent, target_is_directory=True)
        os.mkfifo(exchange.path / "pipe")
        os.link(exchange.path / "ok.txt", exchange.path / "hard.txt")
        (exchange.path / "big").write_bytes(b"0" * 2048)
        assert exchange.read_optional("missing.txt", 100) is None
        for name, reason in (
            ("link.txt", "cannot be opened safely"),
            ("figures/secret.jsonl", "cannot be opened safely"),
            ("pipe", "not a regular file"),
            ("hard.txt", "2 links"),
            ("big", "more than 1024"),
            ("../exchange-0/ok.txt", "plain relative"),
            ("/etc/passwd", "plain relative"),
        ):
            with pytest.raises(ExchangeRefused, match=reason):
                exchange.read_bytes(name, 1024)
    finally:
        exchange.close()


def test_events_linked_to_a_host_file_are_not_read(run_cells, host_secret):
    result, executed, out = run_cells(f"""
import os
os.remove('/exchange/events.jsonl') if os.path.exists('/exchange/events.jsonl') else None
os.symlink({str(host_secret)!r}, '/exchange/events.jsonl')
print('planted')""")
    assert cell_text(executed, 0).strip() == "planted"
    assert "TOPSECRET" not in (out / "run.json").read_text()
    assert any("events.jsonl was not read" in note for note in result.dropped)


def test_a_figure_folder_swapped_for_a_host_folder_is_not_copied(run_cells, host_secret):
    (host_secret.parent / "index.json").write_text(
        json.dumps(
            [
                {
                    "figure": 1,
                    "cell": 0,
                    "png": "secret.jsonl",
                    "saved_to": [],
                    "suptitle": "",
                    "size_inches": [6, 4],
                    "axes": [],
                }
            ]
        )
    )
    result, executed, out = run_cells(f"""
import os, shutil, matplotlib.pyplot as plt
plt.plot([1, 2]); plt.show()
shutil.rmtree('/exchange/figures')
os.symlink({str(host_secret.parent)!r}, '/exchange/figures')""")
    assert result.cells[0].status == "ok"
    copied = "".join(path.read_text(errors="replace") for path in (out / "figures").glob("*"))
    assert "TOPSECRET" not in copied and result.figures == []
    assert any("figures/index.json was not read" in note for note in result.dropped)


def test_a_dying_kernel_cannot_make_the_grader_write_or_chown_host_files(run_cells, tmp_path):
    victim_file, victim_folder = tmp_path / "victim.txt", tmp_path / "victim-folder"
    victim_file.write_text("original")
    victim_folder.mkdir()
    result, executed, _ = run_cells(
        f"""
import os, shutil, signal
for name in ('probe.json', 'figures', 'calls', 'events.jsonl'):
    path = '/exchange/' + name
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    elif os.path.lexists(path):
        os.remove(path)
os.symlink({str(victim_file)!r}, '/exchange/probe.json')
os.symlink({str(victim_folder)!r}, '/exchange/figures')
os.symlink({str(victim_folder)!r}, '/exchange/calls')
os.kill(os.getpid(), signal.SIGKILL)""",
        "import matplotlib.pyplot as plt\nplt.plot([1]); plt.show()\nprint('restarted')",
    )
    assert result.cells[0].status == "kernel_died" and cell_text(executed, 1).endswith("restarted\n")
    assert victim_file.read_text() == "original"
    assert victim_file.stat().st_uid == os.getuid() and victim_folder.stat().st_uid == os.getuid()
    assert list(victim_folder.iterdir()) == []
    assert len(result.figures) == 1 and result.figures[0]["cell"] == 1


def test_malformed_events_are_dropped_and_noted(run_cells):
    result, _, out = run_cells("""
with open('/exchange/events.jsonl', 'a') as log:
    log.write('{"kind": "shim"}\\n' + 'not json\\n' + '{"kind": "shim", "shim": "pip", "command": 5}\\n')
get_ipython().system('pip install nothing')""")
    assert [event["shim"] for event in result.events] == ["pip"]
    assert result.dropped == ["3 malformed events written by the kernel were ignored"]
    assert json.loads((out / "run.json").read_text())["dropped"] == result.dropped


def test_a_hand_written_figure_record_is_set_aside(run_cells, tmp_path):
    result, executed, out = run_cells(
        """
import matplotlib.pyplot as plt, numpy as np
plt.imshow(np.zeros((28, 28))); plt.title('7'); plt.show()""",
        """
import json, numpy as np
records = json.load(open('/exchange/figures/index.json'))
forged = dict(records[0], cell=1, figure=99, png='forged.png')
open('/exchange/figures/forged.png', 'wb').write(open('/exchange/figures/' + records[0]['png'], 'rb').read()[:-8])
json.dump(records + [forged], open('/exchange/figures/index.json', 'w'))""",
    )
    assert len(result.figures) == 2
    audit = audit_figures(result.figures, executed, out / "figures")
    assert [record["cell"] for record in audit.shown] == [0]
    assert [record["cell"] for record in audit.set_aside] == [1]
    assert audit.flags() == ["a figure recorded for cell 2 matches no image the notebook displayed: it was not graded"]


def test_figure_arrays_that_disagree_with_their_record_are_dropped(run_cells):
    result, _, out = run_cells(
        """
import matplotlib.pyplot as plt, numpy as np
plt.imshow(np.zeros((28, 28))); plt.show()
plt.imshow(np.ones((5, 5))); plt.show()""",
        """
import json, numpy as np
records = json.load(open('/exchange/figures/index.json'))
np.save('/exchange/figures/' + records[0]['axes'][0]['images'][0]['array'], np.zeros((3, 3)))
np.save('/exchange/figures/' + records[1]['axes'][0]['images'][0]['array'], np.array([{'a': 1}], dtype=object),
        allow_pickle=True)""",
    )
    arrays = [figure["axes"][0]["images"][0]["array"] for figure in result.figures]
    assert arrays == [None, None]
    assert not list((out / "figures").glob("*.npy"))


def test_host_paths_are_not_visible_inside(live_session, tmp_path):
    submission = tmp_path / "OUTPUT_FOLDER_SECRET" / ".intake" / "Student_R1"
    submission.mkdir(parents=True)
    (submission / "data.txt").write_text("shipped")
    notebook = make_notebook(
        "print(open('/proc/1/cmdline').read()); print(open('/proc/self/mountinfo').read())",
        "print(open('data.txt').read())",
    )

    async def probe(session, result):
        return result

    live_session.submission = submission
    result = live_session(notebook, probe)
    inside = cell_text(notebook, 0)
    assert "OUTPUT_FOLDER_SECRET" not in inside and str(live_session.job_root) not in inside.split("\n")[0]
    assert cell_text(notebook, 1).strip() == "shipped"
    assert result.cells[1].status == "ok"


def test_a_function_that_ignores_the_interrupt_stops_every_later_call(live_session):
    notebook = make_notebook("""
import signal, time
def stuck(x):
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    while True:
        time.sleep(0.1)
def double(x):
    return 2 * x""")

    async def probe(session, result):
        outcomes = []
        for target in ("stuck", "double", "double"):
            try:
                await session.request({"op": "call", "target": target}, {"args": [torch.ones(2)]}, timeout=3)
                outcomes.append("answered")
            except GradingTimeUp as error:
                outcomes.append(f"refused: {error}")
            except TimeoutError:
                outcomes.append("timed out")
        return outcomes

    outcomes = live_session(notebook, probe)
    assert outcomes[0] == "timed out"
    assert outcomes[1] == outcomes[2] and "ignored the interrupt" in outcomes[1]


def test_a_function_that_kills_the_kernel_ends_every_later_call_with_the_reason(live_session):
    notebook = make_notebook("""
import os, signal
def crash(x):
    os.kill(os.getpid(), signal.SIGKILL)
def double(x):
    return 2 * x""")

    async def probe(session, result):
        outcomes = []
        for target in ("crash", "double"):
            try:
                await session.request({"op": "call", "target": target}, {"args": [torch.ones(2)]}, timeout=20)
                outcomes.append("answered")
            except (StudentCallError, KernelUnavailable) as error:
                outcomes.append(f"{type(error).__name__}: {error}")
        return outcomes, session.stopped_reason(), session.refused_calls

    outcomes, reason, refused = live_session(notebook, probe)
    assert (
        outcomes[0]
        == "StudentCallError: crash raised KernelDied: the kernel died while it ran (the notebook's own code)"
    )
    assert reason == "the kernel died while crash ran, so no further calls could be made"
    assert outcomes[1] == f"KernelUnavailable: {reason}" and refused == 1


def test_the_submission_deadline_covers_every_call(live_session):
    notebook = make_notebook("def double(x):\n    return 2 * x")

    async def probe(session, result):
        session.deadline = time.monotonic() - 1
        with pytest.raises(GradingTimeUp, match="ran out"):
            await session.request({"op": "call", "target": "double"}, {"args": [torch.ones(2)]})
        with pytest.raises(GradingTimeUp, match="ran out"):
            await session.execute_hidden("pass", timeout=10)
        return True

    assert live_session(notebook, probe)


def test_nothing_is_written_into_a_folder_the_kernel_can_change(live_session):
    notebook = make_notebook("def double(x):\n    return 2 * x")

    async def probe(session, result):
        await session.request({"op": "call", "target": "double"}, {"args": [torch.ones(2)]})
        return [
            (path, path.stat().st_uid)
            for generation in session.generations
            for folder in (generation.exchange,)
            for path in folder.rglob("*")
        ]

    written = live_session(notebook, probe)
    assert written and all(uid != 0 for _, uid in written), written


def test_the_kernel_cannot_swap_its_sockets_once_started(run_cells):
    result, executed, _ = run_cells(
        """
import os
sockets = [name for name in os.listdir('/kernel') if name.startswith('ipc')]
for name in sockets[:1] + ['kernel.json']:
    try:
        os.remove('/kernel/' + name)
        os.symlink('/run/elsewhere.sock', '/kernel/' + name)
        print('swapped', name)
    except OSError as error:
        print('refused', error.errno)""",
        "print('still talking')",
    )
    assert cell_text(executed, 0).split() == ["refused", "13", "refused", "13"]
    assert cell_text(executed, 1).strip() == "still talking"


def test_a_file_named_by_many_records_is_copied_once(run_cells):
    result, _, out = run_cells(
        """
import matplotlib.pyplot as plt, numpy as np
plt.imshow(np.zeros((28, 28))); plt.show()""",
        """
import json
records = json.load(open('/exchange/figures/index.json'))
json.dump(records * 50, open('/exchange/figures/index.json', 'w'))""",
    )
    assert len(result.figures) == 50
    assert len(list((out / "figures").glob("*.png"))) == 1 and len(list((out / "figures").glob("*.npy"))) == 1


def test_figure_indexes_of_every_restart_share_one_budget(run_cells, monkeypatch):
    import checks.engine.kernel

    monkeypatch.setattr(checks.engine.kernel, "MAX_FIGURE_INDEX_BYTES", 6000)
    cell = """
import json, os, signal
record = {"figure": 1, "cell": 0, "png": "x.png", "saved_to": [], "suptitle": "", "size_inches": [6, 4], "axes": []}
os.makedirs('/exchange/figures', exist_ok=True)
json.dump([record] * 30, open('/exchange/figures/index.json', 'w'))
os.kill(os.getpid(), signal.SIGKILL)"""
    result, _, _ = run_cells(cell, cell, "print('last')")
    assert len(result.figures) == 30
    assert any("figures/index.json was not read" in note for note in result.dropped)


def test_a_record_missing_a_field_is_filled_when_it_has_a_default_and_refused_when_not():
    bare = {
        "figure": 1,
        "cell": 0,
        "png": "a.png",
        "axes": [{"images": [{"shape": [28, 28]}], "lines": [{"x": [0, 1], "y": [1, 0]}]}],
    }
    without = [{key: value for key, value in bare.items() if key != name} for name in ("figure", "png")]
    no_shape = dict(bare, axes=[{"images": [{"cmap": "gray"}]}])
    no_points = dict(bare, axes=[{"lines": [{"label": "loss"}]}])
    mistyped = [dict(bare, suptitle=None), dict(bare, axes=[{"title": 7}]), dict(bare, axes=[{"is_colorbar": "no"}])]
    validated = figures_from_index(json.dumps([bare, *without, no_shape, no_points, *mistyped]).encode())
    assert validated.dropped == ["7 malformed figure records written by the kernel were ignored"]
    [record] = validated.records
    axes = record["axes"][0]
    for found, declared in (
        (record, FigureRecord),
        (axes, AxesRecord),
        (axes["images"][0], ImageRecord),
        (axes["lines"][0], LineRecord),
    ):
        assert set(found) == declared.__required_keys__
    assert (record["format"], record["suptitle"], record["saved_to"]) == (RECORD_FORMAT, "", [])
    assert record["size_inches"] == []
    assert (axes["title"], axes["xlabel"], axes["ylabel"], axes["xscale"], axes["legend"], axes["grid"]) == (
        "",
        "",
        "",
        "linear",
        [],
        None,
    )
    assert (axes["is_colorbar"], axes["has_colorbar"], axes["visible"], axes["collections"]) == (False, False, True, [])
    assert axes["images"][0] == {"cmap": None, "shape": [28, 28], "vmin": None, "vmax": None, "norm": "", "array": None}
    assert axes["lines"][0]["label"] == ""


class StoredFigures:
    """A kernel session's figure files, as ``copy_figures`` reads them."""

    def __init__(self, files: dict[tuple[int, str], bytes]) -> None:
        self.files = files

    def figure_bytes(self, generation: int, name: str) -> bytes | None:
        return self.files.get((generation, name))


def test_copied_records_carry_the_format_version(tmp_path):
    array = io.BytesIO()
    np.save(array, np.zeros((2, 2)))
    raw = {"figure": 1, "cell": 0, "png": "k.png", "axes": [{"images": [{"shape": [2, 2], "array": "k.npy"}]}]}
    records = [{**record, "generation": 0} for record in figures_from_index(json.dumps([raw]).encode()).records]
    session = StoredFigures({(0, "k.png"): b"png bytes", (0, "k.npy"): array.getvalue()})
    [copied] = copy_figures(session, records, tmp_path)
    stored = json.loads((tmp_path / "figure-001.json").read_text())
    assert copied["format"] == stored["format"] == RECORD_FORMAT and "generation" not in stored
    assert stored["png"] == "figure-001.png" and stored["axes"][0]["images"][0]["array"] == "figure-001-ax0-im0.npy"
