"""Operator feedback: an event or a search hit confirmed or corrected becomes a label.

What a person says about a live alert is the most valuable label there is: it
was picked by the model's own mistake. ``event_feedback`` turns a verdict on an
event into the scenario's human label for the frame at the event's peak, and
keeps the provenance (the event, the model version that raised it, the class it
predicted) with it; the review queue then asks about the event's other frames
first (``vigil.scenarios.review``), and the next distillation trains on it.

Every check runs before anything is written: an unknown event, a label that is
not one of the scenario's classes, an event with no indexed frame, or a second
verdict on an event (unless ``replace``) is one clear error and stores nothing.

>>> event_feedback(catalog, store.get_event(12), record, label="empty")  # doctest: +SKIP
"""

from __future__ import annotations

from vigil.catalog.feedback_store import (
    FeedbackOrigin,
    FeedbackRecord,
    NewFeedback,
    nearest_frame,
    record_feedback,
)
from vigil.catalog.store import Catalog
from vigil.catalog.types import EventRecord, ItemKind
from vigil.errors import InvalidInputError
from vigil.names import did_you_mean
from vigil.runtime.recording import DRIFT_CLASS
from vigil.scenarios.spec import ScenarioRecord, parse_item

# How far (seconds of media) the event's peak may be from the indexed frame that
# takes its label: the default indexing samples a frame every 2 s.
MAX_GAP_S = 2.5
DEFAULT_ANNOTATOR = "feedback"


def check_label(record: ScenarioRecord, label: str) -> str:
    label = label.strip()
    names = record.spec.class_names
    if label not in names:
        raise InvalidInputError(
            f"{label!r} is not a class of scenario {record.name!r}"
            f"{did_you_mean(label, names)}; its classes: {', '.join(names)}"
        )
    return label


def event_frame(catalog: Catalog, event: EventRecord, *, max_gap_s: float = MAX_GAP_S) -> int:
    """The indexed frame of the event's source nearest its peak."""
    media = event.details.get("media_time_s", {})
    peak = media.get("peak", media.get("start"))
    if not isinstance(peak, int | float):
        raise InvalidInputError(f"event {event.id} has no media time; it cannot be labeled")
    frame = nearest_frame(catalog, event.source_id, float(peak), max_gap_s)
    if frame is None:
        raise InvalidInputError(
            f"event {event.id}: source {event.source_name!r} has no indexed frame within "
            f"{max_gap_s:g} s of the event's peak ({float(peak):.1f} s); index it first "
            f"('vigil index {event.source_name}') so the frame can be labeled"
        )
    return frame


def event_feedback(
    catalog: Catalog,
    event: EventRecord,
    record: ScenarioRecord,
    *,
    label: str | None = None,
    annotator: str = DEFAULT_ANNOTATOR,
    replace: bool = False,
) -> FeedbackRecord:
    """Confirm ``event`` (``label=None``) or correct it to ``label``; store it as a label."""
    if event.class_name == DRIFT_CLASS:
        raise InvalidInputError(
            f"event {event.id} is a drift warning, not a class the model predicted; "
            "label the frames themselves (vigil scenario review)"
        )
    if record.name != event.scenario:
        raise InvalidInputError(
            f"event {event.id} belongs to scenario {event.scenario!r}, not {record.name!r}"
        )
    if record.spec.target.kind != ItemKind.FRAME:
        raise InvalidInputError(
            f"scenario {record.name!r} labels objects; an event is a whole frame: label its "
            "objects from search hits instead"
        )
    chosen = check_label(record, label if label is not None else event.class_name)
    frame = event_frame(catalog, event)
    return record_feedback(
        catalog,
        NewFeedback(
            scope=record.scope,
            item_id=frame,
            label=chosen,
            annotator=annotator,
            origin=FeedbackOrigin.EVENT,
            event_id=event.id,
            predicted=event.class_name,
            model_id=event.model_id,
            model_version=event.model_version,
        ),
        replace=replace,
    )


def hit_feedback(
    catalog: Catalog,
    record: ScenarioRecord,
    item: str,
    label: str,
    *,
    annotator: str = DEFAULT_ANNOTATOR,
) -> FeedbackRecord:
    """'Label this as ...' on a search hit ('frame:ID' / 'object:ID')."""
    kind, item_id = parse_item(item)
    if kind != record.spec.target.kind:
        raise InvalidInputError(
            f"scenario {record.name!r} labels {record.spec.target.kind.value}s, got {item!r}"
        )
    return record_feedback(
        catalog,
        NewFeedback(
            scope=record.scope,
            item_id=item_id,
            label=check_label(record, label),
            annotator=annotator,
            origin=FeedbackOrigin.SEARCH,
        ),
    )


__all__ = ["MAX_GAP_S", "check_label", "event_feedback", "event_frame", "hit_feedback"]
