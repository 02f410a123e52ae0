"""Vigil's exception tree.

Every error the library raises on purpose is a ``VigilError``; errors from
decoders, model runtimes and databases are wrapped at the boundary so that the
CLI and the REST API can turn any of them into one clear line::

    VigilError
    ├── InvalidInputError      bad argument from a user: empty query, wrong image, bad window
    │   ├── ImageTooLargeError declared pixel count over the decoder's limit (a bomb)
    │   ├── UnsupportedImageError  uploaded bytes are not an image the decoder reads
    │   └── ServeRefusedError  the server would be reachable from the network unguarded
    ├── NotFoundError          unknown source / frame / model id
    ├── ConflictError          a change lost a race against another change
    │   └── ScenarioConflictError  a newer scenario version was saved since the edit began
    ├── SourceError            a source cannot be opened or decoded
    │   ├── CorruptMediaError  the file is truncated, corrupt or not media at all
    │   ├── StreamUnavailableError  an RTSP/HTTP stream cannot be reached
    │   └── SourceBusyError    another process is writing this source (the message names it)
    ├── ModelUnavailableError  a model backend's weights or packages are missing
    ├── KeyCheckBusyError      an API key cannot be checked now (throttled or busy): retry
    ├── CatalogError           the catalog database is missing, locked or inconsistent
    │   └── ReadOnlyWorkspaceError  a write was asked of a workspace opened read-only
    ├── VectorIndexError       the vector index file is unreadable or mismatched
    └── ClusterError           a Ray cluster cannot be reached or lost work beyond retries

The REST API maps these by class (``vigil.api.app.status_of``), never by name;
declare a new error here, under the branch whose status it should get.
"""

from __future__ import annotations


class VigilError(Exception):
    """Base class of every error Vigil raises on purpose."""


class InvalidInputError(VigilError, ValueError):
    """A user-supplied argument is invalid (the message says what was expected)."""


class ImageTooLargeError(InvalidInputError):
    """An image declares more pixels than the decoder will allocate (a decompression bomb)."""


class UnsupportedImageError(InvalidInputError):
    """Uploaded bytes are not an image the decoder understands (the API answers 415)."""


class NotFoundError(VigilError, LookupError):
    """An id or name does not refer to anything in the catalog."""


class ServeRefusedError(InvalidInputError):
    """The server would be reachable from the network with nothing guarding it."""


class ConflictError(VigilError):
    """A change lost a race: somebody else changed the same thing first (answered with 409)."""


class ScenarioConflictError(ConflictError):
    """Somebody saved a newer version since the edit started (answered with 409)."""


class PromotionError(ConflictError):
    """A champion change the registry's state does not allow (answered with 409).

    Promoting a model that is not ``ready`` (rejected, failed, training) or already the
    champion, rolling back with no earlier champion, or a promotion that raced another
    one of the same scenario. Nothing was changed.
    """


class SourceError(VigilError):
    """A source cannot be opened or read."""


class CorruptMediaError(SourceError):
    """The media is truncated, corrupt, or not a format the decoder understands."""


class StreamUnavailableError(SourceError):
    """A live stream could not be reached or dropped and did not come back."""


class SourceBusyError(SourceError):
    """Another process holds the source's writer lock (the message says which, and where)."""


class ModelUnavailableError(VigilError):
    """A model backend cannot be loaded (missing weights or packages)."""


class KeyCheckBusyError(VigilError):
    """An API key cannot be checked now (too many wrong keys, or every hash slot busy).

    ``retry_after`` is the number of seconds after which the client may try again.
    """

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class CatalogError(VigilError):
    """The catalog database cannot be used (missing, locked, inconsistent)."""


class ReadOnlyWorkspaceError(CatalogError):
    """The workspace was opened read-only (its home cannot be written), and a write was asked."""


class VectorIndexError(VigilError):
    """The vector index cannot be read, written, or does not match the catalog."""


class ClusterError(VigilError):
    """The Ray cluster could not be reached, or lost work beyond its retry budget."""


__all__ = [
    "CatalogError",
    "ClusterError",
    "ConflictError",
    "CorruptMediaError",
    "ImageTooLargeError",
    "InvalidInputError",
    "KeyCheckBusyError",
    "ModelUnavailableError",
    "NotFoundError",
    "ReadOnlyWorkspaceError",
    "ScenarioConflictError",
    "ServeRefusedError",
    "SourceBusyError",
    "SourceError",
    "StreamUnavailableError",
    "UnsupportedImageError",
    "VectorIndexError",
    "VigilError",
]
