"""Attacks on the files a team's notebook passes on to the next (``carried.json`` and ``carried/<n>`` in the
exchange folder) and on the written answers taken from its report PDFs. The kernel writes both, so every byte is
hostile; the host must turn any of it into a problem note within one budget per repository, never into an
exception, or disk out of proportion to the budget. The PDF's text and its file name end up in the HTML pages of
the whole class, so a name no page can encode must not stop the class's pages."""

from __future__ import annotations

import asyncio
import json
import os
from dataclasses import asdict
from pathlib import Path

from checks.engine.carried_files import MAX_CARRIED_BYTES, MAX_CARRIED_ENTRIES, MAX_DEPTH, CarryBudget, unpack_carried
from checks.engine.kernel import RunConfig
from checks.engine.pdf_reports import PdfReport
from checks.engine.repository_runs import Part, merged_program, run_parts
from checks.grading.submission import report_pages
from checks.grading.written import Question, locate_report_answers
from checks.publish.publisher import publish
from tests.engine.conftest import cell_text, make_notebook
from tests.grading.stored_results import write_student


def empty_files(number: int, limit: int) -> bytes:
    return b""


def test_deep_names_do_not_multiply_the_folders_a_list_makes(tmp_path: Path):
    """2,000 empty files, each at the end of folders of its own: every folder made counts against the budget, so
    the files and folders together stay within it."""
    names = ["/".join([str(number)] + ["d"] * (MAX_DEPTH - 2) + ["f"]) for number in range(MAX_CARRIED_ENTRIES)]
    manifest = json.dumps({"files": names, "left_out_count": 0}).encode()
    carried = unpack_carried(manifest, empty_files, tmp_path, CarryBudget())
    entries = sum(len(folders) + len(files) for _, folders, files in os.walk(tmp_path))
    assert entries <= MAX_CARRIED_ENTRIES
    assert len(carried.written) == MAX_CARRIED_ENTRIES // MAX_DEPTH


def test_files_carried_over_several_notebooks_stay_within_one_bound(tmp_path: Path, engine_config: RunConfig):
    """Each notebook may pass on 64 MiB, and nothing bounds their sum: a repository's 32 notebooks leave 2 GiB in
    the staging folder, which each kernel's start copies again."""
    repository = tmp_path / "team"
    repository.mkdir()
    writers = [
        Part(f"task{number}.ipynb", make_notebook(f"open('out{number}.bin', 'wb').write(bytes(40 << 20))"))
        for number in (1, 2)
    ]
    reader = Part(
        "task3.ipynb",
        make_notebook(
            "import os\nprint(sum(os.path.getsize(n) for n in ('out1.bin', 'out2.bin') if os.path.exists(n)))"
        ),
    )
    parts = [*writers, reader]
    program = merged_program(parts)
    asyncio.run(run_parts(parts, repository, engine_config, tmp_path / "figures"))
    assert int(cell_text(program, 5)) <= MAX_CARRIED_BYTES


# ---------------------------------------------------------------------------------------------------------------
# (c) One team's names must not stop every team's pages: a lone surrogate (an undecodable byte in a file name) in a
# note or a written answer's source reaches pages written as UTF-8.


def test_problem_notes_about_undecodable_names_can_be_written_as_utf8(tmp_path: Path):
    manifest = json.dumps({"files": ["\udcff\udcfe.npy", "ok/\udcff"], "left_out_count": 0}).encode()
    notes = unpack_carried(manifest, empty_files, tmp_path, CarryBudget()).problems
    assert len(notes) == 2
    for note in notes:
        note.encode("utf-8")


def test_one_teams_undecodable_text_does_not_stop_the_class_pages(tmp_path: Path):
    out = tmp_path / "class"
    for team in ("A_team", "B_team", "C_team"):
        write_student(
            out, team, [], flags=["task3.ipynb: results/\udcff.npy could not be written"] if team == "B_team" else ()
        )
    publish(out)
    assert (out / "C_team" / "report.html").exists() and (out / "index.html").exists()


# ---------------------------------------------------------------------------------------------------------------
# (d) Report PDFs: their text becomes a written answer rendered as markdown, their path its ``source``.

QUESTION = Question("1.6", "Which colormap?", ("colormap",), "2-3", 2)


def _publish_report_answer(out: Path, path: str, text: str) -> str:
    """The answer ``locate_report_answers`` finds in a one-page PDF at ``path``, in team B's stored result; the
    page B's report shows (every team's pages are published)."""
    (answer,) = locate_report_answers(report_pages([PdfReport(path, pages=1, texts=[text])]), [QUESTION])
    for team in ("A_team", "B_team", "C_team"):
        write_student(out, team, [])
    stored = out / "B_team" / "results.json"
    payload = json.loads(stored.read_text())
    payload["written_answers"] = [asdict(answer)]
    stored.write_text(json.dumps(payload))
    publish(out)
    return (out / "B_team" / "report.html").read_text()


def test_a_report_answer_and_its_pdf_name_are_shown_as_text(tmp_path: Path):
    """Held: the PDF's name is escaped, raw HTML in its text is shown as text, javascript: links and remote
    images are not made."""
    text = (
        "The colormap hot is clearest. <script>alert(1)</script> It hides weak gradients.\n\n"
        "[see](javascript:alert(1)) [also](jAvAsCrIpT&colon;alert(1)) ![t](https://tracker.example/p.png)\n\n"
        '<img src=x onerror="alert(2)">'
    )
    page = _publish_report_answer(tmp_path, "report/<img src=x onerror=alert(3)>.pdf", text)
    task = page[page.index('id="task-1.6"') :]
    task = task[: task.index("</section>")]
    assert "report/&lt;img src=x onerror=alert(3)&gt;.pdf, page 1" in task
    assert "<script>" not in task and "<img" not in task and 'src="https://tracker' not in task
    assert 'href="javascript' not in task.lower()


def test_a_report_pdf_with_an_undecodable_name_does_not_stop_the_class_pages(tmp_path: Path):
    """A repository handed in as a folder (intake takes folders as they are) may hold ``report/\\xff.pdf``; os.walk
    names it with a lone surrogate, which ``report_pages`` puts into the answer's ``source``, and rendering team B's
    page as UTF-8 then stops ``publish`` for every team after it. (The PDF's text is cleaned of surrogates; its name
    is not.)"""
    _publish_report_answer(tmp_path, "report/\udcff.pdf", "The colormap hot is clearest. It hides weak gradients.")
    assert (tmp_path / "C_team" / "report.html").exists() and (tmp_path / "index.html").exists()
