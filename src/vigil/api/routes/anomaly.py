"""Anomaly scenarios and "what is unusual here" over HTTP: scores, heatmaps, unusual frames.

Labelling an anomaly scenario runs through the same job as any scenario
(``POST /api/v1/scenarios/{name}/autolabel``); these routes read what it stored.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi import Path as PathParam
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field

from vigil.api.deps import Reader, ServicesDep
from vigil.api.schemas.common import ERROR_RESPONSES, NO_CONTROL, IdPath
from vigil.errors import InvalidInputError, NotFoundError

router = APIRouter(prefix="/api/v1", tags=["anomaly"], responses=ERROR_RESPONSES)

ScenarioName = Annotated[
    str, PathParam(min_length=1, max_length=100, pattern=NO_CONTROL, description="Scenario name.")
]


class AnomalyScoreOut(BaseModel):
    item: str = Field(description="'frame:ID' or 'object:ID'.")
    score: float = Field(description="Decision score (head probability, or patch distance).")
    distance: float = Field(description="Largest smoothed patch distance to the normal bank.")
    threshold: float = Field(description="Anomalous at or above this score.")
    anomalous: bool
    heatmap: str | None = Field(description="Heatmap image URL path, if stored.")


class UnusualOut(BaseModel):
    item: str = Field(description="'frame:ID'.")
    rank: int = Field(description="1 = most unusual.")
    media_time: float = Field(description="Seconds into the source.")
    distance: float = Field(description="Distance to the nearest frame of the source's history.")
    thumbnail: str = Field(description="Thumbnail path relative to the workspace home.")


@router.get(
    "/scenarios/{name}/anomaly-scores",
    response_model=list[AnomalyScoreOut],
    summary="An anomaly scenario's scores, highest first",
)
def anomaly_scores(
    name: ScenarioName,
    svc: ServicesDep,
    _: Reader,
    version: Annotated[int | None, Query(ge=1, le=1_000_000)] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
) -> list[AnomalyScoreOut]:
    from vigil.catalog.anomaly_store import anomaly_scores as stored_scores

    record = svc.workspace.get_scenario(name, version)
    if record.spec.kind != "anomaly":
        raise InvalidInputError(f"scenario {name!r} is not an anomaly scenario")
    return [
        AnomalyScoreOut(
            item=f"{item.kind}:{item.id}",
            score=item.score,
            distance=item.distance,
            threshold=item.threshold,
            anomalous=item.anomalous,
            heatmap=(
                f"/api/v1/scenarios/{name}/heatmaps/{item.kind}/{item.id}?version={record.version}"
                if item.heatmap_path
                else None
            ),
        )
        for item in stored_scores(svc.workspace.catalog, record.id, record.version)[:limit]
    ]


@router.get(
    "/scenarios/{name}/heatmaps/{kind}/{item_id}",
    response_class=FileResponse,
    summary="The anomaly heatmap of one scored item (JPEG)",
)
def heatmap(
    name: ScenarioName,
    kind: Annotated[str, PathParam(pattern="^(frame|object)$")],
    item_id: IdPath,
    svc: ServicesDep,
    _: Reader,
    version: Annotated[int | None, Query(ge=1, le=1_000_000)] = None,
) -> FileResponse:
    from vigil.catalog.anomaly_store import anomaly_scores as stored_scores

    record = svc.workspace.get_scenario(name, version)
    for item in stored_scores(svc.workspace.catalog, record.id, record.version):
        if item.kind == kind and item.id == item_id and item.heatmap_path:
            path = (svc.home / item.heatmap_path).resolve()
            if path.is_relative_to(svc.home) and path.is_file():
                return FileResponse(path, media_type="image/jpeg")
    raise NotFoundError(f"no heatmap of {kind}:{item_id} in {name!r} v{record.version}")


@router.get(
    "/sources/{source_id}/unusual",
    response_model=list[UnusualOut],
    summary="What is unusual here: a source's frames by distance from its own history",
)
def unusual(
    source_id: IdPath,
    svc: ServicesDep,
    _: Reader,
    since: Annotated[float | None, Query(ge=0, le=1e10)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 20,
    gap: Annotated[float, Query(ge=0, le=86_400)] = 5.0,
    by_hour: bool = False,
) -> list[UnusualOut]:
    from vigil.anomaly.unusual import rank_unusual

    source = svc.workspace.get_source(source_id)
    ranked = rank_unusual(
        svc.workspace.catalog,
        source.id,
        svc.workspace.embedder.model_id,
        since=since,
        limit=limit,
        gap_s=gap,
        by_hour=by_hour,
    )
    return [
        UnusualOut(
            item=f"frame:{item.frame_id}",
            rank=item.rank,
            media_time=item.media_time,
            distance=item.distance,
            thumbnail=item.thumbnail_path,
        )
        for item in ranked.items
    ]
