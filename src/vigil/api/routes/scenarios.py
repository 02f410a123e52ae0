"""Scenarios: create and edit (with an optimistic lock), auto-label as a job, review queue,
answers, label export; item thumbnails by id.

Scenario names are path segments: a name containing '/' cannot be addressed here.
"""

from __future__ import annotations

import re
import shutil
import threading
from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, Query, status
from fastapi import Path as PathParam
from fastapi.responses import FileResponse

from vigil.api.deps import Admin, Reader, ServicesDep
from vigil.api.schemas.common import ERROR_RESPONSES, NO_CONTROL, IdPath
from vigil.api.schemas.jobs import AutolabelJobIn, JobOut
from vigil.api.schemas.scenarios import (
    AnswerIn,
    AnswerOut,
    AutolabelIn,
    ReviewItemOut,
    ReviewOut,
    ScenarioEditIn,
    ScenarioIn,
    ScenarioOut,
    ScenarioSummaryOut,
)
from vigil.errors import InvalidInputError, NotFoundError, ScenarioConflictError
from vigil.scenarios.spec import ItemKind, ScenarioSpec, parse_example, spec_from_yaml
from vigil.scenarios.store import item_thumbnails

router = APIRouter(prefix="/api/v1", tags=["scenarios"], responses=ERROR_RESPONSES)

ScenarioName = Annotated[
    str, PathParam(min_length=1, max_length=100, pattern=NO_CONTROL, description="Scenario name.")
]

_edit_lock = threading.Lock()  # check-then-save of a version is atomic within this server


def _spec(body: ScenarioIn, svc: ServicesDep) -> ScenarioSpec:
    if (body.spec is None) == (body.yaml is None):
        raise InvalidInputError("send the scenario as 'spec' (JSON) or 'yaml' (text), not both")
    spec = body.spec if body.spec is not None else spec_from_yaml(body.yaml or "")
    # Example image files are read by the server: only from the workspace or media roots.
    classes = []
    for item in spec.classes:
        examples = []
        for example in item.examples:
            ref = parse_example(example)
            examples.append(example if ref.path is None else svc.allowed_location(example))
        classes.append(item.model_copy(update={"examples": examples}))

    def allowed(examples: list[str]) -> list[str]:
        return [e if parse_example(e).path is None else svc.allowed_location(e) for e in examples]

    return spec.model_copy(
        update={
            "classes": classes,
            "normal_examples": allowed(spec.normal_examples),
            "defect_examples": allowed(spec.defect_examples),
        }
    )


@router.get("/scenarios", response_model=list[ScenarioSummaryOut], summary="All scenarios")
def list_scenarios(svc: ServicesDep, _: Reader) -> list[ScenarioSummaryOut]:
    return [ScenarioSummaryOut.of(r) for r in svc.workspace.list_scenarios()]


@router.get("/scenarios/{name}", response_model=ScenarioOut, summary="A scenario version")
def get_scenario(
    name: ScenarioName,
    svc: ServicesDep,
    _: Reader,
    version: Annotated[int | None, Query(ge=1, le=1_000_000)] = None,
) -> ScenarioOut:
    return ScenarioOut.of(svc.workspace.get_scenario(name, version))


@router.post(
    "/scenarios",
    response_model=ScenarioOut,
    status_code=status.HTTP_201_CREATED,
    summary="Create a scenario (409 if the name is taken: edit it with PUT)",
)
def create_scenario(body: ScenarioIn, svc: ServicesDep, _: Admin) -> ScenarioOut:
    spec = _spec(body, svc)
    with _edit_lock:
        if any(r.name == spec.name for r in svc.workspace.list_scenarios()):
            raise ScenarioConflictError(
                f"scenario {spec.name!r} already exists; edit it with PUT /api/v1/scenarios/"
                f"{spec.name} and its current version as base_version"
            )
        return ScenarioOut.of(svc.workspace.create_scenario(spec, base=svc.home))


@router.put(
    "/scenarios/{name}",
    response_model=ScenarioOut,
    summary="Save an edit as a new version (409 if another edit was saved first)",
)
def edit_scenario(
    name: ScenarioName, body: ScenarioEditIn, svc: ServicesDep, _: Admin
) -> ScenarioOut:
    spec = _spec(body, svc)
    if spec.name != name:
        raise InvalidInputError(
            f"the spec is named {spec.name!r} but the URL names {name!r}; renaming is not an edit"
        )
    with _edit_lock:
        current = svc.workspace.get_scenario(name)
        if current.version != body.base_version:
            raise ScenarioConflictError(
                f"scenario {name!r} is at version {current.version}, but this edit was made "
                f"from version {body.base_version}; reload it, re-apply the change and save again"
            )
        return ScenarioOut.of(svc.workspace.create_scenario(spec, base=svc.home))


@router.post(
    "/scenarios/{name}/autolabel",
    response_model=JobOut,
    status_code=status.HTTP_202_ACCEPTED,
    summary="Label every indexed item of the scenario in the background",
)
def autolabel(name: ScenarioName, body: AutolabelIn, svc: ServicesDep, _: Admin) -> JobOut:
    record = svc.workspace.get_scenario(name)  # 404 now rather than inside the job
    inputs = AutolabelJobIn(scenario=record.name, **body.model_dump())
    return JobOut.of(svc.jobs.submit("autolabel", inputs))


@router.get(
    "/scenarios/{name}/review",
    response_model=ReviewOut,
    summary="Items a person should label first",
)
def review_queue(
    name: ScenarioName,
    svc: ServicesDep,
    _: Reader,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    wanted: Annotated[
        str | None,
        Query(
            alias="class",
            max_length=200,
            description="Items the model thinks are this class first.",
        ),
    ] = None,
) -> ReviewOut:
    record = svc.workspace.get_scenario(name)
    items = svc.workspace.review_queue(name, limit=limit, wanted=wanted)
    return ReviewOut(
        scenario=record.name,
        version=record.version,
        classes=list(record.spec.class_names),
        items=[ReviewItemOut.of(i, record.name) for i in items],
    )


@router.post(
    "/scenarios/{name}/answers",
    response_model=AnswerOut,
    status_code=status.HTTP_201_CREATED,
    summary="A person's label for one item (overrides the machine's)",
)
def answer(name: ScenarioName, body: AnswerIn, svc: ServicesDep, who: Reader) -> AnswerOut:
    # Reviewing is what read keys are for too: answers are labels, not configuration.
    annotator = body.annotator or (who.name if who.key_id is not None else None)
    svc.workspace.answer(name, body.item, body.label, annotator=annotator)
    return AnswerOut(
        scenario=name,
        item=body.item,
        label=body.label,
        annotator=annotator or svc.settings.scenarios.annotator,
    )


@router.get(
    "/scenarios/{name}/export",
    response_class=FileResponse,
    responses={200: {"content": {"text/csv": {}, "application/zip": {}}}},
    summary="Download the scenario's labels: csv, or a zip of coco, yolo or classification",
)
def export(
    name: ScenarioName,
    svc: ServicesDep,
    _: Reader,
    format: Literal["csv", "coco", "yolo", "classification"] = "csv",
) -> FileResponse:
    """csv is one file; the others are folders with full-resolution images, sent as a zip
    that unpacks into a layout the format's own loaders read (see vigil.scenarios.export)."""
    record = svc.workspace.get_scenario(name)
    # The file name comes from the server, never from the client: no traversal possible.
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", record.name).strip("._") or "scenario"
    folder = svc.home / "exports"
    folder.mkdir(parents=True, exist_ok=True)
    base = f"{stem}-v{record.version}"
    if format == "csv":
        written = svc.workspace.export_labels(record.name, format, folder / f"{base}.csv")
        return FileResponse(
            svc.inside_home(str(Path(written).relative_to(svc.home))),
            media_type="text/csv",
            filename=written.name,
        )
    target = folder / f"{base}-{format}"
    svc.workspace.export_labels(record.name, format, target)
    archive = shutil.make_archive(str(target), "zip", root_dir=target)
    shutil.rmtree(target)
    return FileResponse(
        svc.inside_home(str(Path(archive).relative_to(svc.home))),
        media_type="application/zip",
        filename=Path(archive).name,
    )


@router.get(
    "/items/{kind}/{item_id}/thumbnail",
    response_class=FileResponse,
    responses={200: {"content": {"image/jpeg": {}}}},
    summary="A frame's thumbnail or an object's crop, by id",
)
def item_thumbnail(kind: ItemKind, item_id: IdPath, svc: ServicesDep, _: Reader) -> FileResponse:
    found = item_thumbnails(svc.workspace.catalog, kind, [item_id]).get(item_id)
    if found is None:
        raise NotFoundError(f"no {kind.value} with id {item_id}")
    path = svc.inside_home(found)
    if not path.is_file():
        raise NotFoundError(f"thumbnail of {kind.value}:{item_id} is missing from the workspace")
    return FileResponse(path, media_type="image/jpeg")
