"""Read a team's report PDFs inside the sandboxed kernel: a PDF is the team's own file, and a parser given a
hostile one can be made to loop or allocate without end, so only its page count and capped text leave."""

from __future__ import annotations

import json
from pathlib import Path

MAX_PAGES = 200
MAX_PAGE_CHARS = 20_000
MAX_TEXT_CHARS = 200_000


def _pages(path: Path) -> dict[str, object]:
    from pypdf import PdfReader

    try:
        reader = PdfReader(path)
        if reader.is_encrypted:
            return {"error": "the PDF is encrypted"}
        count = len(reader.pages)
        texts, total = [], 0
        for page in list(reader.pages)[:MAX_PAGES]:
            text = (page.extract_text() or "")[:MAX_PAGE_CHARS]
            texts.append(text[: max(0, MAX_TEXT_CHARS - total)])
            total += len(texts[-1])
    except Exception as error:  # pypdf's own limits and any parser failure: the next PDF is still read
        return {"error": f"the PDF could not be read ({type(error).__name__}: {str(error)[:200]})"}
    return {"pages": count, "texts": texts}


def extract() -> None:
    """Every ``<n>.pdf`` of the inbox's ``pdfs/`` read into the exchange folder's ``pdfs/<n>.json``."""
    from . import _state

    out = _state["exchange"] / "pdfs"
    out.mkdir(parents=True, exist_ok=True)
    for path in sorted(Path(_state["inbox"], "pdfs").glob("*.pdf")):
        (out / f"{path.stem}.json").write_text(json.dumps(_pages(path)), encoding="utf-8")
