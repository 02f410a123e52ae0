"""``vigil distill SCENARIO`` and ``vigil model list|show|export``: the model factory.

Thin: each command calls one ``Workspace`` method and prints its result; library
errors become one line and exit status 1 (``friendly_errors``). ``vigil embedders``
lists the big image-text models and is unrelated.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from vigil.cli.common import friendly_errors, id_or_name, open_workspace, print_table

model_app = typer.Typer(
    help="Small ONNX models distilled per scenario: list, show and export them "
    "(the big image-text models: 'vigil embedders').",
    no_args_is_help=True,
)


@friendly_errors
def distill(
    context: typer.Context,
    scenario: Annotated[str, typer.Argument(help="Scenario whose labels train the student.")],
    version: Annotated[
        int | None, typer.Option(help="Scenario version (default: the newest).")
    ] = None,
    epochs: Annotated[int | None, typer.Option(help="Override distill.epochs.")] = None,
    prune: Annotated[
        float | None, typer.Option(help="Share of channels to prune, 0 = none.")
    ] = None,
    quantize: Annotated[
        bool | None, typer.Option("--quantize/--no-quantize", help="Also produce INT8.")
    ] = None,
    measure_teacher: Annotated[
        bool, typer.Option(help="Time the big model too, for the report (a few seconds).")
    ] = False,
) -> None:
    """Distil the big model's labels of SCENARIO into small ONNX models, registered and reported."""
    with open_workspace(context) as workspace:
        changes = {
            key: value
            for key, value in (("epochs", epochs), ("prune_amount", prune), ("quantize", quantize))
            if value is not None
        }
        if changes:
            distill_settings = workspace.settings.distill.model_copy(update=changes)
            workspace.settings = workspace.settings.model_copy(
                update={"distill": type(distill_settings).model_validate(distill_settings)}
            )
        outcome = workspace.distill(scenario, version, measure_teacher=measure_teacher)
    for record in outcome.models:
        evaluation = record.metrics.get("eval", {})
        typer.echo(
            f"{record.id}\t{record.name}\t{record.kind}\t{record.status}\t"
            f"accuracy {evaluation.get('accuracy', float('nan')):.3f}\t"
            f"{(record.size_bytes or 0) / 1e6:.2f} MB"
        )
    typer.echo(f"report: {outcome.reports['report.md']}")


@model_app.command("list")
@friendly_errors
def model_list(
    context: typer.Context,
    scenario: Annotated[str | None, typer.Option(help="Only this scenario's models.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List registered models, newest last."""
    with open_workspace(context) as workspace:
        records = workspace.list_models(scenario)
    if as_json:
        typer.echo(json.dumps([record.summary() for record in records], indent=2))
        return
    if not records:
        typer.echo("no models yet: vigil distill SCENARIO")
        return
    rows = []
    for record in records:
        accuracy = record.metrics.get("eval", {}).get("accuracy")
        rows.append(
            (
                record.id,
                record.name,
                f"{record.scenario} v{record.scenario_version}",
                record.kind,
                record.status,
                f"{(record.size_bytes or 0) / 1e6:.2f}",
                None if accuracy is None else f"{accuracy:.3f}",
            )
        )
    print_table(("id", "name", "scenario", "kind", "status", "MB", "accuracy"), rows)


@model_app.command("show")
@friendly_errors
def model_show(
    context: typer.Context,
    model: Annotated[str, typer.Argument(help="Model id or name.")],
) -> None:
    """Everything the registry knows about one model, as JSON."""
    with open_workspace(context) as workspace:
        record = workspace.get_model(id_or_name(model))
    typer.echo(json.dumps(record.summary(), indent=2))


@model_app.command("export")
@friendly_errors
def model_export(
    context: typer.Context,
    model: Annotated[str, typer.Argument(help="Model id or name.")],
    destination: Annotated[
        Path, typer.Argument(help="Folder to copy MODEL-NAME.onnx into, or a FILE.onnx.")
    ],
) -> None:
    """Copy a ready model's ONNX file (preprocessing and classes in its metadata)."""
    with open_workspace(context) as workspace:
        path = workspace.export_model(id_or_name(model), destination)
    typer.echo(str(path))


__all__ = ["distill", "model_app"]
