"""HTML pages people read: one self-contained report per student and a class overview.

Pages are rendered from stored ``results.json`` files alone, so ``xaigrader report DIR``
re-renders a graded class without running anything.
"""

from __future__ import annotations

import base64
import json
from collections import Counter
from pathlib import Path
from typing import Any

import jinja2

from checks.assignment import Assignment, load_assignment
from checks.run import write_text_atomically

TEMPLATES = jinja2.Environment(
    loader=jinja2.PackageLoader("checks", "templates"),
    autoescape=jinja2.select_autoescape(["html", "j2"]),
    undefined=jinja2.StrictUndefined,
)
HISTOGRAM_BINS = 10
HISTOGRAM_HEIGHT = 120


def _embedded_figures(student_dir: Path) -> list[dict[str, Any]]:
    figures = []
    for record_file in sorted((student_dir / "figures").glob("figure-*.json")):
        record = json.loads(record_file.read_text(encoding="utf-8"))
        png = student_dir / "figures" / str(record.get("png") or "")
        if record.get("png") and png.is_file():
            title = record.get("suptitle") or next((ax.get("title") for ax in record.get("axes", []) if ax.get("title")), "")
            figures.append({"cell": record.get("cell"), "title": title,
                            "data": base64.b64encode(png.read_bytes()).decode("ascii")})
    return figures


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
        figures=_embedded_figures(student_dir),
        shims=[event for event in payload.get("run", {}).get("events", []) if event.get("kind") == "shim"],
    )
    target = student_dir / "report.html"
    write_text_atomically(target, html)
    return target


def _attention(payload: dict[str, Any]) -> str | None:
    if payload["problem"]:
        return payload["problem"]
    serious = [flag for flag in payload["flags"]
               if any(word in flag for word in ("timeout", "died", "printed accuracy", "deadline", "raised errors"))]
    return "; ".join(serious) or None


def render_index(payloads: list[dict[str, Any]], assignment: Assignment, out: Path) -> Path:
    rows = sorted(payloads, key=lambda p: p["student"])
    width = assignment.total / HISTOGRAM_BINS
    counts = Counter(min(int(p["score"] // width), HISTOGRAM_BINS - 1) for p in rows)
    tallest = max(counts.values(), default=1)
    histogram = [{"label": f"{i * width:g}-{(i + 1) * width:g}", "count": counts.get(i, 0),
                  "height": round(HISTOGRAM_HEIGHT * counts.get(i, 0) / tallest)} for i in range(HISTOGRAM_BINS)]
    graded = [p for p in rows if not p["problem"]] or rows
    task_rates = {task.id: sum(p["tasks"][task.id]["score"] >= task.automatic for p in graded) / max(len(graded), 1)
                  for task in assignment.tasks}
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
        histogram=histogram,
        histogram_height=HISTOGRAM_HEIGHT,
        attention=[{"student": p["student"], "reason": reason} for p in rows if (reason := _attention(p))],
        task_rates=task_rates,
        check_rates=[(name, check_passes[name] / total) for name, total in check_totals.items()],
        failures=failures.most_common(10),
    )
    target = out / "index.html"
    write_text_atomically(target, html)
    return target


def render_class(out: Path) -> list[dict[str, Any]]:
    """Re-render every page of a graded folder from its stored results."""
    payloads = [json.loads(path.read_text(encoding="utf-8")) for path in sorted(out.glob("*/results.json"))]
    if not payloads:
        raise FileNotFoundError(f"no */results.json under {out}: grade the class first")
    assignment = load_assignment(payloads[0]["assignment"])
    for payload in payloads:
        render_student(payload, assignment, out / payload["student"])
    render_index(payloads, assignment, out)
    return payloads
