"""Catalog access for anomaly scenarios and "what is unusual here": targets, scores, vectors.

The anomaly stage (``vigil.anomaly``) never touches SQL; it calls these named
functions. Each is one short transaction. The table is created by revision
``anomaly_0001`` (``migrations/versions/anomaly_0001_scores.py``); keep both in step.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session, sessionmaker

from vigil.catalog.anomaly_schema import AnomalyScoreRow
from vigil.catalog.codec import decode_vectors
from vigil.catalog.db import guard, session_factories
from vigil.catalog.schema import EmbeddingRow, FrameRow, ObjectRow, SourceRow, utcnow
from vigil.catalog.store import Catalog


@dataclass(frozen=True)
class AnomalyTarget:
    """A stored item an anomaly scenario scores, with what is needed to find its pixels."""

    kind: str  # "frame" or "object"
    id: int
    source_id: int
    source_kind: str  # "video", "images" or "stream"
    source_location: str
    frame_index: int  # for image folders: position of the file in the sorted listing
    media_time: float
    frame_wh: tuple[int, int]  # full-size frame width, height
    thumbnail_path: str  # relative to the workspace home


@dataclass(frozen=True)
class StoredScore:
    kind: str
    id: int
    score: float
    distance: float
    threshold: float
    anomalous: bool
    heatmap_path: str | None


def _reads(catalog: Catalog) -> sessionmaker[Session]:
    return session_factories(catalog.engine)[0]


def _writes(catalog: Catalog) -> sessionmaker[Session]:
    return session_factories(catalog.engine)[1]


def anomaly_targets(
    catalog: Catalog,
    kind: str,
    *,
    object_classes: Sequence[str] = (),
    source_id: int | None = None,
    ids: Sequence[int] | None = None,
    limit: int | None = None,
) -> list[AnomalyTarget]:
    """Frames (optionally of one source) or objects (optionally of some classes), by id."""
    with guard("list anomaly targets"), _reads(catalog)() as session:
        if kind == "frame":
            statement = select(
                FrameRow.id,
                FrameRow.source_id,
                SourceRow.kind,
                SourceRow.location,
                FrameRow.frame_index,
                FrameRow.media_time,
                FrameRow.width,
                FrameRow.height,
                FrameRow.thumbnail_path,
            ).join(SourceRow, SourceRow.id == FrameRow.source_id)
            if source_id is not None:
                statement = statement.where(FrameRow.source_id == source_id)
            if ids is not None:
                statement = statement.where(FrameRow.id.in_([int(i) for i in ids]))
            statement = statement.order_by(FrameRow.id)
        else:
            statement = (
                select(
                    ObjectRow.id,
                    ObjectRow.source_id,
                    SourceRow.kind,
                    SourceRow.location,
                    FrameRow.frame_index,
                    FrameRow.media_time,
                    FrameRow.width,
                    FrameRow.height,
                    ObjectRow.thumbnail_path,
                )
                .join(FrameRow, FrameRow.id == ObjectRow.frame_id)
                .join(SourceRow, SourceRow.id == ObjectRow.source_id)
            )
            if object_classes:
                statement = statement.where(ObjectRow.label.in_(list(object_classes)))
            if source_id is not None:
                statement = statement.where(ObjectRow.source_id == source_id)
            if ids is not None:
                statement = statement.where(ObjectRow.id.in_([int(i) for i in ids]))
            statement = statement.order_by(ObjectRow.id)
        if limit is not None:
            statement = statement.limit(limit)
        return [
            AnomalyTarget(
                kind=kind,
                id=int(row[0]),
                source_id=int(row[1]),
                source_kind=str(row[2]),
                source_location=str(row[3]),
                frame_index=int(row[4]),
                media_time=float(row[5]),
                frame_wh=(int(row[6]), int(row[7])),
                thumbnail_path=str(row[8]),
            )
            for row in session.execute(statement).all()
        ]


def write_anomaly_scores(
    catalog: Catalog, scenario_id: int, version: int, scores: Sequence[StoredScore]
) -> int:
    """Replace this version's scores of the given items in ONE transaction."""
    if not scores:
        return 0
    with guard("store anomaly scores"), _writes(catalog).begin() as session:
        for kind, column in (
            ("frame", AnomalyScoreRow.frame_id),
            ("object", AnomalyScoreRow.object_id),
        ):
            ids = [item.id for item in scores if item.kind == kind]
            for start in range(0, len(ids), 500):
                session.execute(
                    delete(AnomalyScoreRow).where(
                        AnomalyScoreRow.scenario_id == scenario_id,
                        AnomalyScoreRow.version == version,
                        column.in_(ids[start : start + 500]),
                    )
                )
        now = utcnow()
        session.execute(
            insert(AnomalyScoreRow),
            [
                {
                    "scenario_id": scenario_id,
                    "version": version,
                    "frame_id": item.id if item.kind == "frame" else None,
                    "object_id": item.id if item.kind == "object" else None,
                    "score": item.score,
                    "distance": item.distance,
                    "threshold": item.threshold,
                    "anomalous": item.anomalous,
                    "heatmap_path": item.heatmap_path,
                    "created_at": now,
                }
                for item in scores
            ],
        )
    return len(scores)


def anomaly_scores(catalog: Catalog, scenario_id: int, version: int) -> list[StoredScore]:
    """Every stored score of one scenario version, highest score first."""
    with guard("read anomaly scores"), _reads(catalog)() as session:
        rows = session.scalars(
            select(AnomalyScoreRow)
            .where(AnomalyScoreRow.scenario_id == scenario_id, AnomalyScoreRow.version == version)
            .order_by(AnomalyScoreRow.score.desc(), AnomalyScoreRow.id)
        ).all()
        return [
            StoredScore(
                kind="frame" if row.frame_id is not None else "object",
                id=int(row.frame_id if row.frame_id is not None else row.object_id or 0),
                score=row.score,
                distance=row.distance,
                threshold=row.threshold,
                anomalous=row.anomalous,
                heatmap_path=row.heatmap_path,
            )
            for row in rows
        ]


@dataclass(frozen=True)
class FrameVectors:
    """Stored frame vectors of one source under one embedder, in media-time order."""

    frame_ids: np.ndarray  # (N,) int64
    media_times: np.ndarray  # (N,) float64 seconds
    captured_at: list[datetime | None]
    thumbnails: list[str]
    vectors: np.ndarray  # (N, dim) float32


def source_frame_vectors(catalog: Catalog, source_id: int, model_id: str) -> FrameVectors:
    """Every stored frame vector of a source for ``model_id`` (what "unusual" ranks)."""
    with guard("read frame vectors"), _reads(catalog)() as session:
        rows = session.execute(
            select(
                FrameRow.id,
                FrameRow.media_time,
                FrameRow.captured_at,
                FrameRow.thumbnail_path,
                EmbeddingRow.vector,
            )
            .join(EmbeddingRow, EmbeddingRow.frame_id == FrameRow.id)
            .where(FrameRow.source_id == source_id, EmbeddingRow.model_id == model_id)
            .order_by(FrameRow.media_time, FrameRow.id)
        ).all()
    vectors = decode_vectors([row[4] for row in rows])
    return FrameVectors(
        frame_ids=np.array([int(row[0]) for row in rows], dtype=np.int64),
        media_times=np.array([float(row[1]) for row in rows], dtype=np.float64),
        captured_at=[row[2] for row in rows],
        thumbnails=[str(row[3]) for row in rows],
        vectors=vectors,
    )


__all__ = [
    "AnomalyTarget",
    "FrameVectors",
    "StoredScore",
    "anomaly_scores",
    "anomaly_targets",
    "source_frame_vectors",
    "write_anomaly_scores",
]
