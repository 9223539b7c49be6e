"""TA pages: the class view, each student's full report, marking in the browser, and the class's exports.

Staff only. A request names an assignment and a student only by looking them up (the server's assignments,
the class's graded students) and a figure only by its index in the grader's result; the path is then built
here and checked to lie inside the class folder, so no text from a request reaches the file system.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import FileResponse, RedirectResponse
from sqlalchemy import select

from checks.data.class_folder import GRADEBOOK_FILE, GRADESCOPE_FILE, OVERRIDES_FILE
from checks.grading.scheme import Assignment, load_assignment
from checks.publish.page_images import FIGURES_FOLDER
from checks.publish.publisher import Published, load_results
from checks.server.auth import check_csrf, require_staff
from checks.server.class_folders import MarkError, class_folder, judge_mark, refresh_class, ta_mark
from checks.server.pages import render_page, served_file
from checks.server.store import Member, TaMark

router = APIRouter()


def _class(request: Request, assignment_id: str) -> tuple[Path, Published]:
    settings = request.app.state.settings
    if assignment_id not in settings.assignments:
        raise HTTPException(404, "this server serves no such assignment")
    return class_folder(settings, assignment_id), refresh_class(settings, request.app.state.store, assignment_id)


def _final(published: Published, student: str) -> dict[str, Any]:
    by_student = {final["student"]: final for final in published.finals}
    if student not in by_student:
        raise HTTPException(404, "no such student in this class")
    return by_student[student]


def _plain_file(folder: Path, *parts: str) -> Path:
    """``folder/parts`` when it is a regular file, not a link, and inside the class folder; else 404."""
    root = folder.resolve()
    path = folder.joinpath(*parts)
    if any("/" in part or "\\" in part or part in ("", ".", "..") for part in parts) or path.is_symlink():
        raise HTTPException(404, "no such file")
    if not path.resolve().is_relative_to(root) or not path.is_file():
        raise HTTPException(404, "no such file")
    return path


def _references(final: dict[str, Any]) -> list[dict[str, Any]]:
    """The reference figures of a student's checks, each once, in the order the checks list them."""
    seen: dict[str, dict[str, Any]] = {}
    for check in final["checks"]:
        for reference in check.get("references") or []:
            seen.setdefault(reference["png"], {**reference, "task": check["task"], "check": check["title"]})
    return list(seen.values())


def _summary(assignment_id: str, published: Published) -> dict[str, Any]:
    finals = published.finals
    return {
        "id": assignment_id,
        "students": len(finals),
        "final": sum(1 for final in finals if final["final"]),
        "pending": sum(final["pending"] for final in finals),
        "problems": len(published.override_problems),
    }


@router.get("/ta")
def ta_home(request: Request, member: Member = Depends(require_staff)):
    summaries = [_summary(a, _class(request, a)[1]) for a in request.app.state.settings.assignments]
    return render_page(request, "ta_class.html.j2", member, summaries=summaries)


def _class_page(
    request: Request, member: Member, assignment_id: str, published: Published, status: int = 200, error: str = ""
):
    return render_page(
        request,
        "ta_class.html.j2",
        member,
        status,
        assignment=load_assignment(assignment_id),
        finals=sorted(published.finals, key=lambda final: final["student"]),
        problems=published.override_problems,
        error=error,
    )


@router.get("/ta/{assignment_id}")
def class_view(request: Request, assignment_id: str, member: Member = Depends(require_staff)):
    _, published = _class(request, assignment_id)
    return _class_page(request, member, assignment_id, published)


@router.get("/ta/{assignment_id}/grades.csv")
def grades_csv(request: Request, assignment_id: str, _member: Member = Depends(require_staff)):
    folder, _ = _class(request, assignment_id)
    return served_file(_plain_file(folder, GRADEBOOK_FILE), "text/csv")


@router.get("/ta/{assignment_id}/overrides.csv")
def overrides_csv(request: Request, assignment_id: str, _member: Member = Depends(require_staff)):
    folder, _ = _class(request, assignment_id)
    return served_file(_plain_file(folder, OVERRIDES_FILE), "text/csv")


def _student_page(
    request: Request, member: Member, assignment: Assignment, final: dict[str, Any], status: int = 200, error: str = ""
):
    with request.app.state.store() as session:
        marks = session.scalars(
            select(TaMark)
            .where(TaMark.assignment == assignment.id, TaMark.student == final["student"])
            .order_by(TaMark.marked_at, TaMark.id)
        ).all()
    return render_page(
        request,
        "ta_student.html.j2",
        member,
        status,
        assignment=assignment,
        final=final,
        answers={answer["task"]: answer for answer in final.get("written_answers") or []},
        marked={mark.item: mark for mark in marks},
        figures=final.get("figures") or [],
        references=_references(final),
        error=error,
    )


@router.post("/ta/{assignment_id}/mark")
def mark(
    request: Request,
    assignment_id: str,
    student: str = Form(""),
    item: str = Form(""),
    marks: str = Form(""),
    comment: str = Form(""),
    csrf: str = Form(""),
    member: Member = Depends(require_staff),
):
    """One overrides.csv line from the browser, judged as the file's lines are, kept with who and when."""
    check_csrf(request, csrf)
    folder, published = _class(request, assignment_id)
    payloads = load_results(folder) if published.finals else []
    try:
        override = judge_mark(payloads, student, item, marks, comment)
    except MarkError as error:
        if student not in {final["student"] for final in published.finals}:
            return _class_page(request, member, assignment_id, published, 400, str(error))
        assignment = load_assignment(assignment_id)
        return _student_page(request, member, assignment, _final(published, student), 400, str(error))
    with request.app.state.store.begin() as session:
        session.add(ta_mark(assignment_id, override, member.id))
    refresh_class(request.app.state.settings, request.app.state.store, assignment_id)
    return RedirectResponse(f"/ta/{quote(assignment_id)}/{quote(override.student)}", status_code=303)


@router.get("/ta/{assignment_id}/{student}")
def student_view(request: Request, assignment_id: str, student: str, member: Member = Depends(require_staff)):
    _, published = _class(request, assignment_id)
    return _student_page(request, member, load_assignment(assignment_id), _final(published, student))


@router.get("/ta/{assignment_id}/{student}/gradescope.json")
def gradescope_json(request: Request, assignment_id: str, student: str, _member: Member = Depends(require_staff)):
    folder, published = _class(request, assignment_id)
    known = _final(published, student)["student"]
    return served_file(_plain_file(folder, known, GRADESCOPE_FILE), "application/json")


def _figure(folder: Path, student: str, figures: list[dict[str, Any]], index: int) -> FileResponse:
    if not 0 <= index < len(figures) or not isinstance(figures[index].get("png"), str):
        raise HTTPException(404, "no such figure")
    return served_file(_plain_file(folder, student, FIGURES_FOLDER, figures[index]["png"]), "image/png", download=False)


@router.get("/ta/{assignment_id}/{student}/figure/{index}")
def student_figure(
    request: Request, assignment_id: str, student: str, index: int, _member: Member = Depends(require_staff)
):
    """The index-th figure the student's notebook drew, as the grader's result lists them."""
    folder, published = _class(request, assignment_id)
    final = _final(published, student)
    return _figure(folder, final["student"], final.get("figures") or [], index)


@router.get("/ta/{assignment_id}/{student}/reference/{index}")
def reference_figure(
    request: Request, assignment_id: str, student: str, index: int, _member: Member = Depends(require_staff)
):
    """The index-th reference figure the grader drew beside the student's checks."""
    folder, published = _class(request, assignment_id)
    final = _final(published, student)
    return _figure(folder, final["student"], _references(final), index)
