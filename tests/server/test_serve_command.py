"""``xaigrader serve`` refuses to put students' code in the weak fallback sandbox unless told to."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.server.server_process import REPO, XAIGRADER


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
