"""A small PDF writer for the sample classes' reports: one Helvetica text page per string, nothing else.

The samples are committed and rebuilt byte for byte, so the file carries no creation date, no document id and
no compressed streams (the zip deflates them anyway); its text must still come back out of a real PDF parser,
as the grader reads a team's report with one.
"""

from __future__ import annotations

import textwrap

PAGE_WIDTH, PAGE_HEIGHT = 595, 842  # A4 in points
MARGIN = 64
FONT_SIZE, LEADING = 10.5, 14
HEADING_SIZE, HEADING_LEADING = 13, 22
WRAP = 96  # characters of 10.5 pt Helvetica that fit between the margins
HEADING = "# "
"""A line starting with this is set in bold as a heading (the marker is not printed)."""


def _escaped(line: str) -> str:
    """A PDF string literal's content; WinAnsi (Latin-1) covers the reports' text, anything else is a typo."""
    try:
        line.encode("latin-1")
    except UnicodeEncodeError as error:
        raise ValueError(f"the sample PDF's text must be Latin-1: {line!r}") from error
    return line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def _content(page: str) -> bytes:
    """The page's content stream: paragraphs wrapped to the text width, headings in bold."""
    commands = ["BT", f"{MARGIN} {PAGE_HEIGHT - MARGIN} Td"]
    height = 0
    for paragraph in page.split("\n"):
        if paragraph.startswith(HEADING):
            text = paragraph.removeprefix(HEADING)
            commands += [f"/F2 {HEADING_SIZE} Tf", f"0 -{HEADING_LEADING} Td", f"({_escaped(text)}) Tj"]
            height += HEADING_LEADING
            continue
        commands.append(f"/F1 {FONT_SIZE} Tf")
        for line in textwrap.wrap(paragraph, WRAP) or [""]:
            commands += [f"0 -{LEADING} Td", f"({_escaped(line)}) Tj"]
            height += LEADING
    if height > PAGE_HEIGHT - 2 * MARGIN:
        raise ValueError(f"a page's text runs {height} pt, past the bottom margin: split it over two pages")
    commands.append("ET")
    return "\n".join(commands).encode("latin-1")


def text_pdf(pages: list[str]) -> bytes:
    """A valid PDF 1.4 with one A4 page per string, its lines (and ``# `` headings) set top to bottom."""
    return pdf_of_streams([_content(page) for page in pages])


def pdf_of_streams(streams: list[bytes], stream_options: bytes = b"") -> bytes:
    """A valid PDF 1.4 of one A4 page per content stream, each stream's dictionary given ``stream_options`` (a
    ``/Filter`` for a stream already compressed, say)."""
    if not streams:
        raise ValueError("a PDF needs at least one page")
    first_page = 5  # objects 1-4: catalog, page tree, regular and bold font; then a page and its content each
    kids = " ".join(f"{first_page + 2 * number} 0 R" for number in range(len(streams)))
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        f"<< /Type /Pages /Kids [{kids}] /Count {len(streams)} >>".encode(),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold /Encoding /WinAnsiEncoding >>",
    ]
    for number, stream in enumerate(streams):
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {PAGE_WIDTH} {PAGE_HEIGHT}] "
            f"/Resources << /Font << /F1 3 0 R /F2 4 0 R >> >> /Contents {first_page + 2 * number + 1} 0 R >>".encode()
        )
        objects.append(b"<< /Length %d%s >>\nstream\n%s\nendstream" % (len(stream), stream_options, stream))
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)
