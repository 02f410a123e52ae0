"""``vigil distill SCENARIO`` and ``vigil model list|show|export|compare|promote|rollback``.

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
    auto_promote: Annotated[
        bool | None,
        typer.Option(
            "--auto-promote/--no-auto-promote",
            help="Promote the best new model if it beats the champion on the frozen evaluation "
            "set by the margin (default: the scenario's promotion.auto, else off).",
        ),
    ] = None,
    margin: Annotated[
        float | None,
        typer.Option(
            min=0.0, max=1.0, help="Balanced-accuracy gain needed to auto-promote (default 0.02)."
        ),
    ] = None,
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
            # The models area reads the shared context's settings: without this the
            # overrides (--prune 0, --no-quantize, --epochs) were silently ignored.
            workspace.context.settings = workspace.settings
        outcome = workspace.distill(
            scenario,
            version,
            measure_teacher=measure_teacher,
            auto_promote=auto_promote,
            margin=margin,
        )
    if outcome.baseline is not None:
        base = outcome.baseline
        typer.echo(
            f"majority-class baseline (always {base.class_name!r}): accuracy {base.accuracy:.3f}"
            f"\tbalanced {base.balanced_accuracy:.3f}\tmacro-F1 {base.macro_f1:.3f}"
        )
    for record in outcome.models:
        why = f"\t({record.error})" if record.error else ""
        typer.echo(
            f"{record.id}\t{record.name}\t{record.kind}\t{record.status}\t"
            f"{_figures(record.metrics)}\t{(record.size_bytes or 0) / 1e6:.2f} MB{why}"
        )
    typer.echo(f"test split: {outcome.models[0].snapshot.get('test_per_class', '')}")
    typer.echo(f"report: {outcome.reports['report.md']}")
    typer.echo(outcome.champion)
    for warning in outcome.warnings:
        typer.echo(f"WARNING: {warning}", err=True)


def _figures(metrics: dict[str, object]) -> str:
    """``accuracy 0.938 balanced 0.500 macro-F1 0.484`` from a model's stored evaluation."""
    evaluation = metrics.get("eval")
    if not isinstance(evaluation, dict):
        return "not evaluated"
    parts = []
    for key, label in (
        ("accuracy", "accuracy"),
        ("balanced_accuracy", "balanced"),
        ("macro_f1", "macro-F1"),
    ):
        value = evaluation.get(key)
        parts.append(f"{label} {value:.3f}" if isinstance(value, float) else f"{label} n/a")
    return " ".join(parts)


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
        roles = workspace.models.roles(records)
    if as_json:
        typer.echo(
            json.dumps(
                [{**record.summary(), "role": _role(roles.get(record.id))} for record in records],
                indent=2,
            )
        )
        return
    if not records:
        typer.echo("no models yet: vigil distill SCENARIO")
        return
    rows = []
    for record in records:
        evaluation = record.metrics.get("eval", {})
        baseline = record.metrics.get("baseline", {})

        def fmt(value: object) -> str | None:
            return f"{value:.3f}" if isinstance(value, float) else None

        rows.append(
            (
                record.id,
                record.name,
                f"{record.scenario} v{record.scenario_version}",
                record.kind,
                record.status,
                _role(roles.get(record.id)),
                f"{(record.size_bytes or 0) / 1e6:.2f}",
                fmt(evaluation.get("accuracy")),
                fmt(evaluation.get("balanced_accuracy")),
                fmt(evaluation.get("macro_f1")),
                fmt(baseline.get("balanced_accuracy")),
                record.error,
            )
        )
    print_table(
        (
            "id",
            "name",
            "scenario",
            "kind",
            "status",
            "role",
            "MB",
            "accuracy",
            "balanced",
            "macro-F1",
            "baseline",
            "why",
        ),
        rows,
    )


def _role(role: object) -> str | None:
    return None if role is None else str(role)


@model_app.command("show")
@friendly_errors
def model_show(
    context: typer.Context,
    model: Annotated[str, typer.Argument(help="Model id or name.")],
) -> None:
    """Everything the registry knows about one model, as JSON."""
    with open_workspace(context) as workspace:
        record = workspace.get_model(id_or_name(model))
        role = workspace.models.roles([record]).get(record.id)
    typer.echo(json.dumps({**record.summary(), "role": _role(role)}, indent=2))


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


@model_app.command("compare")
@friendly_errors
def model_compare(
    context: typer.Context,
    models: Annotated[
        list[str], typer.Argument(help="Two or more model ids or names (champion first).")
    ],
    items: Annotated[
        str | None,
        typer.Option(
            help="Also compare on these labelled items, comma-separated (frame:12,frame:40), "
            "e.g. recent feedback."
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Models side by side on the scenario's frozen evaluation set: recall per class,
    balanced accuracy, macro-F1, latency; with two, whether the second would be promoted."""
    extra = tuple(item.strip() for item in (items or "").split(",") if item.strip())
    with open_workspace(context) as workspace:
        comparison = workspace.models.compare(
            [id_or_name(model) for model in models], extra_item_ids=extra
        )
    if as_json:
        typer.echo(json.dumps(comparison.as_dict(), indent=2))
        return
    typer.echo(comparison.markdown())


@model_app.command("promote")
@friendly_errors
def model_promote(
    context: typer.Context,
    model: Annotated[str, typer.Argument(help="Model id or name (must be ready).")],
) -> None:
    """Make MODEL its scenario's champion, the model its runtime serves."""
    with open_workspace(context) as workspace:
        done = workspace.models.promote(id_or_name(model))
        record = workspace.get_model(done.model_id)
    before = f" (was model {done.previous_id})" if done.previous_id is not None else ""
    typer.echo(f"champion of {done.scenario}: {record.id} {record.name}{before}")


@model_app.command("rollback")
@friendly_errors
def model_rollback(
    context: typer.Context,
    scenario: Annotated[str, typer.Argument(help="Scenario whose champion to roll back.")],
) -> None:
    """Make the scenario's previous champion the champion again."""
    with open_workspace(context) as workspace:
        done = workspace.models.rollback(scenario)
        record = workspace.get_model(done.model_id)
    typer.echo(
        f"champion of {done.scenario}: {record.id} {record.name} (rolled back from model "
        f"{done.previous_id})"
    )


__all__ = ["distill", "model_app"]
