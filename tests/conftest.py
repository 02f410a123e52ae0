"""Shared fixtures: real sample data from ../shared and throw-away workspaces."""

from __future__ import annotations

import contextlib
import functools
import http.server
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

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
