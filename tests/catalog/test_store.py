"""The catalog on SQLite and on PostgreSQL: schema, sources, frames, vectors, progress."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import numpy as np
import pytest
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text

from tests.catalog.conftest import RealFrames, walkway_spec
from vigil.catalog.db import MIGRATIONS, safe_url
from vigil.catalog.schema import Base
from vigil.catalog.store import Catalog
from vigil.catalog.types import ProgressStatus
from vigil.errors import InvalidInputError, NotFoundError
from vigil.settings import SamplingSettings
from vigil.sources.types import Source, SourceKind, SourceSpec


def _newest_revisions() -> list[str]:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return list(ScriptDirectory.from_config(config).get_heads())


def test_schema_comes_from_the_migrations_and_matches_the_orm(catalog: Catalog) -> None:
    with catalog.engine.connect() as connection:
        tables = set(inspect(connection).get_table_names())
        versions = connection.execute(text("SELECT version_num FROM alembic_version")).scalars()
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, Base.metadata)
    assert tables == set(Base.metadata.tables) | {"alembic_version"}
    assert {"sources", "frames", "embeddings", "objects", "object_embeddings"} <= tables
    assert "+".join(sorted(versions)) == catalog.revision == "+".join(sorted(_newest_revisions()))
    assert differences == []


def test_reopening_keeps_data_and_does_not_migrate_again(catalog_url: str) -> None:
    with Catalog.open(catalog_url) as first:
        first.add_source(walkway_spec())
    with Catalog.open(catalog_url) as second:
        assert [s.name for s in second.list_sources()] == ["walkway"]
        assert second.stats().schema_revision == first.revision


def test_sources_round_trip(catalog: Catalog) -> None:
    source = catalog.add_source(walkway_spec())
    assert source.id > 0
    assert source.created_at is not None and source.created_at.tzinfo is not None
    assert (source.name, source.kind, source.site) == ("walkway", SourceKind.VIDEO, "campus")
    assert source.metadata == {"fps": 10, "tags": ["pedestrians"]}
    assert catalog.get_source(source.id) == source
    assert catalog.get_source("walkway") == source
    assert catalog.get_source(str(source.id)) == source  # ids typed on a command line
    gate = catalog.add_source(SourceSpec("gate", SourceKind.STREAM, "rtsp://cam/1"))
    assert [s.name for s in catalog.list_sources()] == ["walkway", "gate"]
    assert gate.site is None and gate.metadata == {}


def test_duplicate_and_unknown_sources_are_clear_errors(catalog: Catalog) -> None:
    catalog.add_source(walkway_spec())
    with pytest.raises(InvalidInputError, match="'walkway' already exists"):
        catalog.add_source(walkway_spec())
    with pytest.raises(NotFoundError, match="'nowhere'"):
        catalog.get_source("nowhere")
    with pytest.raises(NotFoundError, match="999"):
        catalog.get_source(999)
    with pytest.raises(NotFoundError):
        catalog.remove_source("nowhere")


def test_add_frames_stores_real_vectors_exactly(
    catalog: Catalog, walkway: Source, real_frames: RealFrames
) -> None:
    ids = catalog.add_frames(
        walkway.id, real_frames.model_id, real_frames.frames, real_frames.vectors
    )
    assert len(ids) == 80 and ids == sorted(ids)
    np.testing.assert_array_equal(catalog.get_vectors(ids), real_frames.vectors)
    np.testing.assert_array_equal(catalog.get_vectors(ids[::-1]), real_frames.vectors[::-1])
    np.testing.assert_array_equal(catalog.embedding_ids(real_frames.model_id), ids)
    assert catalog.count_embeddings(real_frames.model_id) == 80
    assert catalog.model_dim(real_frames.model_id) == 32
    assert catalog.model_dim("other") is None

    batches = list(catalog.iter_vectors(real_frames.model_id, batch_size=30))
    assert [batch_ids.size for batch_ids, _ in batches] == [30, 30, 20]
    np.testing.assert_array_equal(np.concatenate([b for b, _ in batches]), ids)
    np.testing.assert_array_equal(np.concatenate([v for _, v in batches]), real_frames.vectors)
    tail = list(catalog.iter_vectors(real_frames.model_id, after_id=ids[-3]))
    np.testing.assert_array_equal(tail[0][0], ids[-2:])


def test_writing_the_same_batch_twice_stores_it_once(
    catalog: Catalog, walkway: Source, real_frames: RealFrames
) -> None:
    frames, vectors, model = real_frames.frames, real_frames.vectors, real_frames.model_id
    first = catalog.add_frames(walkway.id, model, frames[:50], vectors[:50])
    assert catalog.add_frames(walkway.id, model, frames[:50], vectors[:50]) == []
    # An overlapping batch (a resumed run re-reads the last frames) adds only the new ones.
    second = catalog.add_frames(walkway.id, model, frames[40:], vectors[40:])
    assert len(first) == 50 and len(second) == 30 and min(second) > max(first)
    stats = catalog.stats()
    assert (stats.frames, stats.embeddings) == (80, {model: 80})


def test_a_second_model_reuses_the_frames(
    catalog: Catalog, walkway: Source, real_frames: RealFrames
) -> None:
    catalog.add_frames(walkway.id, real_frames.model_id, real_frames.frames, real_frames.vectors)
    other = np.ascontiguousarray(real_frames.vectors[:, :16])
    ids = catalog.add_frames(walkway.id, "other-16", real_frames.frames, other)
    assert len(ids) == 80
    assert catalog.stats().frames == 80
    assert catalog.stats().embeddings == {real_frames.model_id: 80, "other-16": 80}
    np.testing.assert_array_equal(catalog.get_vectors(ids), other)


@pytest.mark.parametrize(
    ("make_vectors", "message"),
    [
        (lambda v: v[:3], r"\(4, dim\) for 4 frames, got shape \(3, 32\)"),
        (lambda v: v.astype(np.float64), "float32, got float64"),
        (lambda v: v[:, 0], r"got shape \(4,\)"),
        (lambda v: np.where(v > 0, np.nan, v).astype(np.float32), "NaN"),
        (lambda v: v.tolist(), "numpy array"),
    ],
)
def test_bad_vectors_are_refused(
    catalog: Catalog, walkway: Source, real_frames: RealFrames, make_vectors, message: str
) -> None:
    vectors = make_vectors(real_frames.vectors[:4])
    with pytest.raises(InvalidInputError, match=message):
        catalog.add_frames(walkway.id, real_frames.model_id, real_frames.frames[:4], vectors)
    assert catalog.stats().frames == 0


def test_bad_frames_are_refused(catalog: Catalog, walkway: Source, real_frames: RealFrames) -> None:
    frames, vectors, model = real_frames.frames, real_frames.vectors, real_frames.model_id
    with pytest.raises(InvalidInputError, match="twice"):
        catalog.add_frames(walkway.id, model, [frames[0], frames[0]], vectors[:2])
    with pytest.raises(NotFoundError, match="999"):
        catalog.add_frames(999, model, frames[:2], vectors[:2])
    catalog.add_frames(walkway.id, model, frames[:2], vectors[:2])
    with pytest.raises(InvalidInputError, match="32-d vectors in the catalog, got 8-d"):
        catalog.add_frames(walkway.id, model, frames[2:4], np.ascontiguousarray(vectors[2:4, :8]))
    with pytest.raises(InvalidInputError, match="timezone-aware"):
        replace(frames[0], captured_at=datetime(2024, 5, 1, 12, 0))
    with pytest.raises(InvalidInputError, match="relative"):
        replace(frames[0], thumbnail_path="/abs/x.jpg")
    with pytest.raises(InvalidInputError, match="frame_index"):
        replace(frames[0], frame_index=-1)


def test_frames_for_embeddings(catalog: Catalog, walkway: Source, real_frames: RealFrames) -> None:
    ids = catalog.add_frames(
        walkway.id, real_frames.model_id, real_frames.frames, real_frames.vectors
    )
    found = catalog.frames_for_embeddings([ids[10], ids[0], 10**9])
    assert set(found) == {ids[10], ids[0]}
    frame, source = found[ids[10]]
    assert source == walkway
    expected = real_frames.frames[10]
    assert (frame.frame_index, frame.media_time) == (100, pytest.approx(10.0))
    assert (frame.width, frame.height, frame.thumbnail_path) == (768, 576, expected.thumbnail_path)
    assert frame.captured_at == expected.captured_at
    assert frame.captured_at is not None and frame.captured_at.tzinfo is not None


def test_capture_times_in_other_zones_come_back_as_the_same_instant(
    catalog: Catalog, walkway: Source, real_frames: RealFrames
) -> None:
    paris = timezone(timedelta(hours=2))
    moment = datetime(2024, 5, 1, 14, 0, 0, 123456, tzinfo=paris)
    frame = replace(real_frames.frames[0], captured_at=moment)
    [embedding_id] = catalog.add_frames(walkway.id, "m", [frame], real_frames.vectors[:1])
    stored, _ = catalog.frames_for_embeddings([embedding_id])[embedding_id]
    assert stored.captured_at == moment and stored.captured_at.utcoffset() == timedelta(0)


def test_stream_frames_use_millisecond_indices(catalog: Catalog, real_frames: RealFrames) -> None:
    """Stream frames are identified by wall-clock ms, which needs 64-bit integers."""
    gate = catalog.add_source(SourceSpec("gate", SourceKind.STREAM, "rtsp://cam/1"))
    moment = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
    frame = replace(real_frames.frames[0], frame_index=int(moment.timestamp() * 1000))
    catalog.add_frames(gate.id, "m", [frame], real_frames.vectors[:1])
    last = catalog.last_indexed_frame(gate.id, "m")
    assert frame.frame_index > 2**31  # beyond a 32-bit INTEGER column
    assert last is not None and last.frame_index == frame.frame_index


def test_embedding_ids_by_source(
    catalog: Catalog, walkway: Source, real_frames: RealFrames
) -> None:
    other = catalog.add_source(walkway_spec("walkway-copy"))
    model = real_frames.model_id
    a = catalog.add_frames(walkway.id, model, real_frames.frames[:30], real_frames.vectors[:30])
    b = catalog.add_frames(other.id, model, real_frames.frames[30:], real_frames.vectors[30:])
    np.testing.assert_array_equal(catalog.embedding_ids(model, source_ids=[walkway.id]), a)
    np.testing.assert_array_equal(catalog.embedding_ids(model, source_ids=[other.id]), b)
    assert catalog.embedding_ids(model, source_ids=[]).size == 0
    assert catalog.embedding_ids("unknown").dtype == np.int64


def test_removing_a_source_cascades_and_ids_are_never_reused(
    catalog: Catalog, walkway: Source, real_frames: RealFrames
) -> None:
    model = real_frames.model_id
    other = catalog.add_source(walkway_spec("walkway-copy"))
    kept = catalog.add_frames(other.id, model, real_frames.frames[:10], real_frames.vectors[:10])
    removed_ids = catalog.add_frames(walkway.id, model, real_frames.frames, real_frames.vectors)
    catalog.set_progress(walkway.id, model, status="complete")

    assert catalog.remove_source("walkway") == removed_ids
    assert [s.name for s in catalog.list_sources()] == ["walkway-copy"]
    stats = catalog.stats()
    assert (stats.sources, stats.frames, stats.embeddings) == (1, 10, {model: 10})
    assert catalog.get_progress(walkway.id, model) is None
    assert catalog.last_indexed_frame(walkway.id, model) is None
    assert catalog.frames_for_embeddings(removed_ids) == {}
    with pytest.raises(NotFoundError, match="not in the catalog"):
        catalog.get_vectors(removed_ids[:1])
    np.testing.assert_array_equal(catalog.embedding_ids(model), kept)

    # The vector index uses these ids: a removed id must never name a new vector.
    again = catalog.add_source(walkway_spec())
    assert again.id > other.id
    new_ids = catalog.add_frames(again.id, model, real_frames.frames, real_frames.vectors)
    assert min(new_ids) > max(removed_ids)


def test_resume_helpers(catalog: Catalog, walkway: Source, real_frames: RealFrames) -> None:
    model = real_frames.model_id
    assert catalog.last_indexed_frame(walkway.id, model) is None
    assert catalog.get_progress(walkway.id, model) is None
    sampling = SamplingSettings(interval_s=1.0, dedup_threshold=0.0)
    started = catalog.set_progress(walkway.id, model, status="running", settings=sampling)
    assert started.status is ProgressStatus.RUNNING and started.frames_done == 0
    assert started.settings == {"interval_s": 1.0, "dedup_threshold": 0.0}

    catalog.add_frames(walkway.id, model, real_frames.frames[:16], real_frames.vectors[:16])
    last = catalog.last_indexed_frame(walkway.id, model)
    assert last is not None and (last.frame_index, last.media_time) == (150, pytest.approx(15.0))
    progress = catalog.get_progress(walkway.id, model)
    assert progress is not None
    assert (progress.frames_done, progress.last_frame_index) == (16, 150)
    assert progress.settings == started.settings  # kept when a later update omits them

    catalog.add_frames(walkway.id, model, real_frames.frames[:20], real_frames.vectors[:20])
    failed = catalog.set_progress(walkway.id, model, status=ProgressStatus.FAILED, error="boom")
    assert (failed.status, failed.frames_done, failed.last_frame_index) == ("failed", 20, 190)
    assert failed.last_error == "boom" and failed.updated_at >= progress.updated_at
    assert catalog.last_indexed_frame(walkway.id, "another-model") is None
    assert [p.model_id for p in catalog.list_progress()] == [model]
    assert catalog.list_progress("another-model") == []
    with pytest.raises(InvalidInputError, match="running, partial, complete, failed"):
        catalog.set_progress(walkway.id, model, status="done")


def test_stats(catalog: Catalog, walkway: Source, real_frames: RealFrames) -> None:
    empty = catalog.stats()
    assert (empty.sources, empty.frames, empty.embeddings) == (1, 0, {})
    catalog.add_frames(walkway.id, "m", real_frames.frames[:5], real_frames.vectors[:5])
    stats = catalog.stats()
    assert (stats.frames, stats.embeddings) == (5, {"m": 5})
    assert stats.schema_revision == catalog.revision
    assert stats.url == catalog.url


def test_passwords_never_appear_in_messages() -> None:
    assert safe_url("postgresql+psycopg://vigil:secret@db.local/vigil") == (
        "postgresql+psycopg://vigil:***@db.local/vigil"
    )
