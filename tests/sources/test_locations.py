"""Source locations: a known stream scheme is a URL, ``file://`` is the path it names,
any other scheme is refused, and paths the OS would choke on are input errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from vigil.errors import InvalidInputError
from vigil.settings import EmbedderSettings, Settings
from vigil.sources.locations import MAX_NAME_BYTES, Location, parse_location
from vigil.sources.types import SourceKind
from vigil.workspace import Workspace


@pytest.mark.parametrize(
    ("location", "expected"),
    [
        ("rtsp://10.0.0.5/stream1", Location(url="rtsp://10.0.0.5/stream1")),
        ("HTTPS://cam.example:8443/live", Location(url="HTTPS://cam.example:8443/live")),
        ("file:///srv/clips/a%20b.mp4", Location(path=Path("/srv/clips/a b.mp4"))),
        ("file://localhost/srv/x", Location(path=Path("/srv/x"))),
        ("clips/walkway.avi", Location(path=Path("clips/walkway.avi"))),
        ("C:\\clips\\a.mp4", Location(path=Path("C:\\clips\\a.mp4"))),
        ("x:/../etc", Location(path=Path("x:/../etc"))),  # no '//': a (relative) path
    ],
)
def test_locations_parse_as_a_url_or_a_path(location: str, expected: Location) -> None:
    assert parse_location(location) == expected


@pytest.mark.parametrize(
    ("location", "message"),
    [
        ("x://../../../../etc/passwd", "unsupported URL scheme 'x'"),
        ("ftp://host/file", "unsupported URL scheme 'ftp'"),
        ("file://evil.example/etc/passwd", "another host"),
        ("file://relative", "another host"),
        ("file:///a?b=1", "query or fragment"),
        ("rtsp:///stream", "has no host"),
        ("rtsp://host:99999/stream", "malformed"),
        ("a" * 4096, f"longer than {MAX_NAME_BYTES} bytes"),
        ("a/" * 2100, "more than the 4096"),
        ("", "must not be empty"),
    ],
)
def test_ambiguous_or_impossible_locations_are_refused(location: str, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        parse_location(location)


def test_the_workspace_refuses_unknown_schemes_and_resolves_file_urls(
    tmp_path: Path, vtest_path: Path
) -> None:
    settings = Settings(home=tmp_path / "home", embedder=EmbedderSettings(name="fake"))
    with Workspace.open(settings) as ws:
        with pytest.raises(InvalidInputError, match="unsupported URL scheme"):
            ws.add_source("x://../../../../etc/passwd", kind=SourceKind.VIDEO, check=False)
        with pytest.raises(InvalidInputError, match="needs a local path"):
            ws.add_source("rtsp://10.0.0.5/cam", kind=SourceKind.IMAGES, check=False)
        with pytest.raises(InvalidInputError, match="needs a URL"):
            ws.add_source(str(vtest_path), kind=SourceKind.STREAM, check=False)
        added = ws.add_source(vtest_path.resolve().as_uri())
        assert added.location == str(vtest_path.resolve()) and added.kind == SourceKind.VIDEO
        assert [s.location for s in ws.list_sources()] == [str(vtest_path.resolve())]
