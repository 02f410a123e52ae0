"""The few columns that search filters look at, read in id order for an in-memory cache.

``vigil.search.filters`` keeps these columns as numpy arrays and tops them up with
the rows above the largest id it has seen; this module is the query it tops up with.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, select

from vigil.catalog.db import guard
from vigil.catalog.schema import EmbeddingRow, FrameRow, ObjectEmbeddingRow, ObjectRow
from vigil.catalog.store import Catalog


def filter_rows(
    catalog: Catalog, model_id: str, *, objects: bool, after_id: int, limit: int
) -> list[tuple[Any, ...]]:
    """Up to ``limit`` rows of vector ids above ``after_id``, ascending.

    Frames: (vector id, source id, media time, captured at); objects add the
    detector's class and score: (..., label, score).
    """
    statement = _statement(model_id, objects, after_id).limit(limit)
    with guard("read filter columns"), catalog.reads() as session:
        return [tuple(row) for row in session.execute(statement).all()]


def _statement(model_id: str, objects: bool, after_id: int) -> Select[*tuple[Any, ...]]:
    statement: Select[*tuple[Any, ...]]
    if objects:
        statement = (
            select(
                ObjectEmbeddingRow.id,
                FrameRow.source_id,
                FrameRow.media_time,
                FrameRow.captured_at,
                ObjectRow.label,
                ObjectRow.score,
            )
            .join(ObjectRow, ObjectRow.id == ObjectEmbeddingRow.object_id)
            .join(FrameRow, FrameRow.id == ObjectRow.frame_id)
            .where(ObjectEmbeddingRow.model_id == model_id, ObjectEmbeddingRow.id > after_id)
            .order_by(ObjectEmbeddingRow.id)
        )
        return statement
    statement = (
        select(EmbeddingRow.id, FrameRow.source_id, FrameRow.media_time, FrameRow.captured_at)
        .join(FrameRow, FrameRow.id == EmbeddingRow.frame_id)
        .where(EmbeddingRow.model_id == model_id, EmbeddingRow.id > after_id)
        .order_by(EmbeddingRow.id)
    )
    return statement
