"""Distilled models: the registry, each model's report and plots, and distillation jobs."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, status
from fastapi.responses import FileResponse, Response
from pydantic import BaseModel, Field

from vigil.api.deps import Admin, Reader, ServicesDep
from vigil.api.schemas.common import ERROR_RESPONSES, IdPath, NameItem
from vigil.api.schemas.jobs import DistillJobIn, JobOut
from vigil.catalog.models_store import ModelRecord
from vigil.errors import NotFoundError
from vigil.workspace import Workspace

router = APIRouter(prefix="/api/v1", tags=["models"], responses=ERROR_RESPONSES)

PLOTS = ("accuracy_latency.png", "confusion.png")  # what write_report draws


class DistilledOut(BaseModel):
    id: int
    name: str
    scenario: str
    scenario_version: int
    kind: str = Field(description="float, pruned or int8.")
    status: str = Field(description="Only 'ready' models are served and exported.")
    architecture: str
    size_bytes: int | None
    sha256: str | None
    metrics: dict[str, Any]
    error: str | None
    report_url: str | None
    plots: list[str] = Field(description="URLs of the report's plots.")

    @classmethod
    def of(cls, record: ModelRecord, workspace: Workspace) -> DistilledOut:
        folder = workspace.home / "models" / str(record.id)
        plots = [
            f"/api/v1/distilled/{record.id}/plots/{name}"
            for name in PLOTS
            if (folder / name).is_file()
        ]
        report = (folder / "report.md").is_file()
        return cls(
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
    return [DistilledOut.of(m, workspace) for m in workspace.list_models(scenario)]


@router.get("/distilled/{model_id}", response_model=DistilledOut, summary="One distilled model")
def get_distilled(model_id: IdPath, svc: ServicesDep, _: Reader) -> DistilledOut:
    return DistilledOut.of(svc.workspace.get_model(model_id), svc.workspace)


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
