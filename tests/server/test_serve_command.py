"""The server's commands keep its folder to the instructor's user, and ``xaigrader serve`` refuses to put
students' code in the weak fallback sandbox unless told to."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

from tests.server.server_process import REPO, XAIGRADER, issue_roster_tokens


def serve_without_bubblewrap(folder: Path, *extra: str) -> subprocess.CompletedProcess:
    """The command with a PATH on which there is no ``bwrap``, as on a machine without bubblewrap."""
    environment = {**os.environ, "PATH": str(Path(XAIGRADER[0]).parent)}
    command = [*XAIGRADER, "serve", "--assignment", "cs411-a2", "--server-dir", str(folder), "--port", "1", *extra]
    return subprocess.run(command, cwd=REPO, env=environment, capture_output=True, text=True, timeout=120)


def test_serve_refuses_the_fallback_sandbox_and_says_how_to_accept_it(tmp_path: Path) -> None:
    refused = serve_without_bubblewrap(tmp_path / "server")
    assert refused.returncode == 2
    assert "bubblewrap cannot confine student code" in refused.stderr and "--allow-fallback-sandbox" in refused.stderr
    assert not (tmp_path / "server").exists()


def test_serve_with_the_fallback_sandbox_allowed_goes_on_with_a_warning(tmp_path: Path) -> None:
    started = serve_without_bubblewrap(tmp_path / "server", "--allow-fallback-sandbox", "--host", "256.0.0.1")
    assert "WARNING: serving with the fallback sandbox" in started.stderr
    assert "bubblewrap cannot confine" not in started.stderr


def test_issuing_tokens_makes_the_server_folder_private_even_when_it_was_open(tmp_path: Path) -> None:
    folder = tmp_path / "server"
    folder.mkdir(mode=0o755)
    issue_roster_tokens(folder, [("S000", "student")])
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert (folder / "xaigrader.sqlite3").is_file()


def test_a_public_url_that_is_not_a_web_address_is_refused(tmp_path: Path) -> None:
    command = [*XAIGRADER, "serve", "--assignment", "cs411-a2", "--public-url", "course.example.edu"]
    refused = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert refused.returncode == 2 and "is not an http:// or https:// address" in refused.stderr
