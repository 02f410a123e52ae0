"""``vigil eval anomaly``, ``vigil unusual`` and the anomaly side of ``vigil scenario``.

Thin: each command calls one library function of ``vigil.anomaly`` and prints
its result; library errors become one ``error:`` line and exit status 1.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from vigil.cli.common import friendly_errors, id_or_name, open_workspace
from vigil.errors import InvalidInputError


def label_anomaly_scenario(
    context: typer.Context, name: str, *, max_items: int | None, relabel: bool
) -> None:
    """What ``vigil scenario label`` runs for a ``kind: anomaly`` scenario."""
    with open_workspace(context) as workspace:
        report = workspace.scenarios.label_anomaly(name, max_items=max_items, relabel=relabel)
    for warning in report.warnings:
        typer.echo(f"warning: {warning}", err=True)
    fit = report.fit
    typer.echo(
        f"{report.scenario} v{report.version}: scored {report.labeled} item(s) of "
        f"{report.total}, {report.anomalous} anomalous (threshold {report.threshold:.4g}, "
        f"aiming at <= {fit.false_alarm_bound:.0%} false alarms on normal items) "
        f"in {report.seconds:.1f} s; memory bank of {fit.bank_size} patches from "
        f"{fit.normals} normal and {fit.defects} defect example(s) in {fit.folder}"
    )


def export_anomaly_labels(
    context: typer.Context, name: str, output: Path, format: str, version: int | None
) -> Path:
    """What ``vigil scenario export-labels`` runs for an anomaly scenario (CSV only)."""
    from vigil.anomaly.scenario import write_anomaly_csv

    if format != "csv":
        raise InvalidInputError(
            f"anomaly scenarios export csv (score, file path, heatmap), not {format!r}"
        )
    with open_workspace(context) as workspace:
        record = workspace.get_scenario(name, version)
        return write_anomaly_csv(workspace.catalog, record, output)


@friendly_errors
def scenario_export_edge(
    context: typer.Context,
    name: Annotated[str, typer.Argument(help="Anomaly scenario name.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Folder for the bundle.")],
    threads: Annotated[int, typer.Option(help="onnxruntime threads for the latency check.")] = 2,
) -> None:
    """Export an anomaly scenario for the edge: ONNX features + memory bank + model card."""
    from vigil.anomaly.export import export_edge
    from vigil.anomaly.features import PatchExtractor
    from vigil.anomaly.scenario import collect_examples_of, fit_scenario

    with open_workspace(context) as workspace:
        record = workspace.get_scenario(name)
        extractor = PatchExtractor(device=workspace.settings.device)
        model, _ = fit_scenario(workspace.catalog, workspace.home, record, extractor)
        check = collect_examples_of(workspace.catalog, workspace.home, record)[:8]
        result = export_edge(model, extractor, output, check, threads=threads)
    typer.echo(
        f"wrote {result.onnx_path.name}, {result.bank_npy.name}, {result.bank_faiss.name}, "
        f"{result.card_path.name} to {result.folder}; onnxruntime matches torch within "
        f"{result.max_feature_diff:.1e}; {result.ms_per_image:.1f} ms wall, "
        f"{result.cpu_ms_per_image:.1f} ms CPU per image ({result.threads} threads)"
    )


@friendly_errors
def eval_anomaly(
    cell_type: Annotated[
        str, typer.Option("--cells", help="ELPV cell type: mono (development) or poly (check).")
    ] = "mono",
    normals: Annotated[
        list[int] | None,
        typer.Option("--normals", help="Normal counts (repeat; default 10 25 50)."),
    ] = None,
    draws: Annotated[int, typer.Option(help="Random draws of the normals per count.")] = 3,
    defects: Annotated[int, typer.Option(help="Labelled defects for the supervised head.")] = 8,
    test_per_class: Annotated[int, typer.Option(help="Test cells per class.")] = 100,
    seed: Annotated[int, typer.Option(help="Seed of the test split and draws.")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """PatchCore vs raw-pixel and global-feature NN on ELPV solar cells (CC-BY-NC-SA, eval only)."""
    from vigil.anomaly.evaluate import evaluate_elpv, format_table

    report = evaluate_elpv(
        cell_type=cell_type,
        normals=tuple(normals or (10, 25, 50)),
        draws=draws,
        defects=defects,
        test_per_class=test_per_class,
        seed=seed,
        progress=lambda line: typer.echo(line, err=True),
    )
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "cells": report.cell_type,
                    "test": [report.test_normal, report.test_defective],
                    "draws": report.draws,
                    "ms_per_image": report.ms_per_image,
                    "cpu_ms_per_image": report.cpu_ms_per_image,
                    "rows": [row.__dict__ for row in report.rows],
                },
                indent=2,
            )
        )
        return
    typer.echo(format_table(report))


@friendly_errors
def unusual(
    context: typer.Context,
    source: Annotated[str, typer.Argument(help="Source id or name.")],
    since: Annotated[
        float | None, typer.Option(help="Only rank frames from this media time (seconds) on.")
    ] = None,
    limit: Annotated[int, typer.Option("-n", "--limit", help="How many frames.")] = 20,
    gap: Annotated[
        float, typer.Option(help="Ignore neighbours closer in time than this (seconds).")
    ] = 5.0,
    by_hour: Annotated[
        bool, typer.Option("--by-hour", help="Compare each frame with the same hour of day.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """What is unusual here: a source's frames ranked by distance from its own history."""
    from vigil.anomaly.unusual import rank_unusual

    with open_workspace(context) as workspace:
        found = workspace.get_source(id_or_name(source))
        ranked = rank_unusual(
            workspace.catalog,
            found.id,
            workspace.embedder.model_id,
            since=since,
            limit=limit,
            gap_s=gap,
            by_hour=by_hour,
        )
    if as_json:
        typer.echo(json.dumps([item.to_json() for item in ranked.items], indent=2))
        return
    typer.echo(
        f"{len(ranked.items)} most unusual of {ranked.ranked} frame(s) of {found.name} "
        f"(history {ranked.history} frame(s), neighbours >= {gap:g} s apart)"
    )
    for item in ranked.items:
        typer.echo(
            f"frame:{item.frame_id:<8} t={item.media_time:8.1f}s  distance={item.distance:.4f}  "
            f"{item.thumbnail_path}"
        )


__all__ = [
    "eval_anomaly",
    "export_anomaly_labels",
    "label_anomaly_scenario",
    "scenario_export_edge",
    "unusual",
]
