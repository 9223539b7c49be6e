"""The sample class's pages opened in headless Chromium: key elements, sorting, links, images,
and a console without errors. Screenshots go to $XAIGRADER_SCREENSHOTS when set."""

import os
import shutil
from pathlib import Path

import pytest
from PIL import Image

from tests.grading.conftest import CORRECT

pytestmark = pytest.mark.slow
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"


@pytest.fixture(scope="module")
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    if not (Path(CHROMIUM).is_file() and Path(CHROMEDRIVER).is_file()):
        pytest.fail("Chromium and chromedriver are missing: run `bash scripts/setup.sh --browser` as root")
    options = Options()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1280,1000",
        "--allow-file-access-from-files",
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    yield driver
    driver.quit()


def screenshot(driver, tmp_path: Path, name: str) -> Path:
    """The whole page, kept where XAIGRADER_SCREENSHOTS points (for a human to look at)."""
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1280, min(height + 100, 12000))
    path = tmp_path / f"{name}.png"
    driver.save_screenshot(str(path))
    if os.environ.get("XAIGRADER_SCREENSHOTS"):
        keep = Path(os.environ["XAIGRADER_SCREENSHOTS"])
        keep.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, keep / path.name)
    driver.set_window_size(1280, 1000)
    return path


def console_errors(driver) -> list[str]:
    return [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def broken_images(driver) -> int:
    return driver.execute_script(
        "return Array.from(document.images).filter(i => !i.complete || i.naturalWidth === 0).length"
    )


def test_the_class_overview_sorts_and_links_every_report(browser, graded, tmp_path):
    from selenium.webdriver.common.by import By

    out, results = graded
    browser.get((out / "index.html").as_uri())
    assert browser.find_element(By.ID, "title").text.startswith("CS411 A2")
    assert len(browser.find_elements(By.CSS_SELECTOR, "#histogram rect")) == 10
    assert "Dev_Patel_CS2304" in browser.find_element(By.ID, "attention").text
    links = [a.text for a in browser.find_elements(By.CSS_SELECTOR, "#students tbody a")]
    assert sorted(links) == sorted(results)
    total_header = browser.find_element(By.XPATH, "//table[@id='students']//th[text()='Total']")
    for expected in (sorted, lambda values: sorted(values, reverse=True)):
        total_header.click()
        totals = [
            float(row.find_elements(By.TAG_NAME, "td")[1].text)
            for row in browser.find_elements(By.CSS_SELECTOR, "#students tbody tr")
        ]
        assert totals == expected(totals)
    shot = screenshot(browser, tmp_path, "index")
    with Image.open(shot) as image:
        assert image.size[1] > 1000 and len(image.convert("RGB").getcolors(1 << 20) or []) > 20
    assert console_errors(browser) == []
    browser.find_element(By.LINK_TEXT, CORRECT).click()
    assert browser.title.startswith(CORRECT)


def test_a_student_report_shows_marks_figures_beside_references_and_the_log(browser, graded, tmp_path):
    from selenium.webdriver.common.by import By

    out, results = graded
    browser.get((out / CORRECT / "report.html").as_uri())
    assert browser.find_element(By.ID, "total").text.startswith(f"{results[CORRECT]['score']:g} of 100")
    assert len(browser.find_elements(By.CSS_SELECTOR, "#tasks tr")) == 1 + 16
    task = browser.find_element(By.CSS_SELECTOR, "[id='task-1.5']")
    assert task.find_elements(By.CSS_SELECTOR, ".student-figures img")
    assert task.find_elements(By.CSS_SELECTOR, ".reference-figures img")
    assert "Awaiting a TA's marks" in browser.find_element(By.CSS_SELECTOR, "[id='task-1.6']").text
    assert len(browser.find_elements(By.CSS_SELECTOR, "#cells tr")) > 10
    assert broken_images(browser) == 0
    screenshot(browser, tmp_path, "report-correct")
    assert console_errors(browser) == []
