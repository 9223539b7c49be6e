"""What a team's repository holds, and which files its README points at that are not there.

A TA grading a repository starts from its README and its report PDFs; a README that links a
report or a notebook the zip lacks means the team left out part of its work, which the TA must
know before marking. Every file is the team's: links are never followed, names are only listed,
and reading is bounded.
"""

from __future__ import annotations

import os
import re
import stat
import urllib.parse
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath

from markdown_it import MarkdownIt

KINDS = {
    "reports": (".pdf",),
    "notebooks": (".ipynb",),
    "scripts": (".py", ".sh"),
    "pickles": (".pkl", ".pickle", ".p"),
    "tables": (".csv", ".tsv", ".json", ".txt"),
    "images": (".png", ".jpg", ".jpeg", ".gif", ".svg", ".webp"),
}
MAX_LISTED = 2000
MAX_README_BYTES = 64 << 10  # markdown-it takes about a second on the worst 64 KiB; READMEs are far smaller
MAX_LINKS = 500
SKIPPED_FOLDERS = {".git", "__MACOSX", ".ipynb_checkpoints", "__pycache__"}
URL_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
GITHUB_FILE = re.compile(r"^https?://github\.com/[^/]+/(?P<repository>[^/]+)/(?:blob|tree|raw)/[^/]+/(?P<path>[^?#]+)")


class UnreadableFile(OSError):
    """A repository file that is a link, not a plain file, outside the repository or too large."""


@dataclass(frozen=True)
class MissingLink:
    target: str  # as the README wrote it
    why: str

    def sentence(self) -> str:
        return f"the README points at {self.target}, {self.why}"


@dataclass
class RepositoryInventory:
    readme: str | None = None
    files: dict[str, list[str]] = field(default_factory=dict)  # kind -> paths inside the repository
    other: int = 0  # files of no listed kind
    missing_links: list[MissingLink] = field(default_factory=list)
    readme_problem: str | None = None  # why its links could not be checked

    def flags(self) -> list[str]:
        found = [] if self.readme else ["the repository has no README.md"]
        unread = [f"the README's links were not checked: {self.readme_problem}"] if self.readme_problem else []
        return found + unread + [link.sentence() for link in self.missing_links]

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def _kind(name: str) -> str | None:
    suffix = PurePosixPath(name).suffix.lower()
    return next((kind for kind, suffixes in KINDS.items() if suffix in suffixes), None)


def repository_paths(root: Path) -> list[str]:
    """The plain files under ``root`` (links and tooling folders left out), bounded, in name order."""
    found: list[str] = []
    for folder, folders, files in os.walk(root, followlinks=False):
        folders[:] = sorted(name for name in folders if name not in SKIPPED_FOLDERS)
        for name in sorted(files):
            path = Path(folder) / name
            if not path.is_symlink() and path.is_file():
                found.append(path.relative_to(root).as_posix())
                if len(found) >= MAX_LISTED:
                    return found
    return found


def read_repository_file(root: Path, relative: str, limit: int) -> bytes:
    """A plain file inside ``root``, read without following a link anywhere on its path, at most ``limit`` bytes."""
    parts = PurePosixPath(relative).parts
    if not parts or PurePosixPath(relative).is_absolute() or ".." in parts:
        raise UnreadableFile(f"{relative} is not a path inside the repository")
    descriptor = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for part in parts[:-1]:
            child = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=descriptor)
            os.close(descriptor)
            descriptor = child
        handle = os.open(parts[-1], os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=descriptor)
    except OSError as error:
        raise UnreadableFile(f"{relative} could not be opened ({error.strerror})") from None
    finally:
        os.close(descriptor)
    status = os.fstat(handle)
    if not stat.S_ISREG(status.st_mode) or status.st_size > limit:
        os.close(handle)
        if not stat.S_ISREG(status.st_mode):
            raise UnreadableFile(f"{relative} is not a plain file")
        raise UnreadableFile(f"{relative} holds {status.st_size} bytes, over the {limit}-byte limit")
    with os.fdopen(handle, "rb") as file:
        return file.read(limit)


def _readme(paths: list[str]) -> str | None:
    """The README GitHub would show: the top folder's, whatever its case and suffix."""
    candidates = [path for path in paths if "/" not in path and PurePosixPath(path).stem.lower() == "readme"]
    return min(candidates, key=lambda path: (PurePosixPath(path).suffix.lower() != ".md", path), default=None)


def _link_targets(markdown: str) -> list[str]:
    """Every link and image source of a Markdown text, and the ``src`` / ``href`` of its inline HTML."""
    targets: list[str] = []
    tokens = MarkdownIt("commonmark").parse(markdown)
    for token in tokens:
        for child in [token, *(token.children or [])]:
            for attribute in ("href", "src"):
                value = child.attrGet(attribute) if child.attrs else None
                if isinstance(value, str):
                    targets.append(value)
            if child.type in ("html_inline", "html_block"):
                targets += re.findall(r"""(?:href|src)\s*=\s*["']([^"']{1,1000})["']""", child.content)
    return targets[:MAX_LINKS]


def _own_path(target: str, repository: str) -> str | None:
    """The repository path a README link names: relative links, and GitHub links into this repository."""
    if github := GITHUB_FILE.match(target):
        same = github["repository"].lower().removesuffix(".git") in repository.lower()
        return urllib.parse.unquote(github["path"]) if same else None
    if URL_SCHEME.match(target) or target.startswith(("#", "//")):
        return None
    return urllib.parse.unquote(target.split("#", 1)[0].split("?", 1)[0])


def _missing(readme: str, target: str, path: str, files: set[str], lowered: dict[str, str]) -> MissingLink | None:
    base = PurePosixPath(readme).parent
    joined = PurePosixPath(path.lstrip("/")) if path.startswith("/") else base / path
    parts: list[str] = []
    for part in joined.parts:
        if part == "..":
            if not parts:
                return MissingLink(target, "which lies outside the repository")
            parts.pop()
        elif part != ".":
            parts.append(part)
    wanted = "/".join(parts)
    if not wanted or wanted in files or any(name.startswith(wanted + "/") for name in files):
        return None
    if other := lowered.get(wanted.lower()):
        return MissingLink(target, f"but the file is {other} (GitHub tells names apart by case)")
    return MissingLink(target, "which is not in the submission")


def take_inventory(root: Path) -> RepositoryInventory:
    """The repository's files by kind, and the README's links to files it does not hold."""
    paths = repository_paths(root)
    inventory = RepositoryInventory(readme=_readme(paths))
    for path in paths:
        kind = _kind(path)
        if kind is None:
            inventory.other += 1
        else:
            inventory.files.setdefault(kind, []).append(path)
    if inventory.readme is None:
        return inventory
    try:
        text = read_repository_file(root, inventory.readme, MAX_README_BYTES).decode("utf-8", errors="replace")
    except UnreadableFile as error:
        inventory.readme_problem = str(error)
        return inventory
    files = set(paths)
    lowered = {path.lower(): path for path in paths}
    seen: set[str] = set()
    for target in _link_targets(text):
        path = _own_path(target.strip(), root.name)
        if path is None or target in seen:
            continue
        seen.add(target)
        if missing := _missing(inventory.readme, target, path, files, lowered):
            inventory.missing_links.append(missing)
    return inventory
