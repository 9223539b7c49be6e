"""Report PDFs read in the sandbox: page count and text of a real PDF; a broken, linked or bomb PDF says why."""

from __future__ import annotations

import zlib
from pathlib import Path

from checks.engine.pdf_reports import read_pdf_reports
from checks.engine.sandbox import GiB, SandboxLimits

LIMITS = SandboxLimits(memory_bytes=4 * GiB, processes=64)


def text_stream(text: str) -> bytes:
    return f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()


def bomb_stream(megabytes: int) -> bytes:
    """A deflated text stream that inflates to ``megabytes`` MiB, made without holding it inflated."""
    packer = zlib.compressobj(9)
    chunk = b"A" * (1 << 20)
    parts = [packer.compress(b"BT /F1 12 Tf 72 720 Td (")]
    parts += [packer.compress(chunk) for _ in range(megabytes)]
    return b"".join(parts) + packer.compress(b") Tj ET") + packer.flush()


def pdf(streams: list[bytes], deflated: bool = False) -> bytes:
    """A small valid PDF of one content stream a page, in Helvetica (streams deflated when ``deflated``)."""
    font = 3 + 2 * len(streams)
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", b""]
    kids = []
    for content in streams:
        options = b" /Filter /FlateDecode" if deflated else b""
        objects.append(b"<< /Length %d%s >>\nstream\n%s\nendstream" % (len(content), options, content))
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents %d 0 R "
            b"/Resources << /Font << /F1 %d 0 R >> >> >>" % (len(objects), font)
        )
        kids.append(b"%d 0 R" % len(objects))
    objects[1] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (b" ".join(kids), len(streams))
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    body, offsets = b"%PDF-1.4\n", []
    for number, content in enumerate(objects, start=1):
        offsets.append(len(body))
        body += b"%d 0 obj\n%s\nendobj\n" % (number, content)
    xref = len(body)
    body += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    body += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    return body + b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)


def test_a_report_is_read_page_by_page_and_bad_files_say_why(tmp_path: Path):
    (tmp_path / "report").mkdir()
    pages = [text_stream("Task 1: Network dissection"), text_stream("Task 2: Grad-CAM and LIME")]
    (tmp_path / "report" / "Report.pdf").write_bytes(pdf(pages))
    (tmp_path / "notes.pdf").write_bytes(b"this is not a PDF at all")
    (tmp_path / "linked.pdf").symlink_to(tmp_path / "report" / "Report.pdf")
    (tmp_path / "bomb.pdf").write_bytes(pdf([bomb_stream(300)], deflated=True))

    bombed, report, broken, linked = read_pdf_reports(
        tmp_path, ["bomb.pdf", "report/Report.pdf", "notes.pdf", "linked.pdf"], LIMITS
    )

    assert (report.pages, report.problem) == (2, None)
    assert "Network dissection" in report.texts[0] and "Grad-CAM and LIME" in report.texts[1]
    assert report.sentence() == "report/Report.pdf: 2 page(s), 9 words"
    assert broken.pages is None and broken.problem.startswith("the PDF could not be read")
    assert linked.problem == "linked.pdf could not be opened (Too many levels of symbolic links)"
    assert bombed.problem is not None and bombed.problem.startswith("the PDF could not be read (LimitReachedError")
