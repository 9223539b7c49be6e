"""The FastAPI application: the store, the queue and its workers, and the routers of each concern."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader

from checks.assignments.tml25_a4.lime_params import LIMITS
from checks.server import lime_board, self_check_pages, ta_pages
from checks.server.auth import server_secret
from checks.server.body_limit import BodyLimit
from checks.server.job_queue import JobQueue
from checks.server.rate_limit import UploadLimiter
from checks.server.scoring_line import ScoringLine
from checks.server.settings import ServerSettings, private_folder
from checks.server.store import open_store
from checks.server.workers import WorkerPool

TEMPLATES = Path(__file__).with_name("templates")


class TokenFreeAccessLog(logging.Filter):
    """uvicorn logs each request line; a query string could carry a token, so only the path is kept."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and len(record.args) >= 3 and isinstance(record.args[2], str):
            record.args = (*record.args[:2], record.args[2].split("?", 1)[0], *record.args[3:])
        return True


def create_app(settings: ServerSettings, start_workers: bool = True) -> FastAPI:
    """The server for ``settings``; with ``start_workers`` False jobs wait in the store (for tests of the queue)."""
    private_folder(settings.folder)
    store = open_store(settings.store_url)
    queue = JobQueue(store, settings.rate.waiting, settings.full_per_day)
    pool = WorkerPool(store, queue, settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if start_workers:
            pool.start()
        yield
        pool.stop()

    app = FastAPI(title="xaigrader", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.settings = settings
    app.state.store = store
    app.state.secret = server_secret(settings.folder)
    app.state.queue = queue
    app.state.pool = pool
    app.state.limiter = UploadLimiter(settings.rate)
    app.state.lime_limiter = UploadLimiter(settings.rate)
    app.state.scoring_line = ScoringLine(settings.scoring_places)
    app.state.templates = Jinja2Templates(env=Environment(loader=FileSystemLoader(TEMPLATES), autoescape=True))
    for router in (self_check_pages.router, lime_board.router, ta_pages.router):
        app.include_router(router)
    app.add_middleware(BodyLimit, file_limit=max(settings.max_upload_bytes, LIMITS.max_bytes))
    logging.getLogger("uvicorn.access").addFilter(TokenFreeAccessLog())
    return app
