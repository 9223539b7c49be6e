"""The server's class folder per assignment: a ``xaigrader grade`` output folder that the publish layer renders,
so TAs' pages and exports are exactly what the command line writes.

A class folder holds imported results and each member's latest result graded by the server. Which one a
student's folder came from is kept in ``.sources.json`` (a dot-name, so never a student's folder). Every path
here is made from an assignment id of the server's settings, a plain student name, or a job's number.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import shutil
import tempfile
import threading
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from checks.data.class_folder import GRADEBOOK_FILE, OVERRIDES_FILE, RESULTS_FILE, is_class_file
from checks.data.files import write_json, write_text_atomically
from checks.grading.scheme import load_assignment
from checks.publish.overrides import COLUMNS, Override, apply_overrides, load_overrides
from checks.publish.publisher import Published, load_results, publish
from checks.server.job_grading import JobFolders
from checks.server.settings import ServerSettings
from checks.server.store import DONE, STAFF_ROLES, Job, Member, TaMark, now

CLASSES = "classes"
SOURCES_FILE = ".sources.json"
STAGING = ".staging"
PLAIN_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
"""A student folder's name as the batch's intake makes it (and the roster allows); nothing else is copied."""
_locks: dict[Path, threading.Lock] = {}
_locks_guard = threading.Lock()


def class_folder(settings: ServerSettings, assignment_id: str) -> Path:
    """Only an assignment the server serves names a folder, so a request's text never becomes a path."""
    if assignment_id not in settings.assignments:
        raise ValueError(f"this server serves {', '.join(settings.assignments)}, not {assignment_id[:60]!r}")
    return settings.folder / CLASSES / assignment_id


def is_student_name(name: str) -> bool:
    return bool(PLAIN_NAME.fullmatch(name)) and not is_class_file(name)


def _lock(folder: Path) -> threading.Lock:
    """One refresh of a class at a time in this process: two TAs marking at once must not interleave writes."""
    with _locks_guard:
        return _locks.setdefault(folder, threading.Lock())


def _read_sources(folder: Path) -> dict[str, Any]:
    try:
        return json.loads((folder / SOURCES_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {"students": {}, "published": None}


def _without_links(directory: str, names: list[str]) -> list[str]:
    """copytree's ignore: links are left behind, so nothing copied points outside the class folder."""
    return [name for name in names if Path(directory, name).is_symlink()]


def _place(settings: ServerSettings, folder: Path, student: str, source: Path | None, payload: dict[str, Any]) -> None:
    """The student's folder becomes a copy of ``source`` (without links) holding ``payload`` as its results,
    staged beside the classes so a half-made copy is never read as a student."""
    staging = settings.folder / CLASSES / STAGING / folder.name
    shutil.rmtree(staging, ignore_errors=True)
    if source is not None and source.is_dir() and not source.is_symlink():
        shutil.copytree(source, staging, ignore=_without_links)
    staging.mkdir(parents=True, exist_ok=True)
    write_json(staging / RESULTS_FILE, payload)
    target = folder / student
    shutil.rmtree(target, ignore_errors=True)
    folder.mkdir(parents=True, exist_ok=True)
    staging.rename(target)


def _source_payloads(source: Path, served: tuple[str, ...]) -> dict[str, dict[str, Any]]:
    """Every student folder of a graded folder, all checked before anything is copied."""
    if not source.is_dir():
        raise ValueError(f"{source} is not a folder")
    payloads: dict[str, dict[str, Any]] = {}
    for entry in sorted(source.iterdir()):
        if entry.is_symlink() or not entry.is_dir() or not (entry / RESULTS_FILE).is_file():
            continue
        if not is_student_name(entry.name):
            raise ValueError(f"{entry.name!r} is not a plain student name; rename that folder or leave it out")
        try:
            payload = json.loads((entry / RESULTS_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise ValueError(f"{entry / RESULTS_FILE} cannot be read ({error}); regrade that student") from None
        if not isinstance(payload, dict) or payload.get("student") != entry.name:
            raise ValueError(f"{entry / RESULTS_FILE} is not the results of student {entry.name}")
        if payload.get("assignment") not in served:
            raise ValueError(
                f"{entry.name} was graded for {payload.get('assignment')!r}; this server serves {', '.join(served)}"
            )
        payloads[entry.name] = payload
    if not payloads:
        raise ValueError(f"no <student>/{RESULTS_FILE} under {source}: point at a `xaigrader grade` output folder")
    assignments = sorted({payload["assignment"] for payload in payloads.values()})
    if len(assignments) > 1:
        raise ValueError(f"{source} mixes results of {', '.join(assignments)}; import one assignment at a time")
    return payloads


def ta_mark(assignment_id: str, override: Override, marked_by: str) -> TaMark:
    """An overrides.csv line as the store keeps it: with who set it and when."""
    return TaMark(
        assignment=assignment_id,
        student=override.student,
        item=override.item,
        marks=override.marks,
        comment=override.comment,
        marked_by=marked_by,
        marked_at=now(),
    )


def import_graded_folder(settings: ServerSettings, store: sessionmaker, source: Path, marked_by: str) -> list[str]:
    """Copies a ``xaigrader grade`` output folder's students into the class folder and its ``overrides.csv``
    valid lines into the store as marks by ``marked_by``, then republishes; returns the imported student ids."""
    payloads = _source_payloads(source, settings.assignments)
    assignment_id = next(iter(payloads.values()))["assignment"]
    folder = class_folder(settings, assignment_id)
    overrides = load_overrides(source / OVERRIDES_FILE, list(payloads.values()), load_assignment(assignment_id))
    with _lock(folder):
        sources = _read_sources(folder)
        for student, payload in payloads.items():
            _place(settings, folder, student, source / student, payload)
            sources["students"][student] = {"job": None, "mode": payload.get("mode"), "at": now().isoformat()}
        write_json(folder / SOURCES_FILE, sources)
    with store.begin() as session:
        for override in overrides.valid:
            session.add(ta_mark(assignment_id, override, marked_by))
    refresh_class(settings, store, assignment_id)
    return list(payloads)


def _chosen_jobs(store: sessionmaker, assignment_id: str) -> dict[str, Job]:
    """Each student's or team's latest finished server job of the assignment, a full run before any quick one
    (staff's own trial uploads are not the class's)."""
    with store() as session:
        jobs = session.scalars(
            select(Job)
            .join(Member, Member.id == Job.member_id)
            .where(Job.assignment == assignment_id, Job.status == DONE, Member.role.not_in(STAFF_ROLES))
            .order_by(Job.finished_at, Job.id)
        ).all()
    chosen: dict[str, Job] = {}
    for job in jobs:
        if job.result_json and (job.mode == "full" or chosen.get(job.member_id, job).mode != "full"):
            chosen[job.member_id] = job
    return chosen


def _replaces(job: Job, current: dict[str, Any] | None) -> bool:
    """Whether the job's result should replace what the student's folder holds: another job always (the job
    chosen is the preferred one); an imported result only when the job is newer and not a quick run standing
    in for an imported full one."""
    if current is None:
        return True
    if current["job"] is not None:
        return current["job"] != job.id
    newer = job.finished_at is not None and job.finished_at > datetime.fromisoformat(current["at"])
    return newer and not (current["mode"] == "full" and job.mode != "full")


def _latest_marks(store: sessionmaker, assignment_id: str) -> list[TaMark]:
    """The latest mark per (student, item), sorted as the file lists them."""
    with store() as session:
        marks = session.scalars(
            select(TaMark).where(TaMark.assignment == assignment_id).order_by(TaMark.marked_at, TaMark.id)
        ).all()
    latest = {(mark.student, mark.item): mark for mark in marks}
    return [latest[key] for key in sorted(latest)]


def overrides_text(marks: list[TaMark]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(COLUMNS)
    for mark in marks:
        writer.writerow([mark.student, mark.item, str(mark.marks), mark.comment])
    return buffer.getvalue()


def _current(folder: Path, payloads: list[dict[str, Any]]) -> Published:
    """The finals as the last publish made them, without writing anything."""
    assignment = load_assignment(payloads[0]["assignment"])
    overrides = load_overrides(folder / OVERRIDES_FILE, payloads, assignment)
    return Published([apply_overrides(p, assignment, overrides.valid) for p in payloads], overrides.problems)


def refresh_class(settings: ServerSettings, store: sessionmaker, assignment_id: str) -> Published:
    """Brings the class folder up to date with the server's jobs and the TAs' marks and republishes it when
    anything changed; returns the final results and the marks that no longer apply."""
    folder = class_folder(settings, assignment_id)
    jobs = _chosen_jobs(store, assignment_id)
    marks = _latest_marks(store, assignment_id)
    with _lock(folder):
        sources = _read_sources(folder)
        for student, job in jobs.items():
            if is_student_name(student) and _replaces(job, sources["students"].get(student)):
                payload = json.loads(job.result_json)
                _place(settings, folder, student, JobFolders(settings.folder).result(job.id), payload)
                sources["students"][student] = {"job": job.id, "mode": job.mode, "at": job.finished_at.isoformat()}
        try:
            payloads = load_results(folder)
        except FileNotFoundError:
            return Published([], [])
        text = overrides_text(marks)
        state = json.dumps({"students": sources["students"], "overrides": text}, sort_keys=True)
        signature = hashlib.sha256(state.encode()).hexdigest()
        if signature == sources.get("published") and (folder / GRADEBOOK_FILE).is_file():
            return _current(folder, payloads)
        write_text_atomically(folder / OVERRIDES_FILE, text)
        published = publish(folder, payloads)
        sources["published"] = signature
        write_json(folder / SOURCES_FILE, sources)
        return published


class MarkError(ValueError):
    """A TA's mark that overrides.csv would refuse, with the reason its line would get."""


def judge_mark(payloads: list[dict[str, Any]], student: str, item: str, marks: str, comment: str) -> Override:
    """The mark as one overrides.csv line judged by the publish layer itself, so the browser and the file
    accept exactly the same marks; the item comes back canonical (a task id or a check's name)."""
    if not marks.strip():
        raise MarkError("marks are needed (a number)")
    if not payloads:
        raise MarkError(f"no graded student {student!r}")
    buffer = io.StringIO()
    csv.writer(buffer).writerows([COLUMNS, [student, item, marks, comment]])
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch, OVERRIDES_FILE)
        path.write_text(buffer.getvalue(), encoding="utf-8")
        judged = load_overrides(path, payloads, load_assignment(payloads[0]["assignment"]))
    if judged.problems:
        raise MarkError(judged.problems[0].split(": ", 1)[-1])
    return judged.valid[0]
