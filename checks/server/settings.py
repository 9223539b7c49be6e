"""What an instructor decides when starting the server, in one place for every router."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from checks.assignments.tml25_a4.lime_scoring import ScoringOptions

MIB = 1 << 20


@dataclass(frozen=True)
class RateLimit:
    """At most ``uploads`` per member in any ``window_s`` seconds, and ``waiting`` of theirs queued at once."""

    uploads: int = 6
    window_s: float = 60.0
    waiting: int = 2


@dataclass(frozen=True)
class ServerSettings:
    folder: Path  # the server's own: its SQLite store, secret, graded results and class folders
    store_url: str
    assignments: tuple[str, ...]
    data_dir: Path | None = None
    full_mode: bool = False  # students may ask for a whole run, within full_per_day
    full_per_day: int = 2
    max_upload_bytes: int = 20 * MIB
    rate: RateLimit = field(default_factory=RateLimit)
    workers: int | None = None  # None: as many as the machine's cores and memory allow
    scoring: ScoringOptions = field(default_factory=ScoringOptions)
    scoring_places: int = 8  # teams that may wait for the LIME scorer at once; more are told to come back
    secure_cookies: bool = False  # set behind a TLS proxy so the browser only sends the cookie over HTTPS
    public_url: str | None = None  # the address students open, behind a proxy: the origin login forms come from


def private_folder(folder: Path) -> Path:
    """The server's folder, made (or narrowed to) readable by its own user only: it holds tokens' hashes, every
    upload and result, and the CSRF key, and a fallback sandbox's uid must not read them."""
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o700)
    return folder
