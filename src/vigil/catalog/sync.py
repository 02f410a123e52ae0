"""Reconcile the vector index (a cache) with the catalog (the source of truth).

The indexer commits a batch to the catalog before the index is saved, so after a
crash the index can lack vectors the catalog holds; a source removed while the
index was not loaded (or by another process) leaves vectors the catalog no longer
has. ``sync_with_catalog`` repairs both from the vectors stored in the catalog.

>>> report = sync_with_catalog(index, catalog, embedder.model_id)  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from vigil.catalog.store import Catalog
from vigil.catalog.vector_index import VectorSearch
from vigil.errors import VectorIndexError

_BATCH = 10_000
# When the index lacks more than this fraction of the catalog, one sequential scan of
# the catalog (rebuild) is cheaper than fetching the missing ids by IN (...) lookups.
_REBUILD_FRACTION = 0.5


@dataclass(frozen=True)
class SyncReport:
    """What a reconciliation changed in the index."""

    added: int  # vectors the catalog had and the index lacked
    removed: int  # vectors the index had and the catalog no longer has
    rebuilt: bool = False  # the whole index was rebuilt from the catalog

    @property
    def changed(self) -> bool:
        return bool(self.added or self.removed or self.rebuilt)


class VectorTable(Protocol):
    """Where a model's vectors are stored: frame vectors (``Catalog``) or object vectors."""

    def embedding_ids(self, model_id: str) -> np.ndarray: ...
    def get_vectors(self, ids: np.ndarray) -> np.ndarray: ...
    def iter_vectors(
        self, model_id: str, batch_size: int = ...
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]: ...
    def model_dim(self, model_id: str) -> int | None: ...


def sync_with_catalog(
    index: VectorSearch, catalog: Catalog | VectorTable, model_id: str
) -> SyncReport:
    """Add what the catalog has and the index lacks; tombstone what the catalog lost.

    Saves the index when anything changed, so the repair is not redone next time.
    """
    if index.model_id and index.model_id != model_id:
        raise VectorIndexError(
            f"the vector index belongs to model {index.model_id!r}, not {model_id!r}"
        )
    stored_dim = catalog.model_dim(model_id)
    if stored_dim is not None and stored_dim != index.dim:
        raise VectorIndexError(
            f"the catalog holds {stored_dim}-d vectors for {model_id!r} but the index is "
            f"{index.dim}-d; delete the index file and it is rebuilt from the catalog"
        )
    in_catalog = catalog.embedding_ids(model_id)
    in_index = index.ids()
    missing = np.setdiff1d(in_catalog, in_index, assume_unique=True)
    extra = np.setdiff1d(in_index, in_catalog, assume_unique=True)
    if missing.size > _REBUILD_FRACTION * max(in_catalog.size, 1) and missing.size > _BATCH:
        index.rebuild(catalog.iter_vectors(model_id, batch_size=_BATCH), expected=in_catalog.size)
        index.save()
        return SyncReport(added=int(missing.size), removed=int(extra.size), rebuilt=True)
    added = 0
    for start in range(0, missing.size, _BATCH):
        chunk = missing[start : start + _BATCH]
        added += index.add(chunk, catalog.get_vectors(chunk))
    removed = index.remove(extra) if extra.size else 0
    report = SyncReport(added=added, removed=removed)
    if report.changed:
        index.save()
    return report
