"""``vigil scenario ...`` and ``vigil eval scenario``: long-tail scenarios from the shell.

Thin: every command calls one ``Workspace`` method (or the evaluation harness)
and prints its result; library errors become one line and exit status 1.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from tqdm import tqdm

from vigil.cli.anomaly import export_anomaly_labels, label_anomaly_scenario
from vigil.cli.common import friendly_errors, open_workspace, print_table
from vigil.errors import InvalidInputError
from vigil.scenarios.spec import ItemKind, quick_spec
from vigil.scenarios.types import AutolabelProgress

scenario_app = typer.Typer(
    help="Describe long-tail scenarios, auto-label the archive, review and export labels.",
    no_args_is_help=True,
)


@scenario_app.command("create")
@friendly_errors
def scenario_create(
    context: typer.Context,
    name: Annotated[str, typer.Argument(help="Scenario name.")],
    classes: Annotated[
        list[str], typer.Option("--class", help="A class name (repeat; at least two).")
    ],
    template: Annotated[
        str, typer.Option(help="Prompt made from each class name ('{}' is the name).")
    ] = "a photo of {}",
    target: Annotated[ItemKind, typer.Option(help="Label frames or objects.")] = ItemKind.FRAME,
    object_class: Annotated[
        list[str] | None,
        typer.Option(help="For object targets: detector classes to label (repeatable)."),
    ] = None,
    alert_threshold: Annotated[float, typer.Option(help="Alert probability, 0..1.")] = 0.5,
) -> None:
    """Create a scenario from class names alone (edit it as YAML for prompt ensembles)."""
    spec = quick_spec(
        name,
        classes,
        template=template,
        kind=target,
        object_classes=object_class,
        alert_threshold=alert_threshold,
    )
    with open_workspace(context) as workspace:
        record = workspace.create_scenario(spec)
    typer.echo(f"scenario {record.name!r} version {record.version}: {', '.join(spec.class_names)}")


@scenario_app.command("import")
@friendly_errors
def scenario_import(
    context: typer.Context,
    path: Annotated[Path, typer.Argument(help="YAML spec file.")],
) -> None:
    """Create a scenario, or a new version of it, from a YAML file."""
    with open_workspace(context) as workspace:
        record = workspace.import_scenario(path)
    typer.echo(
        f"scenario {record.name!r} version {record.version} "
        f"({len(record.spec.classes)} classes, {record.versions} version(s) stored)"
    )


@scenario_app.command("export")
@friendly_errors
def scenario_export(
    context: typer.Context,
    name: Annotated[str, typer.Argument(help="Scenario name.")],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write here instead of stdout.")
    ] = None,
    version: Annotated[int | None, typer.Option(help="Version (default: newest).")] = None,
) -> None:
    """Print (or write) a scenario as YAML."""
    with open_workspace(context) as workspace:
        text = workspace.export_scenario(name, output, version=version)
    if output is None:
        typer.echo(text, nl=False)
    else:
        typer.echo(f"wrote {output}")


@scenario_app.command("list")
@friendly_errors
def scenario_list(
    context: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List scenarios (newest version of each)."""
    with open_workspace(context) as workspace:
        records = workspace.list_scenarios()
    if as_json:
        rows = [
            {
                "name": r.name,
                "version": r.version,
                "classes": list(r.spec.class_names),
                "target": r.spec.target.kind.value,
            }
            for r in records
        ]
        typer.echo(json.dumps(rows, indent=2))
        return
    if not records:
        typer.echo("no scenarios yet: vigil scenario create NAME --class A --class B")
        return
    print_table(
        ("name", "version", "labels", "classes"),
        [
            (r.name, f"v{r.version}", f"{r.spec.target.kind.value}s", ", ".join(r.spec.class_names))
            for r in records
        ],
    )


@scenario_app.command("show")
@friendly_errors
def scenario_show(
    context: typer.Context,
    name: Annotated[str, typer.Argument(help="Scenario name.")],
    version: Annotated[int | None, typer.Option(help="Version (default: newest).")] = None,
) -> None:
    """Show one scenario version as YAML, with how many versions exist."""
    with open_workspace(context) as workspace:
        record = workspace.get_scenario(name, version)
        text = workspace.export_scenario(name, version=record.version)
    typer.echo(
        f"# version {record.version} of {record.versions}, {record.created_at:%Y-%m-%d %H:%M}Z"
    )
    typer.echo(text, nl=False)


@scenario_app.command("label")
@friendly_errors
def scenario_label(
    context: typer.Context,
    name: Annotated[str, typer.Argument(help="Scenario name.")],
    max_items: Annotated[
        int | None, typer.Option(help="Stop after about this many items (resume later).")
    ] = None,
    relabel: Annotated[
        bool, typer.Option(help="Label everything again (e.g. after answering the review queue).")
    ] = False,
    ray: Annotated[
        str | None,
        typer.Option(
            "--ray", metavar="ADDRESS", help="Score on a Ray cluster: HOST:PORT, 'auto' or 'local'."
        ),
    ] = None,
) -> None:
    """Auto-label the indexed archive from stored vectors (resumes where it stopped).

    Anomaly scenarios (kind: anomaly) are scored from pixels instead: score and
    normal/anomalous label per item, with an anomaly heatmap.
    """
    with open_workspace(context) as workspace:
        is_anomaly = workspace.get_scenario(name).spec.kind == "anomaly"
    if is_anomaly:
        if ray is not None:
            raise InvalidInputError("anomaly scenarios are scored locally; drop --ray")
        label_anomaly_scenario(context, name, max_items=max_items, relabel=relabel)
        return
    with open_workspace(context) as workspace, tqdm(unit="item", disable=None) as bar:

        def progress(update: AutolabelProgress) -> None:
            bar.total = update.total
            bar.n = update.done
            bar.refresh()

        report = workspace.autolabel(
            name, max_items=max_items, on_progress=progress, relabel=relabel, ray=ray
        )
    ece = f", ECE {report.ece:.3f}" if report.ece is not None else ""
    typer.echo(
        f"{report.scenario} v{report.version}: labeled {report.labeled} item(s) "
        f"({report.skipped} done before, {report.total} in all) in {report.seconds:.2f} s "
        f"({report.items_per_s:,.0f} items/s) with {report.model_id} "
        f"on {report.examples} example(s){ece}"
    )
    if report.predicted:
        typer.echo(
            "labeled as: " + ", ".join(f"{name} {n}" for name, n in report.predicted.items())
        )
    if report.cv_recall:
        typer.echo(
            "cross-validated recall: "
            + ", ".join(f"{name} {value:.2f}" for name, value in report.cv_recall.items())
        )
    for note in report.notes:
        typer.echo(f"note: {note}")
    for warning in report.warnings:
        typer.echo(f"WARNING: {warning}", err=True)


@scenario_app.command("review")
@friendly_errors
def scenario_review(
    context: typer.Context,
    name: Annotated[str, typer.Argument(help="Scenario name.")],
    limit: Annotated[int | None, typer.Option(help="How many items.")] = None,
    wanted: Annotated[
        str | None,
        typer.Option(
            "--class",
            help="Items the model thinks are this class first (a class short of examples).",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Items whose answer would help most: uncertain first, model disagreements before all."""
    with open_workspace(context) as workspace:
        items = workspace.scenarios.review_queue(name, limit, wanted=wanted)
    if as_json:
        rows = [
            {
                "item": i.item,
                "thumbnail": i.thumbnail_path,
                "label": i.label,
                "confidence": round(i.confidence, 4),
                "margin": round(i.margin, 4),
                "zero_shot_label": i.zero_shot_label,
                "disagree": i.disagree,
                "priority": round(i.priority, 4),
                "false_positive": i.false_positive,
            }
            for i in items
        ]
        typer.echo(json.dumps(rows, indent=2))
        return
    if not items:
        typer.echo("nothing to review: every item is answered or none is indexed")
    for i in items:
        flag = f"  (zero-shot says {i.zero_shot_label})" if i.disagree else ""
        if i.false_positive:
            flag += "  (inside a corrected event)"
        typer.echo(
            f"{i.item:<16} {i.label:<20} p={i.confidence:.2f} margin={i.margin:.2f}  "
            f"{i.thumbnail_path}{flag}"
        )


@scenario_app.command("answer")
@friendly_errors
def scenario_answer(
    context: typer.Context,
    name: Annotated[str, typer.Argument(help="Scenario name.")],
    item: Annotated[str, typer.Argument(help="'frame:ID' or 'object:ID'.")],
    label: Annotated[str, typer.Argument(help="The right class.")],
    annotator: Annotated[str | None, typer.Option(help="Who answers.")] = None,
) -> None:
    """Store a person's label for an item; it overrides the machine and teaches the model."""
    with open_workspace(context) as workspace:
        workspace.answer(name, item, label, annotator=annotator)
    typer.echo(f"{item} is {label!r} in {name!r}")


@scenario_app.command("feedback")
@friendly_errors
def scenario_feedback(
    context: typer.Context,
    name: Annotated[str, typer.Argument(help="Scenario name.")],
    item: Annotated[str, typer.Argument(help="A search hit: 'frame:ID' or 'object:ID'.")],
    label: Annotated[str, typer.Argument(help="The class it really shows.")],
    annotator: Annotated[str, typer.Option(help="Who gives the verdict.")] = "feedback",
) -> None:
    """'Label this as ...' on a search hit: a label with its provenance (origin: search).

    Like ``answer``, it overrides the machine for the next distillation; it is also
    recorded as feedback, as corrected events are (``vigil events feedback``).
    """
    with open_workspace(context) as workspace:
        stored = workspace.runtime.label_hit(name, item, label, annotator=annotator)
    typer.echo(f"{stored.item} labeled {stored.label!r} in {stored.scenario!r} (from a search hit)")


@scenario_app.command("export-labels")
@friendly_errors
def scenario_export_labels(
    context: typer.Context,
    name: Annotated[str, typer.Argument(help="Scenario name.")],
    output: Annotated[
        Path,
        typer.Option(
            "--output", "-o", help="File (csv; coco may name its .json) or folder (the others)."
        ),
    ],
    format: Annotated[
        str,
        typer.Option(
            "--format",
            "-f",
            help="csv; coco or yolo (object scenarios); classification (a folder per class).",
        ),
    ] = "csv",
    version: Annotated[int | None, typer.Option(help="Version (default: newest).")] = None,
) -> None:
    """Export labels (human labels override machine labels); anomaly scenarios: CSV with scores."""
    with open_workspace(context) as workspace:
        is_anomaly = workspace.get_scenario(name, version).spec.kind == "anomaly"
    if is_anomaly:
        path = export_anomaly_labels(context, name, output, format, version)
        typer.echo(f"wrote {path}")
        return
    with open_workspace(context) as workspace:
        path = workspace.export_labels(name, format, output, version=version)
    typer.echo(f"wrote {path}")


@friendly_errors
def eval_scenario(
    context: typer.Context,
    shots: Annotated[
        list[int] | None, typer.Option("--shots", help="k values (repeat; default 1 2 4 8 16).")
    ] = None,
    draws: Annotated[int, typer.Option(help="Random draws of the shots per k.")] = 5,
    pool_per_class: Annotated[
        int, typer.Option(help="Train-split pool per class the shots come from.")
    ] = 32,
    test_per_class: Annotated[int, typer.Option(help="Test-split images per class.")] = 100,
    plot: Annotated[
        Path | None, typer.Option(help="PNG plot path (default: HOME/eval/scenario-few-shot.png).")
    ] = None,
    classes: Annotated[
        list[str] | None,
        typer.Option("--class", help="Only these Fashion-MNIST classes (repeat; at least two)."),
    ] = None,
) -> None:
    """Zero-shot vs k-shot accuracy, macro-F1 and per-class recall on real Fashion-MNIST.

    Mean ± std over draws, beside a raw-pixel logistic-regression baseline on the same shots.
    """
    from vigil.scenarios.evaluate import DEFAULT_SHOTS, evaluate_few_shot, format_table, plot_result

    with open_workspace(context) as workspace:
        result = evaluate_few_shot(
            workspace.embedder,
            shots=tuple(shots) if shots else DEFAULT_SHOTS,
            draws=draws,
            pool_per_class=pool_per_class,
            test_per_class=test_per_class,
            cache_dir=workspace.home / "cache",
            classes=tuple(classes or ()),
            on_step=lambda message: typer.echo(message, err=True),
        )
        target = plot or workspace.home / "eval" / "scenario-few-shot.png"
    typer.echo(format_table(result))
    typer.echo(f"plot: {plot_result(result, target)}")
