"""HTML pages people read: a report per student (light, plus a single-file copy to e-mail) and a class overview.

Pages are rendered from stored results (with any TA overrides applied, see
``checks.publish.publisher``), so a graded class is re-rendered without running anything.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

import jinja2
from markdown_it import MarkdownIt
from markupsafe import Markup, escape

from checks.data.class_folder import INDEX_FILE
from checks.data.files import write_text_atomically
from checks.grading.scheme import Assignment
from checks.publish.page_images import PageImages
from checks.publish.similarity import SimilarPair

REPORT_FILE = "report.html"
SINGLE_FILE_REPORT = "report-single.html"
HISTOGRAM_BINS = 10
HISTOGRAM_HEIGHT = 120
HISTOGRAM_HEADROOM = 18  # above the tallest bar, for its count
MAX_ADVISORY_ITEMS = 8
STUDENT_MARKDOWN = MarkdownIt("commonmark", {"html": False}).disable("image")
"""Students' answers as a reader of the notebook sees them: raw HTML is shown as text, markdown-it refuses
javascript:, vbscript: and file: links, and no image is loaded (a remote one would tell its server
who reads the report, and when)."""
WITHOUT_OUTPUTS = "submitted without outputs"
"""How the grading's flag for such a notebook begins: the page says it in a banner of its own."""
CODE_SPAN = re.compile(r"`([^`\n]{1,300})`")
CELL_NUMBER = re.compile(r"\bcell \d+(?: \(In \[\d+\]\))?")
"""Where in a notebook a message points: left out when the class's messages are counted together."""


def student_markdown(text: str) -> Markup:
    return Markup(STUDENT_MARKDOWN.render(text))


def code_spans(text: str | None) -> Markup:
    """Plain text with `backticked` parts set as code, everything escaped."""
    return Markup(CODE_SPAN.sub(r"<code>\1</code>", str(escape(text or ""))))


TEMPLATES = jinja2.Environment(
    loader=jinja2.PackageLoader("checks.publish", "templates"),
    autoescape=jinja2.select_autoescape(["html", "j2"]),
    undefined=jinja2.StrictUndefined,
)
STATUS_WORDS = {"needs_ta": "needs TA", "not_run": "not run", "cut": "held for a TA", "unverifiable": "not verifiable"}
"""How a check's or task's status reads on a page."""
TEMPLATES.filters.update(
    markdown=student_markdown, code=code_spans, status_words=lambda status: STATUS_WORDS.get(status, status)
)


def cell_labels(payload: dict[str, Any]) -> dict[int, str]:
    """ "cell 16 (In [14])" for each code cell that ran: position from 1, markdown included, and Jupyter's count."""
    labels = {}
    for cell in payload.get("run", {}).get("cells", []):
        count = cell.get("execution_count")
        labels[cell["index"]] = f"cell {cell['index'] + 1}" + (f" (In [{count}])" if count else "")
    return labels


def _figures_by_task(payload: dict[str, Any], student_dir: Path, images: PageImages, labels: dict[int, str]):
    """The notebook's figures grouped by the task they were placed under (None: unplaced)."""
    grouped: dict[str | None, list[dict[str, Any]]] = {}
    for figure in payload.get("figures", []):
        where = labels.get(figure["cell"], f"cell {figure['cell'] + 1}" if isinstance(figure["cell"], int) else "")
        image = images.student_figure(student_dir, figure["png"], f"figure from {where}")
        if image is not None:
            grouped.setdefault(figure["task"], []).append({**figure, "image": image, "where": where})
    return grouped


def _cut_marker(record: dict[str, Any] | None, budget: dict[str, Any]) -> str | None:
    """ "cut at 300 s of 300 s" for a cell the re-execution stopped, "not re-executed" for one it never
    reached; None for a cell that ran to its end."""
    if record is None or record.get("status") not in ("timeout", "not_run"):
        return None
    if record["status"] == "not_run":
        return "not re-executed: the run stopped before this cell"
    limit = record.get("limit_s") or budget.get("cell_timeout_s")
    ran = f"cut at {record.get('duration_s', 0):.0f} s"
    return f"{ran} of {limit:.0f} s" if isinstance(limit, int | float) else ran


def _submitted_by_task(
    payload: dict[str, Any], student_dir: Path, images: PageImages, labels: dict[int, str]
) -> dict[str | None, list[dict[str, Any]]]:
    """Each cell with submitted outputs, under its task (None: under no task): the submitted text and
    figures, the re-executed text and figures, whether the run cut it, and the numbers that differ."""
    run = payload.get("run", {})
    records = {cell["index"]: cell for cell in run.get("cells", [])}
    again = {entry["cell"]: entry["text"] for entry in payload.get("reexecuted", [])}
    tasks = {cell: task for task, cells in payload.get("task_cells", {}).items() for cell in cells}
    drawn: dict[int, list[dict[str, Any]]] = {}
    for figure in payload.get("figures", []):
        drawn.setdefault(figure["cell"], []).append(figure)
    refused: dict[int, list[dict[str, Any]]] = {}
    for entry in payload.get("submitted", {}).get("dropped", []):
        refused.setdefault(entry["cell"], []).append(entry)
    differ: dict[int, list[dict[str, Any]]] = {}
    for entry in payload.get("output_disagreements", []):
        differ.setdefault(entry["cell"], []).append(entry)
    grouped: dict[str | None, list[dict[str, Any]]] = {}
    for cell in payload.get("submitted", {}).get("cells", []):
        index = cell["cell"]
        where = labels.get(index, f"cell {index + 1}")
        shown = [images.submitted_figure(student_dir, png, f"submitted figure from {where}") for png in cell["images"]]
        redrawn = (
            []  # the single file has them inlined once, with the notebook's figures
            if images.inline
            else [images.student_figure(student_dir, f["png"], f"figure from {where}") for f in drawn.get(index, [])]
        )
        grouped.setdefault(tasks.get(index), []).append(
            {
                "cell": index,
                "where": where,
                "submitted_count": cell.get("execution_count"),
                "text": cell["text"],
                "images": [image for image in shown if image is not None],
                "again": again.get(index, ""),
                "again_figures": [image for image in redrawn if image is not None],
                "drawn": len(drawn.get(index, [])),
                "cut": _cut_marker(records.get(index), run.get("budget", {})),
                "refused": refused.get(index, []),
                "disagreements": differ.get(index, []),
            }
        )
    return grouped


def _references_by_task(payload: dict[str, Any], student_dir: Path, images: PageImages):
    grouped: dict[str, list[dict[str, Any]]] = {}
    for check in payload["checks"]:
        for reference in check.get("references", []):
            own = grouped.setdefault(check["task"], [])
            if any(seen["png"] == reference["png"] for seen in own):
                continue
            image = images.reference_figure(student_dir, reference["png"], f"reference: {reference['caption']}")
            if image is not None:
                own.append({**reference, "image": image})
    return grouped


def stand_in_effects(payload: dict[str, Any], assignment: Assignment) -> dict[str, Any]:
    """The stand-in assets of this grading and the tasks whose checks or written answers they leave unverifiable."""
    assets = payload.get("stand_in_assets", {})
    checks = sorted({check["task"] for check in payload["checks"] if check["status"] == "unverifiable"})
    written = [task.id for task in assignment.tasks if task.written and set(task.rests_on) & set(assets)]
    images = [
        event
        for event in payload.get("run", {}).get("events", [])
        if event.get("kind") == "shim" and event.get("shim") == "download" and event.get("stand_in")
    ]
    return {"assets": assets, "checks": checks, "written": written, "images": images}


def render_student(
    payload: dict[str, Any], assignment: Assignment, student_dir: Path, images: PageImages, target: str = REPORT_FILE
) -> Path:
    """One student's page; ``images`` says how its figures are stored (files, or inlined for the single file)."""
    labels = cell_labels(payload)
    checks_by_task: dict[str, list] = {}
    for check in payload["checks"]:
        checks_by_task.setdefault(check["task"], []).append(check)
    answers_by_task: dict[str, list] = {}
    for answer in payload["written_answers"]:
        answers_by_task.setdefault(answer["task"], []).append(answer)
    events = payload.get("run", {}).get("events", [])
    submitted = payload.get("submitted", {})
    without_outputs = bool(submitted.get("code_cells")) and not submitted.get("has_outputs", True)
    html = TEMPLATES.get_template("student.html.j2").render(
        r=payload,
        a=assignment,
        checks_by_task=checks_by_task,
        answers_by_task=answers_by_task,
        labels=labels,
        figures_by_task=_figures_by_task(payload, student_dir, images, labels),
        references_by_task=_references_by_task(payload, student_dir, images),
        submitted_by_task=_submitted_by_task(payload, student_dir, images, labels),
        submitted_cells={cell["cell"] for cell in submitted.get("cells", [])},
        without_outputs=without_outputs,
        flags=[flag for flag in payload["flags"] if not (without_outputs and flag.startswith(WITHOUT_OUTPUTS))],
        shims=[event for event in events if event.get("kind") == "shim"],
        stand_ins=stand_in_effects(payload, assignment),
        single_file=target != REPORT_FILE,
        max_advisory_items=MAX_ADVISORY_ITEMS,
    )
    path = student_dir / target
    write_text_atomically(path, html)
    return path


def render_student_pages(payload: dict[str, Any], assignment: Assignment, out: Path, images: PageImages) -> Path:
    """The light report (images as files, reference figures shared by the class) and its single-file copy."""
    student_dir = out / payload["student"]
    render_student(payload, assignment, student_dir, PageImages(out, inline=True), SINGLE_FILE_REPORT)
    return render_student(payload, assignment, student_dir, images)


def _attention(payload: dict[str, Any]) -> str | None:
    if payload["problem"]:
        return payload["problem"]
    serious = [
        flag
        for flag in payload["flags"]
        if any(
            word in flag for word in ("timeout", "died", "printed accuracy", "overtime", "raised errors", "submitted")
        )
    ]
    return "; ".join(serious) or None


def _histogram(rows: list[dict[str, Any]], assignment: Assignment) -> list[dict[str, Any]]:
    width = assignment.total / HISTOGRAM_BINS
    counts = Counter(min(int(p["score"] // width), HISTOGRAM_BINS - 1) for p in rows)
    tallest = max(counts.values(), default=1)
    return [
        {
            "label": f"{i * width:g}-{(i + 1) * width:g}",
            "count": counts.get(i, 0),
            "height": round(HISTOGRAM_HEIGHT * counts.get(i, 0) / tallest),
        }
        for i in range(HISTOGRAM_BINS)
    ]


def _class_stand_ins(rows: list[dict[str, Any]], assignment: Assignment) -> dict[str, Any]:
    assets: dict[str, str] = {}
    checks: set[str] = set()
    written: set[str] = set()
    images: Counter = Counter()
    students = 0
    for payload in rows:
        effects = stand_in_effects(payload, assignment)
        assets.update(effects["assets"])
        checks.update(effects["checks"])
        written.update(effects["written"])
        images.update({event.get("served") or "a stand-in image" for event in effects["images"]})
        students += bool(effects["assets"] or effects["images"])
    return {
        "assets": assets,
        "checks": sorted(checks),
        "written": sorted(written),
        "images": sorted(images.items()),
        "students": students,
    }


def render_index(
    payloads: list[dict[str, Any]],
    assignment: Assignment,
    out: Path,
    override_problems: list[str],
    similar: list[SimilarPair],
) -> Path:
    rows = sorted(payloads, key=lambda p: p["student"])
    graded = [p for p in rows if not p["problem"]] or rows
    task_rates = {}
    for task in assignment.tasks:
        scores = [p["tasks"][task.id] for p in graded]
        automatic = [entry["score"] - entry.get("ta", {}).get("marks", 0) for entry in scores]
        task_rates[task.id] = {
            "mean": sum(entry["score"] for entry in scores) / max(len(scores), 1),
            "full": sum(a >= task.automatic - 1e-9 for a in automatic) / max(len(scores), 1)
            if task.automatic
            else None,
        }
    check_totals: Counter = Counter()
    check_passes: Counter = Counter()
    failures: Counter = Counter()
    for payload in graded:
        for check in payload["checks"]:
            if check["max_score"] == 0 or check["status"] in ("not_run", "unverifiable", "cut"):
                continue
            label = f"{check['task']} {check['title']}"
            check_totals[label] += 1
            check_passes[label] += check["status"] == "passed"
            if check["status"] in ("failed", "partial"):
                failures[f"{label}: {CELL_NUMBER.sub('cell …', check['message'])}"] += 1
    html = TEMPLATES.get_template("index.html.j2").render(
        a=assignment,
        rows=rows,
        mean=sum(p["score"] for p in rows) / max(len(rows), 1),
        final_count=sum(bool(p["final"]) for p in rows),
        pending_total=sum(p["pending"] for p in rows),
        ta_done=sum(bool(p["ta_marks"]) for p in rows),
        corrected=sum(p["corrected_checks"] for p in rows),
        histogram=_histogram(rows, assignment),
        histogram_height=HISTOGRAM_HEIGHT,
        histogram_headroom=HISTOGRAM_HEADROOM,
        attention=[{"student": p["student"], "reason": reason} for p in rows if (reason := _attention(p))],
        task_rates=task_rates,
        check_rates=[(name, check_passes[name] / total) for name, total in check_totals.items()],
        failures=failures.most_common(10),
        stand_ins=_class_stand_ins(rows, assignment),
        override_problems=override_problems,
        similar=similar,
    )
    target = out / INDEX_FILE
    write_text_atomically(target, html)
    return target
