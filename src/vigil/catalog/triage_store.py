"""Event triage: an operator marks an event reviewed (or not) from the console.

Kept apart from ``events_store`` on purpose: triage is a human's note on an event, not
part of the runtime's state machine, and the runtime never reads it. The two columns
live on ``events`` (revision ``triage_0001``); ``EventRecord.reviewed_at/by`` show them.

>>> mark_event_reviewed(catalog, 7, reviewed=True, by="night shift")  # doctest: +SKIP
"""

from __future__ import annotations

from datetime import UTC, datetime

from vigil.catalog.db import guard
from vigil.catalog.events_schema import EventRow
from vigil.catalog.store import Catalog
from vigil.errors import InvalidInputError, NotFoundError

MAX_REVIEWER = 200  # the column's width


def mark_event_reviewed(
    catalog: Catalog,
    event_id: int,
    *,
    reviewed: bool,
    by: str | None = None,
    now: datetime | None = None,
) -> datetime | None:
    """Set (``reviewed``) or clear an event's review mark; returns the stored time.

    Marking again keeps the first time and reviewer: the mark answers "has anyone
    looked at this?", and the first look is the one that answered it.
    """
    if by is not None and len(by) > MAX_REVIEWER:
        raise InvalidInputError(f"reviewer name is at most {MAX_REVIEWER} characters")
    with guard("mark an event reviewed"), catalog.writes.begin() as session:
        row = session.get(EventRow, int(event_id))
        if row is None:
            raise NotFoundError(f"no event with id {event_id}")
        if not reviewed:
            row.reviewed_at = row.reviewed_by = None
        elif row.reviewed_at is None:
            row.reviewed_at = now or datetime.now(UTC)
            row.reviewed_by = by
        return row.reviewed_at


__all__ = ["mark_event_reviewed"]
