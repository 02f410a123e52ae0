"""Request body size limit, enforced while the body streams in (not after it is buffered)."""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class BodyTooLarge(Exception):
    """Raised into the app's body read once the limit is passed."""


class BodyLimitMiddleware:
    """Answers 413 as soon as a request's body passes ``max_bytes``.

    A declared ``Content-Length`` over the limit is refused before reading anything;
    a chunked or lying body is counted chunk by chunk and cut off at the limit, so a
    huge upload never lands in memory or in a temp file.
    """

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = -1
                if declared > self.max_bytes:
                    await self._refuse(send, declared)
                    return
        received = 0
        overflowed = False
        answered = False

        async def counting_receive() -> Message:
            nonlocal received, overflowed
            if overflowed:
                raise BodyTooLarge()
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    overflowed = True
                    raise BodyTooLarge()
            return message

        async def replacing_send(message: Message) -> None:
            # Frameworks turn a failing body read into their own 400; once the limit was
            # passed, that answer is replaced by the 413 that says why.
            nonlocal answered
            if not overflowed:
                await send(message)
                return
            if not answered:
                answered = True
                await self._refuse(send, received)

        try:
            await self.app(scope, counting_receive, replacing_send)
        except BodyTooLarge:
            if not answered:
                answered = True
                await self._refuse(send, received)

    async def _refuse(self, send: Send, size: int) -> None:
        body = json.dumps(
            {
                "detail": f"request body too large: limit is {self.max_bytes} bytes, "
                f"got {'at least ' if size >= 0 else ''}{max(size, 0)} bytes",
                "error": "PayloadTooLarge",
            }
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
