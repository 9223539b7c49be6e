"""The course's LIME scoreboard: teams post their Deliverable 4 pickle to ``/lime`` as the assignment's example
code does, and ``/score_board`` shows each team's latest IoU and time, ranked.

Scorings run one at a time in the whole process so that the times on the board are comparable (the
``ScoringLine``); each is bounded by the instructor's cut-off. Only a program's ``token`` header is taken
here, never the browser's cookie, so no other site's page can post in a logged-in team's name. Every
submission is kept (refused ones too) for the instructor, while the board shows only each team's last, as the
course's board did. No code of a pickle ever runs: the scorer reads it with an allow-list unpickler.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, File, HTTPException, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from sqlalchemy import func, select

from checks.assignments.tml25_a4.lime_params import LIMITS
from checks.assignments.tml25_a4.lime_scoring import LimeScore, score_lime_pickle
from checks.data.assets import DataDir
from checks.server.auth import current_member, request_token, require_member, require_staff
from checks.server.pages import render_page, wants_html
from checks.server.rate_limit import too_many
from checks.server.scoring_line import LineRefused
from checks.server.store import LimeSubmission, Member
from checks.server.uploads import read_bounded

router = APIRouter()
TEAM_ROLE = "team"
RETRY_PER_PLACE_S = 60  # what a team is told to wait for each scoring ahead of it


@dataclass(frozen=True)
class BoardRow:
    """A team's line on the board: its latest submission, ranked only when that one was scored."""

    team: str
    name: str
    avg_iou: float | None
    avg_time: float | None
    submitted_at: datetime
    rank: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "rank": self.rank,
            "team": self.team,
            "name": self.name,
            "avg_iou": self.avg_iou,
            "avg_time": self.avg_time,
            "submitted_at": _utc(self.submitted_at),
        }


def _utc(moment: datetime) -> str:
    """The store keeps naive UTC times; a program reading the JSON is told so."""
    return moment.replace(tzinfo=UTC).isoformat(timespec="seconds")


def _score(pickled: bytes, request: Request) -> LimeScore:
    settings = request.app.state.settings
    return score_lime_pickle(pickled, DataDir(settings.data_dir), settings.scoring)


def _keep(request: Request, member: Member, pickled: bytes, result: LimeScore) -> None:
    with request.app.state.store.begin() as session:
        session.add(
            LimeSubmission(
                member_id=member.id,
                digest=hashlib.sha256(pickled).hexdigest(),
                size=len(pickled),
                avg_iou=result.avg_iou,
                avg_time=result.avg_time,
                result_json=json.dumps(result.as_dict()),
            )
        )


@router.post("/lime")
async def post_lime(
    request: Request, file: UploadFile = File(...), member: Member = Depends(require_member)
) -> Response:
    """Score a team's pickle and keep it: 200 with the two numbers, or 400 that says why there are none."""
    if request_token(request)[1]:
        raise HTTPException(403, "post your pickle from a program with your team's token in the 'token' header")
    if member.role != TEAM_ROLE:
        raise HTTPException(
            403, f"only teams post to the LIME scoreboard; this token is not a team's ({member.role}): send your team's"
        )
    settings = request.app.state.settings
    line = request.app.state.scoring_line
    try:
        with line.place(member.id):
            retry_after = request.app.state.lime_limiter.admit(member.id)
            if retry_after:
                raise too_many(f"at most {settings.rate.uploads} pickles per {settings.rate.window_s:g} s", retry_after)
            pickled = await read_bounded(file, LIMITS.max_bytes)
            await line.turn(member.id)
            result = await run_in_threadpool(_score, pickled, request)
    except LineRefused as refused:
        wait = min(settings.scoring.cut_off_s, RETRY_PER_PLACE_S * refused.places_taken)
        raise too_many(str(refused), math.ceil(wait)) from None
    await run_in_threadpool(_keep, request, member, pickled, result)
    if result.complete:
        return JSONResponse({"avg_iou": result.avg_iou, "avg_time": result.avg_time})
    detail = {"detail": result.message(), "problems": result.problems, "stopped": result.stopped}
    return JSONResponse(detail, status_code=400)


def board_rows(request: Request) -> list[BoardRow]:
    """Each team's latest submission; the scored ones ranked by IoU (higher first), then time (lower first),
    equal pairs sharing a rank; the unscored ones after them, by team."""
    latest = select(func.max(LimeSubmission.id)).group_by(LimeSubmission.member_id)
    query = (
        select(LimeSubmission, Member)
        .join(Member, Member.id == LimeSubmission.member_id)
        .where(LimeSubmission.id.in_(latest))
    )
    with request.app.state.store() as session:
        found = session.execute(query).all()
    rows = [
        BoardRow(member.id, member.name or member.id, row.avg_iou, row.avg_time, row.created_at)
        for row, member in found
    ]
    scored = sorted(
        (row for row in rows if row.avg_iou is not None and row.avg_time is not None),
        key=lambda row: (-row.avg_iou, row.avg_time),
    )
    ranked: list[BoardRow] = []
    for position, row in enumerate(scored, start=1):
        previous = ranked[-1] if ranked else None
        tied = previous is not None and (previous.avg_iou, previous.avg_time) == (row.avg_iou, row.avg_time)
        ranked.append(replace(row, rank=previous.rank if tied else position))
    unscored = sorted((row for row in rows if row.avg_iou is None or row.avg_time is None), key=lambda row: row.team)
    return ranked + unscored


def _board_json(request: Request) -> JSONResponse:
    return JSONResponse({"teams": [row.as_dict() for row in board_rows(request)]})


@router.get("/score_board.json")
def score_board_json(request: Request) -> JSONResponse:
    return _board_json(request)


@router.get("/score_board")
def score_board(request: Request) -> Response:
    """The board as a page, or as JSON for a program that asks for it (public, as the course's was)."""
    if "application/json" in request.headers.get("accept", "") and not wants_html(request):
        return _board_json(request)
    return render_page(request, "score_board.html.j2", current_member(request), rows=board_rows(request))


@router.get("/lime/submissions")
def lime_submissions(request: Request, _staff: Member = Depends(require_staff)) -> JSONResponse:
    """Every submission, refused ones included, for the instructor: the board keeps only each team's last."""
    with request.app.state.store() as session:
        submissions = session.scalars(select(LimeSubmission).order_by(LimeSubmission.id)).all()
    return JSONResponse(
        [
            {
                "id": submission.id,
                "team": submission.member_id,
                "created_at": _utc(submission.created_at),
                "avg_iou": submission.avg_iou,
                "avg_time": submission.avg_time,
                "digest": submission.digest,
                "size": submission.size,
                "result": json.loads(submission.result_json),
            }
            for submission in submissions
        ]
    )
