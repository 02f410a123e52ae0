"""``vigil eval``: measure Vigil on real labelled data (a plain typer app other areas add to)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from vigil.cli.common import friendly_errors, print_table
from vigil.errors import InvalidInputError
from vigil.evaluation.retrieval import KS, RetrievalReport
from vigil.settings import Settings
from vigil.workspace import Workspace

eval_app = typer.Typer(
    help="Measure retrieval and scenario quality on real data.", no_args_is_help=True
)


@eval_app.command("retrieval")
@friendly_errors
def eval_retrieval(
    context: typer.Context,
    dataset: Annotated[str, typer.Option(help="Labelled data set.")] = "fashion-mnist",
    per_class: Annotated[
        int, typer.Option(help="Test images drawn per class (class-balanced, seeded).")
    ] = 50,
    seed: Annotated[int, typer.Option(help="Seed of the subset draw.")] = 0,
    model: Annotated[
        str | None, typer.Option(help="Embedder name (default: the workspace's).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    output: Annotated[Path | None, typer.Option(help="Also write the JSON report here.")] = None,
) -> None:
    """Recall@1/5/10, precision@k and mAP for text->image and image->image retrieval."""
    settings = context.obj
    assert isinstance(settings, Settings)
    if model is not None:
        settings = settings.model_copy(
            update={"embedder": settings.embedder.model_copy(update={"name": model})}
        )
    if per_class < 2:  # checked here too: before minutes of model loading, not after
        raise InvalidInputError(
            f"per_class must be >= 2 (image->image needs a pair), got {per_class}"
        )

    def progress(step: str, done: int, total: int) -> None:
        # On stderr, so that --json output stays one JSON document on stdout.
        counter = f" {done}/{total}" if total > 1 else ""
        typer.echo(f"{step}{counter}", err=True)

    with Workspace.open(settings) as workspace:
        typer.echo(f"loading the {workspace.settings.embedder.name} embedder", err=True)
        _ = workspace.embedder
        report = workspace.evaluate_retrieval(
            dataset=dataset, per_class=per_class, seed=seed, on_progress=progress
        )
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(report.to_json() + "\n")
    if as_json:
        typer.echo(report.to_json())
        return
    print_retrieval(report)
    if not any(task.published for task in report.tasks):
        typer.echo(
            f"published: no verified figures for {report.model_id} on {report.dataset} "
            "(the CLIP paper reports zero-shot classification accuracy, not these metrics, "
            "and not on Fashion-MNIST)"
        )
    source = "cache" if report.cached else f"embedded in {report.embed_seconds:.1f}s"
    typer.echo(f"{report.images} images ({source}); prompts: {' | '.join(report.prompt_templates)}")


def print_retrieval(report: RetrievalReport) -> None:
    """One row per task and metric, with the published figure where one is verified; in
    the one table style of the CLI's list commands."""
    typer.echo(
        f"Retrieval: {report.model_id} on {report.dataset} "
        f"({report.per_class}/class, seed {report.seed}, {report.images} images)"
    )
    rows: list[list[object]] = []
    for task in report.tasks:
        metrics = [(f"recall@{k}", task.recall[k]) for k in KS if k in task.recall]
        metrics += [(f"precision@{k}", task.precision[k]) for k in KS if k in task.precision]
        metrics.append(("mAP", task.map))
        for name, value in metrics:
            published = task.published.get(name)
            rows.append(
                [
                    task.task,
                    task.queries,
                    name,
                    f"{value:.3f}",
                    f"{published[0]:.3f} ({published[1]})" if published else "-",
                ]
            )
    print_table(["task", "queries", "metric", "measured", "published"], rows)
