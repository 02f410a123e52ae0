"""Reconciling the vector index with the catalog after crashes and out-of-band removals."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import vigil.catalog.sync as sync_module
from tests.catalog.conftest import RealFrames, walkway_spec
from vigil.catalog.store import Catalog
from vigil.catalog.sync import sync_with_catalog
from vigil.catalog.vector_index import VectorIndex
from vigil.errors import VectorIndexError
from vigil.settings import IndexSettings
from vigil.sources.types import Source

SETTINGS = IndexSettings(hnsw_m=16, ef_construction=64, ef_search=64)


def write_batch(
    catalog: Catalog, index: VectorIndex, source: Source, real: RealFrames, batch: slice
) -> list[int]:
    """What the indexer does per batch: commit to the catalog, then add to the index."""
    ids = catalog.add_frames(source.id, real.model_id, real.frames[batch], real.vectors[batch])
    index.add(ids, catalog.get_vectors(ids))
    return ids


def test_a_crash_before_the_index_was_saved_is_repaired(
    catalog: Catalog, walkway: Source, real_frames: RealFrames, tmp_path: Path
) -> None:
    path = tmp_path / "fake-32.faiss"
    index = VectorIndex.open(path, 32, SETTINGS, model_id=real_frames.model_id)
    write_batch(catalog, index, walkway, real_frames, slice(0, 48))
    index.save()
    write_batch(catalog, index, walkway, real_frames, slice(48, 80))
    del index  # killed: the last batch is in the catalog but not in the saved index

    reopened = VectorIndex.open(path, 32, SETTINGS, model_id=real_frames.model_id)
    assert len(reopened) == 48
    report = sync_with_catalog(reopened, catalog, real_frames.model_id)
    assert (report.added, report.removed, report.rebuilt) == (32, 0, False)
    np.testing.assert_array_equal(reopened.ids(), catalog.embedding_ids(real_frames.model_id))
    # The repair was saved, and a second sync has nothing to do.
    again = VectorIndex.open(path, 32, SETTINGS, model_id=real_frames.model_id)
    assert len(again) == 80
    assert not sync_with_catalog(again, catalog, real_frames.model_id).changed
    last_id = int(catalog.embedding_ids(real_frames.model_id)[-1])
    [(found, _)] = again.search(real_frames.vectors[-1], 1)
    assert found[0] == last_id


def test_vectors_the_catalog_lost_are_dropped(
    catalog: Catalog, walkway: Source, real_frames: RealFrames, tmp_path: Path
) -> None:
    other = catalog.add_source(walkway_spec("walkway-copy"))
    index = VectorIndex.open(tmp_path / "i.faiss", 32, SETTINGS, model_id=real_frames.model_id)
    kept = write_batch(catalog, index, walkway, real_frames, slice(0, 60))
    lost = write_batch(catalog, index, other, real_frames, slice(60, 80))
    index.save()
    catalog.remove_source(other.id)  # e.g. by another process, index not loaded there

    report = sync_with_catalog(index, catalog, real_frames.model_id)
    assert (report.added, report.removed) == (0, 20)
    np.testing.assert_array_equal(index.ids(), kept)
    for found, _ in index.search(real_frames.vectors[60:], 5):
        assert not np.isin(found, lost).any()


def test_a_missing_index_is_rebuilt_from_the_catalog(
    catalog: Catalog,
    walkway: Source,
    real_frames: RealFrames,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sync_module, "_BATCH", 16)  # so 80 vectors take the rebuild path
    ids = catalog.add_frames(
        walkway.id, real_frames.model_id, real_frames.frames, real_frames.vectors
    )
    index = VectorIndex.open(tmp_path / "i.faiss", 32, SETTINGS, model_id=real_frames.model_id)
    report = sync_with_catalog(index, catalog, real_frames.model_id)
    assert report.rebuilt and report.added == 80
    np.testing.assert_array_equal(index.ids(), ids)
    np.testing.assert_array_equal(index.reconstruct(ids), real_frames.vectors)
    assert (tmp_path / "i.faiss").exists()


def test_a_mismatched_index_is_refused(
    catalog: Catalog, walkway: Source, real_frames: RealFrames
) -> None:
    catalog.add_frames(
        walkway.id, real_frames.model_id, real_frames.frames[:4], real_frames.vectors[:4]
    )
    with pytest.raises(VectorIndexError, match=r"32-d vectors .* index is 16-d"):
        sync_with_catalog(VectorIndex.create(None, 16, SETTINGS), catalog, real_frames.model_id)
    other_model = VectorIndex.create(None, 32, SETTINGS, model_id="clip-vit-b32")
    with pytest.raises(VectorIndexError, match="belongs to model 'clip-vit-b32'"):
        sync_with_catalog(other_model, catalog, real_frames.model_id)
