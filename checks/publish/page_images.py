"""Light display versions of a class's figures, so a report opens on a phone.

A report embedding every figure as a base64 PNG weighs megabytes: photographs stored
losslessly, and the grader's reference figures repeated in every student's page. Each page
instead links a display copy, scaled to the page's width and stored as WebP or PNG,
whichever is smaller; reference figures are stored once per class under their content's
hash. Figures are written by a student's kernel and are hostile input: only plain files in
the figures folder are read, and decoding is bounded.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import stat
import tempfile
import warnings
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

from PIL import Image

from checks.data.class_folder import PARTIAL_SUFFIX, REFERENCE_FIGURES, SUBMITTED_FIGURES

FIGURES_FOLDER = "figures"
SUBMITTED_FOLDER = SUBMITTED_FIGURES
"""Beside it: the figures the notebook was submitted with."""
DISPLAY_FOLDER = "web"
"""Inside a student's figures folders: the display copies of that student's figures."""
REFERENCE_FOLDER = REFERENCE_FIGURES
"""Inside the class's output folder: display copies of the reference figures, shared by every page."""
MAX_WIDTH = 900
MAX_HEIGHT = 3000
MAX_PIXELS = 25_000_000
MAX_INLINE_BYTES = 16 << 20
"""What one single-file report may embed; figures beyond it are left out of that copy."""
WEBP_QUALITY = 75
"""At 80 the CS411 sample's largest reports weigh just over 500 KB; 75 saves 15% with no loss visible on a phone."""
WEBP_METHOD = 2
"""libwebp's effort (0-6): 2 is twice as fast as the default 4 for about 5% more bytes."""
HASH_HEX = 16
READABLE = 0o644
"""Display copies are served to students; a temporary file starts private (0600)."""
MIME_TYPES = {"webp": "image/webp", "png": "image/png"}
DISPLAY_FORMATS = ("WEBP", "PNG")
UNREADABLE = (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError)
"""What PIL raises for a file that is not an image it can decode (truncated, corrupt or huge)."""


@dataclass(frozen=True)
class PageImage:
    """One figure as a page shows it."""

    src: str
    """What ``<img src>`` gets: a path relative to the page, or a data: URI when inlined."""
    full: str
    """What a click opens: the original figure (relative path), or the same data URI when inlined."""
    width: int
    """Pixel size of ``src``, so the page reserves its space before the image arrives."""
    height: int
    alt: str


@dataclass(frozen=True)
class _DisplayCopy:
    path: Path
    width: int
    height: int


class PageImages:
    """Display versions of a class's figures, written once per class.

    ``out`` is the class's output folder, holding one folder per student whose page is
    ``<student_dir>/report.html``. With ``inline`` every image becomes a data: URI, for a
    single-file report sent by e-mail; the display copies are still cached on disk.
    """

    def __init__(self, out: Path, inline: bool = False) -> None:
        self.out = out
        self.inline = inline
        self.inlined = 0

    def student_figure(self, student_dir: Path, png: str, alt: str) -> PageImage | None:
        """A figure of the student's notebook, ``student_dir/figures/png``; None when it is not a
        plain file there or not a decodable image of at most ``MAX_PIXELS``."""
        return self._own_figure(student_dir, FIGURES_FOLDER, png, alt)

    def submitted_figure(self, student_dir: Path, png: str, alt: str) -> PageImage | None:
        """A figure the notebook was submitted with, ``student_dir/submitted-figures/png``, as ``student_figure``."""
        return self._own_figure(student_dir, SUBMITTED_FOLDER, png, alt)

    def _own_figure(self, student_dir: Path, folder_name: str, png: str, alt: str) -> PageImage | None:
        figures = student_dir / folder_name
        source = _plain_file(figures, png)
        if source is None:
            return None
        folder = _own_folder(figures, DISPLAY_FOLDER)
        if folder is None:
            return None
        copy = _fresh_copy(folder, source.stem, source) or _write_display_copy(source, folder, source.stem)
        if copy is None:
            return None
        return self._page_image(copy, student_dir, f"{folder_name}/{quote(png)}", alt)

    def reference_figure(self, student_dir: Path, png: str, alt: str) -> PageImage | None:
        """A grader-drawn reference figure in the student's figures folder, its display copy shared
        by every student whose folder holds the same bytes."""
        source = _plain_file(student_dir / FIGURES_FOLDER, png)
        if source is None:
            return None
        folder = _own_folder(self.out, REFERENCE_FOLDER)
        if folder is None:
            return None
        with source.open("rb") as handle:
            name = hashlib.file_digest(handle, "sha256").hexdigest()[:HASH_HEX]
        copy = _fresh_copy(folder, name) or _write_display_copy(source, folder, name)
        if copy is None:
            return None
        return self._page_image(copy, student_dir, f"{FIGURES_FOLDER}/{quote(png)}", alt)

    def _page_image(self, copy: _DisplayCopy, student_dir: Path, original: str, alt: str) -> PageImage | None:
        if self.inline:
            self.inlined += copy.path.stat().st_size
            if self.inlined > MAX_INLINE_BYTES:
                return None
            uri = _data_uri(copy.path)
            return PageImage(uri, uri, copy.width, copy.height, alt)
        relative = Path(os.path.relpath(copy.path.resolve(), student_dir.resolve())).as_posix()
        return PageImage(quote(relative), original, copy.width, copy.height, alt)


def _plain_file(folder: Path, name: str) -> Path | None:
    """``folder/name`` when it is a regular file directly inside a real (not linked) folder."""
    if not name or "/" in name or "\\" in name or ".." in name or "\0" in name:
        return None
    path = folder / name
    try:
        if not stat.S_ISDIR(folder.lstat().st_mode) or not stat.S_ISREG(path.lstat().st_mode):
            return None
    except OSError:
        return None
    return path


def _own_folder(parent: Path, name: str) -> Path | None:
    """``parent/name``, created when missing; None when something else (a link, a file) holds the name."""
    folder = parent / name
    try:
        folder.mkdir(exist_ok=True)
        return folder if stat.S_ISDIR(folder.lstat().st_mode) else None
    except OSError:
        return None


def _fresh_copy(folder: Path, stem: str, source: Path | None = None) -> _DisplayCopy | None:
    """The newest display copy already written for ``stem``, when it is not older than ``source``
    (content-addressed copies, without a source, never go stale)."""
    oldest = source.stat().st_mtime_ns if source else 0
    copies = []
    for extension in MIME_TYPES:
        path = folder / f"{stem}.{extension}"
        try:
            status = path.lstat()
        except OSError:
            continue
        if stat.S_ISREG(status.st_mode) and status.st_mtime_ns >= oldest:
            copies.append((status.st_mtime_ns, path))
    if not copies:
        return None
    path = max(copies)[1]
    size = _image_size(path)
    return _DisplayCopy(path, *size) if size else None


def _image_size(path: Path) -> tuple[int, int] | None:
    try:
        with Image.open(path, formats=DISPLAY_FORMATS) as image:
            return image.size
    except UNREADABLE:
        return None


def _write_display_copy(source: Path, folder: Path, stem: str) -> _DisplayCopy | None:
    """Encode ``source`` for the page as ``folder/stem.webp`` or ``.png`` and drop the other one."""
    display = _display_pixels(source)
    if display is None:
        return None
    extension, data = min(_encodings(display).items(), key=lambda item: len(item[1]))
    target = folder / f"{stem}.{extension}"
    _write_atomically(target, data)
    for other in MIME_TYPES.keys() - {extension}:
        (folder / f"{stem}.{other}").unlink(missing_ok=True)
    return _DisplayCopy(target, display.width, display.height)


def _display_pixels(source: Path) -> Image.Image | None:
    """The image scaled to fit ``MAX_WIDTH`` x ``MAX_HEIGHT`` (never up), as RGB or RGBA; None when it is not
    a PNG (figures are; no other decoder is reached) or has more than ``MAX_PIXELS`` (checked from the
    header, before anything is decoded)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(source, formats=("PNG",)) as image:
                if image.width * image.height > MAX_PIXELS:
                    return None
                image.load()
                pixels = image.convert("RGBA")
    except UNREADABLE:
        return None
    if pixels.getchannel("A").getextrema() == (255, 255):
        pixels = pixels.convert("RGB")
    pixels.thumbnail((MAX_WIDTH, MAX_HEIGHT), Image.Resampling.LANCZOS)
    return pixels


def _encodings(image: Image.Image) -> dict[str, bytes]:
    """The display pixels as PNG and, unless the image is beyond WebP's 16383-pixel sides, as lossy WebP,
    keyed by file extension (PNG's exhaustive optimisation costs three times the time for about 1%)."""
    png = io.BytesIO()
    image.save(png, "PNG", compress_level=6)
    encoded = {"png": png.getvalue()}
    webp = io.BytesIO()
    try:
        image.save(webp, "WEBP", quality=WEBP_QUALITY, method=WEBP_METHOD)
    except (OSError, ValueError):
        return encoded
    return encoded | {"webp": webp.getvalue()}


def _write_atomically(target: Path, data: bytes) -> None:
    """Write to a new file beside ``target`` and rename it over: a second process rendering the same
    class, or a link planted at the name, never sees or receives half a file."""
    with tempfile.NamedTemporaryFile(dir=target.parent, prefix=".", suffix=PARTIAL_SUFFIX, delete=False) as handle:
        handle.write(data)
        os.fchmod(handle.fileno(), READABLE)
    Path(handle.name).replace(target)


def _data_uri(path: Path) -> str:
    mime = MIME_TYPES[path.suffix.removeprefix(".")]
    return f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode('ascii')}"


class _ImageSources(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.sources: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "img":
            self.sources += [value for name, value in attrs if name == "src" and value]


def page_weight(page: Path) -> int:
    """What a browser downloads to show ``page`` in full: its bytes plus each local image its
    ``<img src>`` names, counted once (data: URIs are part of the page's bytes already)."""
    parser = _ImageSources()
    parser.feed(page.read_text(encoding="utf-8", errors="replace"))
    parser.close()
    images = set()
    for source in parser.sources:
        parts = urlsplit(source)
        if parts.scheme or parts.netloc or not parts.path or parts.path.startswith("/"):
            continue
        path = (page.parent / unquote(parts.path)).resolve()
        if path.is_file():
            images.add(path)
    return page.stat().st_size + sum(path.stat().st_size for path in images)
