"""Catalog: the database of sources, frames and vectors, and the vector index over them."""

from vigil.catalog.store import Catalog
from vigil.catalog.sync import SyncReport, sync_with_catalog
from vigil.catalog.types import (
    CatalogStats,
    FrameRecord,
    IndexProgressRecord,
    NewFrame,
    ProgressStatus,
)
from vigil.catalog.vector_index import VectorIndex, set_threads

__all__ = [
    "Catalog",
    "CatalogStats",
    "FrameRecord",
    "IndexProgressRecord",
    "NewFrame",
    "ProgressStatus",
    "SyncReport",
    "VectorIndex",
    "set_threads",
    "sync_with_catalog",
]
