"""Every request body bounded before any route sees it.

Starlette reads a multipart upload whole (spooled to disk) before the route runs, so the routes' own caps
alone would still let one 2 GB upload fill the server's disk. A body declared too long is refused unread;
one that grows past the cap as it streams in is cut off there.
"""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

FRAMING = 1 << 20  # room for a multipart body's boundaries and headers around the file itself


def _declared_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _refuse(send: Send, limit: int) -> None:
    body = json.dumps({"detail": f"the upload is over {limit // (1 << 20)} MiB, the most this server takes"})
    headers = [(b"content-type", b"application/json"), (b"connection", b"close")]
    await send({"type": "http.response.start", "status": 413, "headers": headers})
    await send({"type": "http.response.body", "body": body.encode()})


class BodyLimit:
    """Refuse with 413 any request body over ``file_limit`` (plus multipart framing)."""

    def __init__(self, app: ASGIApp, file_limit: int) -> None:
        self.app = app
        self.file_limit = file_limit
        self.limit = file_limit + FRAMING

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _declared_length(scope)
        if declared is not None and declared > self.limit:
            await _refuse(send, self.file_limit)
            return
        received = 0
        started = cut_off = False

        async def bounded_receive() -> Message:
            nonlocal received, cut_off
            if cut_off:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    cut_off = True
                    if not started:
                        await _refuse(send, self.file_limit)
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if cut_off:
                return
            started = True
            await send(message)

        await self.app(scope, bounded_receive, guarded_send)
