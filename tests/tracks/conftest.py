"""Fixtures for the tracks stage: real 8-second excerpts of vtest.avi, tracked once."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from vigil.settings import EmbedderSettings, SamplingSettings, Settings
from vigil.sources.types import Source
from vigil.tracks import TrackBuildReport, build_tracks
from vigil.workspace import Workspace

EXCERPT_FIRST, EXCERPT_FRAMES = 500, 80  # 8 s: seven people, two crossings with occlusion


def write_excerpt(src: Path, dst: Path, first: int, count: int, fmt: str | None = None) -> Path:
    """Re-encode ``count`` real frames of vtest.avi from ``first`` on (10 fps, same size)."""
    with av.open(str(src)) as source, av.open(str(dst), "w", format=fmt) as out:
        in_stream = source.streams.video[0]
        stream = out.add_stream("mpeg4", rate=10)
        stream.width = in_stream.codec_context.width
        stream.height = in_stream.codec_context.height
        stream.pix_fmt = "yuv420p"
        for index, frame in enumerate(source.decode(in_stream)):
            if index < first:
                continue
            if index >= first + count:
                break
            frame.pts = None
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return dst


@pytest.fixture(scope="session")
def excerpt(vtest_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("tracks-media")
    return write_excerpt(vtest_path, folder / "walkway-8s.mp4", EXCERPT_FIRST, EXCERPT_FRAMES)


def track_settings(home: Path) -> Settings:
    return Settings(
        home=home,
        embedder=EmbedderSettings(name="fake"),
        sampling=SamplingSettings(interval_s=1.0, dedup_threshold=0.0),
    )


def run_build(workspace: Workspace, source: Source, **options: object) -> TrackBuildReport:
    return build_tracks(
        source,
        catalog=workspace.catalog,
        detector=workspace.detector,
        embedder=workspace.embedder,
        settings=workspace.settings.tracks,
        home=workspace.home,
        **options,  # type: ignore[arg-type]
    )


@pytest.fixture(scope="session")
def tracked(
    excerpt: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Workspace, TrackBuildReport]]:
    """The excerpt registered and tracked start to end in one run (fake embedder)."""
    with Workspace.open(track_settings(tmp_path_factory.mktemp("tracked"))) as workspace:
        source = workspace.add_source(str(excerpt), name="walkway")
        yield workspace, run_build(workspace, source)


def floor_plan(path: Path) -> Path:
    """A drawn plan: two rooms joined by a corridor (800x500)."""
    plan = np.full((500, 800, 3), 245, dtype=np.uint8)
    cv2.rectangle(plan, (40, 60), (360, 440), (60, 60, 60), 4)
    cv2.rectangle(plan, (440, 60), (760, 440), (60, 60, 60), 4)
    cv2.rectangle(plan, (360, 220), (440, 280), (60, 60, 60), 4)
    cv2.imwrite(str(path), plan)
    return path


@pytest.fixture(scope="session")
def two_cameras(
    excerpt: Path, vtest_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Workspace]:
    folder = tmp_path_factory.mktemp("site")
    after = write_excerpt(
        vtest_path, folder / "walkway-next.mp4", EXCERPT_FIRST + EXCERPT_FRAMES, EXCERPT_FRAMES
    )
    # The offline default embedder: handovers are scored by what the tracks look like.
    settings = track_settings(folder / "home")
    settings = settings.model_copy(update={"embedder": EmbedderSettings()})
    with Workspace.open(settings) as workspace:
        for location, name in ((excerpt, "walkway"), (after, "walkway-next")):
            run_build(workspace, workspace.add_source(str(location), name=name))
        yield workspace
