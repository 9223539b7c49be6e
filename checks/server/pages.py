"""Rendering a page: every template gets the member and, when logged in by cookie, the CSRF value its forms
post back; Jinja escapes everything a student wrote."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import FileResponse, HTMLResponse

from checks.server.auth import csrf_value, request_token
from checks.server.store import Member


def render_page(
    request: Request, template: str, member: Member | None, status_code: int = 200, **values: Any
) -> HTMLResponse:
    token, _ = request_token(request)
    csrf = csrf_value(request.app.state.secret, token) if token and member else ""
    context = {"member": member, "csrf": csrf, **values}
    response = request.app.state.templates.TemplateResponse(request, template, context, status_code=status_code)
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:"
    )
    response.headers["X-Frame-Options"] = "DENY"
    return response


def wants_html(request: Request) -> bool:
    """A browser's form post (answered with pages and redirects) rather than a program's (answered with JSON)."""
    return "text/html" in request.headers.get("accept", "")


def served_file(path: Path, media_type: str, download: bool = True) -> FileResponse:
    """nosniff: a file a student's kernel wrote (a figure) is only ever read as the type it is served as."""
    return FileResponse(
        path,
        media_type=media_type,
        filename=path.name if download else None,
        headers={"X-Content-Type-Options": "nosniff"},
    )
