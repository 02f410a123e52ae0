"""What routes get injected: the shared services and the caller's identity.

Routes declare ``Depends(services)`` and ``Depends(require_read)`` /
``Depends(require_admin)``; ``create_app`` puts one ``Services`` on ``app.state``,
so tests build the app with their own workspace and nothing is global.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status

from vigil.api.auth import (
    LOCAL_USER,
    KeyVerifier,
    Principal,
    is_loopback,
    retry_seconds,
)
from vigil.api.jobs import JobManager
from vigil.catalog.api_store import ApiStore, Role
from vigil.errors import InvalidInputError, KeyCheckBusyError
from vigil.settings import Settings
from vigil.sources.clips import ClipCache
from vigil.workspace import Workspace

API_KEY_HEADER = "X-API-Key"
KEY_COOKIE = "vigil_key"


@dataclass
class Services:
    """Everything a request may use, built once per app."""

    settings: Settings
    workspace: Workspace
    store: ApiStore
    keys: KeyVerifier
    jobs: JobManager
    home: Path = field(init=False)
    clips: ClipCache = field(init=False)

    def __post_init__(self) -> None:
        self.home = Path(self.settings.home).resolve()
        # Clips around hits, cut on first view; a read-only archive keeps them in /tmp.
        folder = self.home / "cache" / "clips"
        if self.workspace.read_only:
            tag = hashlib.sha256(str(self.home).encode()).hexdigest()[:12]
            folder = Path(tempfile.gettempdir()) / f"vigil-clips-{os.getuid()}-{tag}"
        self.clips = ClipCache(folder)

    @property
    def loopback_only(self) -> bool:
        return is_loopback(self.settings.api.host)

    def auth_required(self) -> bool:
        return not self.loopback_only or self.store.has_active_keys()

    def inside_home(self, relative: str) -> Path:
        """``home / relative`` resolved, refusing anything that lands outside the home."""
        path = (self.home / relative).resolve()
        if not path.is_relative_to(self.home):
            raise InvalidInputError(f"path {relative!r} is outside the workspace")
        return path

    def allowed_location(self, location: str | Path) -> str:
        """A file or folder location resolved and checked against home and media roots.

        ``location`` must already be a path (``parse_location``), never a URL.
        """
        path = Path(location).expanduser()
        if not path.is_absolute():
            path = self.home / path
        try:
            path = path.resolve()
        except OSError as error:  # a symlink loop, an unreadable parent
            raise InvalidInputError(
                f"location {str(location)!r} cannot be resolved: {error}"
            ) from None
        roots = [
            self.home,
            *(Path(r).expanduser().resolve() for r in self.settings.api.media_roots),
        ]
        if not any(path.is_relative_to(root) for root in roots):
            raise InvalidInputError(
                f"location {str(location)!r} resolves outside the workspace home and the allowed "
                f"media folders ({', '.join(str(r) for r in roots)}); add its folder to "
                "api.media_roots (VIGIL_API__MEDIA_ROOTS) to allow it"
            )
        return str(path)


def services(request: Request) -> Services:
    found = request.app.state.services
    assert isinstance(found, Services)
    return found


ServicesDep = Annotated[Services, Depends(services)]


def _token(request: Request) -> str | None:
    header = request.headers.get(API_KEY_HEADER)
    if header:
        return header.strip()
    authorization = request.headers.get("Authorization", "")
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    # The console's <img> tags cannot send headers: a cookie is accepted, for reads only,
    # so a cross-site form can never change anything with it.
    if request.method in ("GET", "HEAD"):
        return request.cookies.get(KEY_COOKIE) or None
    return None


def principal(request: Request, svc: ServicesDep) -> Principal:
    token = _token(request)
    if token is None:
        if not svc.auth_required():
            return LOCAL_USER
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail=f"an API key is required: send it in the {API_KEY_HEADER} header "
            "(create one with 'vigil api-key create --role read|admin')",
            headers={"WWW-Authenticate": "Bearer"},
        )
    found = svc.keys.cached(token)
    if found is not None:  # verified moments ago: no throttle, no hash
        return found
    client = request.client.host if request.client else "unknown"
    try:
        found = svc.keys.check(token, client)
    except KeyCheckBusyError as error:
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            detail=str(error),
            headers={"Retry-After": retry_seconds(error.retry_after)},
        ) from None
    if found is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail="the API key is unknown, malformed or revoked",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return found


def require_read(who: Annotated[Principal, Depends(principal)]) -> Principal:
    return who


def require_admin(who: Annotated[Principal, Depends(principal)]) -> Principal:
    if who.role != Role.ADMIN:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            detail=f"this needs an admin key; key {who.name!r} has role {who.role}",
        )
    return who


Reader = Annotated[Principal, Depends(require_read)]
Admin = Annotated[Principal, Depends(require_admin)]
