"""Request guards that run before any route: Host and Origin checks, and a last-resort
error answer that keeps the connection usable.

Why a Host check: a server on loopback with no keys lets local requests in as admin.
A web page on ``evil.example`` whose DNS name is re-pointed at 127.0.0.1 (DNS
rebinding) would be "local" too, but its requests carry ``Host: evil.example``; only
loopback names and the configured host are accepted, so it gets a 400. Requests that
did not come over a socket (in-process ASGI calls, e.g. Starlette's ``TestClient``)
have no peer address and no DNS to rebind, and are not checked.

Why an Origin check: a browser attaches ``Origin`` to every cross-site POST/PUT/PATCH/
DELETE. A state-changing request whose Origin is not this server's own origin is
refused with 403, whatever its credentials, so no other site can drive the API
through a visitor's browser.

Why a catch-all: Starlette answers an unhandled exception with a 500 and then
re-raises it into the server, which drops the keep-alive connection; the client's
next request on it fails. Catching here (inside the server's error layer) answers
the 500 as JSON and leaves the connection open.
"""

from __future__ import annotations

import ipaddress
import json
import logging
from collections.abc import Iterable
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger(__name__)

LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


async def send_json(send: Send, status: int, detail: str, error: str) -> None:
    body = json.dumps({"detail": detail, "error": error}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _host_name(host: str) -> str:
    """'example.org:8765' -> 'example.org'; '[::1]:8765' -> '::1'; lower case."""
    try:
        parsed = urlsplit(f"//{host}")
        return (parsed.hostname or "").lower()
    except ValueError:
        return ""


def _is_loopback_name(name: str) -> bool:
    if name in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _has_socket_peer(scope: Scope) -> bool:
    client = scope.get("client")
    if not client:
        return False
    try:
        ipaddress.ip_address(str(client[0]))
    except ValueError:
        return False  # e.g. Starlette's TestClient reports "testclient"
    return True


class HostOriginMiddleware:
    """400 for a ``Host`` not in the allowed names (loopback binds); 403 for a foreign
    ``Origin`` on a state-changing method (every bind)."""

    def __init__(self, app: ASGIApp, *, check_host: bool, allowed_hosts: Iterable[str]) -> None:
        self.app = app
        self.check_host = check_host
        self.allowed = {name.lower().strip("[]") for name in allowed_hosts}

    def host_allowed(self, name: str) -> bool:
        return _is_loopback_name(name) or name in self.allowed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        host_header = headers.get("host", "")
        if self.check_host and _has_socket_peer(scope):
            name = _host_name(host_header)
            if not self.host_allowed(name):
                await send_json(
                    send,
                    400,
                    f"Host {host_header[:100]!r} is not a name of this server; a loopback "
                    "server answers only to localhost, loopback addresses and its configured "
                    "host",
                    "InvalidHost",
                )
                return
        origin = headers.get("origin")
        if origin is not None and scope.get("method", "GET") in UNSAFE_METHODS:
            own_port = _port_of(host_header)
            if own_port == {"http": 80, "https": 443}.get(scope.get("scheme", "http")):
                own_port = None
            own = _host_name(host_header), own_port
            theirs = _origin_host_port(origin)
            if theirs != own:
                await send_json(
                    send,
                    403,
                    f"a {scope['method']} from origin {origin[:100]!r} is refused: only pages "
                    "served by this server may change anything",
                    "ForeignOrigin",
                )
                return
        await self.app(scope, receive, send)


def _port_of(host: str) -> int | None:
    try:
        return urlsplit(f"//{host}").port
    except ValueError:
        return -1


def _origin_host_port(origin: str) -> tuple[str, int | None] | None:
    """Origin 'http://h:p' -> ('h', p) with the scheme's default port left as None."""
    try:
        parsed = urlsplit(origin)
        port = parsed.port
    except ValueError:
        return None
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        return None  # 'null' (sandboxed pages, file://) is never our origin
    default = {"http": 80, "https": 443}[parsed.scheme]
    return parsed.hostname.lower(), None if port == default else port


class CatchAllMiddleware:
    """Answer an unexpected exception with a JSON 500 instead of letting it reach uvicorn.

    Installed innermost-but-one (just inside Starlette's own error layer) so that the
    server never sees the exception and keeps the keep-alive connection open.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as error:
            if started:  # half a response went out: only closing the connection is honest
                raise
            log.exception("unhandled error in %s %s", scope.get("method"), scope.get("path"))
            await send_json(send, 500, f"internal error: {type(error).__name__}", "InternalError")
