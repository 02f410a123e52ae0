"""The REST API and web console app, built by a factory with its dependencies injected.

>>> app = create_app(Settings(home=Path("vigil-data")))  # doctest: +SKIP
>>> uvicorn.run(app, host="127.0.0.1", port=8765)  # doctest: +SKIP

Every error leaves as JSON ``{"detail": "...", "error": "<type>"}`` with a status that
says whose fault it was (4xx: the request; 503: a model or database that cannot be
used); a 500 means a bug.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio.to_thread
from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

import vigil
from vigil.api.auth import KeyVerifier, is_loopback
from vigil.api.deps import Services
from vigil.api.docs import install_docs
from vigil.api.guards import CatchAllMiddleware, HostOriginMiddleware
from vigil.api.jobs import JobManager
from vigil.api.limits import BodyLimitMiddleware
from vigil.api.routes import (
    anomaly,
    clusters,
    events,
    frames,
    jobs,
    models,
    scenarios,
    search,
    site,
    sources,
    system,
    tracks,
)
from vigil.catalog.api_store import ApiStore
from vigil.errors import (
    CatalogError,
    ConflictError,
    ImageTooLargeError,
    InvalidInputError,
    ModelUnavailableError,
    NotFoundError,
    ReadOnlyWorkspaceError,
    ServeRefusedError,
    SourceBusyError,
    SourceError,
    UnsupportedImageError,
    VectorIndexError,
    VigilError,
)
from vigil.settings import Settings
from vigil.workspace import Workspace

log = logging.getLogger(__name__)

CONSOLE_DIR = Path(__file__).parent / "console"
WorkspaceFactory = Callable[[Settings], Workspace]

# Most specific first: the first matching class decides the status.
_STATUS: list[tuple[type[VigilError], int]] = [
    (UnsupportedImageError, 415),
    (ImageTooLargeError, 413),
    (NotFoundError, 404),
    (ConflictError, 409),
    (InvalidInputError, 422),
    (SourceBusyError, 409),  # another process is indexing the source
    (ReadOnlyWorkspaceError, 409),  # a write asked of an archive served read-only
    (SourceError, 422),
    (ModelUnavailableError, 503),
    (CatalogError, 503),
    (VectorIndexError, 503),
]
_AREAS = (
    sources,
    jobs,
    search,
    frames,
    system,
    scenarios,
    events,
    models,
    clusters,
    tracks,
    site,
    anomaly,
)


def status_of(error: VigilError) -> int:
    """The HTTP status for a library error, by its class in ``vigil.errors``."""
    for kind, code in _STATUS:
        if isinstance(error, kind):
            return code
    return 400


def create_app(
    settings: Settings,
    *,
    workspace_factory: WorkspaceFactory = Workspace.open,
    routers: list[Any] | None = None,
) -> FastAPI:
    """Build the app over one workspace opened now by ``workspace_factory``.

    Refuses (``ServeRefusedError``) to serve a non-loopback address while no API key
    exists. ``routers`` adds extra areas (plug-ins, tests).
    """
    workspace = workspace_factory(settings)
    try:
        store = ApiStore(workspace.catalog)
        if not is_loopback(settings.api.host) and not store.has_active_keys():
            raise ServeRefusedError(
                f"refusing to serve on {settings.api.host}: it is not a loopback address and no "
                "API key exists, so anyone who can reach it could read and change everything; "
                "create a key first ('vigil api-key create --role admin') or bind 127.0.0.1"
            )
        services = Services(
            settings=settings,
            workspace=workspace,
            store=store,
            keys=KeyVerifier(store),
            jobs=JobManager(workspace, store, workers=settings.api.job_workers),
        )
    except BaseException:
        workspace.close()
        raise
    if services.jobs.recovered:
        log.warning(
            "%d unfinished jobs from an earlier run marked interrupted", services.jobs.recovered
        )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # Load the model and reconcile its index before the first request: both are lazy
        # properties of the workspace, and two first requests at once would build them twice.
        try:
            await anyio.to_thread.run_sync(lambda: workspace.vector_index)
        except VigilError as error:  # no model here: sources and jobs still work; search says 503
            log.warning("search is unavailable until this is fixed: %s", error)
        try:
            yield
        finally:
            services.jobs.shutdown()
            workspace.close()

    app = FastAPI(
        title="Vigil",
        version=vigil.__version__,
        description=(
            "Search idle camera video with plain words. Send an API key in the X-API-Key "
            "header; a server bound to loopback with no keys created lets local requests in."
        ),
        lifespan=lifespan,
        docs_url=None,  # served by install_docs from local assets, not a CDN
        redoc_url=None,
    )
    install_docs(app, title="Vigil")
    app.state.services = services
    for area in _AREAS:
        app.include_router(area.router)
    for router in routers or []:
        app.include_router(router)
    _install_error_handlers(app)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.api.max_upload_bytes)

    @app.middleware("http")
    async def security_headers(request: Request, call_next: Callable[[Request], Any]) -> Any:
        response = await call_next(request)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        response.headers.setdefault("X-Frame-Options", "DENY")
        return response

    # Added last = outermost: Host/Origin are checked before anything else runs, and the
    # catch-all sits just inside Starlette's error layer so a crash never drops keep-alive.
    app.add_middleware(
        HostOriginMiddleware,
        check_host=is_loopback(settings.api.host),
        allowed_hosts=[settings.api.host],
    )
    app.add_middleware(CatchAllMiddleware)

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/", include_in_schema=False)
    def root(request: Request) -> RedirectResponse:
        # The query travels along: a shared link like /?q=people opens that search.
        query = request.url.query
        return RedirectResponse(f"/console/?{query}" if query else "/console/")

    app.mount("/console", StaticFiles(directory=CONSOLE_DIR, html=True), name="console")
    return app


def _error(status: int, detail: str, error: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"detail": detail, "error": error, **extra}, status_code=status)


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(VigilError)
    async def vigil_error(_: Request, error: VigilError) -> JSONResponse:
        return _error(status_of(error), str(error), type(error).__name__)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, error: RequestValidationError) -> JSONResponse:
        problems = []
        malformed = False
        for item in error.errors():
            where = ".".join(str(p) for p in item.get("loc", ()))
            problems.append(f"{where}: {item.get('msg', 'invalid')}")
            malformed = malformed or item.get("type") == "json_invalid"
        if malformed:
            return _error(400, "the request body is not valid JSON", "MalformedJSON")
        return _error(422, "; ".join(problems) or "invalid request", "ValidationError")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, error: StarletteHTTPException) -> JSONResponse:
        response = _error(error.status_code, str(error.detail), _http_name(error.status_code))
        for key, value in (error.headers or {}).items():
            response.headers[key] = value
        return response

    @app.exception_handler(Exception)
    async def crash(_: Request, error: Exception) -> JSONResponse:
        log.exception("unhandled error")
        return _error(500, f"internal error: {type(error).__name__}", "InternalError")


def _http_name(code: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(code).phrase.replace(" ", "")
    except ValueError:
        return "HTTPError"


__all__ = ["HTTPException", "ServeRefusedError", "create_app", "status_of"]
