"""The library API that the CLI and the REST API are thin layers over.

A ``Workspace`` ties together one settings tree, the catalog database, the
active image-text embedder and its vector index. Heavy parts load lazily: listing
sources never loads a model.

>>> with Workspace.open(Settings(home=Path("vigil-data"))) as ws:  # doctest: +SKIP
...     source = ws.add_source("../shared/data/vtest.avi", name="walkway")
...     ws.index([source.id])
...     hits = ws.search("a person walking", limit=5)
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from vigil.catalog.store import Catalog
from vigil.catalog.sync import sync_with_catalog
from vigil.catalog.vector_index import VectorIndex
from vigil.embedders.base import Embedder, create_embedder
from vigil.search.contact_sheet import write_contact_sheet
from vigil.search.text import search_by_text
from vigil.search.types import SearchHit
from vigil.settings import Settings
from vigil.sources.readers import detect_kind, probe
from vigil.sources.types import Source, SourceKind, SourceSpec
from vigil.structure.indexing import IndexProgress, IndexReport, index_source


class Workspace:
    """One Vigil workspace: catalog + embedder + vector index under ``settings.home``."""

    def __init__(self, settings: Settings, *, embedder: Embedder | None = None) -> None:
        self.settings = settings
        self.home = Path(settings.home)
        self.home.mkdir(parents=True, exist_ok=True)
        self.catalog = Catalog.open(settings.resolved_database_url)
        self._embedder = embedder
        self._vector_index: VectorIndex | None = None

    @classmethod
    def open(
        cls, settings: Settings | None = None, *, embedder: Embedder | None = None
    ) -> Workspace:
        return cls(settings or Settings(), embedder=embedder)

    def __enter__(self) -> Workspace:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        if self._vector_index is not None:
            self._vector_index.save()
        self.catalog.close()

    # -- models ---------------------------------------------------------------------------

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            self._embedder = create_embedder(self.settings.embedder)
        return self._embedder

    @property
    def vector_index(self) -> VectorIndex:
        """The index of the active embedder's space, reconciled with the catalog on first use."""
        if self._vector_index is None:
            embedder = self.embedder
            path = self.home / "index" / f"{_file_safe(embedder.model_id)}.faiss"
            index = VectorIndex.open(
                path, embedder.dim, self.settings.index, model_id=embedder.model_id
            )
            sync_with_catalog(index, self.catalog, embedder.model_id)
            self._vector_index = index
        return self._vector_index

    # -- sources --------------------------------------------------------------------------

    def add_source(
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
        """Register a video file, image folder or stream; ``check`` opens it first."""
        kind = kind or detect_kind(location)
        if kind != SourceKind.STREAM:
            location = str(Path(location).expanduser().resolve())
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
        return self.catalog.add_source(spec)

    def list_sources(self) -> list[Source]:
        return self.catalog.list_sources()

    def get_source(self, id_or_name: int | str) -> Source:
        return self.catalog.get_source(id_or_name)

    def remove_source(self, id_or_name: int | str) -> Source:
        """Forget a source: its frames, vectors and thumbnails."""
        source = self.catalog.get_source(id_or_name)
        removed_ids = self.catalog.remove_source(source.id)
        if self._vector_index is not None and removed_ids:
            self._vector_index.remove(removed_ids)
            self._vector_index.save()
        shutil.rmtree(self.home / "thumbs" / str(source.id), ignore_errors=True)
        return source

    # -- structure and search ---------------------------------------------------------------

    def index(
        self,
        sources: Sequence[int | str] | None = None,
        *,
        max_frames: int | None = None,
        max_seconds: float | None = None,
        on_progress: Callable[[IndexProgress], None] | None = None,
    ) -> list[IndexReport]:
        """Index the given sources (all file and folder sources when None), resuming each."""
        if sources:
            targets = [self.catalog.get_source(item) for item in sources]
        else:
            targets = [s for s in self.catalog.list_sources() if s.kind != SourceKind.STREAM]
        return [
            index_source(
                source,
                catalog=self.catalog,
                vector_index=self.vector_index,
                embedder=self.embedder,
                settings=self.settings,
                max_frames=max_frames,
                max_seconds=max_seconds,
                on_progress=on_progress,
            )
            for source in targets
        ]

    def search(
        self, query: str, *, limit: int = 10, sources: Sequence[int | str] | None = None
    ) -> list[SearchHit]:
        """Natural-language search over indexed frames, best first."""
        source_ids = [self.catalog.get_source(item).id for item in sources] if sources else None
        return search_by_text(
            query,
            catalog=self.catalog,
            vector_index=self.vector_index,
            embedder=self.embedder,
            limit=limit,
            source_ids=source_ids,
        )

    def contact_sheet(self, hits: Sequence[SearchHit], path: Path, *, title: str = "") -> Path:
        return write_contact_sheet(hits, home=self.home, path=path, title=title)


def _default_name(location: str) -> str:
    stem = Path(location.rstrip("/")).stem if "://" not in location else location.split("://", 1)[1]
    return re.sub(r"[^A-Za-z0-9._-]+", "-", stem).strip("-") or "source"


def _file_safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text)
