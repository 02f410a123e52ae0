"""Tracks in the catalog: records, their pooled vectors, and where tracking stands.

A track is written once, complete, when the tracker has lost it; the progress
row is written in the same transaction: ``checkpoint_media_time`` (how far the
run got) and ``resume_media_time`` (the start of the oldest track still open
then). A resumed run tracks again from ``resume_media_time`` and keeps only the
tracks that were still open at the checkpoint (the others were stored, or
dropped as too short, before it): nothing is stored twice and nothing is lost,
wherever the run was killed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import delete, func, select

from vigil.catalog.codec import chunks, decode_vectors, encode_vector
from vigil.catalog.db import guard
from vigil.catalog.objects import ObjectRecord, _object
from vigil.catalog.schema import FrameRow, ObjectRow, ObjectScanRow, SourceRow, utcnow
from vigil.catalog.store import Catalog, _frame, _source
from vigil.catalog.tracks_schema import TrackEmbeddingRow, TrackProgressRow, TrackRow
from vigil.catalog.types import FrameRecord
from vigil.errors import InvalidInputError, NotFoundError
from vigil.sources.types import Source

# One trajectory point: media time (s), then the box x1, y1, x2, y2 in frame pixels.
TrajectoryPoint = tuple[float, float, float, float, float]


@dataclass(frozen=True)
class NewTrack:
    """A finished track as the tracks stage hands it to the catalog."""

    source_id: int
    detector_id: str
    label: str
    class_id: int
    mean_score: float
    observations: int
    first_media_time: float
    last_media_time: float
    first_captured_at: datetime | None
    last_captured_at: datetime | None
    frame_width: int
    frame_height: int
    trajectory: list[TrajectoryPoint]
    best_media_time: float
    best_box: tuple[float, float, float, float]
    thumbnail_path: str
    colours: dict[str, Any]
    speed_px_s: float
    direction_deg: float | None
    crops: int = 0  # crop vectors pooled into ``vector``
    vector: np.ndarray | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if self.last_media_time < self.first_media_time:
            raise InvalidInputError(
                f"track ends ({self.last_media_time}) before it starts ({self.first_media_time})"
            )
        if not self.trajectory:
            raise InvalidInputError("a track needs at least one trajectory point")
        if self.observations < 1:
            raise InvalidInputError(f"a track needs >= 1 observation, got {self.observations}")


@dataclass(frozen=True)
class TrackRecord:
    """A stored track."""

    id: int
    source_id: int
    detector_id: str
    label: str
    class_id: int
    mean_score: float
    observations: int
    first_media_time: float
    last_media_time: float
    first_captured_at: datetime | None
    last_captured_at: datetime | None
    frame_width: int
    frame_height: int
    trajectory: list[TrajectoryPoint]
    best_media_time: float
    best_box: tuple[float, float, float, float]
    thumbnail_path: str
    colours: dict[str, Any]
    speed_px_s: float
    direction_deg: float | None

    @property
    def duration_s(self) -> float:
        return self.last_media_time - self.first_media_time

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (CLI ``--json``, REST)."""
        return {
            "id": self.id,
            "source_id": self.source_id,
            "label": self.label,
            "mean_score": round(self.mean_score, 4),
            "observations": self.observations,
            "first_media_time": round(self.first_media_time, 3),
            "last_media_time": round(self.last_media_time, 3),
            "first_captured_at": (
                self.first_captured_at.isoformat() if self.first_captured_at else None
            ),
            "last_captured_at": self.last_captured_at.isoformat()
            if self.last_captured_at
            else None,
            "frame_wh": [self.frame_width, self.frame_height],
            "trajectory": [[round(v, 2) for v in point] for point in self.trajectory],
            "best_media_time": round(self.best_media_time, 3),
            "best_box": [round(v, 1) for v in self.best_box],
            "thumbnail_path": self.thumbnail_path,
            "colours": self.colours,
            "speed_px_s": round(self.speed_px_s, 2),
            "direction_deg": None if self.direction_deg is None else round(self.direction_deg, 1),
        }


@dataclass(frozen=True)
class TrackProgress:
    """Where tracking of one source with one detector stands."""

    source_id: int
    detector_id: str
    resume_media_time: float
    checkpoint_media_time: float
    finished: bool
    settings: dict[str, Any]
    updated_at: datetime


def save_tracks(
    catalog: Catalog,
    source_id: int,
    detector_id: str,
    model_id: str,
    tracks: Sequence[NewTrack],
    *,
    resume_media_time: float,
    checkpoint_media_time: float,
    finished: bool,
    settings: dict[str, Any],
) -> list[int]:
    """Store finished tracks, their vectors and the progress mark in ONE transaction."""
    now = utcnow()
    ids: list[int] = []
    with guard("store tracks"), catalog.writes.begin() as session:
        if session.get(SourceRow, int(source_id)) is None:
            raise NotFoundError(f"no source with id {source_id}")
        for track in tracks:
            row = TrackRow(
                source_id=source_id,
                detector_id=detector_id,
                label=track.label,
                class_id=track.class_id,
                mean_score=track.mean_score,
                observations=track.observations,
                first_media_time=track.first_media_time,
                last_media_time=track.last_media_time,
                first_captured_at=track.first_captured_at,
                last_captured_at=track.last_captured_at,
                frame_width=track.frame_width,
                frame_height=track.frame_height,
                trajectory_json=[list(point) for point in track.trajectory],
                best_media_time=track.best_media_time,
                best_box_json=list(track.best_box),
                thumbnail_path=track.thumbnail_path,
                colours_json=dict(track.colours),
                speed_px_s=track.speed_px_s,
                direction_deg=track.direction_deg,
                created_at=now,
            )
            session.add(row)
            session.flush()
            ids.append(int(row.id))
            if track.vector is not None:
                vector = np.asarray(track.vector, dtype=np.float32).reshape(-1)
                session.add(
                    TrackEmbeddingRow(
                        track_id=row.id,
                        model_id=model_id,
                        crops=track.crops,
                        dim=int(vector.shape[0]),
                        vector=encode_vector(vector),
                        created_at=now,
                    )
                )
        progress = session.scalar(
            select(TrackProgressRow).where(
                TrackProgressRow.source_id == source_id,
                TrackProgressRow.detector_id == detector_id,
            )
        )
        if progress is None:
            progress = TrackProgressRow(source_id=source_id, detector_id=detector_id)
            session.add(progress)
        progress.resume_media_time = float(resume_media_time)
        progress.checkpoint_media_time = float(checkpoint_media_time)
        progress.finished = finished
        progress.settings_json = dict(settings)
        progress.updated_at = now
    return ids


def track_progress(catalog: Catalog, source_id: int, detector_id: str) -> TrackProgress | None:
    with guard("read tracking progress"), catalog.reads() as session:
        row = session.scalar(
            select(TrackProgressRow).where(
                TrackProgressRow.source_id == source_id,
                TrackProgressRow.detector_id == detector_id,
            )
        )
        if row is None:
            return None
        return TrackProgress(
            source_id=row.source_id,
            detector_id=row.detector_id,
            resume_media_time=row.resume_media_time,
            checkpoint_media_time=row.checkpoint_media_time,
            finished=row.finished,
            settings=dict(row.settings_json),
            updated_at=row.updated_at,
        )


def discard_tracks_from(
    catalog: Catalog, source_id: int, detector_id: str, media_time: float
) -> int:
    """Delete the tracks that started at or after ``media_time`` (0: all, for a rebuild)."""
    with guard("discard unfinished tracks"), catalog.writes.begin() as session:
        result = session.execute(
            delete(TrackRow).where(
                TrackRow.source_id == source_id,
                TrackRow.detector_id == detector_id,
                TrackRow.first_media_time >= media_time,
            )
        )
        return int(getattr(result, "rowcount", 0) or 0)


def list_tracks(
    catalog: Catalog,
    *,
    source_ids: Sequence[int] | None = None,
    label: str | None = None,
    min_observations: int = 1,
    limit: int | None = None,
) -> list[TrackRecord]:
    """Tracks in time order, optionally of some sources and one class."""
    statement = select(TrackRow).where(TrackRow.observations >= min_observations)
    if source_ids is not None:
        statement = statement.where(TrackRow.source_id.in_([int(i) for i in source_ids]))
    if label is not None:
        statement = statement.where(TrackRow.label == label)
    statement = statement.order_by(TrackRow.source_id, TrackRow.first_media_time, TrackRow.id)
    if limit is not None:
        statement = statement.limit(limit)
    with guard("list tracks"), catalog.reads() as session:
        return [_track(row) for row in session.scalars(statement)]


def get_track(catalog: Catalog, track_id: int) -> TrackRecord:
    with guard("read a track"), catalog.reads() as session:
        row = session.get(TrackRow, int(track_id))
        if row is None:
            raise NotFoundError(f"no track with id {track_id}")
        return _track(row)


def tracks_with_sources(
    catalog: Catalog, track_ids: Sequence[int]
) -> dict[int, tuple[TrackRecord, Source]]:
    """Track and source of each id; missing ids are absent."""
    found: dict[int, tuple[TrackRecord, Source]] = {}
    with guard("read tracks"), catalog.reads() as session:
        for chunk in chunks([int(i) for i in track_ids]):
            rows = session.execute(
                select(TrackRow, SourceRow)
                .join(SourceRow, SourceRow.id == TrackRow.source_id)
                .where(TrackRow.id.in_(chunk))
            )
            for track, source in rows:
                found[int(track.id)] = (_track(track), _source(source))
    return found


def track_vectors(
    catalog: Catalog,
    model_id: str,
    *,
    source_ids: Sequence[int] | None = None,
    label: str | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(track ids (N,), vectors (N, dim)) of the tracks that have a vector for ``model_id``."""
    statement = (
        select(TrackEmbeddingRow.track_id, TrackEmbeddingRow.vector)
        .join(TrackRow, TrackRow.id == TrackEmbeddingRow.track_id)
        .where(TrackEmbeddingRow.model_id == model_id)
        .order_by(TrackEmbeddingRow.track_id)
    )
    if source_ids is not None:
        statement = statement.where(TrackRow.source_id.in_([int(i) for i in source_ids]))
    if label is not None:
        statement = statement.where(TrackRow.label == label)
    with guard("read track vectors"), catalog.reads() as session:
        rows = session.execute(statement).all()
    if not rows:
        return np.zeros(0, dtype=np.int64), np.zeros((0, 0), dtype=np.float32)
    ids = np.asarray([int(track_id) for track_id, _ in rows], dtype=np.int64)
    return ids, decode_vectors([blob for _, blob in rows])


def count_tracks(catalog: Catalog, source_id: int | None = None) -> dict[str, int]:
    """Tracks per class label, optionally of one source."""
    statement = select(TrackRow.label, func.count(TrackRow.id)).group_by(TrackRow.label)
    if source_id is not None:
        statement = statement.where(TrackRow.source_id == source_id)
    with guard("count tracks"), catalog.reads() as session:
        return {label: int(count) for label, count in session.execute(statement)}


def scanned_detections(
    catalog: Catalog, source_id: int, detector_id: str
) -> dict[int, tuple[FrameRecord, list[ObjectRecord]]]:
    """Frames of a source the object pass already ran ``detector_id`` on, with their objects.

    The tracks stage reuses these boxes instead of running the detector again on
    the same frames (an empty list means: scanned, nothing found).
    """
    frames = (
        select(FrameRow)
        .join(ObjectScanRow, ObjectScanRow.frame_id == FrameRow.id)
        .where(FrameRow.source_id == source_id, ObjectScanRow.detector_id == detector_id)
    )
    objects = select(ObjectRow).where(
        ObjectRow.source_id == source_id, ObjectRow.detector_id == detector_id
    )
    with guard("read scanned detections"), catalog.reads() as session:
        found: dict[int, FrameRecord] = {row.id: _frame(row) for row in session.scalars(frames)}
        by_frame: dict[int, list[ObjectRecord]] = {}
        for row in session.scalars(objects):
            by_frame.setdefault(row.frame_id, []).append(_object(row))
    result: dict[int, tuple[FrameRecord, list[ObjectRecord]]] = {}
    for frame_id, frame in found.items():
        result[frame.frame_index] = (frame, by_frame.get(frame_id, []))
    return result


def _track(row: TrackRow) -> TrackRecord:
    x1, y1, x2, y2 = (float(v) for v in row.best_box_json)
    return TrackRecord(
        id=row.id,
        source_id=row.source_id,
        detector_id=row.detector_id,
        label=row.label,
        class_id=row.class_id,
        mean_score=row.mean_score,
        observations=row.observations,
        first_media_time=row.first_media_time,
        last_media_time=row.last_media_time,
        first_captured_at=row.first_captured_at,
        last_captured_at=row.last_captured_at,
        frame_width=row.frame_width,
        frame_height=row.frame_height,
        trajectory=[
            (float(p[0]), float(p[1]), float(p[2]), float(p[3]), float(p[4]))
            for p in row.trajectory_json
        ],
        best_media_time=row.best_media_time,
        best_box=(x1, y1, x2, y2),
        thumbnail_path=row.thumbnail_path,
        colours=dict(row.colours_json),
        speed_px_s=row.speed_px_s,
        direction_deg=row.direction_deg,
    )
