"""The shared context every area and stage works in: settings, catalog, models, indexes.

One ``Context`` per open workspace. Heavy parts load lazily (listing sources never
loads a model), and each loads once, so two areas that both need the embedder or
the vector index get the same object. Stages take a ``Context`` rather than the
``Workspace`` front door, so no stage imports the module that imports it.

>>> with Context(Settings(home=Path("vigil-data"))) as context:  # doctest: +SKIP
...     context.catalog.list_sources()
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from types import TracebackType

from vigil.catalog.db import folder_is_writable
from vigil.catalog.objects import ObjectVectors
from vigil.catalog.pgvector_index import PgVectorIndex
from vigil.catalog.store import Catalog
from vigil.catalog.sync import sync_with_catalog
from vigil.catalog.vector_index import VectorIndex, VectorSearch
from vigil.embedders.base import Embedder, create_embedder
from vigil.embedders.concept_bridge import load_coco_classes
from vigil.embedders.detector import CocoDetector
from vigil.errors import ReadOnlyWorkspaceError, VectorIndexError
from vigil.settings import IndexSettings, Settings


class Context:
    """Settings, catalog, and the lazily loaded embedder, detector and vector indexes."""

    def __init__(self, settings: Settings, *, embedder: Embedder | None = None) -> None:
        self.settings = settings
        self.home = Path(settings.home)
        if not self.home.exists() and not settings.read_only:
            self.home.mkdir(parents=True, exist_ok=True)
        # Read-only when asked, or when the home cannot be written (an archived snapshot):
        # searching works, and every write is refused with one clear error.
        self.read_only = settings.read_only or not folder_is_writable(self.home)
        self.catalog = Catalog.open(settings.resolved_database_url, read_only=self.read_only)
        self._embedder = embedder
        self._vector_index: VectorSearch | None = None
        self._object_index: VectorSearch | None = None
        self._detector: CocoDetector | None = None

    def __enter__(self) -> Context:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Save the indexes that were opened, then close the catalog."""
        for index in self.open_indexes():
            index.save()
        self.catalog.close()

    def require_writable(self, action: str) -> None:
        """Refuse ``action`` on a read-only workspace before any file (lock, thumbnail) is made."""
        if self.read_only:
            raise ReadOnlyWorkspaceError(
                f"cannot {action}: the workspace {self.home} is open read-only (its folder "
                "cannot be written, or read_only is set); searching works, changing it does not"
            )

    def open_indexes(self) -> list[VectorSearch]:
        """The vector indexes loaded so far (none are loaded just to be listed)."""
        return [i for i in (self._vector_index, self._object_index) if i is not None]

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            self._embedder = create_embedder(self.settings.embedder)
        return self._embedder

    @property
    def vector_index(self) -> VectorSearch:
        """The index of the active embedder's space, reconciled with the catalog on first use."""
        if self._vector_index is None:
            self._vector_index = self._open_index(".faiss", self.catalog)
        return self._vector_index

    @property
    def object_index(self) -> VectorSearch:
        """The objects' own index (crop vectors), in the same space as the frames'."""
        if self._object_index is None:
            self._object_index = self._open_index(".objects.faiss", ObjectVectors(self.catalog))
        return self._object_index

    @property
    def loaded_vector_index(self) -> VectorSearch | None:
        """The frames' index if it is loaded, without loading it."""
        return self._vector_index

    @property
    def loaded_object_index(self) -> VectorSearch | None:
        """The objects' index if it is loaded, without loading it."""
        return self._object_index

    def _open_index(self, suffix: str, table: Catalog | ObjectVectors) -> VectorSearch:
        embedder = self.embedder
        name = f"{_file_safe(embedder.model_id)}{suffix}"
        index: VectorSearch
        if self.settings.index.store == "milvus":
            index = _open_milvus(self.settings.index, name, embedder.dim, embedder.model_id)
            sync_with_catalog(index, table, embedder.model_id)
            return index
        if self.settings.index.store == "pgvector":
            index = PgVectorIndex(
                self.catalog,
                name,
                embedder.dim,
                self.settings.index,
                model_id=embedder.model_id,
                read_only=self.read_only,
            )
            sync_with_catalog(index, table, embedder.model_id)
            return index
        path = self.home / "index" / name
        index = VectorIndex.open(
            path,
            embedder.dim,
            self.settings.index,
            model_id=embedder.model_id,
            read_only=self.read_only,
            vector_source=table.get_vectors,  # the ivfpq tier re-ranks with the stored vectors
        )
        sync_with_catalog(index, table, embedder.model_id)
        return index

    @property
    def detector(self) -> CocoDetector:
        """The COCO detector: the default embedder's own copy, or a separate one."""
        if self._detector is None:
            shared = getattr(self.embedder, "detector", None)
            if isinstance(shared, CocoDetector):
                self._detector = shared
            else:
                classes = {class_id: coco.name for class_id, coco in load_coco_classes().items()}
                self._detector = CocoDetector(classes)
        return self._detector


def _open_milvus(settings: IndexSettings, name: str, dim: int, model_id: str) -> VectorSearch:
    """The index in a Milvus server: one collection per model and kind (frames, objects)."""
    from vigil.catalog.milvus_index import MilvusVectorIndex

    if not settings.milvus_uri:
        raise VectorIndexError("index.store is milvus but index.milvus_uri is not set")
    collection = "vigil_" + re.sub(r"[^A-Za-z0-9_]+", "_", name)
    return MilvusVectorIndex(
        settings.milvus_uri,
        collection,
        dim,
        settings,
        model_id=model_id,
        token=os.environ.get("VIGIL_MILVUS_TOKEN", ""),
    )


def _file_safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text)


__all__ = ["Context"]
