"""The LIME scoreboard: teams post their pickle exactly as the course's example code does, get their numbers or
a clear refusal, and the board ranks each team's latest submission while every one is kept for the instructor.
Each test runs on SQLite and on PostgreSQL; only one of them scores for real (once per store)."""

from __future__ import annotations

import asyncio
import logging
import os
import pickle
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from checks.assignments.tml25_a4.lime_params import LIMITS
from checks.assignments.tml25_a4.lime_scoring import ScoringOptions
from checks.server.app import create_app
from checks.server.auth import COOKIE
from checks.server.scoring_line import ScoringLine
from checks.server.settings import ServerSettings
from checks.server.store import LimeSubmission, open_store
from checks.server.tokens import RosterLine, issue_tokens, revoke
from reference.tml25_a4.images import IMAGE_KEYS

TEAM, OTHER_TEAM, STUDENT, TA = "TML25_A4_01", "TML25_A4_02", "CS2301", "ta1"
CHEAP = {"num_samples": 10, "batch_size": 10, "top_labels": 1, "num_features": 10, "random_seed": 0}


@pytest.fixture
def server_settings(server_settings: ServerSettings) -> ServerSettings:
    """One repeat and a cut-off far above what ten samples an image take, so the real scoring is quick."""
    return replace(server_settings, scoring=ScoringOptions(cut_off_s=300, repeats=1))


class Reducer:
    """Unpickling this would run a shell command that leaves a marker file."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self):
        return (os.system, (f"touch {self.path}",))


def parameters(arguments: dict[str, object], keys: tuple[str, ...] | list[str] = IMAGE_KEYS) -> bytes:
    return pickle.dumps({key: dict(arguments) for key in keys})


def post(client: TestClient, token: str | None, content: bytes):
    """As the assignment's example code sends it: a multipart ``file`` and a ``token`` header."""
    headers = {"token": token} if token else {}
    return client.post("/lime", files={"file": ("params.pkl", content)}, headers=headers)


def submissions(client: TestClient, tokens: dict[str, str]) -> list[dict]:
    response = client.get("/lime/submissions", headers={"token": tokens[TA]})
    assert response.status_code == 200
    return response.json()


def test_a_team_is_scored_ranked_and_its_latest_refused_submission_unranks_it(
    client: TestClient, tokens: dict[str, str]
):
    scored = post(client, tokens[TEAM], parameters(CHEAP))
    assert scored.status_code == 200, scored.text
    answer = scored.json()
    assert set(answer) == {"avg_iou", "avg_time"}
    assert isinstance(answer["avg_iou"], float) and 0.0 <= answer["avg_iou"] <= 1.0
    assert isinstance(answer["avg_time"], float) and 0.0 < answer["avg_time"] < 300

    board = client.get("/score_board.json").json()["teams"]
    assert [(row["rank"], row["team"], row["name"]) for row in board] == [(1, TEAM, "Team 01")]
    assert (board[0]["avg_iou"], board[0]["avg_time"]) == (answer["avg_iou"], answer["avg_time"])
    assert client.get("/score_board", headers={"Accept": "application/json"}).json()["teams"] == board
    page = client.get("/score_board")
    assert page.headers["content-type"].startswith("text/html")
    assert "Team 01" in page.text and f"{answer['avg_iou']:.4f}" in page.text and "no score" not in page.text

    refused = post(client, tokens[TEAM], parameters(CHEAP, keys=IMAGE_KEYS[:9]))
    assert refused.status_code == 400
    assert repr(IMAGE_KEYS[9]) + " is missing" in refused.json()["detail"]

    board = client.get("/score_board.json").json()["teams"]
    assert [(row["rank"], row["team"], row["avg_iou"], row["avg_time"]) for row in board] == [(None, TEAM, None, None)]
    assert "no score" in client.get("/score_board").text
    kept = submissions(client, tokens)
    assert [(row["team"], row["avg_iou"]) for row in kept] == [(TEAM, answer["avg_iou"]), (TEAM, None)]
    assert kept[0]["result"]["iou"].keys() == set(IMAGE_KEYS) and kept[1]["result"]["problems"]
    assert kept[0]["digest"] != kept[1]["digest"] and all(row["size"] > 0 for row in kept)


def test_the_board_ranks_latest_submissions_by_iou_then_time_and_unscored_last(client: TestClient):
    store = client.app.state.store
    issue_tokens(store, [RosterLine("TML25_A4_03", "Team 03", "", "team")])
    rows = [
        (TEAM, 0.9, 5.0),  # replaced below by a refused submission
        (OTHER_TEAM, 0.5, 2.0),
        ("TML25_A4_03", 0.5, 1.0),
        (TEAM, None, None),
    ]
    with store.begin() as session:
        for number, (team, avg_iou, avg_time) in enumerate(rows):
            session.add(
                LimeSubmission(
                    member_id=team,
                    created_at=datetime(2025, 6, 1, 12, number),
                    digest=f"{number:064d}",
                    size=1,
                    avg_iou=avg_iou,
                    avg_time=avg_time,
                    result_json="{}",
                )
            )
    board = client.get("/score_board.json").json()["teams"]
    assert [(row["rank"], row["team"]) for row in board] == [(1, "TML25_A4_03"), (2, OTHER_TEAM), (None, TEAM)]
    assert board[0]["submitted_at"] == "2025-06-01T12:02:00+00:00"


def test_posting_needs_a_live_token(client: TestClient, tokens: dict[str, str]):
    wrong_keys = parameters(CHEAP, keys=[key.lower() for key in IMAGE_KEYS])
    assert post(client, None, wrong_keys).status_code == 401
    assert post(client, "not-a-token", wrong_keys).status_code == 401
    assert post(client, tokens[TEAM], wrong_keys).status_code == 400
    revoke(client.app.state.store, TEAM)
    refused = post(client, tokens[TEAM], wrong_keys)
    assert refused.status_code == 401 and "valid token" in refused.json()["detail"]


def test_only_teams_post_and_no_token_is_echoed_or_logged(
    client: TestClient, tokens: dict[str, str], caplog: pytest.LogCaptureFixture
):
    caplog.set_level(logging.DEBUG)
    for member in (STUDENT, TA):
        refused = post(client, tokens[member], parameters(CHEAP))
        assert refused.status_code == 403 and "only teams" in refused.json()["detail"]
        assert tokens[member] not in refused.text
    accepted = post(client, tokens[TEAM], b"not a pickle")
    assert accepted.status_code == 400 and tokens[TEAM] not in accepted.text
    assert not any(token in caplog.text for token in tokens.values())
    assert [row["team"] for row in submissions(client, tokens)] == [TEAM]


def test_a_hostile_pickle_is_refused_kept_and_never_run(client: TestClient, tokens: dict[str, str], tmp_path: Path):
    marker = tmp_path / "ran"
    hostile = pickle.dumps({key: {"segmentation_fn": Reducer(marker)} for key in IMAGE_KEYS})
    refused = post(client, tokens[TEAM], hostile)
    assert refused.status_code == 400
    body = refused.json()
    assert body["detail"].startswith("the pickle was refused; nothing of it ran")
    assert "system" in " ".join(body["problems"]["file"]) and body["stopped"] is None
    assert not marker.exists()
    [kept] = submissions(client, tokens)
    assert kept["team"] == TEAM and kept["avg_iou"] is None and kept["result"]["problems"]["file"]
    assert kept["size"] == len(hostile)
    assert [row["rank"] for row in client.get("/score_board.json").json()["teams"]] == [None]


def test_wrong_image_names_are_named_in_the_refusal(client: TestClient, tokens: dict[str, str]):
    renamed = [key.replace("_", " ") for key in IMAGE_KEYS]
    refused = post(client, tokens[TEAM], parameters(CHEAP, keys=renamed))
    assert refused.status_code == 400
    assert "'West Highland white terrier' is not one of the ten image names" in refused.json()["detail"]
    assert "did you mean 'West_Highland_white_terrier'?" in refused.json()["detail"]
    assert "'flamingo' is missing" not in refused.json()["detail"]  # names that match are not reported


def test_an_upload_over_the_cap_is_refused_unscored(client: TestClient, tokens: dict[str, str]):
    at_cap = post(client, tokens[TEAM], b"\x80\x04" + b"N" * (LIMITS.max_bytes - 2))
    assert at_cap.status_code == 400  # read whole and refused by the unpickler, not by size
    over = post(client, tokens[TEAM], b"\x80\x04" + b"N" * (LIMITS.max_bytes - 1))
    assert over.status_code == 413 and "MiB" in over.json()["detail"]
    assert [row["size"] for row in submissions(client, tokens)] == [LIMITS.max_bytes]


def test_a_team_name_is_escaped_on_the_board(client: TestClient):
    store = client.app.state.store
    [issued] = issue_tokens(store, [RosterLine("TML25_A4_66", "<script>alert(1)</script>", "", "team")])
    assert post(client, issued.token, b"not a pickle").status_code == 400
    page = client.get("/score_board").text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>" not in page
    assert client.get("/score_board.json").json()["teams"][0]["name"] == "<script>alert(1)</script>"


def test_submissions_are_for_staff_only(client: TestClient, tokens: dict[str, str]):
    assert client.get("/lime/submissions").status_code == 401
    assert client.get("/lime/submissions", headers={"token": tokens[TEAM]}).status_code == 403
    assert client.get("/lime/submissions", headers={"token": tokens[STUDENT]}).status_code == 403
    assert submissions(client, tokens) == []


def test_a_browsers_cookie_cannot_post_a_pickle(client: TestClient, tokens: dict[str, str]):
    client.cookies.set(COOKIE, tokens[TEAM])
    refused = client.post("/lime", files={"file": ("params.pkl", b"not a pickle")})
    assert refused.status_code == 403 and "'token' header" in refused.json()["detail"]
    client.cookies.clear()
    assert submissions(client, tokens) == []


def test_a_team_posting_too_often_is_told_when_to_come_back(client: TestClient, tokens: dict[str, str]):
    for _ in range(3):
        assert post(client, tokens[TEAM], b"not a pickle").status_code == 400
    refused = post(client, tokens[TEAM], b"not a pickle")
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    assert "3 pickles per 60 s" in refused.json()["detail"]
    assert post(client, tokens[OTHER_TEAM], b"not a pickle").status_code == 400
    assert len(submissions(client, tokens)) == 4


@contextmanager
def scoring_held_by(line: ScoringLine, team: str) -> Iterator[None]:
    """The team's pickle in the scorer, as if it were being scored, until the block ends."""
    inside, release = threading.Event(), threading.Event()

    async def hold() -> None:
        with line.place(team):
            await line.turn(team)
            inside.set()
            while not release.is_set():
                await asyncio.sleep(0.05)

    holder = threading.Thread(target=asyncio.run, args=(hold(),))
    holder.start()
    assert inside.wait(10)
    try:
        yield
    finally:
        release.set()
        holder.join(10)


def test_pickles_are_scored_one_at_a_time_in_the_order_they_came_one_place_per_team(
    server_settings: ServerSettings, tokens: dict[str, str]
):
    store = open_store(server_settings.store_url)
    third, fourth = issue_tokens(
        store, [RosterLine("TML25_A4_03", "Team 03", "", "team"), RosterLine("TML25_A4_04", "Team 04", "", "team")]
    )
    with TestClient(create_app(replace(server_settings, scoring_places=3))) as client:
        line = client.app.state.scoring_line
        with ThreadPoolExecutor(2) as pool:
            with scoring_held_by(line, TEAM):
                for _ in range(3):  # the team's whole per-minute allowance
                    again = post(client, tokens[TEAM], b"not a pickle")
                    assert again.status_code == 429 and "still being scored" in again.json()["detail"]
                    assert int(again.headers["Retry-After"]) == 60
                second = pool.submit(post, client, tokens[OTHER_TEAM], b"not a pickle")
                time.sleep(1.0)
                last = pool.submit(post, client, third.token, b"not a pickle")
                time.sleep(1.0)
                assert not second.done() and not last.done()  # their turns come only when the scorer is free
                full = post(client, fourth.token, b"not a pickle")
                assert full.status_code == 429 and "line is full (3 teams" in full.json()["detail"]
                assert int(full.headers["Retry-After"]) == 180
            assert second.result(30).status_code == 400 and last.result(30).status_code == 400
        assert post(client, fourth.token, b"not a pickle").status_code == 400
        assert post(client, tokens[TEAM], b"not a pickle").status_code == 400  # refusals used none of its posts
        order = [row["team"] for row in submissions(client, tokens)]
        assert order == [OTHER_TEAM, "TML25_A4_03", "TML25_A4_04", TEAM]
