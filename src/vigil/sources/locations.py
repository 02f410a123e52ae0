"""Where a source lives: a stream URL or a local path, told apart once, strictly.

Why strict: a location such as ``x://../../../../etc/passwd`` used to pass as "a URL"
(so the API skipped its folder check) and was then resolved as a *path* relative to
the server's working directory. Here a location with ``scheme://`` is either a known
stream scheme, parsed and validated as a URL, or a ``file://`` URL turned into the
path it names; any other scheme is refused. Everything else is a path, and callers
resolve and check that path (the API against the home and ``api.media_roots``).

>>> parse_location("rtsp://10.0.0.5/stream1")
Location(url='rtsp://10.0.0.5/stream1', path=None)
>>> parse_location("file:///srv/clips/a.mp4")
Location(url=None, path=PosixPath('/srv/clips/a.mp4'))
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from vigil.errors import InvalidInputError

STREAM_SCHEMES = frozenset({"rtsp", "rtsps", "rtmp", "rtmps", "http", "https"})
MAX_PATH_CHARS = 4096  # Linux PATH_MAX
MAX_NAME_BYTES = 255  # one path component (NAME_MAX on Linux, macOS and Windows file systems)

# RFC 3986 scheme followed by '//'; a Windows drive (C:\x, C:/x) has no '//' after it.
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")


@dataclass(frozen=True)
class Location:
    """Exactly one of ``url`` (a live stream) and ``path`` (a local file or folder)."""

    url: str | None = None
    path: Path | None = None


def parse_location(location: str) -> Location:
    """A stream URL or a local path (not yet resolved); anything ambiguous is refused."""
    if not location.strip():
        raise InvalidInputError("source location must not be empty")
    if "\x00" in location:
        raise InvalidInputError("source location must not contain a NUL character")
    found = _SCHEME.match(location)
    if found is None:
        return Location(path=_checked_path(location, location))
    scheme = found.group(1).lower()
    if scheme == "file":
        return Location(path=_file_url_path(location))
    if scheme not in STREAM_SCHEMES:
        raise InvalidInputError(
            f"unsupported URL scheme {scheme!r} in source location {_short(location)}; "
            f"a stream needs one of {sorted(STREAM_SCHEMES)}, a file or folder is a plain path"
        )
    try:
        parts = urlsplit(location)
        host = parts.hostname
        parts.port  # noqa: B018  (parsing the port validates it)
    except ValueError as error:
        raise InvalidInputError(f"stream URL {_short(location)} is malformed: {error}") from None
    if not host:
        raise InvalidInputError(f"stream URL {_short(location)} has no host")
    return Location(url=location)


def _file_url_path(location: str) -> Path:
    """``file:///abs/path`` (or ``file://localhost/abs/path``) as the path it names."""
    parts = urlsplit(location)
    if parts.netloc not in ("", "localhost"):
        raise InvalidInputError(
            f"file URL {_short(location)} names another host ({parts.netloc!r}); "
            "only local files are supported"
        )
    if parts.query or parts.fragment:
        raise InvalidInputError(f"file URL {_short(location)} must not have a query or fragment")
    path = unquote(parts.path)
    if not path.startswith("/"):
        raise InvalidInputError(f"file URL {_short(location)} must name an absolute path")
    return _checked_path(path, location)


def _checked_path(text: str, location: str) -> Path:
    """Refuse paths the operating system would reject with an error (too long, NUL)."""
    if "\x00" in text:
        raise InvalidInputError("source location must not contain a NUL character")
    if len(text) > MAX_PATH_CHARS:
        raise InvalidInputError(
            f"source location is {len(text)} characters, more than the {MAX_PATH_CHARS} a "
            "path may have"
        )
    path = Path(text)
    for part in path.parts:
        if len(part.encode("utf-8", "surrogateescape")) > MAX_NAME_BYTES:
            raise InvalidInputError(
                f"source location {_short(location)} has a name longer than {MAX_NAME_BYTES} "
                "bytes, which no file system allows"
            )
    return path


def _short(text: str, limit: int = 80) -> str:
    return repr(text if len(text) <= limit else text[:limit] + "...")


__all__ = ["MAX_NAME_BYTES", "MAX_PATH_CHARS", "STREAM_SCHEMES", "Location", "parse_location"]
