"""Sharded indexing on a real local Ray cluster (head + worker node on loopback).

The fake embedder keeps these fast: frames are real (decoded from vtest.avi) and
its vectors are a deterministic function of the pixels. "Equal to the single-process
run" means the same frames exactly (which frames, media times, thumbnail bytes) and
vectors within ``VECTOR_ATOL``: a Ray worker runs one BLAS thread and this process
several, and summation order changes the last bits of a float32 on some machines.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import av
import numpy as np
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.scale.conftest import RayCluster, command_line, is_alive
from vigil.catalog.schema import EmbeddingRow, FrameRow
from vigil.embedders.fake import FakeEmbedder
from vigil.errors import VigilError
from vigil.scale import ClusterError, Shard
from vigil.settings import EmbedderSettings, SamplingSettings, ScaleSettings, Settings
from vigil.sources.types import SourceKind
from vigil.workspace import Workspace

INTERVAL_S = 0.5
# Unit vectors from float32 matrix products in a different summation order (thread count):
# a few ulps apart, far below anything that changes a ranking.
VECTOR_ATOL = 1e-5


def _settings(home: Path, shard_seconds: float = 6.0) -> Settings:
    return Settings(
        home=home,
        sampling=SamplingSettings(interval_s=INTERVAL_S, dedup_threshold=0.01),
        embedder=EmbedderSettings(name="fake"),
        scale=ScaleSettings(shard_seconds=shard_seconds),
    )


def _snapshot(ws: Workspace, home: Path) -> dict[str, object]:
    """Everything indexing leaves behind, keyed by content (never by database id)."""
    rows: dict[tuple[str, int], tuple[float, bytes, bytes]] = {}
    with Session(ws.catalog.engine) as session:
        query = select(FrameRow, EmbeddingRow.vector).join(
            EmbeddingRow, EmbeddingRow.frame_id == FrameRow.id
        )
        names = {s.id: s.name for s in ws.list_sources()}
        for frame, vector in session.execute(query):
            thumb = (home / frame.thumbnail_path).read_bytes()
            rows[(names[frame.source_id], frame.frame_index)] = (frame.media_time, vector, thumb)
    index = ws.vector_index
    return {"rows": rows, "index_size": len(index), "index_ids": index.ids().size}


def assert_same_rows(got: object, want: object) -> None:
    """Same frames, media times and thumbnails exactly; vectors within ``VECTOR_ATOL``."""
    assert isinstance(got, dict) and isinstance(want, dict)
    assert sorted(got) == sorted(want)
    for key, (media_time, vector, thumb) in want.items():
        got_time, got_vector, got_thumb = got[key]
        assert got_time == media_time, key
        assert got_thumb == thumb, key
        np.testing.assert_allclose(
            np.frombuffer(got_vector, "<f4"), np.frombuffer(vector, "<f4"), rtol=0, atol=VECTOR_ATOL
        )


def assert_same_snapshot(got: dict[str, object], want: dict[str, object]) -> None:
    assert_same_rows(got["rows"], want["rows"])
    assert (got["index_size"], got["index_ids"]) == (want["index_size"], want["index_ids"])


def _duplicates(ws: Workspace) -> int:
    with Session(ws.catalog.engine) as session:
        frames = session.scalar(select(func.count(FrameRow.id))) or 0
        distinct = session.scalar(
            select(func.count()).select_from(
                select(FrameRow.source_id, FrameRow.frame_index).distinct().subquery()
            )
        )
        embeddings = session.scalar(select(func.count(EmbeddingRow.id))) or 0
    return (frames - (distinct or 0)) + (embeddings - frames)


@pytest.fixture(scope="module")
def image_folder(vtest_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Nine real stills: every 25th frame of the clip saved as PNG."""
    folder = tmp_path_factory.mktemp("stills")
    with av.open(str(vtest_path)) as container:
        for number, frame in enumerate(container.decode(video=0)):
            if number % 25 == 0:
                frame.to_image().save(folder / f"still-{number:04d}.png")
            if number >= 200:
                break
    return folder


@pytest.fixture(scope="module")
def single_process(
    tmp_path_factory: pytest.TempPathFactory, vtest_cut: Path, image_folder: Path
) -> dict[str, object]:
    home = tmp_path_factory.mktemp("single")
    with Workspace.open(_settings(home)) as ws:
        ws.add_source(str(vtest_cut), name="walkway")
        ws.add_source(str(image_folder), name="stills")
        reports = ws.index()
        assert all(report.complete for report in reports)
        return _snapshot(ws, home)


def test_sharded_run_equals_the_single_process_run(
    ray_cluster: RayCluster,
    tmp_path: Path,
    vtest_cut: Path,
    image_folder: Path,
    single_process: dict[str, object],
) -> None:
    with Workspace.open(_settings(tmp_path)) as ws:
        walkway = ws.add_source(str(vtest_cut), name="walkway")
        ws.add_source(str(image_folder), name="stills", kind=SourceKind.IMAGES)
        report = ws.index_on_ray(address=ray_cluster.address)
        assert report.errors == []
        assert all(report.complete.values())
        assert report.shards == 4 + 2  # 24 s in 6 s shards; 9 stills in 6-still shards
        assert report.cluster_cpus == 2
        assert_same_snapshot(_snapshot(ws, tmp_path), single_process)
        rows = single_process["rows"]
        assert isinstance(rows, dict)
        assert report.frames_written == len(rows)
        progress = ws.catalog.get_progress(walkway.id, FakeEmbedder().model_id)
        assert progress is not None and progress.status == "complete"

        # A second run finds everything stored: it writes nothing and duplicates nothing.
        again = ws.index_on_ray(address=ray_cluster.address)
        assert again.frames_written == 0
        assert again.frames_already_indexed == len(rows)
        assert again.shards_embedded == 0
        assert _duplicates(ws) == 0


def test_cpu_actor_pool_equals_the_single_process_run(
    ray_cluster: RayCluster,
    tmp_path: Path,
    vtest_cut: Path,
    image_folder: Path,
    single_process: dict[str, object],
) -> None:
    """The GPU code path (decode tasks feeding embedding actors), run with CPU actors."""
    settings = _settings(tmp_path).model_copy(
        update={"scale": ScaleSettings(shard_seconds=6.0, actor_pool="always")}
    )
    with Workspace.open(settings) as ws:
        ws.add_source(str(vtest_cut), name="walkway")
        ws.add_source(str(image_folder), name="stills", kind=SourceKind.IMAGES)
        report = ws.index_on_ray(address=ray_cluster.address)
        assert report.plan == "1 cpu embedding actor(s) fed by CPU decode tasks"
        assert report.errors == [] and all(report.complete.values())
        assert len(report.workers) == 1  # one actor process embedded every shard
        assert_same_snapshot(_snapshot(ws, tmp_path), single_process)
        again = ws.index_on_ray(address=ray_cluster.address)
        assert again.frames_written == 0 and again.shards_embedded == 0
        assert _duplicates(ws) == 0


def test_a_partial_single_process_run_is_completed_on_ray(
    ray_cluster: RayCluster, tmp_path: Path, vtest_cut: Path, single_process: dict[str, object]
) -> None:
    """Single-process and Ray runs resume each other: stop one after 10 frames, finish on Ray."""
    with Workspace.open(_settings(tmp_path)) as ws:
        ws.add_source(str(vtest_cut), name="walkway")
        [partial] = ws.index(max_frames=10)
        assert partial.frames_written == 10 and not partial.complete
        report = ws.index_on_ray(address=ray_cluster.address)
        assert report.frames_already_indexed == 10
        rows = single_process["rows"]
        assert isinstance(rows, dict)
        expected = {key: value for key, value in rows.items() if key[0] == "walkway"}
        snapshot = _snapshot(ws, tmp_path)
        assert_same_rows(snapshot["rows"], expected)
        assert snapshot["index_size"] == len(expected)


def test_killing_a_worker_mid_run_loses_nothing_and_duplicates_nothing(
    ray_cluster: RayCluster, tmp_path: Path, vtest_cut: Path, single_process: dict[str, object]
) -> None:
    """SIGKILL the worker process embedding a shard; Ray re-runs the shard elsewhere."""
    killed: list[int] = []
    stop = threading.Event()

    def kill_first_embedder() -> None:
        nodes = [ray_cluster.head, ray_cluster.worker]
        while not stop.is_set() and not killed:
            for node in nodes:
                for pid in node.descendants():
                    if command_line(pid).startswith("ray::embed_shard"):
                        os.kill(pid, signal.SIGKILL)
                        killed.append(pid)
                        return
            time.sleep(0.05)

    committed: list[Shard] = []
    with Workspace.open(_settings(tmp_path, shard_seconds=4.0)) as ws:
        ws.add_source(str(vtest_cut), name="walkway")
        killer = threading.Thread(target=kill_first_embedder, daemon=True)
        killer.start()
        try:
            report = ws.index_on_ray(
                address=ray_cluster.address, on_shard=lambda shard, _: committed.append(shard)
            )
        finally:
            stop.set()
            killer.join(timeout=10)
        assert killed, "no embedding worker was seen running: nothing was killed"
        assert not is_alive(killed[0])
        assert all(report.complete.values()) and report.errors == []
        assert [shard.number for shard in committed] == list(range(6))  # in order, once each
        rows = single_process["rows"]
        assert isinstance(rows, dict)
        expected = {key: value for key, value in rows.items() if key[0] == "walkway"}
        snapshot = _snapshot(ws, tmp_path)
        assert_same_rows(snapshot["rows"], expected)
        assert snapshot["index_size"] == len(expected) == report.frames_written
        assert _duplicates(ws) == 0


def test_a_damaged_source_fails_alone(
    ray_cluster: RayCluster, tmp_path: Path, vtest_cut: Path, image_folder: Path
) -> None:
    """A file that turns unreadable after registration fails its source; others complete."""
    broken = tmp_path / "broken.avi"
    broken.write_bytes(vtest_cut.read_bytes())
    with Workspace.open(_settings(tmp_path / "ws")) as ws:
        bad = ws.add_source(str(broken), name="broken")
        good = ws.add_source(str(image_folder), name="stills")
        broken.write_bytes(b"not a video any more" * 100)
        with pytest.raises(VigilError):
            ws.index([bad.id])  # the single-process pipeline refuses it too
        report = ws.index_on_ray(address=ray_cluster.address)
        assert report.complete == {bad.id: False, good.id: True}
        assert len(report.errors) == 1 and report.errors[0].startswith("broken: ")
        progress = ws.catalog.get_progress(bad.id, FakeEmbedder().model_id)
        assert progress is not None and progress.status == "failed"
        assert np.asarray(ws.vector_index.ids()).size == 9


def test_an_unreachable_cluster_is_a_clear_error(tmp_path: Path) -> None:
    with (
        Workspace.open(_settings(tmp_path)) as ws,
        pytest.raises(ClusterError, match="cannot connect to the Ray cluster"),
    ):
        ws.index_on_ray(address="127.0.0.1:1")


@pytest.mark.real_model
def test_real_model_on_ray_matches_the_single_process_vectors(
    ray_cluster: RayCluster, tmp_path: Path, vtest_cut: Path
) -> None:
    """The default concept-bridge model: same frames; vectors equal up to float batching noise."""

    def settings(home: Path) -> Settings:
        return _settings(home, shard_seconds=3.0).model_copy(
            update={
                "embedder": EmbedderSettings(name="concept-bridge"),
                "sampling": SamplingSettings(interval_s=2.0, dedup_threshold=0.01),
            }
        )

    def vectors(ws: Workspace) -> dict[int, np.ndarray]:
        with Session(ws.catalog.engine) as session:
            query = select(FrameRow.frame_index, EmbeddingRow.vector).join(
                EmbeddingRow, EmbeddingRow.frame_id == FrameRow.id
            )
            return {i: np.frombuffer(v, "<f4") for i, v in session.execute(query)}

    with Workspace.open(settings(tmp_path / "one")) as ws:
        ws.add_source(str(vtest_cut), name="walkway")
        ws.index()
        expected = vectors(ws)
        embedder = ws.embedder
    with Workspace.open(settings(tmp_path / "ray"), embedder=embedder) as ws:
        ws.add_source(str(vtest_cut), name="walkway")
        report = ws.index_on_ray(address=ray_cluster.address)
        assert report.errors == [] and all(report.complete.values())
        got = vectors(ws)
    assert sorted(got) == sorted(expected) and len(got) >= 6
    for index, vector in expected.items():
        np.testing.assert_allclose(got[index], vector, atol=1e-4)
