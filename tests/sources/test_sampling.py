"""Sampling on the real clip: fixed grid, scene-change de-duplication, exact resume."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vigil.errors import InvalidInputError
from vigil.settings import SamplingSettings
from vigil.sources import (
    Frame,
    SourceKind,
    SourceSpec,
    frame_difference,
    open_frames,
    sample_frames,
)


def video_spec(path: Path | str) -> SourceSpec:
    return SourceSpec(name="clip", kind=SourceKind.VIDEO, location=str(path))


def _kept(path: Path, interval_s: float, threshold: float) -> list[int]:
    with open_frames(video_spec(path)) as reader:
        settings = SamplingSettings(interval_s=interval_s, dedup_threshold=threshold)
        return [f.index for f in sample_frames(reader, settings)]


@pytest.fixture(scope="module")
def kept_by_threshold(vtest_path: Path) -> dict[float, list[int]]:
    return {t: _kept(vtest_path, 1.0, t) for t in (0.0, 0.005, 0.01, 0.03, 0.05)}


def test_zero_threshold_keeps_every_grid_frame(kept_by_threshold: dict[float, list[int]]) -> None:
    # 10 fps, 1 s grid: frames 0, 10, ..., 790.
    assert kept_by_threshold[0.0] == list(range(0, 795, 10))


def test_higher_threshold_keeps_fewer(kept_by_threshold: dict[float, list[int]]) -> None:
    counts = [len(kept_by_threshold[t]) for t in sorted(kept_by_threshold)]
    assert counts == sorted(counts, reverse=True)
    assert counts[0] > counts[-1]
    for t, kept in kept_by_threshold.items():
        assert set(kept) <= set(kept_by_threshold[0.0]), t  # dedup only removes grid frames
        assert kept[0] == 0


def test_dedup_drops_near_identical_frames(vtest_path: Path) -> None:
    """At 10 fps consecutive frames of the static camera differ only by codec noise (~0.004)."""
    every_frame = _kept(vtest_path, 0.1, 0.0)
    deduped = _kept(vtest_path, 0.1, 0.01)
    assert len(every_frame) == 795
    assert len(deduped) < len(every_frame) // 4


def test_non_aligned_interval_grid(vtest_path: Path) -> None:
    """Slot k starts at k * 0.35 s; its candidate is the first frame at or after it."""
    kept = _kept(vtest_path, 0.35, 0.0)
    expected = sorted({int(np.ceil(round(k * 0.35 * 10, 6))) for k in range(228)} - {795})
    assert kept == expected


@pytest.mark.parametrize(("interval_s", "threshold"), [(1.0, 0.01), (0.35, 0.005), (2.0, 0.0)])
def test_resumed_sampling_equals_an_uninterrupted_run(
    vtest_path: Path, interval_s: float, threshold: float
) -> None:
    settings = SamplingSettings(interval_s=interval_s, dedup_threshold=threshold)
    with open_frames(video_spec(vtest_path)) as reader:
        full = list(sample_frames(reader, settings))
    full_indices = [f.index for f in full]
    for n in (1, len(full) // 3, len(full) - 2):
        stop = full[n]  # an interrupted run had stored frames up to and including this one
        with open_frames(video_spec(vtest_path), stop.media_time) as reader:
            frames = iter(reader)
            reference = next(frames)
            assert reference.index == stop.index
            resumed = [f.index for f in sample_frames(frames, settings, reference=reference)]
        assert full_indices[: n + 1] + resumed == full_indices, n


def test_reference_is_not_emitted_twice(vtest_path: Path) -> None:
    settings = SamplingSettings(interval_s=1.0, dedup_threshold=0.0)
    with open_frames(video_spec(vtest_path), 30.0) as reader:
        frames = list(reader)
    resumed = [f.index for f in sample_frames(frames, settings, reference=frames[0])]
    assert resumed[:2] == [310, 320]


def test_frame_difference_on_real_images(vtest_path: Path, real_photo_path: Path) -> None:
    with open_frames(video_spec(vtest_path)) as reader:
        first, second = next(reader), next(reader)
    with Image.open(real_photo_path) as photo:
        china = Frame(index=0, media_time=0.0, image=np.asarray(photo.convert("RGB")))
    assert frame_difference(first, first) == 0.0
    assert frame_difference(first, second) == pytest.approx(frame_difference(second, first))
    assert 0 < frame_difference(first, second) < 0.01  # consecutive frames: codec noise
    assert 0.1 < frame_difference(first, china) <= 1.0  # different scene, different size
    assert frame_difference(first.image, china.image) == frame_difference(first, china)
    with pytest.raises(InvalidInputError, match="expected an"):
        frame_difference(first.image[..., 0], first.image)
