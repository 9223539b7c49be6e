"""Who is asking, and whether a form really came from the server's own page.

Programs send their token in a ``token`` header (as the course's LIME clients do) or as ``Authorization:
Bearer``; browsers log in once and carry it in an HttpOnly, SameSite=Strict cookie. A form posted with that
cookie must also carry a CSRF value derived from the server's secret and the token, which a page on another
site cannot read.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from pathlib import Path

from fastapi import HTTPException, Request

from checks.server.store import Member
from checks.server.tokens import member_of, token_digest

COOKIE = "xaigrader_token"
SECRET_FILE = "csrf.key"


def server_secret(folder: Path) -> bytes:
    """The server's CSRF key: made once, kept in its folder (mode 0600) so restarts keep pages' forms valid."""
    path = folder / SECRET_FILE
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_bytes(secrets.token_bytes(32))
    return path.read_bytes()


def request_token(request: Request) -> tuple[str | None, bool]:
    """The token a request carries, and whether it came from the browser's cookie (so forms need CSRF)."""
    header = request.headers.get("token")
    if header:
        return header, False
    authorization = request.headers.get("authorization", "")
    if authorization.lower().startswith("bearer "):
        return authorization[7:].strip(), False
    cookie = request.cookies.get(COOKIE)
    return (cookie, True) if cookie else (None, False)


def csrf_value(secret: bytes, token: str) -> str:
    return hmac.new(secret, token_digest(token).encode(), hashlib.sha256).hexdigest()


def current_member(request: Request) -> Member | None:
    token, _ = request_token(request)
    return member_of(request.app.state.store, token)


def require_member(request: Request) -> Member:
    member = current_member(request)
    if member is None:
        raise HTTPException(401, "a valid token is needed: send it in the 'token' header or log in on the home page")
    return member


def require_staff(request: Request) -> Member:
    member = require_member(request)
    if not member.staff:
        raise HTTPException(403, "this page is for TAs and instructors")
    return member


def check_csrf(request: Request, submitted: str | None) -> None:
    """A cookie-authenticated form must carry the page's CSRF value; a header-authenticated call needs none,
    since no other site can make a browser send a header."""
    token, from_cookie = request_token(request)
    if not from_cookie or token is None:
        return
    expected = csrf_value(request.app.state.secret, token)
    if not submitted or not hmac.compare_digest(submitted, expected):
        raise HTTPException(403, "this form did not come from this server's page (CSRF check failed); reload the page")
