"""The indexing pipeline on the real sample clip, with the fake embedder (fast)."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from vigil.errors import CorruptMediaError, NotFoundError, SourceError
from vigil.settings import Settings
from vigil.workspace import Workspace

CLIP_SECONDS = 79.5


def frame_keys(workspace: Workspace, source_id: int) -> list[tuple[int, float]]:
    ids = workspace.catalog.embedding_ids(workspace.embedder.model_id, source_ids=[source_id])
    records = workspace.catalog.frames_for_embeddings([int(i) for i in ids])
    return sorted((frame.frame_index, frame.media_time) for frame, _ in records.values())


def test_index_writes_one_record_per_sampled_second(workspace: Workspace, vtest_path: Path) -> None:
    source = workspace.add_source(str(vtest_path), name="walkway")
    [report] = workspace.index()
    assert report.complete and not report.errors
    # dedup 0 keeps every interval frame: one per second of the 79.5 s clip.
    assert report.frames_written == 80
    keys = frame_keys(workspace, source.id)
    assert [index for index, _ in keys][:3] == [0, 10, 20]  # 10 fps, real pts
    assert keys[1][1] == pytest.approx(1.0, abs=1e-6)
    assert len(workspace.vector_index) == 80
    assert all(
        (workspace.home / f.thumbnail_path).exists()
        for f, _ in workspace.catalog.frames_for_embeddings(
            [int(i) for i in workspace.catalog.embedding_ids(workspace.embedder.model_id)]
        ).values()
    )


def test_reindexing_adds_nothing(workspace: Workspace, vtest_path: Path) -> None:
    workspace.add_source(str(vtest_path), name="walkway")
    workspace.index()
    [again] = workspace.index()
    assert again.frames_written == 0
    assert len(workspace.vector_index) == 80
    assert workspace.catalog.count_embeddings(workspace.embedder.model_id) == 80


def test_interrupted_run_resumes_to_the_same_result(
    fake_settings: Settings, tmp_path: Path, vtest_path: Path
) -> None:
    settings = fake_settings.model_copy(
        update={"sampling": fake_settings.sampling.model_copy(update={"dedup_threshold": 0.02})}
    )
    with Workspace.open(settings.model_copy(update={"home": tmp_path / "whole"})) as whole:
        source = whole.add_source(str(vtest_path), name="walkway")
        whole.index()
        expected = frame_keys(whole, source.id)
    with Workspace.open(settings) as workspace:
        source = workspace.add_source(str(vtest_path), name="walkway")
        [first] = workspace.index(max_frames=16)
        assert first.frames_written == 16 and not first.complete
        [second] = workspace.index()
        assert second.resumed_from is not None and second.resumed_from > 0
        assert second.complete
        assert frame_keys(workspace, source.id) == expected
        assert len(workspace.vector_index) == len(expected)


def test_killed_process_resumes_without_duplicates(
    fake_settings: Settings, vtest_path: Path
) -> None:
    """SIGKILL the real CLI mid-run, run it again: every sampled frame exactly once."""
    home = fake_settings.home
    env = {**os.environ, "VIGIL_HOME": str(home), "VIGIL_EMBEDDER__NAME": "fake"}
    cli = [sys.executable, "-m", "vigil.cli.main"]
    subprocess.run(
        [*cli, "source", "add", str(vtest_path), "--name", "walkway"], env=env, check=True
    )
    args = [*cli, "index", "--interval", "0.1", "--dedup", "0"]
    process = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    written = 0
    while time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.2)
        written = _count_rows(home / "catalog.db", "embeddings")
        if written >= 100:
            process.send_signal(signal.SIGKILL)
            break
    process.wait(timeout=30)
    assert 100 <= written < 795, "the run must be killed part-way through"
    subprocess.run(args, env=env, check=True, capture_output=True)
    assert _count_rows(home / "catalog.db", "embeddings") == 795
    assert _count_rows(home / "catalog.db", "frames") == 795
    with Workspace.open(fake_settings) as workspace:
        assert len(workspace.vector_index) == 795


def _count_rows(database: Path, table: str) -> int:
    if not database.exists():
        return 0
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=5) as connection:
        try:
            return int(connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
        except sqlite3.OperationalError:
            return 0


def test_truncated_video_keeps_decodable_frames(
    workspace: Workspace, vtest_path: Path, tmp_path: Path
) -> None:
    truncated = tmp_path / "truncated.avi"
    truncated.write_bytes(vtest_path.read_bytes()[: vtest_path.stat().st_size * 4 // 10])
    workspace.add_source(str(truncated), name="cut")
    [report] = workspace.index()
    assert 20 <= report.frames_written < 80
    [again] = workspace.index()
    assert again.frames_written == 0


def test_corrupt_file_is_refused_and_nothing_is_stored(
    workspace: Workspace, vtest_path: Path, tmp_path: Path
) -> None:
    workspace.add_source(str(vtest_path), name="walkway")
    workspace.index()
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(os.urandom(200_000))
    with pytest.raises(CorruptMediaError):
        workspace.add_source(str(garbage), name="garbage")
    with pytest.raises(SourceError):
        workspace.add_source(str(tmp_path / "missing.mp4"), name="missing")
    assert [s.name for s in workspace.list_sources()] == ["walkway"]
    assert workspace.catalog.count_embeddings(workspace.embedder.model_id) == 80


def test_unknown_source_is_a_clear_error(workspace: Workspace) -> None:
    with pytest.raises(NotFoundError, match="42"):
        workspace.index([42])
    with pytest.raises(NotFoundError, match="nowhere"):
        workspace.remove_source("nowhere")


def test_removed_source_leaves_search_and_disk(
    workspace: Workspace, vtest_path: Path, tmp_path: Path
) -> None:
    shutil.copy(vtest_path, tmp_path / "copy.avi")
    first = workspace.add_source(str(vtest_path), name="walkway")
    second = workspace.add_source(str(tmp_path / "copy.avi"), name="copy")
    workspace.index()
    assert {hit.source.id for hit in workspace.search("anything", limit=50)} == {
        first.id,
        second.id,
    }
    workspace.remove_source("copy")
    hits = workspace.search("anything", limit=50)
    assert hits and {hit.source.id for hit in hits} == {first.id}
    assert not (workspace.home / "thumbs" / str(second.id)).exists()
