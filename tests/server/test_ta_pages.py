"""TA pages over a class the command line graded (two CS411 samples, quick mode, graded once for the module)
and over jobs the server finished: marks set in the browser reach the same exports the command line writes."""

from __future__ import annotations

import csv
import html
import io
import json
import re
import shutil
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import select

from checks.batch.class_grading import grade_class
from checks.cli import main
from checks.data.class_folder import GRADEBOOK_FILE, GRADESCOPE_FILE, OVERRIDES_FILE, RESULTS_FILE
from checks.grading.scheme import load_assignment
from checks.grading.submission import GradeOptions
from checks.publish.publisher import publish
from checks.server.class_folders import class_folder, import_graded_folder, refresh_class
from checks.server.settings import ServerSettings
from checks.server.store import DONE, FAILED, Job, TaMark, Upload, now
from tests.server.conftest import OWN_PAGE

REPO = Path(__file__).resolve().parents[2]
DATA = REPO.parent / "shared" / "data"
SAMPLES = REPO / "student_submissions" / "cs411-a2"
A2 = "cs411-a2"
ASHA, BELA = "Asha_Rao_CS2301", "Bela_Sen_CS2302"
MARK = f"/ta/{A2}/mark"


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A ``xaigrader grade`` output folder, shared read-only by every test."""
    out = tmp_path_factory.mktemp("graded") / A2
    options = GradeOptions(mode="quick", data_dir=DATA, jobs=1)
    grade_class([SAMPLES / f"{ASHA}.zip", SAMPLES / f"{BELA}.zip"], load_assignment(A2), options, out)
    return out


@pytest.fixture
def imported(client: TestClient, server_settings: ServerSettings, graded: Path) -> Path:
    assert import_graded_folder(server_settings, client.app.state.store, graded, "ta1") == [ASHA, BELA]
    return class_folder(server_settings, A2)


def _staff(tokens: dict[str, str]) -> dict[str, str]:
    return {"token": tokens["ta1"]}


def _rows(text: str) -> dict[str, dict[str, str]]:
    return {row["student"]: row for row in csv.DictReader(io.StringIO(text))}


def _marks(client: TestClient) -> list[TaMark]:
    with client.app.state.store() as session:
        return list(session.scalars(select(TaMark).order_by(TaMark.id)))


def _copy(graded: Path, target: Path) -> Path:
    shutil.copytree(graded, target, ignore=shutil.ignore_patterns(".intake"))
    return target


def _edit_results(folder: Path, edit) -> None:
    path = folder / RESULTS_FILE
    payload = json.loads(path.read_text(encoding="utf-8"))
    edit(payload)
    path.write_text(json.dumps(payload), encoding="utf-8")


def test_class_view_lists_imported_students_with_their_totals(
    client: TestClient, tokens: dict[str, str], server_settings: ServerSettings, graded: Path
) -> None:
    empty = client.get(f"/ta/{A2}", headers=_staff(tokens))
    assert empty.status_code == 200 and ASHA not in empty.text
    import_graded_folder(server_settings, client.app.state.store, graded, "ta1")
    page = client.get(f"/ta/{A2}", headers=_staff(tokens))
    shown = dict(re.findall(r'data-student="([^"]+)">.*?class="total">([^<]+)<', page.text, re.S))
    totals = {
        student: f"{float(row['total']):g} / 100"
        for student, row in _rows((graded / GRADEBOOK_FILE).read_text()).items()
    }
    assert shown == totals and len(shown) == 2
    overview = client.get("/ta", headers=_staff(tokens)).text
    assert re.search(rf'href="/ta/{A2}">{A2}</a></td><td>2</td>', overview)
    assert re.search(r'href="/ta/tml25-a4">tml25-a4</a></td><td>0</td>', overview)


def test_ta_marks_a_written_answer_in_the_browser(
    client: TestClient, tokens: dict[str, str], imported: Path, graded: Path
) -> None:
    assert (
        client.post("/login", data={"token": tokens["ta1"]}, headers=OWN_PAGE, follow_redirects=False).status_code
        == 303
    )
    page = client.get(f"/ta/{A2}/{ASHA}")
    assert page.status_code == 200 and 'name="item" value="2.8"' in page.text
    csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', page.text)[1]
    before = now()
    form = {"student": ASHA, "item": "2.8", "marks": "4", "comment": "clear <b>answer</b>", "csrf": csrf}
    sent = client.post(MARK, data=form, follow_redirects=False)
    assert sent.status_code == 303 and sent.headers["location"] == f"/ta/{A2}/{ASHA}"

    source = _rows((graded / GRADEBOOK_FILE).read_text())
    grades = _rows(client.get(f"/ta/{A2}/grades.csv").text)
    assert float(grades[ASHA]["total"]) == float(source[ASHA]["total"]) + 4
    assert (grades[ASHA]["ta"], grades[ASHA]["task 2.8"]) == ("4.0", "4.0")
    assert grades[BELA] == source[BELA]
    overrides = list(csv.DictReader(io.StringIO(client.get(f"/ta/{A2}/overrides.csv").text)))
    assert overrides == [{"student": ASHA, "item": "2.8", "marks": "4.0", "comment": "clear <b>answer</b>"}]
    [mark] = _marks(client)
    assert (mark.assignment, mark.student, mark.item, mark.marks, mark.marked_by) == (A2, ASHA, "2.8", 4.0, "ta1")
    assert before <= mark.marked_at <= now()
    shown = client.get(f"/ta/{A2}/{ASHA}").text
    assert "clear &lt;b&gt;answer&lt;/b&gt;" in shown and "<b>answer" not in shown and "set by ta1" in shown


def test_a_form_without_the_pages_csrf_value_is_refused(
    client: TestClient, tokens: dict[str, str], imported: Path
) -> None:
    client.post("/login", data={"token": tokens["ta1"]}, headers=OWN_PAGE)
    form = {"student": ASHA, "item": "2.8", "marks": "3"}
    for csrf in ({}, {"csrf": "0" * 64}):
        refused = client.post(MARK, data=form | csrf, follow_redirects=False)
        assert refused.status_code == 403 and "CSRF" in refused.text
    assert _marks(client) == []
    # a program sends its token in a header, which no other site can make a browser send
    assert client.post(MARK, data=form, headers=_staff(tokens), follow_redirects=False).status_code == 303
    assert len(_marks(client)) == 1


TA_ROUTES = [
    ("GET", "/ta"),
    ("GET", f"/ta/{A2}"),
    ("GET", f"/ta/{A2}/{ASHA}"),
    ("GET", f"/ta/{A2}/grades.csv"),
    ("GET", f"/ta/{A2}/overrides.csv"),
    ("GET", f"/ta/{A2}/{ASHA}/gradescope.json"),
    ("GET", f"/ta/{A2}/{ASHA}/figure/0"),
    ("GET", f"/ta/{A2}/{ASHA}/reference/0"),
    ("POST", MARK),
]


def test_every_ta_route_is_for_staff_only(client: TestClient, tokens: dict[str, str], imported: Path) -> None:
    form = {"student": ASHA, "item": "2.8", "marks": "5"}
    for method, url in TA_ROUTES:
        assert client.request(method, url, data=form, headers={"token": tokens["CS2301"]}).status_code == 403, url
        assert client.request(method, url, data=form).status_code == 401, url
        staff = client.request(method, url, data=form, headers=_staff(tokens), follow_redirects=False).status_code
        assert staff in ((404,) if "figure" in url or "reference" in url else (200, 303)), url
    assert [mark.marked_by for mark in _marks(client)] == ["ta1"]


def test_unknown_or_traversing_names_are_not_found(
    client: TestClient, tokens: dict[str, str], imported: Path, server_settings: ServerSettings
) -> None:
    for folder in (server_settings.folder / "secret", imported / "not_a_student"):
        folder.mkdir()
        (folder / GRADESCOPE_FILE).write_text('{"leaked": "SECRET"}')
    assert client.get(f"/ta/{A2}/{ASHA}/gradescope.json", headers=_staff(tokens)).status_code == 200
    students = ["Nobody_CS9999", "not_a_student", "%2E%2E", "..%2Fsecret", "..%2F..%2F..%2Fetc%2Fpasswd"]
    for student in students:
        for suffix in ("", "/gradescope.json", "/figure/0", "/reference/0"):
            answer = client.get(f"/ta/{A2}/{student}{suffix}", headers=_staff(tokens))
            assert answer.status_code == 404, (student, suffix)
            assert "SECRET" not in answer.text and "root:" not in answer.text
    for assignment in ("ee5179-pa2", "..%2Fsecret", "..%2F..%2Fetc"):
        for suffix in ("", "/grades.csv", f"/{ASHA}/gradescope.json"):
            answer = client.get(f"/ta/{assignment}{suffix}", headers=_staff(tokens))
            assert answer.status_code == 404 and "SECRET" not in answer.text, (assignment, suffix)


def test_marks_the_overrides_file_would_refuse_get_a_400_saying_why(
    client: TestClient, tokens: dict[str, str], imported: Path
) -> None:
    refused = [
        ({"item": "2.8", "marks": "6"}, "6 marks for 2.8 is outside 0-5"),
        ({"item": "2.8", "marks": "-1"}, "outside 0-5"),
        ({"item": "2.8", "marks": "many"}, "marks 'many' is not a number"),
        ({"item": "2.8", "marks": ""}, "marks are needed"),
        ({"item": "9.9", "marks": "1"}, "'9.9' is neither a task id nor a check"),
        ({"item": "1.2", "marks": "1"}, "task 1.2 has no written answer"),
        ({"student": "Nobody_CS9999", "item": "2.8", "marks": "1"}, "no graded student 'Nobody_CS9999'"),
    ]
    for fields, reason in refused:
        answer = client.post(MARK, data={"student": ASHA} | fields, headers=_staff(tokens))
        assert answer.status_code == 400 and reason in html.unescape(answer.text), fields
    assert _marks(client) == []
    full = client.post(
        MARK, data={"student": ASHA, "item": "2.8", "marks": "5"}, headers=_staff(tokens), follow_redirects=False
    )
    assert full.status_code == 303 and len(_marks(client)) == 1


def test_an_overridden_check_reaches_gradescope_as_the_command_line_writes_it(
    client: TestClient, tokens: dict[str, str], imported: Path, graded: Path, tmp_path: Path
) -> None:
    def gradescope(student: str) -> dict:
        return client.get(f"/ta/{A2}/{student}/gradescope.json", headers=_staff(tokens)).json()

    def shape_test(results: dict) -> dict:
        [test] = [test for test in results["tests"] if test["name"] == "1.2 " + title]
        return test

    [title] = [
        c["title"]
        for c in json.loads((graded / ASHA / RESULTS_FILE).read_text())["checks"]
        if c["name"] == "preprocess_shape"
    ]
    before, bela = gradescope(ASHA), gradescope(BELA)
    assert shape_test(before)["score"] == 2
    form = {"student": ASHA, "item": f"1.2 {title}", "marks": "1", "comment": "shape hard-coded"}
    assert client.post(MARK, data=form, headers=_staff(tokens), follow_redirects=False).status_code == 303
    after = gradescope(ASHA)
    assert (
        shape_test(after)["score"] == 1
        and "Set by a TA (automatic: 2): shape hard\\-coded" in shape_test(after)["output"]
    )
    assert after["score"] == before["score"] - 1 and gradescope(BELA) == bela
    assert _marks(client)[0].item == "preprocess_shape"

    cli = _copy(graded, tmp_path / "cli")
    (cli / OVERRIDES_FILE).write_bytes(client.get(f"/ta/{A2}/overrides.csv", headers=_staff(tokens)).content)
    publish(cli)
    assert (cli / GRADEBOOK_FILE).read_bytes() == client.get(f"/ta/{A2}/grades.csv", headers=_staff(tokens)).content
    for student in (ASHA, BELA):
        assert json.loads((cli / student / GRADESCOPE_FILE).read_text()) == gradescope(student)


def _png(path: Path, colour: str) -> bytes:
    Image.new("RGB", (8, 6), colour).save(path, "PNG")
    return path.read_bytes()


def test_figures_are_served_by_index_from_inside_the_class_only(
    client: TestClient, tokens: dict[str, str], server_settings: ServerSettings, graded: Path, tmp_path: Path
) -> None:
    source = _copy(graded, tmp_path / "source")
    figures = source / ASHA / "figures"
    figures.mkdir(exist_ok=True)
    own, reference = _png(figures / "own.png", "red"), _png(figures / "ref.png", "blue")
    outside = tmp_path / "outside.png"
    _png(outside, "green")
    (figures / "linked.png").symlink_to(outside)

    def hostile(payload: dict) -> None:
        payload["figures"] = [
            {"png": name, "cell": 3, "title": "", "task": "1.4", "placed_by": "judged by a check", "considered": []}
            for name in ("own.png", "linked.png", "../results.json")
        ]
        payload["checks"][5]["references"] = [{"png": "ref.png", "caption": "reference <i>saliency</i>"}]
        [answer] = [answer for answer in payload["written_answers"] if answer["task"] == "2.8"]
        answer["text"] = "<script>alert('owned')</script>"

    _edit_results(source / ASHA, hostile)
    import_graded_folder(server_settings, client.app.state.store, source, "ta1")
    placed = class_folder(server_settings, A2) / ASHA / "figures"
    assert (placed / "own.png").is_file() and not (placed / "linked.png").is_symlink()

    base = f"/ta/{A2}/{ASHA}"
    first = client.get(f"{base}/figure/0", headers=_staff(tokens))
    assert first.status_code == 200 and first.content == own and first.headers["content-type"] == "image/png"
    assert client.get(f"{base}/reference/0", headers=_staff(tokens)).content == reference
    (placed / "linked.png").symlink_to(outside)  # planted after the import: still refused
    for index in ("1", "2", "3", "-1", "x"):
        assert client.get(f"{base}/figure/{index}", headers=_staff(tokens)).status_code in (404, 422), index
    assert client.get(f"{base}/reference/1", headers=_staff(tokens)).status_code == 404
    page = client.get(base, headers=_staff(tokens)).text
    assert f'src="{base}/figure/0"' in page and f'src="{base}/reference/0"' in page
    assert "&lt;script&gt;alert(&#39;owned&#39;)&lt;/script&gt;" in page and "<script>" not in page
    assert "reference &lt;i&gt;saliency&lt;/i&gt;" in page


def test_import_refuses_folders_the_server_cannot_serve(
    client: TestClient, server_settings: ServerSettings, graded: Path, tmp_path: Path
) -> None:
    store = client.app.state.store
    other = _copy(graded, tmp_path / "other")
    _edit_results(other / ASHA, lambda payload: payload.update(assignment="ee5179-pa2"))
    spaced = _copy(graded, tmp_path / "spaced")
    (spaced / ASHA).rename(spaced / "Asha Rao")
    _edit_results(spaced / "Asha Rao", lambda payload: payload.update(student="Asha Rao"))
    broken = _copy(graded, tmp_path / "broken")
    (broken / BELA / RESULTS_FILE).write_text("{")
    (tmp_path / "empty").mkdir()
    refusals = [
        (other, "graded for 'ee5179-pa2'"),
        (spaced, "'Asha Rao' is not a plain student name"),
        (broken, "cannot be read"),
        (tmp_path / "empty", "no <student>/results.json"),
    ]
    for source, reason in refusals:
        with pytest.raises(ValueError, match=re.escape(reason)):
            import_graded_folder(server_settings, store, source, "ta1")
    assert refresh_class(server_settings, store, A2).finals == []
    assert import_graded_folder(server_settings, store, graded, "ta1") == [ASHA, BELA]


def test_import_takes_the_valid_lines_of_the_overrides_file(
    client: TestClient, tokens: dict[str, str], server_settings: ServerSettings, graded: Path, tmp_path: Path
) -> None:
    source = _copy(graded, tmp_path / "source")
    lines = [
        "student,item,marks,comment",
        f"{ASHA},2.8,3,good",
        f"{ASHA},2.8x,3,typo",
        f"{BELA},2.8,9,too many",
        f"{BELA},1.6,,",
    ]
    (source / OVERRIDES_FILE).write_text("\n".join(lines) + "\n")
    import_graded_folder(server_settings, client.app.state.store, source, "ta1")
    assert [(m.student, m.item, m.marks, m.comment, m.marked_by) for m in _marks(client)] == [
        (ASHA, "2.8", 3.0, "good", "ta1")
    ]
    grades = _rows(client.get(f"/ta/{A2}/grades.csv", headers=_staff(tokens)).text)
    assert (grades[ASHA]["ta"], grades[BELA]["ta"]) == ("3.0", "0.0")


def _job(member: str, mode: str, status: str, finished_ago: timedelta, payload: dict, marker: str) -> Job:
    result = payload | {"student": member, "mode": mode, "problem": marker}
    return Job(
        member_id=member,
        assignment=A2,
        mode=mode,
        filename="n.ipynb",
        upload_digest="0" * 64,
        status=status,
        finished_at=now() - finished_ago,
        result_json=json.dumps(result) if status == DONE else None,
    )


def test_the_class_holds_each_members_preferred_server_result(
    client: TestClient, tokens: dict[str, str], server_settings: ServerSettings, graded: Path, tmp_path: Path
) -> None:
    store = client.app.state.store
    payload = json.loads((graded / ASHA / RESULTS_FILE).read_text())
    hour = timedelta(hours=1)
    with store.begin() as session:
        session.add(Upload(digest="0" * 64, kind="ipynb", size=1, content=b"{"))
        session.flush()
        session.add_all(
            [
                _job("CS2301", "full", DONE, 3 * hour, payload, "full run"),
                _job("CS2301", "quick", DONE, 2 * hour, payload, "later quick run"),
                _job("CS2301", "full", FAILED, hour, payload, ""),
                _job("CS2302", "quick", FAILED, hour, payload, ""),
                _job("ta1", "full", DONE, hour, payload, "a TA's trial"),
            ]
        )

    def grades() -> dict[str, tuple[str, str]]:
        rows = _rows(client.get(f"/ta/{A2}/grades.csv", headers=_staff(tokens)).text)
        return {student: (row["mode"], row["problem"]) for student, row in rows.items()}

    assert grades() == {"CS2301": ("full", "full run")}
    source = _copy(graded, tmp_path / "source")
    shutil.rmtree(source / BELA)
    (source / ASHA).rename(source / "CS2301")
    _edit_results(source / "CS2301", lambda result: result.update(student="CS2301"))
    import_graded_folder(server_settings, store, source, "ta1")
    assert grades() == {"CS2301": ("quick", "")}  # imported after the server's runs
    with store.begin() as session:
        session.add(_job("CS2301", "full", DONE, timedelta(0), payload, "newest full run"))
    assert grades() == {"CS2301": ("full", "newest full run")}
    (source / "CS2301").rename(source / "CS2302")
    _edit_results(source / "CS2302", lambda result: result.update(student="CS2302", mode="full"))
    import_graded_folder(server_settings, store, source, "ta1")
    with store.begin() as session:
        session.add(_job("CS2302", "quick", DONE, timedelta(0), payload, "self-check after the grading run"))
    # a quick self-check never stands in for an imported full grading run, however new
    assert grades() == {"CS2301": ("full", "newest full run"), "CS2302": ("full", "")}


def test_the_import_command_needs_a_staff_member_and_fills_the_class_view(
    server_settings: ServerSettings, tokens: dict[str, str], graded: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    where = ["--server-dir", str(server_settings.folder), "--db", server_settings.store_url]
    assert main(["import-results", str(graded), "--by", "CS2301", *where]) == 2
    assert "not a TA or instructor" in capsys.readouterr().err
    assert not class_folder(server_settings, A2).exists()
    assert main(["import-results", str(graded), "--by", "ta1", "--assignment", "ee5179-pa2", *where]) == 2
    assert "this server serves ee5179-pa2" in capsys.readouterr().err
    assert main(["import-results", str(graded), "--by", "ta1", *where]) == 0
    said = capsys.readouterr().out
    assert "imported 2 student(s)" in said and "2 of them are not roster ids" in said
    gradebook = _rows((class_folder(server_settings, A2) / GRADEBOOK_FILE).read_text(encoding="utf-8"))
    assert set(gradebook) == {ASHA, BELA}
