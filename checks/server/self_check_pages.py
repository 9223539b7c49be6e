"""Self-check: a student logs in, uploads a notebook, and reads what the grader found, as a page or as JSON.

The same upload from a program: ``POST /check`` with ``files={"file": ...}``, ``data={"assignment": ...}``
and a ``token`` header; ``wait=60`` holds the answer until the result is there.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, File, Form, HTTPException, Query, Request, UploadFile
from fastapi import Path as PathParam
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlalchemy import select

from checks.server.auth import COOKIE, check_csrf, current_member, require_member
from checks.server.job_grading import JobFolders, upload_grading_key
from checks.server.job_queue import GradingRequest, QueueFull
from checks.server.pages import render_page, served_file, wants_html
from checks.server.rate_limit import too_many
from checks.server.settings import ServerSettings
from checks.server.store import DONE, FAILED, Job, Member
from checks.server.student_view import student_result
from checks.server.tokens import member_of
from checks.server.uploads import check_upload, read_bounded

router = APIRouter()
MAX_WAIT_S = 120.0
POLL_S = 0.25
RECENT_JOBS = 20
LARGEST_ID = 2**31 - 1  # the store's integer column: a larger number names no job and is refused as such
JobId = Annotated[int, PathParam(ge=1, le=LARGEST_ID)]
FigureIndex = Annotated[int, PathParam(ge=0, le=LARGEST_ID)]
WaitSeconds = Annotated[float, Query(ge=0, le=MAX_WAIT_S, allow_inf_nan=False)]  # how long to hold the answer


def _settings(request: Request) -> ServerSettings:
    return request.app.state.settings


def _own_origin(request: Request) -> str:
    """The origin browsers see: the instructor's ``--public-url`` behind a proxy, else the request's own."""
    public = urlsplit(_settings(request).public_url or str(request.url))
    return f"{public.scheme}://{public.netloc}".lower()


def _same_origin(request: Request) -> None:
    """A login form posted from another site would log the victim in as the attacker, so the browser must say
    the form is this server's: by its Origin, else its Referer (browsers send one of them with a form)."""
    own = _own_origin(request)
    origin = request.headers.get("origin")
    referer = request.headers.get("referer", "")
    came_from = (origin if origin is not None else f"{referer}/"[: len(own) + 1]).lower()
    cross_site = request.headers.get("sec-fetch-site") == "cross-site"
    if cross_site or came_from not in (own, f"{own}/"):
        raise HTTPException(403, "this form did not come from this server's page; log in from its home page")


@router.get("/")
def home(request: Request):
    member = current_member(request)
    if member is None:
        return render_page(request, "home.html.j2", None, settings=_settings(request), jobs=[])
    with request.app.state.store() as session:
        jobs = session.scalars(
            select(Job).where(Job.member_id == member.id).order_by(Job.id.desc()).limit(RECENT_JOBS)
        ).all()
    return render_page(request, "home.html.j2", member, settings=_settings(request), jobs=jobs)


@router.post("/login")
def login(request: Request, token: str = Form("")):
    _same_origin(request)
    member = member_of(request.app.state.store, token)
    if member is None:
        return render_page(
            request, "home.html.j2", None, 401, settings=_settings(request), jobs=[], error="unknown or revoked token"
        )
    response = RedirectResponse("/", status_code=303)
    response.set_cookie(
        COOKIE,
        token.strip(),
        httponly=True,
        samesite="strict",
        secure=_settings(request).secure_cookies,
        max_age=14 * 86400,
    )
    return response


@router.post("/logout")
def logout(request: Request, csrf: str = Form("")):
    check_csrf(request, csrf)
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(COOKIE)
    return response


@router.post("/check")
async def submit_check(
    request: Request,
    file: UploadFile = File(...),
    assignment: str = Form(...),
    mode: str = Form("quick"),
    csrf: str = Form(""),
    wait: WaitSeconds = 0.0,
    member: Member = Depends(require_member),
):
    check_csrf(request, csrf)
    settings = _settings(request)
    if assignment not in settings.assignments:
        raise HTTPException(400, f"this server checks {', '.join(settings.assignments)}, not {assignment[:60]!r}")
    if mode not in ("quick", "full") or (mode == "full" and not settings.full_mode):
        raise HTTPException(
            400, "this server runs quick self-checks only" if mode == "full" else "mode is quick or full"
        )
    if mode == "full":
        retry_after = await run_in_threadpool(request.app.state.queue.full_runs_retry_after, member.id)
        if retry_after:
            raise too_many(f"you have used today's {settings.full_per_day} full runs", retry_after)
    retry_after = request.app.state.limiter.admit(member.id)
    if retry_after:
        raise too_many(f"at most {settings.rate.uploads} uploads per {settings.rate.window_s:g} s", retry_after)
    upload = check_upload(file.filename, await read_bounded(file, settings.max_upload_bytes))
    workers = request.app.state.pool.size
    key = await run_in_threadpool(upload_grading_key, settings, upload.digest, member.id, assignment, mode, workers)
    grading = GradingRequest(
        member.id, assignment, mode, upload.filename, upload.kind, upload.content, upload.digest, key
    )
    try:
        submitted = await run_in_threadpool(request.app.state.queue.submit, grading)
    except QueueFull as error:
        raise too_many(str(error), error.retry_after or int(settings.rate.window_s)) from None
    if wants_html(request):
        return RedirectResponse(f"/check/{submitted.job_id}", status_code=303)
    job = await _waited_job(request, submitted.job_id, wait)
    return JSONResponse(_job_json(job, member, reused=submitted.reused), status_code=200 if _finished(job) else 202)


def _finished(job: Job) -> bool:
    return job.status in (DONE, FAILED)


async def _waited_job(request: Request, job_id: int, wait_s: float) -> Job:
    deadline = asyncio.get_running_loop().time() + wait_s
    while True:
        job = await run_in_threadpool(_job, request, job_id)
        if _finished(job) or asyncio.get_running_loop().time() >= deadline:
            return job
        await asyncio.sleep(POLL_S)


def _job(request: Request, job_id: int) -> Job:
    with request.app.state.store() as session:
        job = session.get(Job, job_id)
    if job is None:
        raise HTTPException(404, "no such check")
    return job


def _own_job(request: Request, job_id: int, member: Member) -> Job:
    """The job when it is the member's (or the member is staff); anyone else's is answered as not found."""
    job = _job(request, job_id)
    if job.member_id != member.id and not member.staff:
        raise HTTPException(404, "no such check")
    return job


def _job_json(job: Job, member: Member, reused: bool = False) -> dict[str, Any]:
    payload = json.loads(job.result_json) if job.result_json else None
    view = payload if member.staff else (student_result(payload) if payload else None)
    return {
        "job": job.id,
        "status": job.status,
        "reused": reused,
        "assignment": job.assignment,
        "mode": job.mode,
        "filename": job.filename,
        "created_at": job.created_at.isoformat(),
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
        "page": f"/check/{job.id}",
        "json": f"/api/check/{job.id}",
        "error": job.error,
        "result": view,
    }


@router.get("/api/check/{job_id}")
async def check_json(
    request: Request, job_id: JobId, wait: WaitSeconds = 0.0, member: Member = Depends(require_member)
):
    await run_in_threadpool(_own_job, request, job_id, member)
    job = await _waited_job(request, job_id, wait)
    return _job_json(job, member)


@router.get("/check/{job_id}")
def check_page(request: Request, job_id: JobId, member: Member = Depends(require_member)):
    job = _own_job(request, job_id, member)
    payload = json.loads(job.result_json) if job.result_json else None
    return render_page(request, "check.html.j2", member, job=job, result=student_result(payload) if payload else None)


@router.get("/check/{job_id}/figure/{index}")
def check_figure(
    request: Request, job_id: JobId, index: FigureIndex, member: Member = Depends(require_member)
) -> Response:
    """The index-th of the student's own figures; the path comes from the grader's result, checked to lie in
    the job's figures folder."""
    job = _own_job(request, job_id, member)
    figures = student_result(json.loads(job.result_json))["figures"] if job.result_json else []
    if not 0 <= index < len(figures):
        raise HTTPException(404, "no such figure")
    folder = (JobFolders(_settings(request).folder).result(job.id) / "figures").resolve()
    path = Path(folder, figures[index])
    if path.is_symlink() or not path.resolve().is_relative_to(folder) or not path.is_file():
        raise HTTPException(404, "no such figure")
    return served_file(path, "image/png", download=False)
