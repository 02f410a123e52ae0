"""The tracking pass on real frames: records, resume without duplicates, reuse, cuts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import supervision as sv

from vigil.catalog.tracks_store import TrackRecord, list_tracks, track_vectors
from vigil.errors import InvalidInputError
from vigil.settings import TrackSettings
from vigil.sources.readers import ReconnectPolicy, open_frames
from vigil.sources.types import Frame, SourceKind, SourceSpec
from vigil.tracks import TrackBuildReport, TrackerConfig, TrackPass, create_tracker
from vigil.workspace import Workspace

from .conftest import run_build, track_settings, write_excerpt


def test_tracks_are_stored_with_their_attributes(
    tracked: tuple[Workspace, TrackBuildReport],
) -> None:
    workspace, report = tracked
    assert report.finished and report.resets == 0
    assert 38 <= report.frames_tracked <= 41  # 8 s at 5 frames per second
    assert report.frames_detected == report.frames_tracked and report.frames_reused == 0
    tracks = list_tracks(workspace.catalog)
    people = [t for t in tracks if t.label == "person"]
    # Seven people walk through the excerpt; a tracker may split one at an occlusion.
    assert 5 <= len(people) <= 14
    for track in tracks:
        assert track.first_media_time <= track.best_media_time <= track.last_media_time
        assert track.observations >= workspace.settings.tracks.min_observations
        assert (track.frame_width, track.frame_height) == (768, 576)
        assert len(track.trajectory) >= 3 and track.trajectory[0][0] == track.first_media_time
        for _, x1, y1, x2, y2 in track.trajectory:
            assert -1 <= x1 < x2 <= 769 and -1 <= y1 < y2 <= 577
        assert (workspace.home / track.thumbnail_path).is_file()
        assert {"upper", "lower", "appearance"} <= set(track.colours)
        assert sum(track.colours["appearance"]) == pytest.approx(2.0, abs=1e-2)  # two halves
    # The woman in red (hand-annotated person 1) walks left: direction near 180 degrees.
    moving = [t for t in people if t.direction_deg is not None and t.speed_px_s > 10]
    assert moving, "someone must be walking"
    ids, vectors = track_vectors(workspace.catalog, workspace.embedder.model_id)
    assert sorted(ids.tolist()) == sorted(t.id for t in tracks)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_a_finished_source_is_not_tracked_again(
    tracked: tuple[Workspace, TrackBuildReport],
) -> None:
    workspace, _ = tracked
    before = len(list_tracks(workspace.catalog))
    report = run_build(workspace, workspace.get_source("walkway"))
    assert report.finished and report.frames_tracked == 0
    assert len(list_tracks(workspace.catalog)) == before


def _overlap(a: TrackRecord, b: TrackRecord) -> float:
    """Mean IoU of two tracks' boxes at the times both were seen (0 if never)."""
    boxes_b = {round(p[0], 2): p[1:] for p in b.trajectory}
    shared = [(p[1:], boxes_b[round(p[0], 2)]) for p in a.trajectory if round(p[0], 2) in boxes_b]
    if not shared:
        return 0.0
    first = np.asarray([s[0] for s in shared])
    second = np.asarray([s[1] for s in shared])
    return float(np.mean(np.diag(sv.box_iou_batch(first, second))))


def test_an_interrupted_run_resumes_without_duplicates(
    excerpt: Path, tmp_path: Path, tracked: tuple[Workspace, TrackBuildReport]
) -> None:
    whole, _ = tracked
    with Workspace.open(track_settings(tmp_path / "ws")) as workspace:
        source = workspace.add_source(str(excerpt), name="walkway")
        first = run_build(workspace, source, max_seconds=3.0)
        assert not first.finished
        stored_first = len(list_tracks(workspace.catalog))
        rest = run_build(workspace, source)
        assert rest.finished and rest.resumed_from <= 3.0
        tracks = list_tracks(workspace.catalog)
        assert len(tracks) >= stored_first
        for i, a in enumerate(tracks):
            for b in tracks[i + 1 :]:
                assert _overlap(a, b) < 0.5, f"tracks {a.id} and {b.id} are the same object"
        # Close to the uninterrupted run (a fresh tracker at the resume point may split or
        # join a track differently, never duplicate one).
        assert abs(len(tracks) - len(list_tracks(whole.catalog))) <= 2


def test_detections_of_the_object_pass_are_reused(excerpt: Path, tmp_path: Path) -> None:
    with Workspace.open(track_settings(tmp_path / "ws")) as workspace:
        source = workspace.add_source(str(excerpt), name="walkway")
        workspace.index(max_frames=4, objects=True)  # frames at 0, 1, 2, 3 s, detected once
        report = run_build(workspace, source, max_seconds=4.0)
        assert report.frames_reused == 4
        assert report.frames_detected == report.frames_tracked - 4


def _frames(excerpt: Path, count: int) -> list[Frame]:
    spec = SourceSpec(name="x", kind=SourceKind.VIDEO, location=str(excerpt))
    with open_frames(spec) as reader:
        return [frame for frame in reader if frame.index % 2 == 0][:count]


def _detect_all(workspace: Workspace, frames: list[Frame]) -> list[list[object]]:
    return [workspace.detector.detect_batch([f.image], 0.3)[0] for f in frames]


@pytest.mark.parametrize("cut", ["resolution", "time-jump", "time-backwards"])
def test_a_cut_ends_every_track_and_resets_the_tracker(
    excerpt: Path, tracked: tuple[Workspace, TrackBuildReport], cut: str
) -> None:
    workspace, _ = tracked
    frames = _frames(excerpt, 16)
    detections = _detect_all(workspace, frames)
    settings = TrackSettings(min_observations=2)
    passer = TrackPass(workspace.get_source("walkway"), settings, "ssd", workspace.home)
    finished = []
    for number, (frame, found) in enumerate(zip(frames, detections, strict=True)):
        if number >= 8:
            if cut == "resolution":  # a camera switched to half size: boxes shrink too
                image = np.ascontiguousarray(frame.image[::2, ::2])
                found = [
                    type(d)(tuple(v / 2 for v in d.xyxy), d.label, d.score, d.class_id)
                    for d in found  # type: ignore[attr-defined]
                ]
                frame = Frame(frame.index, frame.media_time, image)
            elif cut == "time-jump":
                frame = Frame(frame.index, frame.media_time + 60.0, frame.image)
            else:  # a stream reconnect restarts its clock
                frame = Frame(frame.index, frame.media_time - 0.8, frame.image)
        finished.extend(track for track, _ in passer.feed(frame, found))  # type: ignore[arg-type]
    finished.extend(track for track, _ in passer.finish())
    assert passer.resets == 1
    cut_time = frames[8].media_time
    for track in finished:
        sides = {point[0] >= cut_time for point in track.trajectory}
        if cut != "time-backwards":
            assert len(sides) == 1, "a track crossed the cut"
    if cut == "resolution":
        assert {(t.frame_width, t.frame_height) for t in finished} == {(768, 576), (384, 288)}


@pytest.mark.parametrize(
    ("name", "rate", "lost", "activation", "error"),
    [
        ("bytetrack", 5.0, 1.0, 0.5, None),
        ("sort", 5.0, 1.0, 0.5, None),
        ("deepsort", 5.0, 1.0, 0.5, "unknown tracker 'deepsort'"),
        ("bytetrack", 0.0, 1.0, 0.5, "must be > 0"),
        ("bytetrack", 5.0, 1.0, 1.5, "activation score must be in"),
    ],
)
def test_tracker_registry(
    name: str, rate: float, lost: float, activation: float, error: str | None
) -> None:
    if error is None:
        tracker = create_tracker(name, TrackerConfig(rate, lost, activation))
        assert tracker.name == name
        assert len(tracker.update(sv.Detections.empty(), 0.0)) == 0
        return
    with pytest.raises(InvalidInputError, match=error):
        create_tracker(name, TrackerConfig(rate, lost, activation))


def test_a_live_stream_is_tracked(
    vtest_path: Path, http_server: tuple[str, Path], tmp_path: Path
) -> None:
    """An HTTP MPEG-TS stream (loopback server) that ends and is reopened: no track spans
    the reconnect, tracks are stored, the source is never marked finished."""
    base, folder = http_server
    write_excerpt(vtest_path, folder / "cam.ts", 500, 30, fmt="mpegts")
    with Workspace.open(track_settings(tmp_path / "ws")) as workspace:
        source = workspace.add_source(f"{base}/cam.ts", name="cam")
        assert source.kind == SourceKind.STREAM
        report = run_build(
            workspace,
            source,
            max_seconds=30.0,
            reconnect_policy=ReconnectPolicy(base_delay_s=0.1, first_attempts=1),
        )
        assert not report.finished and report.tracks_stored >= 2
        tracks = list_tracks(workspace.catalog)
        assert all(t.first_captured_at is not None for t in tracks)
        # The 3 s clip is served again after each end: every replay is a new session.
        assert report.resets >= 1
        assert all(t.last_media_time - t.first_media_time <= 3.5 for t in tracks)
