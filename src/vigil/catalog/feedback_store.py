"""Operator feedback: verdicts on events and search hits, stored as scenario labels.

A verdict is two rows written in one transaction: the item's human label of the
scenario (what distillation and the review queue read) and an ``event_feedback``
row that says where the label came from (the event, the model version that raised
it, what it predicted). Either both exist or neither, so a failed write loses
nothing and never leaves a label without its provenance.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import select

from vigil.catalog.db import guard
from vigil.catalog.events_schema import EventFeedbackRow, EventRow
from vigil.catalog.scenarios_store import upsert_human_label
from vigil.catalog.schema import FrameRow, utcnow
from vigil.catalog.store import Catalog
from vigil.catalog.types import ItemKind, LabelScope
from vigil.errors import InvalidInputError, NotFoundError


class Verdict(StrEnum):
    CONFIRMED = "confirmed"  # the event's class was right
    CORRECTED = "corrected"  # the item is another class: a runtime false positive


class FeedbackOrigin(StrEnum):
    EVENT = "event"
    SEARCH = "search"


@dataclass(frozen=True)
class NewFeedback:
    """One verdict to store; ``event_id`` is None for a search hit."""

    scope: LabelScope
    item_id: int  # a frame or object id of the scenario's target kind
    label: str  # already checked to be one of the scenario's classes
    annotator: str
    origin: FeedbackOrigin
    event_id: int | None = None
    predicted: str | None = None
    model_id: str | None = None
    model_version: str | None = None


@dataclass(frozen=True)
class FeedbackRecord:
    """A stored verdict with its provenance."""

    id: int
    event_id: int | None
    scenario: str
    item: str  # 'frame:ID' or 'object:ID'
    verdict: Verdict
    label: str
    predicted: str | None
    model_id: str | None
    model_version: str | None
    origin: FeedbackOrigin
    annotator: str
    created_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "event_id": self.event_id,
            "scenario": self.scenario,
            "item": self.item,
            "verdict": str(self.verdict),
            "label": self.label,
            "predicted": self.predicted,
            "model_id": self.model_id,
            "model_version": self.model_version,
            "origin": str(self.origin),
            "annotator": self.annotator,
            "created_at": self.created_at.isoformat(),
        }


def _record(row: EventFeedbackRow) -> FeedbackRecord:
    item = f"frame:{row.frame_id}" if row.frame_id is not None else f"object:{row.object_id}"
    return FeedbackRecord(
        id=row.id,
        event_id=row.event_id,
        scenario=row.scenario,
        item=item,
        verdict=Verdict(row.verdict),
        label=row.label,
        predicted=row.predicted,
        model_id=row.model_id,
        model_version=row.model_version,
        origin=FeedbackOrigin(row.origin),
        annotator=row.annotator,
        created_at=row.created_at,
    )


def nearest_frame(
    catalog: Catalog, source_id: int, media_time: float, max_gap_s: float
) -> int | None:
    """The indexed frame of ``source_id`` closest to ``media_time``, within ``max_gap_s``."""
    with guard("find the event's frame"), catalog.reads() as session:
        rows = session.execute(
            select(FrameRow.id, FrameRow.media_time).where(
                FrameRow.source_id == source_id,
                FrameRow.media_time >= media_time - max_gap_s,
                FrameRow.media_time <= media_time + max_gap_s,
            )
        ).all()
    if not rows:
        return None
    best = min(rows, key=lambda row: (abs(float(row[1]) - media_time), int(row[0])))
    return int(best[0])


def event_feedback(catalog: Catalog, event_id: int) -> FeedbackRecord | None:
    with guard("read feedback"), catalog.reads() as session:
        row = session.scalar(select(EventFeedbackRow).where(EventFeedbackRow.event_id == event_id))
        return _record(row) if row is not None else None


def list_feedback(catalog: Catalog, scenario: str | None = None) -> list[FeedbackRecord]:
    """Stored verdicts, newest first."""
    query = select(EventFeedbackRow).order_by(EventFeedbackRow.id.desc())
    if scenario is not None:
        query = query.where(EventFeedbackRow.scenario == scenario)
    with guard("read feedback"), catalog.reads() as session:
        return [_record(row) for row in session.scalars(query)]


def record_feedback(catalog: Catalog, new: NewFeedback, *, replace: bool = False) -> FeedbackRecord:
    """Store the label and its provenance together.

    An event takes one verdict: a second one is refused unless ``replace`` (the
    same verdict again is accepted and changes nothing).
    """
    verdict = (
        Verdict.CORRECTED
        if new.predicted is not None and new.label != new.predicted
        else Verdict.CONFIRMED
    )
    kind = new.scope.kind
    with guard("store feedback"), catalog.writes.begin() as session:
        row = None
        if new.event_id is not None:
            if session.get(EventRow, new.event_id) is None:
                raise NotFoundError(f"no event with id {new.event_id}")
            row = session.scalar(
                select(EventFeedbackRow).where(EventFeedbackRow.event_id == new.event_id)
            )
            if row is not None and not replace:
                if row.label == new.label:
                    return _record(row)
                raise InvalidInputError(
                    f"event {new.event_id} was already {row.verdict} as {row.label!r} by "
                    f"{row.annotator} at {row.created_at.isoformat(timespec='seconds')}; "
                    'pass --replace (REST: "replace": true) to change it'
                )
        upsert_human_label(session, new.scope, new.item_id, new.label, new.annotator)
        if row is None:
            row = EventFeedbackRow(event_id=new.event_id)
            session.add(row)
        row.scenario = new.scope.name
        row.frame_id = new.item_id if kind == ItemKind.FRAME else None
        row.object_id = new.item_id if kind == ItemKind.OBJECT else None
        row.verdict = verdict.value
        row.label = new.label
        row.predicted = new.predicted
        row.model_id = new.model_id
        row.model_version = new.model_version
        row.origin = new.origin.value
        row.annotator = new.annotator.strip()
        row.created_at = utcnow()
        session.flush()
        return _record(row)


def false_positive_frames(catalog: Catalog, scenario: str, *, pad_s: float = 0.0) -> set[int]:
    """Frames inside the time span of events people corrected to another class.

    The event's own frame carries the correction already; its neighbours were
    scored the same way by the same model and are the likeliest next mistakes.
    """
    with guard("read false positives"), catalog.reads() as session:
        spans = session.execute(
            select(EventRow.source_id, EventRow.details_json)
            .join(EventFeedbackRow, EventFeedbackRow.event_id == EventRow.id)
            .where(
                EventFeedbackRow.scenario == scenario,
                EventFeedbackRow.verdict == Verdict.CORRECTED.value,
            )
        ).all()
        found: set[int] = set()
        for source_id, details in spans:
            media = dict((details or {}).get("media_time_s", {}))
            times = [float(v) for v in media.values() if isinstance(v, int | float)]
            if not times:
                continue
            ids = session.scalars(
                select(FrameRow.id).where(
                    FrameRow.source_id == source_id,
                    FrameRow.media_time >= min(times) - pad_s,
                    FrameRow.media_time <= max(times) + pad_s,
                )
            )
            found.update(int(i) for i in ids)
    return found


def feedback_counts(catalog: Catalog, scenario: str) -> dict[str, int]:
    """Verdicts per kind for a scenario (``confirmed``, ``corrected``)."""
    counts = {verdict.value: 0 for verdict in Verdict}
    for record in list_feedback(catalog, scenario):
        counts[record.verdict.value] += 1
    return counts


__all__ = [
    "FeedbackOrigin",
    "FeedbackRecord",
    "NewFeedback",
    "Verdict",
    "event_feedback",
    "false_positive_frames",
    "feedback_counts",
    "list_feedback",
    "nearest_frame",
    "record_feedback",
]
