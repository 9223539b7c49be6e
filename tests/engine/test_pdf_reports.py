"""Report PDFs read in the sandbox: page count and text of a real PDF; a broken, linked or bomb PDF says why."""

from __future__ import annotations

import importlib
import zlib
from pathlib import Path

import pytest

from checks.engine.pdf_reports import read_pdf_reports
from checks.engine.sandbox import GiB, SandboxLimits

LIMITS = SandboxLimits(memory_bytes=4 * GiB, processes=64)
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def scripts(monkeypatch):
    """The sample builders' PDF writer, imported as the builders import it (from scripts/)."""
    monkeypatch.syspath_prepend(str(REPO / "scripts"))
    return importlib.import_module


def bomb_stream(megabytes: int) -> bytes:
    """A deflated text stream that inflates to ``megabytes`` MiB, made without holding it inflated."""
    packer = zlib.compressobj(9)
    chunk = b"A" * (1 << 20)
    parts = [packer.compress(b"BT /F1 12 Tf 72 720 Td (")]
    parts += [packer.compress(chunk) for _ in range(megabytes)]
    return b"".join(parts) + packer.compress(b") Tj ET") + packer.flush()


def test_a_report_is_read_page_by_page_and_bad_files_say_why(tmp_path: Path, scripts):
    (tmp_path / "report").mkdir()
    pdfs = scripts("sample_pdf")
    (tmp_path / "report" / "Report.pdf").write_bytes(
        pdfs.text_pdf(["Task 1: Network dissection", "Task 2: Grad-CAM and LIME"])
    )
    (tmp_path / "notes.pdf").write_bytes(b"this is not a PDF at all")
    (tmp_path / "linked.pdf").symlink_to(tmp_path / "report" / "Report.pdf")
    (tmp_path / "bomb.pdf").write_bytes(pdfs.pdf_of_streams([bomb_stream(300)], b" /Filter /FlateDecode"))

    bombed, report, broken, linked = read_pdf_reports(
        tmp_path, ["bomb.pdf", "report/Report.pdf", "notes.pdf", "linked.pdf"], LIMITS
    )

    assert (report.pages, report.problem) == (2, None)
    assert "Network dissection" in report.texts[0] and "Grad-CAM and LIME" in report.texts[1]
    assert report.sentence() == "report/Report.pdf: 2 page(s), 9 words"
    assert broken.pages is None and broken.problem.startswith("the PDF could not be read")
    assert linked.problem == "linked.pdf could not be opened (Too many levels of symbolic links)"
    assert bombed.problem is not None and bombed.problem.startswith("the PDF could not be read (LimitReachedError")


def test_text_the_reader_returns_keeps_no_lone_surrogate_nor_control_character():
    from checks.engine.pdf_reports import PdfReport, _validated

    report = PdfReport("r.pdf")
    _validated(report, {"pages": 1, "texts": ["Task \ud800 1\x07"]})
    assert report.texts == ["Task ? 1"] and report.text.encode("utf-8")
