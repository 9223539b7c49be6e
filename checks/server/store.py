"""The server's database: who may ask, what they sent, what the grader made of it, and what TAs decided.

SQLite in the server's folder by default, PostgreSQL (psycopg) through a URL; the schema is Alembic's, brought
up to date each time the store is opened, so a course upgrades the grader without losing its rows.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import (
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    create_engine,
    event,
)
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship, sessionmaker

MIGRATIONS = Path(__file__).with_name("migrations")
STORE_FILE = "xaigrader.sqlite3"
STAFF_ROLES = frozenset({"ta", "instructor"})
ROLES = frozenset({"student", "team"}) | STAFF_ROLES

QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "failed"


def now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class Base(DeclarativeBase):
    pass


class Member(Base):
    """A student, a team or a member of staff, as the roster names them."""

    __tablename__ = "members"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(200), default="")
    role: Mapped[str] = mapped_column(String(16))
    tokens: Mapped[list[Token]] = relationship(back_populates="member")

    @property
    def staff(self) -> bool:
        return self.role in STAFF_ROLES


class Token(Base):
    """Only the SHA-256 of a token is kept: a leaked database holds nothing a client can send."""

    __tablename__ = "tokens"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    digest: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    member_id: Mapped[str] = mapped_column(ForeignKey("members.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=now)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)
    member: Mapped[Member] = relationship(back_populates="tokens")


class Upload(Base):
    """The bytes a member sent, once per content: a second identical upload points at the same row."""

    __tablename__ = "uploads"
    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # "ipynb" or "zip"
    size: Mapped[int] = mapped_column(Integer)
    content: Mapped[bytes] = mapped_column(LargeBinary)


class Job(Base):
    """One grading asked for: a row is the queue, so a server killed mid-grading finds it again."""

    __tablename__ = "jobs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    member_id: Mapped[str] = mapped_column(ForeignKey("members.id"), index=True)
    assignment: Mapped[str] = mapped_column(String(64))
    mode: Mapped[str] = mapped_column(String(8))
    filename: Mapped[str] = mapped_column(String(255))  # as the student named it; shown escaped, never a path
    upload_digest: Mapped[str] = mapped_column(ForeignKey("uploads.digest"))
    status: Mapped[str] = mapped_column(String(16), default=QUEUED, index=True)
    created_at: Mapped[datetime] = mapped_column(default=now)
    started_at: Mapped[datetime | None] = mapped_column(default=None)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    grading_key: Mapped[str | None] = mapped_column(String(64), index=True, default=None)
    reused_from: Mapped[int | None] = mapped_column(Integer, default=None)
    score: Mapped[float | None] = mapped_column(Float, default=None)
    result_json: Mapped[str | None] = mapped_column(Text, default=None)
    error: Mapped[str | None] = mapped_column(Text, default=None)


class LimeSubmission(Base):
    """Every pickle a team posted to the scoreboard, kept for the instructor; the board shows each team's last."""

    __tablename__ = "lime_submissions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    member_id: Mapped[str] = mapped_column(ForeignKey("members.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=now)
    digest: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    avg_iou: Mapped[float | None] = mapped_column(Float, default=None)
    avg_time: Mapped[float | None] = mapped_column(Float, default=None)
    result_json: Mapped[str] = mapped_column(Text)


class TaMark(Base):
    """A TA's line of overrides.csv, entered in the browser: who and when are kept beside it."""

    __tablename__ = "ta_marks"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    assignment: Mapped[str] = mapped_column(String(64), index=True)
    student: Mapped[str] = mapped_column(String(128))
    item: Mapped[str] = mapped_column(String(255))
    marks: Mapped[float] = mapped_column(Float)
    comment: Mapped[str] = mapped_column(Text, default="")
    marked_by: Mapped[str] = mapped_column(ForeignKey("members.id"))
    marked_at: Mapped[datetime] = mapped_column(default=now)


def default_store_url(server_dir: Path) -> str:
    return f"sqlite:///{(server_dir / STORE_FILE).resolve()}"


def _sqlite_pragmas(engine: Engine) -> None:
    """WAL lets the board be read while a worker writes; foreign keys are off in SQLite unless asked for."""

    @event.listens_for(engine, "connect")
    def _on_connect(connection, _record) -> None:
        cursor = connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()


def migrate(engine: Engine) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def open_store(url: str) -> sessionmaker:
    """An engine on ``url`` with the schema brought to the latest migration, as a session factory."""
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    engine = create_engine(url, pool_pre_ping=True)
    if engine.dialect.name == "sqlite":
        _sqlite_pragmas(engine)
    migrate(engine)
    return sessionmaker(engine, expire_on_commit=False)
