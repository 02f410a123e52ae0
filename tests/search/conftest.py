"""Two real "cameras" cut from the one real clip, indexed with objects (fake embedder).

vtest.avi is the only real camera footage here. Its first and last 30 s are
written as two files with creation times 40 s apart, registered as two sources
at two sites: the same people walk through both halves, so cross-camera matching
and source/site/time filters have real pictures to work on.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import av
import pytest

from vigil.settings import EmbedderSettings, SamplingSettings, Settings
from vigil.workspace import Workspace

CLIP_START = datetime(2026, 11, 2, 8, 0, 0, tzinfo=UTC)
SECONDS = 30
SECOND_CAMERA_FROM = 48.0  # seconds into vtest.avi (795 frames = 79.5 s)


def cut_clip(source: Path, target: Path, start_s: float, seconds: float, created: datetime) -> Path:
    """Re-encode ``seconds`` of ``source`` from ``start_s`` as MPEG-4 with a creation time."""
    with av.open(str(source)) as reader, av.open(str(target), "w", format="mp4") as writer:
        writer.metadata["creation_time"] = created.strftime("%Y-%m-%dT%H:%M:%S.000000Z")
        stream = writer.add_stream("mpeg4", rate=10)
        stream.width, stream.height, stream.pix_fmt = 768, 576, "yuv420p"
        stream.bit_rate = 2_000_000
        written = 0
        for frame in reader.decode(video=0):
            if frame.time is None or frame.time < start_s:
                continue
            if written >= seconds * 10:
                break
            out = av.VideoFrame.from_ndarray(frame.to_ndarray(format="rgb24"), format="rgb24")
            out.pts = written
            writer.mux(stream.encode(out.reformat(format="yuv420p")))
            written += 1
        writer.mux(stream.encode(None))
    return target


@pytest.fixture(scope="session")
def two_cameras(tmp_path_factory: pytest.TempPathFactory, vtest_path: Path) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("cameras")
    first = cut_clip(vtest_path, folder / "gate.mp4", 0.0, SECONDS, CLIP_START)
    second = cut_clip(
        vtest_path,
        folder / "lawn.mp4",
        SECOND_CAMERA_FROM,
        SECONDS,
        CLIP_START + timedelta(seconds=SECOND_CAMERA_FROM),
    )
    return first, second


@pytest.fixture(scope="module")
def cameras(
    tmp_path_factory: pytest.TempPathFactory, two_cameras: tuple[Path, Path]
) -> Iterator[Workspace]:
    """Both cameras sampled every 3 s (10 frames each), with their objects."""
    settings = Settings(
        home=tmp_path_factory.mktemp("search") / "workspace",
        embedder=EmbedderSettings(name="fake"),
        sampling=SamplingSettings(interval_s=3.0, dedup_threshold=0.0),
    )
    with Workspace.open(settings) as workspace:
        workspace.add_source(str(two_cameras[0]), name="gate", site="north")
        workspace.add_source(str(two_cameras[1]), name="lawn", site="south")
        workspace.index(objects=True)
        yield workspace


@pytest.fixture
def workspace(tmp_path: Path) -> Iterator[Workspace]:
    """An empty workspace (nothing indexed) with the fake embedder."""
    settings = Settings(home=tmp_path / "workspace", embedder=EmbedderSettings(name="fake"))
    with Workspace.open(settings) as opened:
        yield opened
