"""Objects in the catalog: detected boxes, their crop vectors, and which frames were scanned.

Object vectors live in their own table and their own FAISS index (ids of
``object_embeddings``), so frame search and object search never mix id spaces.
``ObjectVectors`` gives that table the same read interface as the frame vectors,
so ``sync_with_catalog`` reconciles the objects' index unchanged.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
from sqlalchemy import func, select

from vigil.catalog.codec import chunks, encode_vector
from vigil.catalog.db import guard
from vigil.catalog.schema import (
    FrameRow,
    ObjectEmbeddingRow,
    ObjectRow,
    ObjectScanRow,
    SourceRow,
    utcnow,
)
from vigil.catalog.store import (
    Catalog,
    _frame,
    _source,
    iter_stored_vectors,
    read_vectors,
)
from vigil.catalog.types import FrameRecord
from vigil.embedders.detection import Detection
from vigil.errors import InvalidInputError, NotFoundError
from vigil.sources.types import Source


@dataclass(frozen=True)
class NewObject(Detection):
    """A detection to store: its box in pixels of the original frame, and its crop thumbnail."""

    thumbnail_path: str  # relative to the workspace folder

    def __post_init__(self) -> None:
        x1, y1, x2, y2 = self.xyxy  # a stored object needs an area: stricter than a detection
        if not (x2 > x1 and y2 > y1):
            raise InvalidInputError(f"object box must have x1<x2 and y1<y2, got {self.xyxy}")
        super().__post_init__()

    @classmethod
    def from_detection(cls, detection: Detection, thumbnail_path: str) -> NewObject:
        return cls(
            xyxy=detection.xyxy,
            label=detection.label,
            score=detection.score,
            class_id=detection.class_id,
            thumbnail_path=thumbnail_path,
        )


@dataclass(frozen=True)
class ObjectRecord(Detection):
    """An object as stored: a detection, which frame and source it is on, its crop."""

    id: int
    frame_id: int
    source_id: int
    detector_id: str
    thumbnail_path: str


@dataclass(frozen=True)
class ScannedFrame:
    """A frame's detector results, written together with the crop vectors."""

    frame: FrameRecord
    objects: list[NewObject]


def frames_to_scan(
    catalog: Catalog,
    source_id: int,
    model_id: str,
    detector_id: str,
    frame_indices: Sequence[int] | None = None,
) -> list[FrameRecord]:
    """Indexed frames of a source (vector for ``model_id``) the detector has not scanned yet.

    ``frame_indices`` narrows it to those frames (the batch the frame pass just wrote).
    """
    from vigil.catalog.schema import EmbeddingRow

    scanned = select(ObjectScanRow.frame_id).where(ObjectScanRow.detector_id == detector_id)
    statement = (
        select(FrameRow)
        .join(EmbeddingRow, EmbeddingRow.frame_id == FrameRow.id)
        .where(
            FrameRow.source_id == source_id,
            EmbeddingRow.model_id == model_id,
            FrameRow.id.not_in(scanned),
        )
        .order_by(FrameRow.frame_index)
    )
    if frame_indices is not None:
        statement = statement.where(FrameRow.frame_index.in_(list(frame_indices)))
    with guard("read frames to scan"), catalog.reads() as session:
        return [_frame(row) for row in session.scalars(statement)]


def add_scanned_frames(
    catalog: Catalog,
    model_id: str,
    detector_id: str,
    scanned: Sequence[ScannedFrame],
    vectors: np.ndarray,
) -> list[int]:
    """Store objects, their crop vectors and the scan marks of several frames in ONE transaction.

    ``vectors`` has one row per object, in frame then object order. A frame already
    scanned by this detector is skipped with its objects (a retried batch adds
    nothing twice). Returns the new object-embedding ids (the FAISS ids).
    """
    total = sum(len(item.objects) for item in scanned)
    vectors = np.asarray(vectors, dtype=np.float32)
    if total and (vectors.ndim != 2 or vectors.shape[0] != total):
        raise InvalidInputError(f"expected {total} object vectors, got shape {vectors.shape}")
    new_ids: list[int] = []
    now = utcnow()
    with guard("store objects"), catalog.writes.begin() as session:
        frame_ids = [item.frame.id for item in scanned]
        done = set(
            session.scalars(
                select(ObjectScanRow.frame_id).where(
                    ObjectScanRow.detector_id == detector_id,
                    ObjectScanRow.frame_id.in_(frame_ids),
                )
            )
        )
        position = 0
        pending: list[ObjectEmbeddingRow] = []
        for item in scanned:
            rows = len(item.objects)
            frame_vectors = vectors[position : position + rows]
            position += rows
            if item.frame.id in done:
                continue
            session.add(
                ObjectScanRow(
                    frame_id=item.frame.id,
                    detector_id=detector_id,
                    objects_found=rows,
                    created_at=now,
                )
            )
            for found, vector in zip(item.objects, frame_vectors, strict=True):
                row = ObjectRow(
                    frame_id=item.frame.id,
                    source_id=item.frame.source_id,
                    detector_id=detector_id,
                    label=found.label,
                    class_id=found.class_id,
                    score=found.score,
                    x1=found.xyxy[0],
                    y1=found.xyxy[1],
                    x2=found.xyxy[2],
                    y2=found.xyxy[3],
                    thumbnail_path=found.thumbnail_path,
                    created_at=now,
                )
                session.add(row)
                session.flush()
                embedding = ObjectEmbeddingRow(
                    object_id=row.id,
                    model_id=model_id,
                    dim=int(vector.shape[0]),
                    vector=encode_vector(vector),
                    created_at=now,
                )
                session.add(embedding)
                pending.append(embedding)
        session.flush()
        new_ids = [int(embedding.id) for embedding in pending]
    return new_ids


def get_object(catalog: Catalog, object_id: int) -> ObjectRecord:
    with guard("read an object"), catalog.reads() as session:
        row = session.get(ObjectRow, int(object_id))
        if row is None:
            raise NotFoundError(f"no object with id {object_id}")
        return _object(row)


def objects_on_frame(catalog: Catalog, frame_id: int) -> list[ObjectRecord]:
    """The detected objects of one frame, best score first (boxes in frame pixels): what
    the console draws over the full-resolution frame. Empty when none or never scanned."""
    with guard("read a frame's objects"), catalog.reads() as session:
        rows = session.scalars(
            select(ObjectRow)
            .where(ObjectRow.frame_id == int(frame_id))
            .order_by(ObjectRow.score.desc(), ObjectRow.id)
        )
        return [_object(row) for row in rows]


def frame_scanned(catalog: Catalog, frame_id: int) -> bool:
    """Whether any detector has looked at this frame: no objects then means none were found."""
    with guard("read a frame's object scans"), catalog.reads() as session:
        found = session.scalar(
            select(ObjectScanRow.id).where(ObjectScanRow.frame_id == int(frame_id)).limit(1)
        )
        return found is not None


def object_embedding_id(catalog: Catalog, object_id: int, model_id: str) -> int:
    """The FAISS id of an object's crop vector for a model."""
    get_object(catalog, object_id)
    with guard("read an object vector id"), catalog.reads() as session:
        found = session.scalar(
            select(ObjectEmbeddingRow.id).where(
                ObjectEmbeddingRow.object_id == object_id, ObjectEmbeddingRow.model_id == model_id
            )
        )
    if found is None:
        raise NotFoundError(f"object {object_id} has no vector for model {model_id!r}")
    return int(found)


def frame_embedding_id(catalog: Catalog, frame_id: int, model_id: str) -> int:
    """The FAISS id of a frame's vector for a model (for "more like this frame")."""
    from vigil.catalog.schema import EmbeddingRow

    with guard("read a frame vector id"), catalog.reads() as session:
        if session.get(FrameRow, int(frame_id)) is None:
            raise NotFoundError(f"no frame with id {frame_id}")
        found = session.scalar(
            select(EmbeddingRow.id).where(
                EmbeddingRow.frame_id == frame_id, EmbeddingRow.model_id == model_id
            )
        )
    if found is None:
        raise NotFoundError(f"frame {frame_id} has no vector for model {model_id!r}")
    return int(found)


def objects_for_embeddings(
    catalog: Catalog, ids: Sequence[int] | np.ndarray
) -> dict[int, tuple[ObjectRecord, FrameRecord, Source]]:
    """Object, frame and source of each object-embedding id; missing ids are absent."""
    found: dict[int, tuple[ObjectRecord, FrameRecord, Source]] = {}
    with guard("read objects"), catalog.reads() as session:
        for chunk in chunks([int(i) for i in ids]):
            rows = session.execute(
                select(ObjectEmbeddingRow.id, ObjectRow, FrameRow, SourceRow)
                .join(ObjectRow, ObjectRow.id == ObjectEmbeddingRow.object_id)
                .join(FrameRow, FrameRow.id == ObjectRow.frame_id)
                .join(SourceRow, SourceRow.id == ObjectRow.source_id)
                .where(ObjectEmbeddingRow.id.in_(chunk))
            )
            for embedding_id, obj, frame, source in rows:
                found[int(embedding_id)] = (_object(obj), _frame(frame), _source(source))
    return found


def object_detections(
    catalog: Catalog, ids: Sequence[int] | np.ndarray
) -> dict[int, tuple[str, float]]:
    """Object id -> (detector class, detector score); ids that are no object are absent.

    What an object scenario needs to weigh the detector's own answer beside the
    zero-shot score of the crop's vector.
    """
    found: dict[int, tuple[str, float]] = {}
    with guard("read object classes"), catalog.reads() as session:
        for chunk in chunks([int(i) for i in ids]):
            rows = session.execute(
                select(ObjectRow.id, ObjectRow.label, ObjectRow.score).where(
                    ObjectRow.id.in_(chunk)
                )
            )
            found.update({int(item): (str(label), float(score)) for item, label, score in rows})
    return found


def count_objects(catalog: Catalog, source_id: int | None = None) -> dict[str, int]:
    """Objects per class label, optionally of one source."""
    statement = select(ObjectRow.label, func.count(ObjectRow.id)).group_by(ObjectRow.label)
    if source_id is not None:
        statement = statement.where(ObjectRow.source_id == source_id)
    with guard("count objects"), catalog.reads() as session:
        return {label: int(count) for label, count in session.execute(statement)}


class ObjectVectors:
    """The objects' vector table behind the same read interface as the frames' (for sync)."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog

    def embedding_ids(
        self, model_id: str, *, source_ids: Sequence[int] | None = None
    ) -> np.ndarray:
        statement = select(ObjectEmbeddingRow.id).where(ObjectEmbeddingRow.model_id == model_id)
        if source_ids is not None:
            statement = statement.join(
                ObjectRow, ObjectRow.id == ObjectEmbeddingRow.object_id
            ).where(ObjectRow.source_id.in_([int(i) for i in source_ids]))
        with guard("read object vector ids"), self.catalog.reads() as session:
            ids = session.scalars(statement.order_by(ObjectEmbeddingRow.id)).all()
        return np.asarray(ids, dtype=np.int64)

    def embedding_ids_of_source(self, source_id: int) -> np.ndarray:
        """Object vector ids of one source, every model (what removing the source deletes)."""
        statement = (
            select(ObjectEmbeddingRow.id)
            .join(ObjectRow, ObjectRow.id == ObjectEmbeddingRow.object_id)
            .where(ObjectRow.source_id == source_id)
            .order_by(ObjectEmbeddingRow.id)
        )
        with guard("read object vector ids"), self.catalog.reads() as session:
            return np.asarray(session.scalars(statement).all(), dtype=np.int64)

    def get_vectors(self, ids: Sequence[int] | np.ndarray) -> np.ndarray:
        return read_vectors(self.catalog.reads, ObjectEmbeddingRow, ids, what="object vector")

    def iter_vectors(
        self, model_id: str, batch_size: int = 10_000, after_id: int = 0
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        return iter_stored_vectors(
            self.catalog.reads, ObjectEmbeddingRow, model_id, batch_size, after_id
        )

    def model_dim(self, model_id: str) -> int | None:
        with guard("read the object vector dimension"), self.catalog.reads() as session:
            dim = session.scalar(
                select(ObjectEmbeddingRow.dim)
                .where(ObjectEmbeddingRow.model_id == model_id)
                .limit(1)
            )
        return int(dim) if dim is not None else None


def _object(row: ObjectRow) -> ObjectRecord:
    return ObjectRecord(
        id=row.id,
        frame_id=row.frame_id,
        source_id=row.source_id,
        detector_id=row.detector_id,
        label=row.label,
        class_id=row.class_id,
        score=row.score,
        xyxy=(row.x1, row.y1, row.x2, row.y2),
        thumbnail_path=row.thumbnail_path,
    )
