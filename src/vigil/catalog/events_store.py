"""Events and their alert outbox in the catalog database.

An event and its pending deliveries are written in one transaction, so an alert
exists exactly when its event does; the dispatcher only ever moves a delivery
from pending to delivered or failed, so nothing stored is lost when a webhook is
down or the process is killed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from vigil.catalog.db import guard, session_factories
from vigil.catalog.events_schema import AlertDeliveryRow, EventRow
from vigil.catalog.schema import SourceRow, utcnow
from vigil.catalog.types import DeliveryRecord, EventQuery, EventRecord
from vigil.errors import InvalidInputError, NotFoundError

LOG_TARGET = "log"


@dataclass(frozen=True)
class NewEvent:
    """What the runner knows when an event starts."""

    source_id: int
    model_id: str
    scenario: str
    class_name: str
    started_at: datetime
    last_seen_at: datetime
    peak_score: float
    peak_at: datetime
    frames: int
    details: dict[str, Any]
    model_version: str | None = None  # registry model name, when it came from the registry
    registry_model_id: int | None = None


class EventStore:
    """Typed access to the ``events`` and ``alert_deliveries`` tables."""

    def __init__(self, engine: Engine) -> None:
        self._reads, self._writes = session_factories(engine)

    # -- events ---------------------------------------------------------------------------

    def open_event(self, event: NewEvent, targets: Sequence[str]) -> EventRecord:
        """Store a started event and one pending 'event.started' alert per target."""
        with guard("store an event"), self._writes.begin() as session:
            row = EventRow(
                source_id=event.source_id,
                model_id=event.model_id,
                model_version=event.model_version,
                registry_model_id=event.registry_model_id,
                scenario=event.scenario,
                class_name=event.class_name,
                status="open",
                started_at=event.started_at,
                ended_at=None,
                last_seen_at=event.last_seen_at,
                peak_score=event.peak_score,
                peak_at=event.peak_at,
                frames=event.frames,
                thumbnail_path=None,
                strip_path=None,
                details_json=dict(event.details),
                created_at=utcnow(),
            )
            session.add(row)
            session.flush()
            record = _event(row, _source_name(session, row.source_id))
            _enqueue(session, record, "event.started", targets)
            return record

    def update_event(
        self,
        event_id: int,
        *,
        last_seen_at: datetime,
        peak_score: float,
        peak_at: datetime,
        frames: int,
        thumbnail_path: str | None = None,
        media: dict[str, float] | None = None,
        targets: Sequence[str] = (),
    ) -> None:
        """Record progress of an open event (a new peak, or its last sighting).

        With ``targets``, also queue one 'event.updated' alert per target (consumers
        such as an MQTT bridge show the event's new best score while it lasts).
        """
        values: dict[str, Any] = {
            "last_seen_at": last_seen_at,
            "peak_score": peak_score,
            "peak_at": peak_at,
            "frames": frames,
        }
        if thumbnail_path is not None:
            values["thumbnail_path"] = thumbnail_path
        with guard("update an event"), self._writes.begin() as session:
            row = session.get(EventRow, event_id)
            if row is None:
                raise NotFoundError(f"no event with id {event_id}")
            for key, value in values.items():
                setattr(row, key, value)
            if media:
                row.details_json = _with_media(row.details_json, media)
            if targets:
                session.flush()
                record = _event(row, _source_name(session, row.source_id))
                _enqueue(session, record, "event.updated", targets)

    def close_event(
        self,
        event_id: int,
        *,
        ended_at: datetime,
        peak_score: float,
        peak_at: datetime,
        frames: int,
        thumbnail_path: str | None,
        strip_path: str | None,
        targets: Sequence[str],
        media: dict[str, float] | None = None,
    ) -> EventRecord:
        """Close an event and queue one 'event.ended' alert per target."""
        with guard("close an event"), self._writes.begin() as session:
            row = session.get(EventRow, event_id)
            if row is None:
                raise NotFoundError(f"no event with id {event_id}")
            row.status = "closed"
            row.ended_at = ended_at
            row.last_seen_at = max(row.last_seen_at, ended_at)
            row.peak_score = peak_score
            row.peak_at = peak_at
            row.frames = frames
            row.thumbnail_path = thumbnail_path or row.thumbnail_path
            row.strip_path = strip_path
            if media:
                row.details_json = _with_media(row.details_json, media)
            session.flush()
            record = _event(row, _source_name(session, row.source_id))
            _enqueue(session, record, "event.ended", targets)
            return record

    def set_evidence(self, event_id: int, name: str, relpath: str) -> None:
        """Name an extra evidence file of an event (e.g. an anomaly heatmap) in its details.

        Stored as ``details["evidence"][name]`` (a path relative to the workspace home),
        so evidence a model adds needs no column of its own.
        """
        with guard("record event evidence"), self._writes.begin() as session:
            row = session.get(EventRow, event_id)
            if row is None:
                raise NotFoundError(f"no event with id {event_id}")
            details = dict(row.details_json or {})
            details["evidence"] = {**details.get("evidence", {}), name: relpath}
            row.details_json = details

    def close_interrupted(self, source_ids: Sequence[int] | None = None) -> list[int]:
        """Close events a stopped process left open: end = last seen, status 'interrupted'.

        ``source_ids`` limits it to the sources about to be run, so a second runner on
        other cameras does not close the first one's live events.
        """
        query = select(EventRow).where(EventRow.status == "open")
        if source_ids is not None:
            query = query.where(EventRow.source_id.in_(list(source_ids)))
        with guard("close interrupted events"), self._writes.begin() as session:
            rows = session.scalars(query).all()
            for row in rows:
                row.status = "interrupted"
                row.ended_at = row.last_seen_at
            return [row.id for row in rows]

    def get_event(self, event_id: int) -> EventRecord:
        with guard("read an event"), self._reads() as session:
            row = session.get(EventRow, event_id)
            if row is None:
                raise NotFoundError(f"no event with id {event_id}")
            return _event(row, _source_name(session, row.source_id))

    def list_events(self, query: EventQuery) -> list[EventRecord]:
        """Events newest first; ``query.source`` must be a source id here (or None)."""
        if isinstance(query.source, str):
            raise InvalidInputError(f"list events by source id, got the name {query.source!r}")
        statement = select(EventRow, SourceRow.name).join(
            SourceRow, SourceRow.id == EventRow.source_id
        )
        if query.source is not None:
            statement = statement.where(EventRow.source_id == query.source)
        if query.scenario is not None:
            statement = statement.where(EventRow.scenario == query.scenario)
        if query.class_name is not None:
            statement = statement.where(EventRow.class_name == query.class_name)
        if query.status is not None:
            statement = statement.where(EventRow.status == query.status)
        if query.since is not None:
            statement = statement.where(EventRow.started_at >= query.since)
        if query.until is not None:
            statement = statement.where(EventRow.started_at <= query.until)
        statement = statement.order_by(EventRow.started_at.desc(), EventRow.id.desc())
        with guard("list events"), self._reads() as session:
            rows = session.execute(statement.limit(query.limit)).all()
            return [_event(row, name) for row, name in rows]

    # -- alert outbox ---------------------------------------------------------------------

    def due_deliveries(self, now: datetime, limit: int = 50) -> list[DeliveryRecord]:
        """Pending deliveries whose next attempt is due, oldest first."""
        query = (
            select(AlertDeliveryRow)
            .where(AlertDeliveryRow.status == "pending", AlertDeliveryRow.next_attempt_at <= now)
            .order_by(AlertDeliveryRow.next_attempt_at, AlertDeliveryRow.id)
            .limit(limit)
        )
        with guard("read the alert outbox"), self._reads() as session:
            return [_delivery(row) for row in session.scalars(query).all()]

    def next_due(self) -> datetime | None:
        """When the earliest pending delivery is due (None: nothing pending)."""
        query = (
            select(AlertDeliveryRow.next_attempt_at)
            .where(AlertDeliveryRow.status == "pending")
            .order_by(AlertDeliveryRow.next_attempt_at)
            .limit(1)
        )
        with guard("read the alert outbox"), self._reads() as session:
            return session.scalar(query)

    def record_attempt(
        self,
        delivery_id: int,
        *,
        delivered: bool,
        error: str | None = None,
        next_attempt_at: datetime | None = None,
    ) -> None:
        """Count one attempt; without a ``next_attempt_at`` a failure is final."""
        now = utcnow()
        with guard("update the alert outbox"), self._writes.begin() as session:
            row = session.get(AlertDeliveryRow, delivery_id)
            if row is None:
                raise NotFoundError(f"no alert delivery with id {delivery_id}")
            row.attempts += 1
            row.last_error = error
            if delivered:
                row.status = "delivered"
                row.delivered_at = now
            elif next_attempt_at is None:
                row.status = "failed"
            else:
                row.next_attempt_at = next_attempt_at

    def deliveries(self, event_id: int | None = None) -> list[DeliveryRecord]:
        query = select(AlertDeliveryRow).order_by(AlertDeliveryRow.id)
        if event_id is not None:
            query = query.where(AlertDeliveryRow.event_id == event_id)
        with guard("read the alert outbox"), self._reads() as session:
            return [_delivery(row) for row in session.scalars(query).all()]


def _with_media(details: dict[str, Any] | None, media: dict[str, float]) -> dict[str, Any]:
    """Details with ``media_time_s`` (seconds into the source's media) merged in."""
    merged = dict(details or {})
    merged["media_time_s"] = {**merged.get("media_time_s", {}), **media}
    return merged


def _enqueue(session: Session, event: EventRecord, kind: str, targets: Sequence[str]) -> None:
    # 'before' is the event as the previous alert described it (None for the first), so a
    # consumer sees what changed without keeping state: the shape of Frigate's events.
    previous = session.scalar(
        select(AlertDeliveryRow.payload_json)
        .where(AlertDeliveryRow.event_id == event.id)
        .order_by(AlertDeliveryRow.id.desc())
        .limit(1)
    )
    payload = {
        "type": kind,
        "event": event.to_dict(),
        "before": previous.get("event") if isinstance(previous, dict) else None,
        "queued_at": utcnow().isoformat(),
    }
    now = datetime.now(UTC)
    for target in targets:
        session.add(
            AlertDeliveryRow(
                event_id=event.id,
                kind=kind,
                target=target,
                payload_json=payload,
                status="pending",
                attempts=0,
                next_attempt_at=now,
                last_error=None,
                delivered_at=None,
                created_at=now,
            )
        )


def _source_name(session: Session, source_id: int) -> str:
    return session.scalar(select(SourceRow.name).where(SourceRow.id == source_id)) or "?"


def _event(row: EventRow, source_name: str) -> EventRecord:
    return EventRecord(
        id=row.id,
        source_id=row.source_id,
        source_name=source_name,
        model_id=row.model_id,
        scenario=row.scenario,
        class_name=row.class_name,
        status=row.status,
        started_at=row.started_at,
        ended_at=row.ended_at,
        last_seen_at=row.last_seen_at,
        peak_score=row.peak_score,
        peak_at=row.peak_at,
        frames=row.frames,
        thumbnail_path=row.thumbnail_path,
        strip_path=row.strip_path,
        details=dict(row.details_json or {}),
        reviewed_at=row.reviewed_at,
        reviewed_by=row.reviewed_by,
        model_version=row.model_version,
        registry_model_id=row.registry_model_id,
    )


def _delivery(row: AlertDeliveryRow) -> DeliveryRecord:
    return DeliveryRecord(
        id=row.id,
        event_id=row.event_id,
        kind=row.kind,
        target=row.target,
        payload=dict(row.payload_json),
        status=row.status,
        attempts=row.attempts,
        next_attempt_at=row.next_attempt_at,
        last_error=row.last_error,
        delivered_at=row.delivered_at,
    )


__all__ = ["LOG_TARGET", "EventStore", "NewEvent"]
