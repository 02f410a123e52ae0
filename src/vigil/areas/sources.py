"""The sources area: register, list, look up and remove cameras, files and folders."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from vigil.catalog.objects import ObjectVectors
from vigil.context import Context
from vigil.errors import InvalidInputError, SourceError
from vigil.search.filters import forget_removed
from vigil.sources.locations import STREAM_SCHEMES, parse_location
from vigil.sources.readers import detect_kind, probe
from vigil.sources.types import Source, SourceKind, SourceSpec
from vigil.structure.thumbnails import remove_source_media


class Sources:
    """``workspace.sources``: the sources of one workspace."""

    def __init__(self, context: Context) -> None:
        self.context = context

    def add(
        self,
        location: str,
        *,
        name: str | None = None,
        kind: SourceKind | None = None,
        site: str | None = None,
        position: str | None = None,
        metadata: dict[str, Any] | None = None,
        check: bool = True,
    ) -> Source:
        """Register a video file, image folder or stream; ``check`` opens it first.

        ``location`` is a stream URL of a known scheme, a ``file://`` URL or a path
        (resolved here); any other scheme is refused (``parse_location``).
        """
        self.context.require_writable("add a source")
        parsed = parse_location(location)
        if parsed.url is not None:
            if kind not in (None, SourceKind.STREAM):
                raise InvalidInputError(
                    f"a {kind.value} source needs a local path, got URL {location!r} "
                    "(use kind 'stream' for network sources)"
                )
            kind, location = SourceKind.STREAM, parsed.url
        else:
            assert parsed.path is not None
            if kind == SourceKind.STREAM:
                raise InvalidInputError(
                    f"a stream source needs a URL with scheme in {sorted(STREAM_SCHEMES)}, "
                    f"got {location!r}"
                )
            try:
                location = str(parsed.path.expanduser().resolve())
                kind = kind or detect_kind(location)
            except OSError as error:  # unreadable parent, too many symlinks ...
                raise SourceError(
                    f"source location {location[:200]!r} cannot be used: {error.strerror}"
                ) from None
        spec = SourceSpec(
            name=name or _default_name(location),
            kind=kind,
            location=location,
            site=site,
            position=position,
            metadata=metadata or {},
        )
        if check:
            probe(spec)
        return self.context.catalog.add_source(spec)

    def all(self) -> list[Source]:
        return self.context.catalog.list_sources()

    def get(self, id_or_name: int | str) -> Source:
        return self.context.catalog.get_source(id_or_name)

    def remove(self, id_or_name: int | str) -> Source:
        """Forget a source: its frames, vectors and thumbnails."""
        context = self.context
        context.require_writable("remove a source")
        source = context.catalog.get_source(id_or_name)
        removed_objects = ObjectVectors(context.catalog).embedding_ids_of_source(source.id)
        removed_ids = context.catalog.remove_source(source.id)
        for index, removed in (
            (context.loaded_vector_index, removed_ids),
            (context.loaded_object_index, removed_objects),
        ):
            if index is not None and len(removed):
                index.remove(removed)
                index.save()
        remove_source_media(context.home, source.id)
        forget_removed(context.catalog)  # cached filter columns still list the removed records
        return source


def _default_name(location: str) -> str:
    stem = Path(location.rstrip("/")).stem if "://" not in location else location.split("://", 1)[1]
    return re.sub(r"[^A-Za-z0-9._-]+", "-", stem).strip("-") or "source"
