"""Self-check through the server: real uploads graded in the sandbox, on SQLite and on PostgreSQL."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import re
import stat
import zipfile
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import func, select

from checks.server.app import create_app
from checks.server.auth import COOKIE
from checks.server.job_grading import JobFolders
from checks.server.job_queue import GradingRequest, JobQueue, QueueFull
from checks.server.settings import ServerSettings
from checks.server.store import Job, Upload, open_store
from tests.server.conftest import OWN_PAGE

SAMPLES = Path(__file__).resolve().parents[2] / "student_submissions" / "cs411-a2"


def sample_notebook(zip_name: str) -> bytes:
    with zipfile.ZipFile(SAMPLES / zip_name) as archive:
        name = next(name for name in archive.namelist() if name.endswith(".ipynb"))
        return archive.read(name)


@pytest.fixture(scope="module")
def correct_notebook() -> bytes:
    return sample_notebook("Asha_Rao_CS2301.zip")


def post_check(
    client: TestClient, token: str, content: bytes, name: str = "A2.ipynb", mode: str = "quick", **params
) -> object:
    return client.post(
        "/check",
        params=params,
        files={"file": (name, content)},
        data={"assignment": "cs411-a2", "mode": mode},
        headers={"token": token},
    )


def job_count(settings: ServerSettings) -> int:
    with open_store(settings.store_url)() as session:
        return session.scalar(select(func.count(Job.id)))


def test_a_correct_notebook_is_graded_once_and_the_student_sees_marks_but_no_answer_key(
    client, tokens, server_settings, correct_notebook
):
    answer = post_check(client, tokens["CS2301"], correct_notebook, wait=120)
    assert answer.status_code == 200, answer.text
    job = answer.json()
    assert job["status"] == "done" and not job["reused"]
    result = job["result"]
    assert result["score"] == 39 and result["mode"] == "quick" and result["problem"] is None
    assert result["tasks"]["2.3"]["score"] == 6
    assert "grading_key" not in result and "written_answers" not in result and "submitted" not in result
    assert all("references" not in check and "inputs" not in check for check in result["checks"])
    assert all(not re.search(r"\d\.\d", check["expected"] or "") for check in result["checks"])

    again = post_check(client, tokens["CS2301"], correct_notebook, wait=5).json()
    assert again["job"] == job["job"] and again["reused"] and again["status"] == "done"
    assert job_count(server_settings) == 1

    staff = client.get(f"/api/check/{job['job']}", headers={"token": tokens["ta1"]}).json()
    assert staff["result"]["grading_key"] and all("references" in check for check in staff["result"]["checks"])
    other = client.get(f"/api/check/{job['job']}", headers={"token": tokens["CS2302"]})
    assert other.status_code == 404

    page = client.get(f"/check/{job['job']}", headers={"token": tokens["CS2301"]})
    assert "39 automatic marks of 100" in page.text and 'data-status="done"' in page.text

    zipped = post_check(client, tokens["CS2302"], (SAMPLES / "Asha_Rao_CS2301.zip").read_bytes(), "A2.zip", wait=120)
    assert zipped.status_code == 200 and zipped.json()["result"]["score"] == 39, zipped.text


def test_uploads_that_are_not_notebooks_are_refused_with_a_reason(client, tokens, server_settings):
    garbage = post_check(client, tokens["CS2301"], b"\x89PNG\r\n\x1a\n" + bytes(100))
    assert garbage.status_code == 400 and "not text" in garbage.json()["detail"]
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("A2.ipynb", b"0" * (50 << 20))
    disguised = post_check(client, tokens["CS2301"], bomb.getvalue(), name="A2.ipynb")
    assert disguised.status_code == 400 and "is a zip archive, not a notebook" in disguised.json()["detail"]
    broken = post_check(client, tokens["CS2301"], b'{"cells": "no"}')
    assert broken.status_code == 400 and "not a valid Jupyter notebook" in broken.json()["detail"]
    assert job_count(server_settings) == 0


def test_a_zip_bomb_is_refused_by_the_batch_intake_and_costs_no_kernel(client, tokens):
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("A2_Asha_Rao_CS2301.ipynb", b" " * (300 << 20))
    answer = post_check(client, tokens["CS2301"], bomb.getvalue(), name="A2.zip", wait=60).json()
    assert answer["status"] == "done"
    assert "looks like a zip bomb" in answer["result"]["problem"] and answer["result"]["score"] == 0


@pytest.fixture
def small_cap_client(server_settings, tokens):
    settings = dataclasses.replace(server_settings, max_upload_bytes=1 << 20)
    with TestClient(create_app(settings, start_workers=False)) as client:
        yield client


def test_an_upload_over_the_cap_is_refused_before_it_is_kept(small_cap_client, tokens, server_settings):
    answer = post_check(small_cap_client, tokens["CS2301"], b"{" + b" " * (2 << 20) + b"}")
    assert answer.status_code == 413 and "1 MiB" in answer.json()["detail"]
    small = post_check(small_cap_client, tokens["CS2301"], sample_notebook("Bela_Sen_CS2302.zip"))
    assert small.status_code == 202
    assert job_count(server_settings) == 1


def test_each_token_is_limited_with_429_and_retry_after(small_cap_client, tokens, correct_notebook):
    first = post_check(small_cap_client, tokens["CS2301"], correct_notebook)
    assert first.status_code == 202 and first.json()["status"] == "queued"
    waiting = post_check(small_cap_client, tokens["CS2301"], sample_notebook("Bela_Sen_CS2302.zip"))
    assert waiting.status_code == 429 and int(waiting.headers["Retry-After"]) > 0
    assert "still being graded" in waiting.json()["detail"]
    assert post_check(small_cap_client, tokens["CS2302"], correct_notebook).status_code == 202
    assert post_check(small_cap_client, tokens["CS2301"], b"{}").status_code == 400  # third upload in the window
    fourth = post_check(small_cap_client, tokens["CS2301"], correct_notebook)
    assert fourth.status_code == 429 and "uploads per 60 s" in fourth.json()["detail"]


def test_a_refused_upload_leaves_nothing_behind_and_an_accepted_one_is_kept_once(
    small_cap_client, tokens, server_settings, correct_notebook
):
    assert post_check(small_cap_client, tokens["CS2301"], correct_notebook).status_code == 202
    assert post_check(small_cap_client, tokens["CS2302"], correct_notebook).status_code == 202
    refused = post_check(small_cap_client, tokens["CS2301"], sample_notebook("Bela_Sen_CS2302.zip"))
    assert refused.status_code == 429
    with open_store(server_settings.store_url)() as session:
        assert session.scalars(select(Upload.digest)).all() == [hashlib.sha256(correct_notebook).hexdigest()]
    assert [path.name for path in server_settings.folder.rglob("*") if path.is_file()] == ["csrf.key"]
    assert stat.S_IMODE(server_settings.folder.stat().st_mode) == 0o700


def test_the_queue_itself_counts_full_runs_so_parallel_uploads_cannot_exceed_the_quota(server_settings, tokens):
    queue = JobQueue(open_store(server_settings.store_url), 5, 1)
    first = GradingRequest("CS2301", "cs411-a2", "full", "A2.ipynb", "ipynb", b"{}", "a" * 64, "1" * 64)
    queue.submit(first)
    with pytest.raises(QueueFull) as refused:
        queue.submit(dataclasses.replace(first, content=b"{ }", digest="b" * 64, grading_key="2" * 64))
    assert "today's 1 full runs" in str(refused.value) and 0 < refused.value.retry_after <= 86401
    queue.submit(dataclasses.replace(first, mode="quick", content=b"{ }", digest="b" * 64, grading_key="3" * 64))


@pytest.mark.parametrize("wait", ["nan", "inf", "-1", "121"])
def test_a_wait_that_is_not_a_number_of_seconds_up_to_the_cap_is_refused(small_cap_client, tokens, wait):
    answer = post_check(small_cap_client, tokens["CS2301"], b"{}", wait=wait)
    assert answer.status_code == 422
    answer = small_cap_client.get("/api/check/1", params={"wait": wait}, headers={"token": tokens["CS2301"]})
    assert answer.status_code == 422


@pytest.mark.parametrize("route", ["/api/check/{}", "/check/{}", "/check/{}/figure/0", "/check/1/figure/{}"])
def test_numbers_no_job_can_have_are_refused_not_looked_up(small_cap_client, tokens, route):
    for number in (2**31, 2**63, 10**30):
        answer = small_cap_client.get(route.format(number), headers={"token": tokens["CS2301"]})
        assert answer.status_code == 422, (route, number, answer.text)


def test_tokens_are_needed_and_a_revoked_one_is_refused(small_cap_client, tokens, server_settings, correct_notebook):
    from checks.server.tokens import revoke

    assert post_check(small_cap_client, "not-a-token", correct_notebook).status_code == 401
    bearer = small_cap_client.get("/api/check/1", headers={"authorization": f"Bearer {tokens['CS2301']}"})
    assert bearer.status_code == 404  # known member, no such job
    revoke(open_store(server_settings.store_url), "CS2301")
    assert post_check(small_cap_client, tokens["CS2301"], correct_notebook).status_code == 401


def test_the_browser_form_needs_the_pages_csrf_value_and_names_are_escaped(small_cap_client, tokens):
    client = small_cap_client
    assert client.post("/login", data={"token": "wrong"}, headers=OWN_PAGE).status_code == 401
    logged_in = client.post("/login", data={"token": tokens["CS2301"]}, headers=OWN_PAGE, follow_redirects=False)
    assert logged_in.status_code == 303 and COOKIE in logged_in.cookies
    client.cookies.set(COOKIE, tokens["CS2301"])
    home = client.get("/")
    csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', home.text).group(1)
    name = "<script>alert(1)</script>.ipynb"
    content = sample_notebook("Bela_Sen_CS2302.zip")
    forged = client.post(
        "/check", files={"file": (name, content)}, data={"assignment": "cs411-a2"}, headers={"accept": "text/html"}
    )
    assert forged.status_code == 403
    sent = client.post(
        "/check",
        files={"file": (name, content)},
        data={"assignment": "cs411-a2", "csrf": csrf},
        headers={"accept": "text/html"},
        follow_redirects=False,
    )
    assert sent.status_code == 303
    page = client.get(sent.headers["location"])
    assert "&lt;script&gt;alert(1)&lt;/script&gt;.ipynb" in page.text and "<script>alert" not in page.text
    assert 'data-status="queued"' in page.text


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"origin": "http://evil"},
        {"origin": "null"},
        {"referer": "http://testserver.evil/"},
        {"referer": "http://evil/?http://testserver/"},
        {"origin": "http://testserver", "sec-fetch-site": "cross-site"},
    ],
)
def test_a_login_form_not_posted_from_the_servers_page_is_refused(small_cap_client, tokens, headers):
    answer = small_cap_client.post("/login", data={"token": tokens["CS2301"]}, headers=headers, follow_redirects=False)
    assert answer.status_code == 403 and COOKIE not in answer.cookies


def test_behind_a_proxy_login_forms_come_from_the_public_url(server_settings, tokens):
    settings = dataclasses.replace(server_settings, public_url="https://Course.example.edu/xai")
    with TestClient(create_app(settings, start_workers=False)) as client:
        login = {"data": {"token": tokens["CS2301"]}, "follow_redirects": False}
        assert client.post("/login", headers={"origin": "https://course.example.edu"}, **login).status_code == 303
        assert client.post("/login", headers={"referer": "https://course.example.edu/"}, **login).status_code == 303
        assert client.post("/login", headers=OWN_PAGE, **login).status_code == 403
        assert client.post("/login", headers={"origin": "http://course.example.edu"}, **login).status_code == 403


@pytest.mark.parametrize(
    "headers", [{"origin": "http://testserver"}, {"referer": "http://testserver/"}, {"referer": "http://testserver"}]
)
def test_a_login_form_from_the_servers_own_page_logs_in(small_cap_client, tokens, headers):
    answer = small_cap_client.post("/login", data={"token": tokens["CS2301"]}, headers=headers, follow_redirects=False)
    assert answer.status_code == 303 and COOKIE in answer.cookies


def test_a_full_run_is_refused_unless_allowed_and_then_counted_per_day(server_settings, tokens, correct_notebook):
    with TestClient(create_app(server_settings, start_workers=False)) as client:
        refused = post_check(client, tokens["CS2301"], correct_notebook, mode="full")
    settings = dataclasses.replace(server_settings, full_mode=True, full_per_day=1)
    with TestClient(create_app(settings, start_workers=False)) as client:
        first = post_check(client, tokens["CS2302"], correct_notebook, mode="full")
        second = post_check(client, tokens["CS2302"], sample_notebook("Bela_Sen_CS2302.zip"), mode="full")
    assert refused.status_code == 400 and "quick self-checks only" in refused.json()["detail"]
    assert first.status_code == 202 and first.json()["mode"] == "full"
    assert second.status_code == 429 and "today's 1 full runs" in second.json()["detail"]


def test_jobs_left_running_by_a_stopped_server_are_queued_again(server_settings, tokens, correct_notebook):
    with TestClient(create_app(server_settings, start_workers=False)) as client:
        job_id = post_check(client, tokens["CS2301"], correct_notebook).json()["job"]
    queue = JobQueue(open_store(server_settings.store_url), 1, 0)
    assert queue.claim() == job_id and queue.claim() is None  # taken once, never twice
    assert queue.recover() == 1
    assert queue.claim() == job_id


def test_a_student_gets_their_own_figures_and_nothing_outside_the_jobs_figures_folder(
    small_cap_client, tokens, server_settings, correct_notebook
):
    job_id = post_check(small_cap_client, tokens["CS2301"], correct_notebook).json()["job"]
    figures = JobFolders(server_settings.folder).result(job_id) / "figures"
    figures.mkdir(parents=True)
    Image.new("RGB", (4, 4)).save(figures / "fig-001-cell-3.png")
    (figures.parent / "results.json").write_text("{}", encoding="utf-8")
    pngs = ["fig-001-cell-3.png", "../results.json", "missing.png"]
    with small_cap_client.app.state.store.begin() as session:
        job = session.get(Job, job_id)
        job.status, job.result_json = (
            "done",
            json.dumps(
                {"score": 0, "max_score": 100, "tasks": {}, "checks": [], "figures": [{"png": png} for png in pngs]}
            ),
        )
    own = {"token": tokens["CS2301"]}
    page = small_cap_client.get(f"/check/{job_id}", headers=own)
    assert f'src="/check/{job_id}/figure/0"' in page.text
    figure = small_cap_client.get(f"/check/{job_id}/figure/0", headers=own)
    assert figure.status_code == 200 and figure.content.startswith(b"\x89PNG")
    assert small_cap_client.get(f"/check/{job_id}/figure/0", headers={"token": tokens["CS2302"]}).status_code == 404
    for index in (1, 2, 3):
        assert small_cap_client.get(f"/check/{job_id}/figure/{index}", headers=own).status_code == 404
    assert small_cap_client.get(f"/check/{job_id}/figure/-1", headers=own).status_code == 422
