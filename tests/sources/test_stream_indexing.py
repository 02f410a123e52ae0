"""A live stream through the whole indexing pipeline: the real clip served over HTTP on loopback.

It sits beside the reader tests so it can share their loopback server fixture.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from vigil.settings import EmbedderSettings, SamplingSettings, Settings
from vigil.sources.types import SourceKind
from vigil.workspace import Workspace


def test_stream_is_indexed_with_wall_clock_identities(
    http_server: tuple[str, Path], vtest_ts: Path, tmp_path: Path
) -> None:
    base, folder = http_server
    shutil.copyfile(vtest_ts, folder / "clip.ts")
    settings = Settings(
        home=tmp_path / "workspace",
        embedder=EmbedderSettings(name="fake"),
        sampling=SamplingSettings(interval_s=1.0, dedup_threshold=0.0),
    )
    with Workspace.open(settings) as workspace:
        source = workspace.add_source(f"{base}/clip.ts", name="gate")
        assert source.kind == SourceKind.STREAM
        assert workspace.index() == []  # streams are only indexed when named
        [report] = workspace.index(["gate"], max_frames=30)
        assert report.frames_written == 30 and not report.complete
        hits = workspace.search("anything", limit=50)
        assert len(hits) == 30
        frames = [hit.frame for hit in hits]
        assert all(frame.captured_at is not None for frame in frames)
        # Identity is the receipt time in ms, so a reconnect never collides with old frames.
        assert len({frame.frame_index for frame in frames}) == 30
        [again] = workspace.index(["gate"], max_frames=10)
        assert again.frames_written == 10
        assert len(workspace.vector_index) == 40
