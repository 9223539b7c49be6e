"""HTML pages people read: one self-contained report per student and a class overview.

Pages are rendered from stored results (with any TA overrides applied, see
``checks.publish.publisher``), so a graded class is re-rendered without running anything.
"""

from __future__ import annotations

import base64
from collections import Counter
from pathlib import Path
from typing import Any

import jinja2

from checks.data.class_folder import INDEX_FILE
from checks.data.files import write_text_atomically
from checks.grading.scheme import Assignment

TEMPLATES = jinja2.Environment(
    loader=jinja2.PackageLoader("checks.publish", "templates"),
    autoescape=jinja2.select_autoescape(["html", "j2"]),
    undefined=jinja2.StrictUndefined,
)
HISTOGRAM_BINS = 10
HISTOGRAM_HEIGHT = 120


def _embedded(student_dir: Path, png: str) -> str | None:
    path = student_dir / "figures" / png
    if "/" in png or not path.is_file():
        return None
    return base64.b64encode(path.read_bytes()).decode("ascii")


def _figures_by_task(payload: dict[str, Any], student_dir: Path) -> dict[str | None, list[dict[str, Any]]]:
    """The notebook's figures grouped by the task they were placed under (None: unplaced)."""
    grouped: dict[str | None, list[dict[str, Any]]] = {}
    for figure in payload.get("figures", []):
        data = _embedded(student_dir, figure["png"])
        if data:
            grouped.setdefault(figure["task"], []).append({**figure, "data": data})
    return grouped


def _references_by_task(payload: dict[str, Any], student_dir: Path) -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[dict[str, Any]]] = {}
    for check in payload["checks"]:
        for reference in check.get("references", []):
            own = grouped.setdefault(check["task"], [])
            data = _embedded(student_dir, reference["png"])
            if data and all(seen["png"] != reference["png"] for seen in own):
                own.append({**reference, "data": data})
    return grouped


def render_student(payload: dict[str, Any], assignment: Assignment, student_dir: Path) -> Path:
    checks_by_task: dict[str, list] = {}
    for check in payload["checks"]:
        checks_by_task.setdefault(check["task"], []).append(check)
    answers_by_task: dict[str, list] = {}
    for answer in payload["written_answers"]:
        answers_by_task.setdefault(answer["task"], []).append(answer)
    html = TEMPLATES.get_template("student.html.j2").render(
        r=payload,
        a=assignment,
        checks_by_task=checks_by_task,
        answers_by_task=answers_by_task,
        written_total=sum(task.written for task in assignment.tasks),
        figures_by_task=_figures_by_task(payload, student_dir),
        references_by_task=_references_by_task(payload, student_dir),
        shims=[event for event in payload.get("run", {}).get("events", []) if event.get("kind") == "shim"],
    )
    target = student_dir / "report.html"
    write_text_atomically(target, html)
    return target


def _attention(payload: dict[str, Any]) -> str | None:
    if payload["problem"]:
        return payload["problem"]
    serious = [
        flag
        for flag in payload["flags"]
        if any(word in flag for word in ("timeout", "died", "printed accuracy", "deadline", "raised errors"))
    ]
    return "; ".join(serious) or None


def render_index(payloads: list[dict[str, Any]], assignment: Assignment, out: Path) -> Path:
    rows = sorted(payloads, key=lambda p: p["student"])
    width = assignment.total / HISTOGRAM_BINS
    counts = Counter(min(int(p["score"] // width), HISTOGRAM_BINS - 1) for p in rows)
    tallest = max(counts.values(), default=1)
    histogram = [
        {
            "label": f"{i * width:g}-{(i + 1) * width:g}",
            "count": counts.get(i, 0),
            "height": round(HISTOGRAM_HEIGHT * counts.get(i, 0) / tallest),
        }
        for i in range(HISTOGRAM_BINS)
    ]
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
            if check["max_score"] == 0 or check["status"] == "not_run":
                continue
            label = f"{check['task']} {check['title']}"
            check_totals[label] += 1
            check_passes[label] += check["status"] == "passed"
            if check["status"] in ("failed", "partial"):
                failures[f"{label}: {check['message']}"] += 1
    html = TEMPLATES.get_template("index.html.j2").render(
        a=assignment,
        rows=rows,
        mean=sum(p["score"] for p in rows) / max(len(rows), 1),
        ta_done=sum(bool(p["overridden"]) for p in rows),
        histogram=histogram,
        histogram_height=HISTOGRAM_HEIGHT,
        attention=[{"student": p["student"], "reason": reason} for p in rows if (reason := _attention(p))],
        task_rates=task_rates,
        check_rates=[(name, check_passes[name] / total) for name, total in check_totals.items()],
        failures=failures.most_common(10),
    )
    target = out / INDEX_FILE
    write_text_atomically(target, html)
    return target
