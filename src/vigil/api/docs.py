"""Swagger UI and ReDoc served from this server, so ``/docs`` works on a machine offline.

FastAPI's own pages load their JavaScript and CSS from a CDN; an operator on an isolated
network then sees a blank page. The assets come from the ``fastapi-offline`` package
(MIT; it ships swagger-ui-bundle.js/css and redoc.standalone.js), and the pages are built
by FastAPI's documented helpers (``get_swagger_ui_html``, ``get_redoc_html``) pointed at
them, as in FastAPI's "Custom Docs UI Static Assets (Self-Hosting)" how-to.

>>> app = FastAPI(docs_url=None, redoc_url=None)  # doctest: +SKIP
>>> install_docs(app)  # doctest: +SKIP
"""

from __future__ import annotations

from importlib.util import find_spec
from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.staticfiles import StaticFiles
from starlette.responses import HTMLResponse

ASSETS_URL = "/docs-assets"
OAUTH2_REDIRECT_URL = "/docs/oauth2-redirect"
# The pages may load from this server only: the browser itself refuses anything else (ReDoc's
# bundle fetches its maker's logo from a CDN, and hides it when that fails). Inline script and
# style are the page templates' own; blob: workers are ReDoc's search.
SAME_ORIGIN_ONLY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline' blob:; "
    "style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; "
    "worker-src 'self' blob:; connect-src 'self'"
)


def _same_origin(page: HTMLResponse) -> HTMLResponse:
    page.headers["Content-Security-Policy"] = SAME_ORIGIN_ONLY
    return page


def assets_dir() -> Path:
    """The folder holding swagger-ui-bundle.js, swagger-ui.css and redoc.standalone.js.

    Found without importing the package: only its files are used, never its app class.
    """
    spec = find_spec("fastapi_offline")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("fastapi-offline is not installed (a Vigil dependency: scripts/setup)")
    return Path(next(iter(spec.submodule_search_locations))) / "static"


def install_docs(app: FastAPI, *, title: str) -> None:
    """Add ``/docs`` (Swagger UI) and ``/redoc`` with their assets served from ``ASSETS_URL``.

    The app must be built with ``docs_url=None, redoc_url=None`` so these are the only ones.
    """
    app.mount(ASSETS_URL, StaticFiles(directory=assets_dir()), name="docs-assets")
    openapi_url = app.openapi_url or "/openapi.json"

    @app.get("/docs", include_in_schema=False)
    def swagger_ui() -> HTMLResponse:
        return _same_origin(
            get_swagger_ui_html(
                openapi_url=openapi_url,
                title=f"{title} — API",
                swagger_js_url=f"{ASSETS_URL}/swagger-ui-bundle.js",
                swagger_css_url=f"{ASSETS_URL}/swagger-ui.css",
                swagger_favicon_url=f"{ASSETS_URL}/favicon.png",
                oauth2_redirect_url=OAUTH2_REDIRECT_URL,
            )
        )

    @app.get(OAUTH2_REDIRECT_URL, include_in_schema=False)
    def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get("/redoc", include_in_schema=False)
    def redoc() -> HTMLResponse:
        return _same_origin(
            get_redoc_html(
                openapi_url=openapi_url,
                title=f"{title} — API reference",
                redoc_js_url=f"{ASSETS_URL}/redoc.standalone.js",
                redoc_favicon_url=f"{ASSETS_URL}/favicon.png",
                with_google_fonts=False,  # fonts from Google are an outside request too
            )
        )


__all__ = ["ASSETS_URL", "assets_dir", "install_docs"]
