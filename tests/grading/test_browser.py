"""The sample class's pages opened in headless Chromium: key elements, sorting, links, images,
and a console without errors. Screenshots go to $XAIGRADER_SCREENSHOTS when set."""

import os
import shutil
from pathlib import Path

import pytest
from PIL import Image

from checks.cli import main
from checks.publish.page_images import page_weight
from tests.grading.conftest import CORRECT, CRASH, NO_TITLES

pytestmark = pytest.mark.slow
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"


def chromium(phone: bool = False):
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    if not (Path(CHROMIUM).is_file() and Path(CHROMEDRIVER).is_file()):
        pytest.fail("Chromium and chromedriver are missing: run `bash scripts/setup.sh --test-tools` as root")
    options = Options()
    if phone:  # a 390-px phone that honours the page's viewport tag, as a real one does
        options.add_experimental_option(
            "mobileEmulation", {"deviceMetrics": {"width": 390, "height": 844, "pixelRatio": 3.0}}
        )
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
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


@pytest.fixture(scope="module")
def browser():
    driver = chromium()
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
    """Images that fail to load, lazy ones included (loaded now instead of when scrolled to)."""
    from selenium.webdriver.support.ui import WebDriverWait

    driver.execute_script("Array.from(document.images).forEach(image => { image.loading = 'eager'; })")
    WebDriverWait(driver, 30).until(
        lambda d: d.execute_script("return Array.from(document.images).every(i => i.complete)")
    )
    return driver.execute_script("return Array.from(document.images).filter(i => i.naturalWidth === 0).length")


def test_the_class_overview_sorts_and_links_every_report(browser, graded, tmp_path):
    from selenium.webdriver.common.by import By

    out, results = graded
    browser.get((out / "index.html").as_uri())
    assert browser.find_element(By.ID, "title").text.startswith("CS411 A2")
    assert len(browser.find_elements(By.CSS_SELECTOR, "#histogram rect")) == 10
    assert "Dev_Patel_CS2304" in browser.find_element(By.ID, "attention").text
    assert "marks pending" in browser.find_element(By.ID, "summary").text
    stand_ins = browser.find_element(By.ID, "stand-ins").text
    assert "Graded with stand-ins" in stand_ins and "pretrained weights" in stand_ins and "1.3" in stand_ins
    correct_row = browser.find_element(By.XPATH, f"//table[@id='students']//tr[td/a[text()='{CORRECT}']]")
    assert correct_row.find_elements(By.TAG_NAME, "td")[1].text.endswith("+?")
    links = [a.text for a in browser.find_elements(By.CSS_SELECTOR, "#students tbody a")]
    assert sorted(links) == sorted(results)
    total_header = browser.find_element(By.XPATH, "//table[@id='students']//th[text()='Total']")
    for expected in (sorted, lambda values: sorted(values, reverse=True)):
        total_header.click()
        totals = [
            float(row.find_elements(By.TAG_NAME, "td")[1].text.removesuffix("+?"))
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
    total = browser.find_element(By.ID, "total").text
    assert total.startswith(f"{results[CORRECT]['score']:g} automatic + ? of ") and "awaiting a TA" in total
    assert len(browser.find_elements(By.CSS_SELECTOR, "#tasks tr")) == 1 + 16
    task = browser.find_element(By.CSS_SELECTOR, "[id='task-1.5']")
    assert task.find_elements(By.CSS_SELECTOR, ".student-figures img")
    assert task.find_elements(By.CSS_SELECTOR, ".reference-figures img")
    assert "Awaiting a TA's marks" in browser.find_element(By.CSS_SELECTOR, "[id='task-1.6']").text
    assert "not verifiable" in browser.find_element(By.CSS_SELECTOR, "[id='task-1.3']").text
    assert len(browser.find_elements(By.CSS_SELECTOR, "#cells tr")) > 10
    assert broken_images(browser) == 0
    screenshot(browser, tmp_path, "report-correct")
    assert console_errors(browser) == []


def test_every_report_is_light_and_fits_a_phone(graded, tmp_path):
    out, results = graded
    weights = {student: page_weight(out / student / "report.html") for student in results}
    assert max(weights.values()) < 500_000, weights
    phone = chromium(phone=True)
    try:
        for page in (out / "index.html", out / CORRECT / "report.html"):
            phone.get(page.as_uri())
            assert phone.execute_script("return window.innerWidth") == 390, "the viewport tag is honoured"
            assert phone.execute_script("return document.documentElement.scrollWidth") <= 390, page.name
        phone.save_screenshot(str(tmp_path / "report-phone.png"))
        if os.environ.get("XAIGRADER_SCREENSHOTS"):
            shutil.copyfile(
                tmp_path / "report-phone.png", Path(os.environ["XAIGRADER_SCREENSHOTS"]) / "report-phone.png"
            )
    finally:
        phone.quit()


def test_a_crash_links_each_lost_mark_to_the_cell_that_raised(browser, graded, tmp_path):
    from selenium.webdriver.common.by import By

    out, _ = graded
    browser.get((out / CRASH / "report.html").as_uri())
    banner = browser.find_element(By.ID, "first-error-1").text
    assert "Conv2D" in banner and "2.2, 2.5, 2.6, 2.7" in banner and "nn.Conv2d" in banner
    link = browser.find_element(By.CSS_SELECTOR, "[id='task-2.2'] .cause-link a")
    target = link.get_attribute("href").split("#")[1]
    assert "In [" in link.text
    row = browser.find_element(By.ID, target)
    assert "AttributeError" in row.text and "Conv2D" in row.text
    screenshot(browser, tmp_path, "report-crash")
    assert console_errors(browser) == []


def test_figures_without_titles_sit_under_their_tasks(browser, graded):
    from selenium.webdriver.common.by import By

    out, results = graded
    browser.get((out / NO_TITLES / "report.html").as_uri())
    for task in ("1.8", "2.2", "2.1"):
        section = browser.find_element(By.CSS_SELECTOR, f"[id='task-{task}']")
        assert section.find_elements(By.CSS_SELECTOR, ".student-figures img"), task
    loss = browser.find_element(By.CSS_SELECTOR, "[id='task-2.2']").text
    assert "a loss curve in cell" in loss and "no training loss curve found" not in loss
    placed = {figure["png"]: figure["task"] for figure in results[NO_TITLES]["figures"]}
    digits = next(check for check in results[NO_TITLES]["checks"] if check["name"] == "digits_shown")
    assert digits["figures"] and all(placed[png] == "2.1" for png in digits["figures"])
    assert broken_images(browser) == 0


def test_overrides_apply_their_valid_lines_and_list_the_others(browser, graded, tmp_path):
    from selenium.webdriver.common.by import By

    source, _ = graded
    out = tmp_path / "class"
    shutil.copytree(source, out)
    (out / "overrides.csv").write_text(
        "student,item,marks,comment\n"
        f"{CORRECT},1.6,2,clear answer\n"
        f"{CORRECT},1.3 The printed top-5 classes agree with the grader's top-5 for the notebook's image,4,checked by hand\n"
        f"{CORRECT},9.9,1,no such task\n"
        "Nobody_X1,1.6,1,unknown student\n"
        f"{CORRECT},1.7,7,too many\n"
    )
    assert main(["report", str(out)]) == 1
    browser.get((out / "index.html").as_uri())
    problems = browser.find_element(By.ID, "override-problems").text
    assert "3 line(s) not applied" in problems
    assert all(f"line {line}:" in problems for line in (4, 5, 6))
    browser.get((out / CORRECT / "report.html").as_uri())
    assert "TA: 2 / 2" in browser.find_element(By.CSS_SELECTOR, "[id='task-1.6']").text
    assert "Set by a TA" in browser.find_element(By.CSS_SELECTOR, "[id='task-1.3']").text
    assert "1 check(s) corrected by a TA" in browser.find_element(By.ID, "total").text
