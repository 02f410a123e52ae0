"""Distilled models: the registry, each model's report and plots, and distillation jobs."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, status
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, Response
from pydantic import BaseModel, Field

from vigil.api.deps import Admin, Reader, ServicesDep
from vigil.api.schemas.common import ERROR_RESPONSES, NO_CONTROL, IdPath, NameItem
from vigil.api.schemas.jobs import DistillJobIn, JobOut
from vigil.catalog.models_promotions import Promotion
from vigil.catalog.models_store import ModelRecord
from vigil.errors import NotFoundError
from vigil.workspace import Workspace

router = APIRouter(prefix="/api/v1", tags=["models"], responses=ERROR_RESPONSES)

ScenarioPath = Annotated[
    str, PathParam(min_length=1, max_length=100, pattern=NO_CONTROL, description="Scenario name.")
]
PLOTS = ("accuracy_latency.png", "confusion.png")  # what write_report draws


class DistilledOut(BaseModel):
    id: int
    name: str
    scenario: str
    scenario_version: int
    kind: str = Field(description="float, pruned or int8.")
    status: str = Field(
        description="Only 'ready' models are served and exported; 'rejected': it failed a "
        "quality gate (the reason is in 'error')."
    )
    role: str | None = Field(
        None, description="Ready models: 'champion' (the scenario's served model) or 'challenger'."
    )
    accuracy: float | None = Field(None, description="On the test split, beside the two below.")
    balanced_accuracy: float | None = Field(None, description="Mean per-class recall.")
    macro_f1: float | None = None
    baseline_balanced_accuracy: float | None = Field(
        None, description="The majority-class baseline's; a ready model is above it."
    )
    architecture: str
    size_bytes: int | None
    sha256: str | None
    metrics: dict[str, Any]
    error: str | None
    report_url: str | None
    plots: list[str] = Field(description="URLs of the report's plots.")

    @classmethod
    def of(cls, record: ModelRecord, workspace: Workspace, role: str | None = None) -> DistilledOut:
        folder = workspace.home / "models" / str(record.id)
        plots = [
            f"/api/v1/distilled/{record.id}/plots/{name}"
            for name in PLOTS
            if (folder / name).is_file()
        ]
        report = (folder / "report.md").is_file()
        evaluation = record.metrics.get("eval", {})
        return cls(
            role=role,
            accuracy=evaluation.get("accuracy"),
            balanced_accuracy=evaluation.get("balanced_accuracy"),
            macro_f1=evaluation.get("macro_f1"),
            baseline_balanced_accuracy=record.metrics.get("baseline", {}).get("balanced_accuracy"),
            id=record.id,
            name=record.name,
            scenario=record.scenario,
            scenario_version=record.scenario_version,
            kind=str(record.kind),
            status=str(record.status),
            architecture=record.architecture,
            size_bytes=record.size_bytes,
            sha256=record.sha256,
            metrics={k: v for k, v in record.metrics.items() if k != "report"},
            error=record.error,
            report_url=f"/api/v1/distilled/{record.id}/report" if report else None,
            plots=plots,
        )


@router.get("/distilled", response_model=list[DistilledOut], summary="Distilled models")
def list_distilled(
    svc: ServicesDep, _: Reader, scenario: NameItem | None = None
) -> list[DistilledOut]:
    workspace = svc.workspace
    records = workspace.list_models(scenario)
    roles = workspace.models.roles(records)
    return [DistilledOut.of(m, workspace, _role(roles.get(m.id))) for m in records]


def _role(role: object) -> str | None:
    return None if role is None else str(role)


class PromotionOut(BaseModel):
    scenario: str
    seq: int = Field(description="Changes of this scenario's champion, counted from 1.")
    model_id: int = Field(description="The champion after this change.")
    action: str = Field(description="'promote' or 'rollback'.")
    reason: str
    created_at: str
    previous_id: int | None = Field(description="The champion before this change.")

    @classmethod
    def of(cls, done: Promotion) -> PromotionOut:
        return cls(**done.summary())


class ComparisonOut(BaseModel):
    class_names: list[str]
    models: list[str]
    sets: dict[str, list[dict[str, Any]]] = Field(
        description="Item set ('frozen evaluation set', 'recent feedback') -> one row per model."
    )
    items: dict[str, dict[str, int]] = Field(description="Items per class in each set.")
    decision: dict[str, Any] | None = Field(
        description="With two models: would the second replace the first, and why."
    )
    notes: list[str]


@router.get(
    "/distilled/compare",
    response_model=ComparisonOut,
    summary="Models of one scenario side by side on its frozen evaluation set",
)
def compare_distilled(
    svc: ServicesDep,
    _: Reader,
    ids: Annotated[list[int], Query(min_length=2, max_length=8, description="Model ids.")],
    items: Annotated[
        list[str] | None,
        Query(max_length=1000, description="Also score on these labelled items (frame:12)."),
    ] = None,
) -> ComparisonOut:
    comparison = svc.workspace.models.compare(list(ids), extra_item_ids=tuple(items or ()))
    return ComparisonOut(**comparison.as_dict())


@router.get("/distilled/{model_id}", response_model=DistilledOut, summary="One distilled model")
def get_distilled(model_id: IdPath, svc: ServicesDep, _: Reader) -> DistilledOut:
    record = svc.workspace.get_model(model_id)
    role = svc.workspace.models.roles([record]).get(record.id)
    return DistilledOut.of(record, svc.workspace, _role(role))


@router.post(
    "/distilled/{model_id}/promote",
    response_model=PromotionOut,
    summary="Make a ready model its scenario's champion (409 if it is rejected or already is)",
)
def promote_distilled(model_id: IdPath, svc: ServicesDep, _: Admin) -> PromotionOut:
    return PromotionOut.of(svc.workspace.models.promote(model_id))


@router.get(
    "/champions/{scenario}",
    response_model=DistilledOut,
    summary="The scenario's champion model (404 before any promotion)",
)
def get_champion(scenario: ScenarioPath, svc: ServicesDep, _: Reader) -> DistilledOut:
    record = svc.workspace.models.champion(scenario)
    if record is None:
        raise NotFoundError(f"scenario {scenario!r} has no champion model yet (vigil distill)")
    return DistilledOut.of(record, svc.workspace, "champion")


@router.post(
    "/champions/{scenario}/rollback",
    response_model=PromotionOut,
    summary="Make the scenario's previous champion the champion again (409 if none)",
)
def rollback_champion(scenario: ScenarioPath, svc: ServicesDep, _: Admin) -> PromotionOut:
    return PromotionOut.of(svc.workspace.models.rollback(scenario))


@router.get(
    "/distilled/{model_id}/report",
    response_class=Response,
    responses={200: {"content": {"text/markdown": {"schema": {"type": "string"}}}}},
    summary="The model's distillation report (Markdown)",
)
def distilled_report(model_id: IdPath, svc: ServicesDep, _: Reader) -> Response:
    record = svc.workspace.get_model(model_id)
    path = svc.inside_home(f"models/{record.id}/report.md")
    if not path.is_file():
        raise NotFoundError(f"model {model_id} has no report (it may have failed)")
    return Response(path.read_text(encoding="utf-8"), media_type="text/markdown")


@router.get(
    "/distilled/{model_id}/plots/{name}",
    response_class=FileResponse,
    responses={200: {"content": {"image/png": {}}}},
    summary="One plot of the model's report (by name from a fixed list)",
)
def distilled_plot(model_id: IdPath, name: str, svc: ServicesDep, _: Reader) -> FileResponse:
    if name not in PLOTS:
        raise NotFoundError(f"no plot {name!r}; plots are {list(PLOTS)}")
    record = svc.workspace.get_model(model_id)
    path = svc.inside_home(f"models/{record.id}/{name}")
    if not path.is_file():
        raise NotFoundError(f"model {model_id} has no {name}")
    return FileResponse(path, media_type="image/png")


@router.post(
    "/jobs/distill",
    response_model=JobOut,
    status_code=status.HTTP_202_ACCEPTED,
    summary="Start distilling a labelled scenario in the background",
    tags=["jobs"],
)
def start_distill(body: DistillJobIn, svc: ServicesDep, _: Admin) -> JobOut:
    svc.workspace.get_scenario(body.scenario, body.version)  # unknown: 404 now, not in the job
    return JobOut.of(svc.jobs.submit("distill", body))
