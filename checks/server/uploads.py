"""What a student may upload: a notebook, or a zip the batch's own intake opens with its limits.

The body is read in chunks and refused past the cap without being held whole, and a notebook is parsed and
validated here so that the student hears at once, not after a queue, that a file is not one.
"""

from __future__ import annotations

import hashlib
import zipfile
from dataclasses import dataclass
from io import BytesIO

import nbformat
from fastapi import HTTPException, UploadFile

CHUNK = 1 << 20
MAX_NAME = 200


@dataclass(frozen=True)
class CheckedUpload:
    filename: str
    kind: str
    content: bytes
    digest: str


async def read_bounded(upload: UploadFile, limit: int) -> bytes:
    chunks, size = [], 0
    while chunk := await upload.read(CHUNK):
        size += len(chunk)
        if size > limit:
            raise HTTPException(413, f"the upload is over {limit // (1 << 20)} MiB, the most this server takes")
        chunks.append(chunk)
    return b"".join(chunks)


def shown_name(filename: str | None) -> str:
    """The name as a student sees it again: printable, bounded; kept as text, never used as a path."""
    name = "".join(character for character in (filename or "upload") if character.isprintable()).strip()
    return name[-MAX_NAME:] or "upload"


def _is_notebook(content: bytes) -> str | None:
    """Why these bytes are not a notebook nbformat can read, or None when they are one."""
    try:
        notebook = nbformat.reads(content.decode("utf-8"), as_version=4)
        nbformat.validate(notebook)
    except UnicodeDecodeError:
        return "it is not text (a notebook is a JSON file)"
    except Exception as error:
        return f"it is not a valid Jupyter notebook ({type(error).__name__}: {str(error)[:200]})"
    return None


def check_upload(filename: str | None, content: bytes) -> CheckedUpload:
    """The upload as the queue keeps it, or a 400 that says what to send instead."""
    name = shown_name(filename)
    if not content:
        raise HTTPException(400, "the upload is empty; choose your .ipynb file")
    if zipfile.is_zipfile(BytesIO(content)):
        if not name.lower().endswith(".zip"):
            raise HTTPException(
                400, f"{name} is a zip archive, not a notebook: upload the .ipynb, or name the zip .zip"
            )
        kind = "zip"
    else:
        problem = _is_notebook(content)
        if problem:
            raise HTTPException(400, f"{name} cannot be graded: {problem}. Upload your .ipynb file (or a .zip of it)")
        kind = "ipynb"
    return CheckedUpload(name, kind, content, hashlib.sha256(content).hexdigest())
