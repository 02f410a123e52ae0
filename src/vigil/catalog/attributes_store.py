"""Object colours, frame brightness and per-frame object counts: what query predicates read.

Search evaluates "two people", "a red car", "no people" and "at night" on these,
not on vectors; this module is their only reader and writer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select

from vigil.catalog.attributes_schema import FrameAttributeRow, ObjectAttributeRow
from vigil.catalog.codec import chunks as _chunks
from vigil.catalog.db import guard
from vigil.catalog.schema import EmbeddingRow, FrameRow, ObjectRow, ObjectScanRow, utcnow
from vigil.catalog.store import Catalog

# The colour names stored per object and frame (``structure.attributes`` measures them,
# search predicates ask for them): a fixed palette, so every reader means the same.
PALETTE = (
    "black", "white", "grey", "red", "orange", "yellow", "green", "blue", "purple", "pink",
    "brown",
)  # fmt: skip


@dataclass(frozen=True)
class StoredObjectColours:
    """An object's stored palette colours: shares per region ("whole", "upper", "lower")."""

    object_id: int
    shares: dict[str, dict[str, float]]

    def share(self, colour: str, region: str = "whole") -> float:
        return float(self.shares.get(region, {}).get(colour, 0.0))


@dataclass(frozen=True)
class FrameAttributes:
    """A frame's brightness and colour shares (None when not measured yet)."""

    frame_id: int
    brightness: float
    shares: dict[str, float]


@dataclass
class FrameObjects:
    """The stored objects of one frame, by class, with their colours where measured."""

    frame_id: int
    scanned: bool = False  # the object pass has looked at this frame
    counts: dict[str, int] = field(default_factory=dict)
    objects: list[tuple[int, str, float]] = field(default_factory=list)  # (id, label, score)
    colours: dict[int, StoredObjectColours] = field(default_factory=dict)


def store_object_colours(
    catalog: Catalog, colours: Sequence[tuple[int, dict[str, dict[str, float]]]]
) -> int:
    """Insert or replace the colours of objects: (object id, shares per region)."""
    now = utcnow()
    with guard("store object colours"), catalog.writes.begin() as session:
        for object_id, shares in colours:
            dominant = {
                region: (max(values, key=lambda name: values[name]) if values else None)
                for region, values in shares.items()
            }
            session.merge(
                ObjectAttributeRow(
                    object_id=object_id,
                    colour=dominant.get("whole"),
                    upper_colour=dominant.get("upper"),
                    lower_colour=dominant.get("lower"),
                    shares=shares,
                    created_at=now,
                )
            )
    return len(colours)


def store_frame_attributes(
    catalog: Catalog, attributes: Sequence[tuple[int, float, dict[str, float]]]
) -> int:
    """Insert or replace frames' (frame id, brightness, colour shares)."""
    now = utcnow()
    with guard("store frame attributes"), catalog.writes.begin() as session:
        for frame_id, brightness, shares in attributes:
            session.merge(
                FrameAttributeRow(
                    frame_id=frame_id, brightness=brightness, shares=shares, created_at=now
                )
            )
    return len(attributes)


def objects_without_colours(
    catalog: Catalog, frame_ids: Sequence[int] | None = None, limit: int = 100_000
) -> list[tuple[int, str]]:
    """(object id, crop thumbnail path) of objects whose colours were never measured."""
    statement = (
        select(ObjectRow.id, ObjectRow.thumbnail_path)
        .outerjoin(ObjectAttributeRow, ObjectAttributeRow.object_id == ObjectRow.id)
        .where(ObjectAttributeRow.object_id.is_(None))
        .order_by(ObjectRow.id)
        .limit(limit)
    )
    rows: list[tuple[int, str]] = []
    with guard("read objects without colours"), catalog.reads() as session:
        if frame_ids is None:
            return [(int(i), str(p)) for i, p in session.execute(statement)]
        for chunk in _chunks(list(frame_ids)):
            chunked = statement.where(ObjectRow.frame_id.in_(chunk))
            rows.extend((int(i), str(p)) for i, p in session.execute(chunked))
    return rows


def frames_without_attributes(
    catalog: Catalog, frame_ids: Sequence[int] | None = None, limit: int = 100_000
) -> list[tuple[int, str]]:
    """(frame id, thumbnail path) of frames whose brightness was never measured."""
    statement = (
        select(FrameRow.id, FrameRow.thumbnail_path)
        .outerjoin(FrameAttributeRow, FrameAttributeRow.frame_id == FrameRow.id)
        .where(FrameAttributeRow.frame_id.is_(None))
        .order_by(FrameRow.id)
        .limit(limit)
    )
    rows: list[tuple[int, str]] = []
    with guard("read frames without attributes"), catalog.reads() as session:
        if frame_ids is None:
            return [(int(i), str(p)) for i, p in session.execute(statement)]
        for chunk in _chunks(list(frame_ids)):
            chunked = statement.where(FrameRow.id.in_(chunk))
            rows.extend((int(i), str(p)) for i, p in session.execute(chunked))
    return rows


def frame_attributes(catalog: Catalog, frame_ids: Sequence[int]) -> dict[int, FrameAttributes]:
    """Stored brightness and colours of the given frames (frames not measured are absent)."""
    found: dict[int, FrameAttributes] = {}
    with guard("read frame attributes"), catalog.reads() as session:
        for chunk in _chunks(list(frame_ids)):
            statement = select(FrameAttributeRow).where(FrameAttributeRow.frame_id.in_(chunk))
            for row in session.scalars(statement):
                found[row.frame_id] = FrameAttributes(
                    row.frame_id, float(row.brightness), _floats(row.shares)
                )
    return found


def frame_objects(catalog: Catalog, frame_ids: Sequence[int]) -> dict[int, FrameObjects]:
    """Per frame: scanned or not, object counts by class, the objects and their colours."""
    result = {frame_id: FrameObjects(frame_id) for frame_id in frame_ids}
    with guard("read frame objects"), catalog.reads() as session:
        for chunk in _chunks(list(frame_ids)):
            for frame_id in session.scalars(
                select(ObjectScanRow.frame_id).where(ObjectScanRow.frame_id.in_(chunk))
            ):
                result[frame_id].scanned = True
            statement = (
                select(ObjectRow.id, ObjectRow.frame_id, ObjectRow.label, ObjectRow.score)
                .where(ObjectRow.frame_id.in_(chunk))
                .order_by(ObjectRow.id)
            )
            object_ids = []
            for object_id, frame_id, label, score in session.execute(statement):
                entry = result[frame_id]
                entry.counts[label] = entry.counts.get(label, 0) + 1
                entry.objects.append((int(object_id), str(label), float(score)))
                object_ids.append(int(object_id))
            by_object = {oid: fid for fid, entry in result.items() for oid, _, _ in entry.objects}
            for inner in _chunks(object_ids):
                rows = session.scalars(
                    select(ObjectAttributeRow).where(ObjectAttributeRow.object_id.in_(inner))
                )
                for row in rows:
                    result[by_object[row.object_id]].colours[row.object_id] = StoredObjectColours(
                        row.object_id, _regions(row.shares)
                    )
    return result


def embedding_ids_by_count(
    catalog: Catalog,
    model_id: str,
    label: str,
    *,
    at_least: int,
    at_most: int | None,
    limit: int,
) -> list[int]:
    """Frame embedding ids (newest first) of scanned frames with a count of ``label`` in range.

    Frames the object pass has not scanned are left out: their count is unknown.
    """
    counts = (
        select(ObjectRow.frame_id, func.count(ObjectRow.id).label("n"))
        .where(ObjectRow.label == label)
        .group_by(ObjectRow.frame_id)
        .subquery()
    )
    number = func.coalesce(counts.c.n, 0)
    statement = (
        select(EmbeddingRow.id)
        .outerjoin(counts, counts.c.frame_id == EmbeddingRow.frame_id)
        .where(
            EmbeddingRow.model_id == model_id,
            EmbeddingRow.frame_id.in_(select(ObjectScanRow.frame_id)),
            number >= at_least,
        )
        .order_by(EmbeddingRow.id.desc())
        .limit(limit)
    )
    if at_most is not None:
        statement = statement.where(number <= at_most)
    with guard("read frames by object count"), catalog.reads() as session:
        return [int(i) for i in session.scalars(statement)]


def _floats(values: Any) -> dict[str, float]:
    return {str(k): float(v) for k, v in dict(values or {}).items()}


def _regions(values: Any) -> dict[str, dict[str, float]]:
    return {str(region): _floats(shares) for region, shares in dict(values or {}).items()}


__all__ = [
    "PALETTE",
    "FrameAttributes",
    "FrameObjects",
    "StoredObjectColours",
    "embedding_ids_by_count",
    "frame_attributes",
    "frame_objects",
    "frames_without_attributes",
    "objects_without_colours",
    "store_frame_attributes",
    "store_object_colours",
]
