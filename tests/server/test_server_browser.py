"""The course server as people use it: a real ``xaigrader serve`` process driven by headless Chromium.

A student logs in with the page's form, uploads a notebook through its file field and watches the result page
refresh itself until the marks are there, without the grader's reference values; a TA marks that student's
written answer in the browser and finds the mark in the class's grades.csv. One quick-mode grading serves both:
the TA's test asks for the same upload again, which the server answers with the job it already graded.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest
import requests

from checks.server.student_view import KEPT_FOR_TAS, REFERENCE_VALUE, student_expected
from tests.grading.test_browser import chromium
from tests.server.server_process import ServerProcess, issue_roster_tokens, running_server, wait_for_jobs

pytestmark = pytest.mark.slow
SAMPLE = Path(__file__).resolve().parents[2] / "student_submissions" / "cs411-a2" / "Asha_Rao_CS2301.zip"
A2, STUDENT, TA = "cs411-a2", "CS2301", "ta1"
GRADING_S = 240
CORRECT_LOSS = "return fidelity + lam * l1"
WRONG_LOSS = "return fidelity + 2 * lam * l1"  # cf_loss_values fails, so its expected text holds a reference value


@pytest.fixture(scope="module")
def notebook() -> bytes:
    """The correct sample with a doubled L1 term, so the result page has a failed check whose expected text
    the reference computed (a correct notebook's page would show no expected values to hide)."""
    with zipfile.ZipFile(SAMPLE) as archive:
        parsed = nbformat.reads(
            archive.read(next(name for name in archive.namelist() if name.endswith(".ipynb"))).decode("utf-8"),
            as_version=4,
        )
    [cell] = [cell for cell in parsed.cells if CORRECT_LOSS in cell.source]
    cell.source = cell.source.replace(CORRECT_LOSS, WRONG_LOSS)
    return nbformat.writes(parsed).encode("utf-8")


@pytest.fixture(scope="module")
def course(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, dict[str, str]]]:
    """One server for the module (its start costs seconds), with a student and a TA on its roster."""
    folder = tmp_path_factory.mktemp("course") / "server"
    tokens = issue_roster_tokens(folder, [(STUDENT, "student"), (TA, "ta")])
    with running_server(folder) as server:
        yield server, tokens


@pytest.fixture
def browser():
    """A fresh Chromium per test, so the student's and the TA's cookies never mix."""
    driver = chromium()
    yield driver
    driver.quit()


def console_errors(driver) -> list[str]:
    """SEVERE console entries since the last call; a missing favicon is the browser asking, not the page."""
    return [
        entry["message"]
        for entry in driver.get_log("browser")
        if entry["level"] == "SEVERE" and "favicon.ico" not in entry["message"]
    ]


def wait(driver, timeout_s: float = 30):
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(
        driver,
        timeout_s,
        poll_frequency=0.5,
        ignored_exceptions=(NoSuchElementException, StaleElementReferenceException),
    )


def log_in(driver, url: str, token: str) -> None:
    """The home page's login form, as a person types into it."""
    from selenium.webdriver.common.by import By

    driver.get(url + "/")
    assert driver.find_element(By.TAG_NAME, "h1").text == "Self-check"
    field = driver.find_element(By.CSS_SELECTOR, "form[action='/login'] input[name='token']")
    assert field.get_attribute("type") == "password"
    field.send_keys(token)
    driver.find_element(By.CSS_SELECTOR, "form[action='/login'] button").click()
    wait(driver).until(lambda d: d.find_elements(By.CSS_SELECTOR, "form[action='/logout']"))


def staff_job(server: ServerProcess, tokens: dict[str, str], job_id: int) -> dict[str, Any]:
    """The job as a TA's program reads it: the full result, reference values included."""
    answer = requests.get(f"{server.url}/api/check/{job_id}", headers={"token": tokens[TA]}, timeout=30)
    assert answer.status_code == 200, answer.text
    return answer.json()


def marks(score: float, max_score: float) -> str:
    return f"{score:g} / {max_score:g}"


def test_a_student_uploads_in_the_browser_and_reads_marks_without_reference_values(
    course: tuple[ServerProcess, dict[str, str]], browser, notebook: bytes, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    server, tokens = course
    log_in(browser, server.url, tokens[STUDENT])
    assert "(student)" in browser.find_element(By.TAG_NAME, "nav").text
    assert not browser.find_elements(By.LINK_TEXT, "Class view")
    upload = browser.find_element(By.CSS_SELECTOR, "form[action='/check']")
    assert re.fullmatch(r"[0-9a-f]{64}", upload.find_element(By.NAME, "csrf").get_attribute("value"))
    Select(upload.find_element(By.NAME, "assignment")).select_by_visible_text(A2)
    path = tmp_path / "A2_Asha_Rao_CS2301.ipynb"
    path.write_bytes(notebook)
    upload.find_element(By.CSS_SELECTOR, "input[type='file']").send_keys(str(path))
    upload.find_element(By.TAG_NAME, "button").click()

    wait(browser).until(lambda d: re.search(r"/check/\d+$", d.current_url))
    job_id = int(browser.current_url.rsplit("/", 1)[1])
    first = browser.find_element(By.ID, "status").get_attribute("data-status")
    assert first in ("queued", "running"), "a quick check takes seconds: the first page shows it under way"
    refresh = browser.find_elements(By.CSS_SELECTOR, "meta[http-equiv='refresh']")
    assert refresh and refresh[0].get_attribute("content") == "2"
    # no driver.refresh() from here on: only the page's own refresh can bring the result
    wait(browser, GRADING_S).until(
        lambda d: d.find_element(By.ID, "status").get_attribute("data-status") in ("done", "failed")
    )
    status = browser.find_element(By.ID, "status")
    assert status.get_attribute("data-status") == "done", status.text
    assert not browser.find_elements(By.CSS_SELECTOR, "meta[http-equiv='refresh']")

    full = staff_job(server, tokens, job_id)["result"]
    assert full["student"] == STUDENT and full["mode"] == "quick" and full["problem"] is None
    assert status.text.startswith(f"{full['score']:g} automatic marks of {full['max_score']:g}")
    shown = {
        row.find_elements(By.TAG_NAME, "td")[0].text: row.find_elements(By.TAG_NAME, "td")[1].text
        for row in browser.find_elements(By.CSS_SELECTOR, "tr.task")
    }
    assert shown == {task_id: marks(task["score"], task["max_score"]) for task_id, task in full["tasks"].items()}
    assert shown["2.3"] != marks(full["tasks"]["2.3"]["max_score"], full["tasks"]["2.3"]["max_score"])

    page, source = browser.find_element(By.TAG_NAME, "body").text, browser.page_source
    hidden = [c for c in full["checks"] if c["status"] != "passed" and REFERENCE_VALUE.search(c["expected"] or "")]
    assert "cf_loss_values" in {check["name"] for check in hidden}, "the doubled L1 term fails against a reference"
    for check in hidden:
        assert f"expected: {student_expected(check['expected'])}" in page, check["name"]
        assert check["expected"] not in source, check["name"]
        for value in REFERENCE_VALUE.findall(check["expected"]):
            # a value the reference computed: not a parameter like 0.1, nor one the student's code also found
            if len(value.strip("+-").lstrip("0.")) >= 3 and value not in (check["found"] or ""):
                assert value not in source, (check["name"], value)
    assert KEPT_FOR_TAS in page
    assert full["grading_key"] not in source
    assert full["written_answers"] and all(answer["text"][:60] not in source for answer in full["written_answers"])
    assert all(check["inputs"] not in page for check in full["checks"] if check.get("inputs"))
    assert console_errors(browser) == []

    browser.find_element(By.LINK_TEXT, "xaigrader").click()
    row = browser.find_element(By.XPATH, f"//table//tr[td/a[@href='/check/{job_id}']]")
    cells = [cell.text for cell in row.find_elements(By.TAG_NAME, "td")]
    assert cells[1:6] == [path.name, A2, "quick", "done", f"{full['score']:g}"]
    assert console_errors(browser) == []


def test_a_ta_marks_a_written_answer_in_the_browser_and_finds_it_in_grades_csv(
    course: tuple[ServerProcess, dict[str, str]], browser, notebook: bytes
) -> None:
    from selenium.webdriver.common.by import By

    server, tokens = course
    # The student's upload again: the job the browser test graded, or graded now when this test runs alone.
    sent = requests.post(
        f"{server.url}/check",
        files={"file": ("A2.ipynb", notebook)},
        data={"assignment": A2},
        headers={"token": tokens[STUDENT]},
        timeout=60,
    )
    assert sent.status_code in (200, 202), sent.text
    job_id = sent.json()["job"]
    assert wait_for_jobs(server.url, tokens[TA], [job_id], GRADING_S)[job_id]["status"] == "done"
    full = staff_job(server, tokens, job_id)["result"]
    [answer] = [answer for answer in full["written_answers"] if answer["task"] == "2.8"]
    score, max_score = full["score"], full["max_score"]

    log_in(browser, server.url, tokens[TA])
    assert "(ta)" in browser.find_element(By.TAG_NAME, "nav").text
    browser.find_element(By.LINK_TEXT, "Class view").click()
    wait(browser).until(lambda d: d.current_url.endswith("/ta"))
    row = browser.find_element(By.XPATH, f"//tr[@class='assignment'][td/a[text()='{A2}']]")
    assert [cell.text for cell in row.find_elements(By.TAG_NAME, "td")][:2] == [A2, "1"]
    row.find_element(By.LINK_TEXT, A2).click()

    wait(browser).until(lambda d: d.current_url.endswith(f"/ta/{A2}"))
    student_row = browser.find_element(By.CSS_SELECTOR, f"tr.student[data-student='{STUDENT}']")
    assert student_row.find_element(By.CSS_SELECTOR, "td.total").text == marks(score, max_score)
    assert len(browser.find_elements(By.CSS_SELECTOR, "tr.student")) == 1
    student_row.find_element(By.LINK_TEXT, STUDENT).click()

    wait(browser).until(lambda d: d.current_url.endswith(f"/ta/{A2}/{STUDENT}"))
    assert browser.find_element(By.ID, "total").text == marks(score, max_score)
    written = browser.find_element(By.CSS_SELECTOR, "[id='task-2.8'] .written")
    assert written.find_element(By.TAG_NAME, "pre").text.split() == answer["text"].split()
    form = written.find_element(By.CSS_SELECTOR, "form.mark")
    assert form.find_element(By.NAME, "item").get_attribute("value") == "2.8"
    assert form.find_element(By.NAME, "marks").get_attribute("value") == ""
    form.find_element(By.NAME, "marks").send_keys("4")
    form.find_element(By.NAME, "comment").send_keys("clear, names the trade-off")
    form.find_element(By.TAG_NAME, "button").click()

    wait(browser).until(lambda d: "set by ta1" in d.find_element(By.CSS_SELECTOR, "[id='task-2.8'] .written").text)
    assert browser.current_url.endswith(f"/ta/{A2}/{STUDENT}")
    assert browser.find_element(By.ID, "total").text == marks(score + 4, max_score)
    form = browser.find_element(By.CSS_SELECTOR, "[id='task-2.8'] .written form.mark")
    assert form.find_element(By.NAME, "marks").get_attribute("value") == "4"
    assert form.find_element(By.NAME, "comment").get_attribute("value") == "clear, names the trade-off"
    assert console_errors(browser) == []

    grades = requests.get(f"{server.url}/ta/{A2}/grades.csv", headers={"token": tokens[TA]}, timeout=60)
    assert grades.status_code == 200 and grades.headers["content-type"].startswith("text/csv")
    [row] = [row for row in csv.DictReader(io.StringIO(grades.text)) if row["student"] == STUDENT]
    assert float(row["task 2.8"]) == 4 and float(row["ta"]) == 4
    assert float(row["total"]) == score + 4
    overrides = requests.get(f"{server.url}/ta/{A2}/overrides.csv", headers={"token": tokens[TA]}, timeout=60)
    assert list(csv.DictReader(io.StringIO(overrides.text))) == [
        {"student": STUDENT, "item": "2.8", "marks": "4.0", "comment": "clear, names the trade-off"}
    ]
