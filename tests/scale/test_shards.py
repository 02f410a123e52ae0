"""Shard planning and the per-shard work, without a cluster, on the real clip."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from vigil.embedders.fake import FakeEmbedder
from vigil.errors import InvalidInputError
from vigil.scale import Shard, embed_shard, plan_shards, projected_workers, scan_shard
from vigil.scale.ray_index import _Dedup
from vigil.settings import EmbedderSettings, SamplingSettings
from vigil.sources.readers import open_frames
from vigil.sources.sampling import sample_frames
from vigil.sources.types import Source, SourceKind


def _video(path: Path) -> Source:
    return Source(name="walkway", kind=SourceKind.VIDEO, location=str(path), id=1)


@pytest.mark.parametrize(
    ("duration", "interval", "shard_seconds", "expected"),
    [
        (24.0, 0.5, 10.0, [(0, 20), (20, 40), (40, None)]),
        (24.0, 1.0, 30.0, [(0, None)]),
        (79.5, 1.0, 30.0, [(0, 30), (30, 60), (60, None)]),
        (None, 1.0, 30.0, [(0, None)]),  # unknown length: one shard to the end
        (10.0, 3.0, 1.0, [(0, 1), (1, 2), (2, 3), (3, None)]),  # at least one slot each
    ],
)
def test_shards_cover_the_source_on_slot_boundaries(
    duration: float | None,
    interval: float,
    shard_seconds: float,
    expected: list[tuple[int, int | None]],
    vtest_cut: Path,
) -> None:
    shards = plan_shards(
        _video(vtest_cut), duration=duration, interval_s=interval, shard_seconds=shard_seconds
    )
    assert [(s.first_slot, s.end_slot) for s in shards] == expected
    assert [s.number for s in shards] == list(range(len(expected)))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"first_slot": -1, "end_slot": 3}, "first_slot must be >= 0"),
        ({"first_slot": 4, "end_slot": 4}, "end_slot must be > first_slot"),
        ({"first_slot": 0, "end_slot": None, "interval_s": 0.0}, "interval_s must be > 0"),
    ],
)
def test_a_bad_shard_is_refused(kwargs: dict[str, object], message: str, vtest_cut: Path) -> None:
    fields: dict[str, object] = {"number": 0, "interval_s": 1.0, **kwargs}
    with pytest.raises(InvalidInputError, match=message):
        Shard(_video(vtest_cut), **fields)  # type: ignore[arg-type]


def test_streams_and_bad_shard_lengths_are_refused(vtest_cut: Path) -> None:
    stream = Source(name="cam", kind=SourceKind.STREAM, location="rtsp://127.0.0.1/x", id=2)
    with pytest.raises(InvalidInputError, match="live stream"):
        plan_shards(stream, duration=None, interval_s=1.0, shard_seconds=10)
    with pytest.raises(InvalidInputError, match="shard_seconds must be > 0"):
        plan_shards(_video(vtest_cut), duration=24.0, interval_s=1.0, shard_seconds=0)


@pytest.mark.parametrize(("interval", "threshold"), [(0.5, 0.01), (0.3, 0.0), (1.0, 0.02)])
def test_shard_scans_and_replayed_dedup_equal_the_whole_clip_sampler(
    vtest_cut: Path, interval: float, threshold: float
) -> None:
    """The frames kept from 7-second shards are those the single-pass sampler keeps."""
    source = _video(vtest_cut)
    sampling = SamplingSettings(interval_s=interval, dedup_threshold=threshold)
    with open_frames(source) as reader:
        expected = [frame.index for frame in sample_frames(reader, sampling)]
    dedup = _Dedup(threshold)
    kept: list[int] = []
    for shard in plan_shards(source, duration=24.0, interval_s=interval, shard_seconds=7.0):
        kept.extend(dedup.keep(scan_shard(shard)))
    assert kept == expected
    grid = round(24.0 / interval)
    assert len(expected) >= 6  # the clip really was sampled
    # ... and with a threshold, de-duplication really dropped frames across shards.
    assert (len(expected) < grid) if threshold > 0 else (len(expected) == grid)


def test_embed_shard_embeds_exactly_the_wanted_frames(vtest_cut: Path) -> None:
    source = _video(vtest_cut)
    [shard, *_] = plan_shards(source, duration=24.0, interval_s=0.5, shard_seconds=10.0)
    wanted = (0, 5, 35, 95)
    output = embed_shard(shard, wanted, EmbedderSettings(name="fake"), thumbnail_size=160)
    assert [frame.frame_index for frame in output.frames] == list(wanted)
    assert output.vectors.shape == (4, FakeEmbedder().dim)
    assert all(max(p.shape[:2]) == 160 for p in output.previews)
    with open_frames(source) as reader:
        images = [frame.image for frame in reader if frame.index in wanted]
    np.testing.assert_allclose(
        output.vectors, FakeEmbedder().embed_images(images), rtol=0, atol=1e-5
    )
    empty = embed_shard(shard, (), EmbedderSettings(name="fake"), thumbnail_size=160)
    assert empty.frames == () and empty.vectors.shape == (0, FakeEmbedder().dim)


@pytest.mark.parametrize(
    ("cameras", "per_camera", "per_worker", "workers"),
    [(100, 2.0, 12.5, 16), (1000, 2.0, 12.5, 160), (1, 0.1, 12.5, 1)],
)
def test_projected_workers(
    cameras: int, per_camera: float, per_worker: float, workers: int
) -> None:
    assert projected_workers(cameras, per_camera, per_worker) == workers


def test_projection_refuses_a_zero_rate() -> None:
    with pytest.raises(InvalidInputError, match="per_worker_fps must be > 0"):
        projected_workers(10, 1.0, 0.0)
