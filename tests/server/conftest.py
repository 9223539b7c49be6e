"""The server's tests run once on SQLite and once on a real PostgreSQL server started here (apt's
``postgresql``, run as its own user when the tests run as root), each test on a fresh database."""

from __future__ import annotations

import glob
import itertools
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient

from checks.server.app import create_app
from checks.server.settings import RateLimit, ServerSettings
from checks.server.store import open_store
from checks.server.tokens import RosterLine, issue_tokens

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
OWN_PAGE = {"origin": "http://testserver"}  # what a browser sends with a form posted from the server's own page
_databases = itertools.count()


def _postgres_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}")) or [shutil.which(name)]
    if not found[-1]:
        pytest.fail(f"PostgreSQL's {name} is missing: run `bash scripts/setup.sh --test-tools` as root")
    return found[-1]


def _as_postgres_user(command: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[tuple[str, int]]:
    """A throwaway cluster listening on a Unix socket in a temporary folder: (socket folder, port)."""
    root = Path(tempfile.mkdtemp(prefix="xaigrader-pg-"))
    data, sockets = root / "data", root / "sockets"
    sockets.mkdir()
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
        shutil.chown(sockets, "postgres")
    port = _free_port()
    subprocess.run(
        _as_postgres_user([_postgres_bin("initdb"), "-D", str(data), "-A", "trust", "-U", "postgres"]),
        check=True,
        capture_output=True,
    )
    options = f"-k {sockets} -p {port} -c listen_addresses='' -c fsync=off"
    # The server outlives pg_ctl: its output goes to a log file, or a captured pipe would never close.
    start = [_postgres_bin("pg_ctl"), "-D", str(data), "-l", str(root / "server.log"), "-o", options, "-w", "start"]
    subprocess.run(_as_postgres_user(start), check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield str(sockets), port
    finally:
        subprocess.run(_as_postgres_user([_postgres_bin("pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]))
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.sqlite3'}"
    sockets, port = request.getfixturevalue("postgres_server")
    name = f"xaigrader_test_{os.getpid()}_{next(_databases)}"
    with psycopg.connect(host=sockets, port=port, user="postgres", dbname="postgres", autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    return f"postgresql+psycopg://postgres@/{name}?host={sockets}&port={port}"


@pytest.fixture
def server_settings(tmp_path: Path, store_url: str) -> ServerSettings:
    return ServerSettings(
        folder=tmp_path / "server",
        store_url=store_url,
        assignments=("cs411-a2", "tml25-a4"),
        data_dir=DATA,
        workers=1,
        rate=RateLimit(uploads=3, window_s=60, waiting=1),
    )


ROSTER = [
    RosterLine("CS2301", "Asha Rao", "asha@example.edu", "student"),
    RosterLine("CS2302", "Bela Sen", "bela@example.edu", "student"),
    RosterLine("TML25_A4_01", "Team 01", "team01@example.edu", "team"),
    RosterLine("TML25_A4_02", "Team 02", "team02@example.edu", "team"),
    RosterLine("ta1", "Tara TA", "tara@example.edu", "ta"),
]


@pytest.fixture
def tokens(server_settings: ServerSettings) -> dict[str, str]:
    """A live token per roster member, by member id."""
    issued = issue_tokens(open_store(server_settings.store_url), ROSTER)
    return {token.member_id: token.token for token in issued}


@pytest.fixture
def client(server_settings: ServerSettings, tokens: dict[str, str]) -> Iterator[TestClient]:
    """The app with its worker pool running, through FastAPI's in-process HTTP client."""
    with TestClient(create_app(server_settings)) as test_client:
        yield test_client
