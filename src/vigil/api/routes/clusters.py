"""Clusters: what an archive contains, without a query."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from vigil.api.deps import Reader, ServicesDep
from vigil.api.schemas.common import ERROR_RESPONSES, IdItem
from vigil.api.schemas.search import HitOut
from vigil.search.types import Target

router = APIRouter(prefix="/api/v1", tags=["clusters"], responses=ERROR_RESPONSES)


class ClusterOut(BaseModel):
    label: int
    size: int
    cohesion: float = Field(description="Mean cosine of members to the cluster centre.")
    description: list[str] = Field(description="Nearest concept prompts, when the model has any.")
    members: list[HitOut] = Field(description="The medoid first, then members near the centre.")


class ClustersOut(BaseModel):
    target: str
    model_id: str
    points: int
    sampled: int
    noise: int
    clusters: list[ClusterOut]


@router.get("/clusters", response_model=ClustersOut, summary="Group frames or objects by look")
def clusters(
    svc: ServicesDep,
    _: Reader,
    target: Annotated[Target, Query(description="Frames or objects.")] = Target.FRAMES,
    source: Annotated[list[IdItem] | None, Query(description="Only these source ids.")] = None,
    min_cluster_size: Annotated[int, Query(ge=2, le=10_000)] = 5,
    max_points: Annotated[int, Query(ge=10, le=50_000)] = 5000,
    members: Annotated[int, Query(ge=1, le=50)] = 8,
) -> ClustersOut:
    workspace = svc.workspace
    report = workspace.clusters(
        target,
        sources=source or None,
        min_cluster_size=min_cluster_size,
        max_points=max_points,
        members=members,
    )
    return ClustersOut(
        target=report.target,
        model_id=report.model_id,
        points=report.points,
        sampled=report.sampled,
        noise=report.noise,
        clusters=[
            ClusterOut(
                label=cluster.label,
                size=cluster.size,
                cohesion=round(cluster.cohesion, 4),
                description=[prompt for prompt, _ in cluster.description],
                members=[
                    HitOut.of(hit) for hit in workspace.cluster_members(report, cluster.label)
                ],
            )
            for cluster in report.clusters
        ],
    )
