"""A live stream through the whole indexing pipeline: the real clip served over HTTP on loopback.

It sits beside the reader tests so it can share their loopback server fixture.
"""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.runtime.helpers import StreamServer
from vigil.settings import EmbedderSettings, RuntimeSettings, SamplingSettings, Settings
from vigil.sources.types import SourceKind
from vigil.structure.indexing import IndexProgress
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


def test_stream_indexing_reconnects_after_a_drop_without_duplicates(
    vtest_ts: Path, tmp_path: Path
) -> None:
    """Before: indexing gave up at the first drop while ``vigil run`` reconnected."""
    folder = tmp_path / "served"
    folder.mkdir()
    shutil.copyfile(vtest_ts, folder / "clip.ts")
    server = StreamServer(folder)  # real time (10 fps), drops every connection on cut()
    settings = Settings(
        home=tmp_path / "workspace",
        embedder=EmbedderSettings(name="fake"),
        sampling=SamplingSettings(interval_s=0.5, dedup_threshold=0.0),
        runtime=RuntimeSettings(reconnect_base_s=0.2, reconnect_max_s=1.0),
    )
    cut_at: list[datetime] = []

    def cut_when_indexing(progress: IndexProgress) -> None:
        if not cut_at and progress.frames_written >= 4:
            cut_at.append(datetime.now(UTC))
            server.cut(1.5)  # the camera is gone for 1.5 s, then answers again

    try:
        with Workspace.open(settings) as workspace:
            workspace.add_source(server.url("clip.ts"), name="gate")
            [report] = workspace.index(["gate"], max_seconds=12, on_progress=cut_when_indexing)
            records = sorted(
                frame.captured_at
                for frame, _ in workspace.catalog.frames_for_embeddings(
                    [int(i) for i in workspace.catalog.embedding_ids(workspace.embedder.model_id)]
                ).values()
                if frame.captured_at is not None
            )
            stored = workspace.catalog.count_embeddings(workspace.embedder.model_id)
            indexed = len(workspace.vector_index)
    finally:
        server.close()
    assert cut_at, "the stream must have been cut while indexing"
    assert report.reconnects >= 1 and report.last_error is not None
    assert not report.errors, report.errors  # a drop that was survived is health, not failure
    assert stored == indexed == report.frames_written == len(records)
    assert len(set(records)) == len(records)  # no frame stored twice
    after = [t for t in records if t > cut_at[0] + timedelta(seconds=1.5)]
    assert len(after) >= 4, "indexing must go on after the stream came back"
