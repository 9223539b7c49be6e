"""Tokens: one random secret per roster line, shown once to be handed out, kept only as a SHA-256 digest.

Teams commit tokens to public repositories, so a token is renewable (the old one is revoked with it) and
revocable on its own.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from checks.data.class_folder import is_class_file
from checks.server.store import ROLES, Member, Token, now

TOKEN_BYTES = 24
ROSTER_COLUMNS = ("id", "name", "email")
MEMBER_ID = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}")  # also a file name in the server's folders


class RosterError(ValueError):
    """A roster line that cannot be taken, with its line number."""


@dataclass(frozen=True)
class RosterLine:
    id: str
    name: str
    email: str
    role: str


@dataclass(frozen=True)
class IssuedToken:
    member_id: str
    name: str
    email: str
    role: str
    token: str


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


def read_roster(text: str, default_role: str) -> list[RosterLine]:
    """``id,name,email`` with a header line, and an optional ``role`` column (default ``default_role``)."""
    reader = csv.DictReader(io.StringIO(text))
    missing = [column for column in ROSTER_COLUMNS if column not in (reader.fieldnames or [])]
    if missing:
        raise RosterError(f"the roster's header lacks {', '.join(missing)}; it needs id,name,email[,role]")
    lines, seen = [], set()
    for number, row in enumerate(reader, start=2):
        member_id = (row.get("id") or "").strip()
        role = (row.get("role") or "").strip().lower() or default_role
        if not MEMBER_ID.fullmatch(member_id):
            raise RosterError(f"line {number}: id {member_id!r} must be 1 to 64 letters, digits, '_', '.' or '-'")
        if is_class_file(member_id):
            raise RosterError(f"line {number}: id {member_id} is the name of a file in a class folder; choose another")
        if member_id in seen:
            raise RosterError(f"line {number}: id {member_id} appears twice")
        if role not in ROLES:
            raise RosterError(f"line {number}: role {role!r} is not one of {', '.join(sorted(ROLES))}")
        seen.add(member_id)
        lines.append(RosterLine(member_id, (row.get("name") or "").strip(), (row.get("email") or "").strip(), role))
    return lines


def _new_token(session: Session, member_id: str) -> str:
    """Revokes the member's live tokens and adds a fresh one."""
    session.execute(
        update(Token).where(Token.member_id == member_id, Token.revoked_at.is_(None)).values(revoked_at=now())
    )
    token = secrets.token_urlsafe(TOKEN_BYTES)
    session.add(Token(digest=token_digest(token), member_id=member_id))
    return token


def issue_tokens(store: sessionmaker, roster: list[RosterLine], renew: bool = False) -> list[IssuedToken]:
    """A token for every roster member who has no live one (every member with ``renew``); members are added or
    their name, email and role updated. Returns only the tokens made now: the others cannot be shown again."""
    issued = []
    with store.begin() as session:
        for line in roster:
            member = session.get(Member, line.id)
            if member is None:
                member = Member(id=line.id, name=line.name, email=line.email, role=line.role)
                session.add(member)
                session.flush()
            else:
                member.name, member.email, member.role = line.name, line.email, line.role
            live = session.scalar(select(Token.id).where(Token.member_id == line.id, Token.revoked_at.is_(None)))
            if live is None or renew:
                issued.append(IssuedToken(line.id, line.name, line.email, line.role, _new_token(session, line.id)))
    return issued


def revoke(store: sessionmaker, member_id: str) -> int:
    """Revokes every live token of the member; returns how many."""
    with store.begin() as session:
        result = session.execute(
            update(Token).where(Token.member_id == member_id, Token.revoked_at.is_(None)).values(revoked_at=now())
        )
        return result.rowcount


def member_of(store: sessionmaker, token: str | None) -> Member | None:
    """The member a live token belongs to, or None; the token itself is never stored or logged."""
    if not token:
        return None
    with store() as session:
        return session.scalar(
            select(Member).join(Token).where(Token.digest == token_digest(token.strip()), Token.revoked_at.is_(None))
        )


def write_token_file(path: Path, issued: list[IssuedToken]) -> None:
    """The new tokens as CSV, readable by the instructor only, for mail merge."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(("id", "name", "email", "role", "token"))
    for token in issued:
        writer.writerow((token.member_id, token.name, token.email, token.role, token.token))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.chmod(0o600)
    path.write_text(buffer.getvalue(), encoding="utf-8")
