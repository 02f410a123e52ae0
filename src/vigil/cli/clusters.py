"""``vigil clusters``: what an archive contains, without any query (groups, sizes, words)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from vigil.cli.common import friendly_errors, id_or_name, print_table
from vigil.search.types import SearchHit
from vigil.settings import Settings
from vigil.workspace import Workspace

if TYPE_CHECKING:  # scikit-learn loads with it: seconds no other command should pay
    from vigil.search.clusters import ClusterReport


@friendly_errors
def clusters(
    context: typer.Context,
    objects: Annotated[
        bool, typer.Option("--objects", help="Group detected objects instead of whole frames.")
    ] = False,
    source: Annotated[
        list[str] | None,
        typer.Option("--source", help="Only these source ids or names (repeatable)."),
    ] = None,
    min_cluster_size: Annotated[
        int, typer.Option(help="Smallest group worth reporting (HDBSCAN min_cluster_size).")
    ] = 5,
    max_points: Annotated[
        int, typer.Option(help="Cluster a seeded sample of at most this many vectors.")
    ] = 5000,
    members: Annotated[int, typer.Option(help="Members shown per group.")] = 8,
    seed: Annotated[int, typer.Option(help="Seed of the sample.")] = 0,
    sheets: Annotated[
        Path | None,
        typer.Option(help="Write one contact sheet per group into this folder (cluster-N.jpg)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Group indexed frames (or objects) by visual similarity; noise counted apart."""
    settings = context.obj
    assert isinstance(settings, Settings)
    with Workspace.open(settings) as workspace:
        report = workspace.clusters(
            "objects" if objects else "frames",
            sources=[id_or_name(s) for s in source or []] or None,
            min_cluster_size=min_cluster_size,
            max_points=max_points,
            members=members,
            seed=seed,
        )
        shown = {c.label: workspace.cluster_members(report, c.label) for c in report.clusters}
        written = []
        if sheets is not None:
            for cluster in report.clusters:
                title = f"cluster {cluster.label}: {cluster.size} members"
                if cluster.description:
                    title += f" - {cluster.description[0][0]}"
                path = sheets / f"cluster-{cluster.label}.jpg"
                if shown[cluster.label]:
                    written.append(workspace.contact_sheet(shown[cluster.label], path, title=title))
    if as_json:
        typer.echo(json.dumps(report_rows(report, shown), indent=2))
    else:
        print_clusters(report, shown)
    for path in written:
        typer.echo(f"contact sheet: {path}", err=True)


def report_rows(report: ClusterReport, members: dict[int, list[SearchHit]]) -> dict[str, object]:
    return {
        "target": report.target,
        "model_id": report.model_id,
        "points": report.points,
        "sampled": report.sampled,
        "noise": report.noise,
        "min_cluster_size": report.min_cluster_size,
        "clusters": [
            {
                "label": c.label,
                "size": c.size,
                "cohesion": round(c.cohesion, 4),
                "medoid_id": c.medoid_id,
                "member_ids": list(c.member_ids),
                "members": [
                    {
                        "embedding_id": m.embedding_id,
                        "frame_id": m.frame.id,
                        "object_id": m.object.id if m.object else None,
                        "source": m.source.name,
                        "media_time": m.frame.media_time,
                        "similarity": m.score,
                    }
                    for m in members.get(c.label, [])
                ],
                "description": [{"prompt": p, "cosine": s} for p, s in c.description],
            }
            for c in report.clusters
        ],
    }


def print_clusters(report: ClusterReport, members: dict[int, list[SearchHit]]) -> None:
    """A title line, then the clusters in the one table style of every list command."""
    sampled = (
        f" (HDBSCAN on a sample of {report.sampled})" if report.sampled < report.points else ""
    )
    typer.echo(
        f"{len(report.clusters)} clusters of {report.points} {report.target}{sampled}; "
        f"{report.noise} noise"
    )
    rows: list[list[object]] = []
    for cluster in report.clusters:
        shown = members.get(cluster.label, [])
        where = "(removed)"
        if shown:
            rep = shown[0]
            where = f"{rep.source.name} t={rep.frame.media_time:.1f}s frame:{rep.frame.id}"
            if rep.object is not None:
                where += f" object:{rep.object.id} ({rep.object.label})"
        rows.append(
            [
                cluster.label,
                cluster.size,
                where,
                " ".join(f"frame:{m.frame.id}" for m in shown),
                "; ".join(prompt for prompt, _ in cluster.description) or "-",
            ]
        )
    print_table(["cluster", "size", "representative (medoid)", "members", "looks like"], rows)
