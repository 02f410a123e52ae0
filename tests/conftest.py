"""Shared fixtures: real sample data from ../shared and throw-away workspaces."""

from __future__ import annotations

import contextlib
import functools
import http.server
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, Page, Route, sync_playwright

REPO_ROOT = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path:
    """The real data folder: ``VIGIL_SHARED_DATA``, else ``../shared/data`` beside the checkout,
    else ``.cache/data`` where scripts/setup fetches the clip in a bare clone (see shared/DATA.md).
    """
    if os.environ.get("VIGIL_SHARED_DATA"):
        return Path(os.environ["VIGIL_SHARED_DATA"])
    beside = REPO_ROOT.parent / "shared" / "data"
    if (beside / "vtest.avi").is_file():
        return beside
    return REPO_ROOT / ".cache" / "data"


@pytest.fixture(scope="session")
def vtest_path() -> Path:
    """Real surveillance clip: 768x576, 10 fps, 795 frames, pedestrians on a walkway."""
    path = shared_data_dir() / "vtest.avi"
    if not path.exists():
        pytest.fail(f"real sample video missing: {path} (scripts/setup fetches it)")
    return path


@pytest.fixture
def http_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A loopback HTTP server over a temp folder: yields (base URL, folder)."""

    class QuietHandler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def handle(self) -> None:
            # The client may hang up mid-transfer (that is what a reader does on close).
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                super().handle()

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(tmp_path))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", tmp_path
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


# -- the web console in a real browser (Debian's chromium through Playwright) ----------------

CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.skip("Debian chromium is not installed at /usr/bin/chromium")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def outside() -> list[str]:
    """Requests the page tried to send off this machine (blocked)."""
    return []


@pytest.fixture
def page(browser: Browser, outside: list[str]) -> Iterator[Page]:
    # UTC: capture times print the same wherever the suite runs.
    context = browser.new_context(viewport={"width": 1280, "height": 900}, timezone_id="UTC")

    def offline(route: Route) -> None:  # an operator's network may reach nothing else
        host = urlsplit(route.request.url).hostname or ""
        if route.request.url.startswith(("data:", "blob:")) or host in ("127.0.0.1", "localhost"):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    context.route("**/*", offline)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    context.close()
    assert errors == [], f"JavaScript errors on the page: {errors}"
    assert outside == [], f"requests off this machine: {outside}"
