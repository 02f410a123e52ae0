"""Events and their evidence; running models on sources as a job; runner status."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Query, status
from fastapi.responses import FileResponse

from vigil.api.deps import Admin, Reader, ServicesDep
from vigil.api.jobs import runner_health
from vigil.api.routes.scenarios import ScenarioName
from vigil.api.schemas.common import ERROR_RESPONSES, NO_CONTROL, IdPath
from vigil.api.schemas.events import (
    DeliveryOut,
    EventDetailOut,
    EventOut,
    EventReviewIn,
    FeedbackIn,
    FeedbackOut,
    HitFeedbackIn,
    RunJobIn,
    RunnerOut,
)
from vigil.api.schemas.jobs import JobOut
from vigil.catalog.triage_store import mark_event_reviewed
from vigil.catalog.types import EventQuery
from vigil.errors import InvalidInputError, NotFoundError

router = APIRouter(prefix="/api/v1", tags=["events"], responses=ERROR_RESPONSES)

Filter = Annotated[str | None, Query(min_length=1, max_length=200, pattern=NO_CONTROL)]


def event_query(
    source: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
    scenario: Filter = None,
    class_name: Filter = None,
    since: datetime | None = None,
    until: datetime | None = None,
    status: Annotated[str | None, Query(pattern="^(open|closed|interrupted)$")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> EventQuery:
    """The query parameters of ``GET /events`` as one ``EventQuery``."""
    return EventQuery(
        source=source,
        scenario=scenario,
        class_name=class_name,
        since=since,
        until=until,
        status=status,
        limit=limit,
    )


@router.get("/events", response_model=list[EventOut], summary="Events, newest first")
def list_events(
    svc: ServicesDep, _: Reader, query: Annotated[EventQuery, Depends(event_query)]
) -> list[EventOut]:
    return [EventOut.of(e) for e in svc.workspace.runtime.events(query)]


@router.get("/events/{event_id}", response_model=EventDetailOut, summary="One event")
def get_event(event_id: IdPath, svc: ServicesDep, _: Reader) -> EventDetailOut:
    event = svc.workspace.runtime.event(event_id)
    deliveries = svc.workspace.runtime.deliveries(event_id)
    feedback = svc.workspace.runtime.feedback_of(event_id)
    return EventDetailOut(
        **EventOut.of(event).model_dump(),
        deliveries=[DeliveryOut.of(d) for d in deliveries],
        feedback=FeedbackOut.of(feedback) if feedback is not None else None,
    )


@router.patch(
    "/events/{event_id}",
    response_model=EventOut,
    summary="Triage: mark an event reviewed, or unreviewed again",
)
def review_event(event_id: IdPath, body: EventReviewIn, svc: ServicesDep, who: Reader) -> EventOut:
    # Like label answers, triage is what read keys are for: a note on an event, no setting.
    by = body.by or (who.name if who.key_id is not None else None)
    mark_event_reviewed(svc.workspace.catalog, event_id, reviewed=body.reviewed, by=by)
    return EventOut.of(svc.workspace.runtime.event(event_id))


@router.post(
    "/events/{event_id}/feedback",
    response_model=FeedbackOut,
    status_code=status.HTTP_201_CREATED,
    summary="Confirm or correct an event; it becomes a label of its scenario",
)
def event_feedback(
    event_id: IdPath, body: FeedbackIn, svc: ServicesDep, who: Reader
) -> FeedbackOut:
    # Like review answers, feedback is labeling: read keys may give it.
    if body.confirm == (body.label is not None):
        raise InvalidInputError('give exactly one of "confirm": true or a "label"')
    annotator = body.annotator or (who.name if who.key_id is not None else "feedback")
    stored = svc.workspace.runtime.feedback(
        event_id, label=body.label, annotator=annotator, replace=body.replace
    )
    return FeedbackOut.of(stored)


@router.post(
    "/scenarios/{name}/feedback",
    response_model=FeedbackOut,
    status_code=status.HTTP_201_CREATED,
    summary="'Label this as ...' on a search hit, with its provenance",
)
def hit_feedback(
    name: ScenarioName, body: HitFeedbackIn, svc: ServicesDep, who: Reader
) -> FeedbackOut:
    annotator = body.annotator or (who.name if who.key_id is not None else "feedback")
    stored = svc.workspace.runtime.label_hit(name, body.item, body.label, annotator=annotator)
    return FeedbackOut.of(stored)


def _evidence(svc: ServicesDep, event_id: int, which: str) -> FileResponse:
    event = svc.workspace.runtime.event(event_id)
    if which == "heatmap":
        relative = event.details.get("evidence", {}).get("heatmap")
    else:
        relative = event.thumbnail_path if which == "thumbnail" else event.strip_path
    if not relative:
        raise NotFoundError(f"event {event_id} has no {which}")
    path = svc.inside_home(relative)
    if not path.is_file():
        raise NotFoundError(f"the {which} of event {event_id} is missing from the workspace")
    media = "image/png" if Path(relative).suffix.lower() == ".png" else "image/jpeg"
    return FileResponse(path, media_type=media)


@router.get(
    "/events/{event_id}/thumbnail",
    response_class=FileResponse,
    responses={200: {"content": {"image/jpeg": {}}}},
    summary="The evidence frame at the event's peak",
)
def event_thumbnail(event_id: IdPath, svc: ServicesDep, _: Reader) -> FileResponse:
    return _evidence(svc, event_id, "thumbnail")


@router.get(
    "/events/{event_id}/strip",
    response_class=FileResponse,
    responses={200: {"content": {"image/jpeg": {}}}},
    summary="The evidence strip of frames around the peak",
)
def event_strip(event_id: IdPath, svc: ServicesDep, _: Reader) -> FileResponse:
    return _evidence(svc, event_id, "strip")


@router.get(
    "/events/{event_id}/heatmap",
    response_class=FileResponse,
    responses={200: {"content": {"image/jpeg": {}}}},
    summary="Anomaly models: the anomaly heatmap over the peak frame",
)
def event_heatmap(event_id: IdPath, svc: ServicesDep, _: Reader) -> FileResponse:
    return _evidence(svc, event_id, "heatmap")


@router.post(
    "/jobs/run",
    response_model=JobOut,
    status_code=status.HTTP_202_ACCEPTED,
    tags=["jobs"],
    summary="Run models on sources in the background, storing events",
)
def start_run(body: RunJobIn, svc: ServicesDep, _: Admin) -> JobOut:
    sources = [svc.workspace.get_source(s).id for s in body.sources]
    models = []
    for model in body.models:
        # Model files are read by the server: only from the workspace or media roots.
        is_file = model.endswith(".onnx") or "/" in model or Path(model).expanduser().exists()
        models.append(svc.allowed_location(model) if is_file else model)
    resolved = body.model_copy(update={"sources": sources, "models": models})
    return JobOut.of(svc.jobs.submit("run", resolved))


@router.get("/runner", response_model=list[RunnerOut], summary="Health of running model jobs")
def runner_status(svc: ServicesDep, _: Reader) -> list[RunnerOut]:
    return [RunnerOut(job_id=job, sources=health) for job, health in runner_health().items()]
