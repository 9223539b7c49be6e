"""A team's report PDFs, as a TA needs them beside the marks: page count and text, read in the sandbox.

Most of a repository's marks are for the written analysis in its PDFs. Parsing a PDF runs a large
parser on the team's bytes, so it happens in a sandboxed kernel under a time limit, and only a
validated, capped page count and text come back.
"""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from checks.engine.exchange import ExchangeRefused
from checks.engine.kernel import KernelSession, RunConfig
from checks.engine.repository_files import UnreadableFile, read_repository_file
from checks.engine.sandbox import SandboxLimits

MAX_PDFS = 10
MAX_PDF_BYTES = 30 << 20
MAX_RESULT_BYTES = 4 << 20
MAX_PAGES = 200
MAX_PAGE_CHARS = 20_000
READ_TIMEOUT_S = 120.0
EXTRACTING_CELL = "from xaigrader_probe.pdf_text import extract\nextract()"
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


@dataclass
class PdfReport:
    path: str  # inside the repository
    pages: int | None = None
    texts: list[str] = field(default_factory=list)  # each page's text, capped
    problem: str | None = None

    @property
    def text(self) -> str:
        return "\n".join(self.texts)

    def sentence(self) -> str:
        if self.problem:
            return f"{self.path}: {self.problem}"
        return f"{self.path}: {self.pages} page(s), {len(self.text.split())} words"


def printable(text: str) -> str:
    """Text a page can show: control characters and lone surrogates (which no UTF-8 writer accepts) removed."""
    return CONTROL.sub("", text).encode("utf-8", "replace").decode("utf-8")


def _validated(report: PdfReport, raw: object) -> None:
    """Fill ``report`` from what the kernel wrote, when it has the shape ``pdf_text`` writes and no more."""
    if isinstance(raw, dict) and isinstance(raw.get("error"), str):
        report.problem = printable(raw["error"])[:300]
        return
    pages, texts = (raw.get("pages"), raw.get("texts")) if isinstance(raw, dict) else (None, None)
    if (
        not isinstance(pages, int)
        or isinstance(pages, bool)
        or not 0 <= pages < 1_000_000
        or not isinstance(texts, list)
    ):
        report.problem = "the PDF reader's answer was malformed"
        return
    if len(texts) > MAX_PAGES or not all(isinstance(text, str) and len(text) <= MAX_PAGE_CHARS for text in texts):
        report.problem = "the PDF reader's answer was malformed"
        return
    report.pages, report.texts = pages, [printable(text) for text in texts]


async def _read_in_sandbox(reports: list[tuple[PdfReport, bytes]], config: RunConfig) -> None:
    async with KernelSession(config) as session:
        (session.job.inbox / "pdfs").mkdir()
        for number, (_, data) in enumerate(reports):
            session.give(session.job.inbox / "pdfs" / f"{number}.pdf", data)
        run = await session.run_notebook(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(EXTRACTING_CELL)]))
        status = run.cells[0].status if run.cells else "not_run"
        for number, (report, _) in enumerate(reports):
            try:
                answer = session.exchange.read_optional(f"pdfs/{number}.json", MAX_RESULT_BYTES)
            except ExchangeRefused as error:
                report.problem = f"the PDF reader's answer was refused ({error})"
                continue
            if answer is None:
                report.problem = (
                    f"the PDF could not be read within {config.cell_timeout_s:g} s"
                    if status in ("timeout", "kernel_died")
                    else "the PDF reader wrote no answer"
                )
                continue
            try:
                _validated(report, json.loads(answer))
            except (ValueError, RecursionError):
                report.problem = "the PDF reader's answer was malformed"


def read_pdf_reports(root: Path, relatives: list[str], limits: SandboxLimits | None = None) -> list[PdfReport]:
    """The PDFs at ``relatives`` inside the repository ``root`` (at most ``MAX_PDFS``), read in one sandboxed
    kernel with ``READ_TIMEOUT_S`` for all of them; a PDF that cannot be read says why."""
    reports: list[PdfReport] = []
    readable: list[tuple[PdfReport, bytes]] = []
    for relative in relatives[:MAX_PDFS]:
        report = PdfReport(relative)
        reports.append(report)
        try:
            readable.append((report, read_repository_file(root, relative, MAX_PDF_BYTES)))
        except UnreadableFile as error:
            report.problem = str(error)
    if readable:
        limited = RunConfig(
            data_dir=None,
            cell_timeout_s=READ_TIMEOUT_S,
            notebook_timeout_s=READ_TIMEOUT_S,
            overtime_cell_s=0,
            overtime_s=0,
            limits=limits or SandboxLimits(),
        )
        asyncio.run(_read_in_sandbox(readable, limited))
    return reports
