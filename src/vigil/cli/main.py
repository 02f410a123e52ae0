"""The ``vigil`` command line: a thin noun-verb layer over ``vigil.workspace.Workspace``.

Library errors become one line on stderr and a non-zero exit status; nothing
here holds logic that the REST API would also need.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from tqdm import tqdm

from vigil.cli.common import (
    friendly_errors,
    id_or_name,
    open_workspace,
    print_table,
)
from vigil.errors import InvalidInputError
from vigil.settings import DEVICE_PATTERN, Settings
from vigil.sources.types import SourceKind
from vigil.structure.indexing import IndexProgress

app = typer.Typer(
    help="Vigil: turn idle camera video into searchable, structured data.", no_args_is_help=True
)
source_app = typer.Typer(
    help="Register, list and remove cameras and archives.", no_args_is_help=True
)
embedders_app = typer.Typer(
    help="The big image-text models (embedders) Vigil can use; distilled ones: 'vigil model'.",
    no_args_is_help=True,
)
app.add_typer(source_app, name="source")
app.add_typer(embedders_app, name="embedders")
# The old name, one letter from 'vigil model' (distilled models): kept so scripts still run.
app.add_typer(embedders_app, name="models", hidden=True)


@app.callback()
def configure(
    context: typer.Context,
    home: Annotated[
        Path | None, typer.Option(help="Workspace folder (default: $VIGIL_HOME or ./vigil-data).")
    ] = None,
    database_url: Annotated[
        str | None, typer.Option(help="SQLAlchemy URL of the catalog (default: SQLite in home).")
    ] = None,
    embedder: Annotated[str | None, typer.Option(help="Embedder name, or 'auto'.")] = None,
    clip_model: Annotated[
        str | None, typer.Option(help="Local folder or hub name of a CLIP/SigLIP checkpoint.")
    ] = None,
    device: Annotated[
        str | None,
        typer.Option(
            help="Where torch runs for every stage: 'auto', 'cpu', 'cuda' or 'cuda:N' "
            "(default: $VIGIL_DEVICE or auto)."
        ),
    ] = None,
    read_only: Annotated[
        bool,
        typer.Option(
            "--read-only",
            help="Open the workspace read-only (chosen by itself when home cannot be written).",
        ),
    ] = False,
) -> None:
    overrides: dict[str, Any] = {}
    if read_only:
        overrides["read_only"] = True
    if home is not None:
        overrides["home"] = home
    if database_url is not None:
        overrides["database_url"] = database_url
    if device is not None:
        if not re.match(DEVICE_PATTERN, device):
            raise typer.BadParameter(
                f"expected 'auto', 'cpu', 'cuda' or 'cuda:N', got {device!r}", param_hint="--device"
            )
        overrides["device"] = device
    settings = Settings(**overrides)
    model_overrides = {
        key: value
        for key, value in {"name": embedder, "clip_model": clip_model, "device": device}.items()
        if value is not None
    }
    if model_overrides:
        settings = settings.model_copy(
            update={"embedder": settings.embedder.model_copy(update=model_overrides)}
        )
    context.obj = settings


def _parse_metadata(pairs: list[str]) -> dict[str, str]:
    metadata = {}
    for pair in pairs:
        key, separator, value = pair.partition("=")
        if not separator or not key:
            raise InvalidInputError(f"metadata must be KEY=VALUE, got {pair!r}")
        metadata[key] = value
    return metadata


@source_app.command("add")
@friendly_errors
def source_add(
    context: typer.Context,
    location: Annotated[
        str, typer.Argument(help="Video file, image folder, or rtsp/http stream URL.")
    ],
    name: Annotated[
        str | None, typer.Option(help="Unique name (default: from the location).")
    ] = None,
    kind: Annotated[SourceKind | None, typer.Option(help="Override the detected kind.")] = None,
    site: Annotated[str | None, typer.Option(help="Site the camera belongs to.")] = None,
    position: Annotated[str | None, typer.Option(help="Where the camera is at the site.")] = None,
    meta: Annotated[
        list[str] | None, typer.Option(help="Extra KEY=VALUE metadata (repeatable).")
    ] = None,
    check: Annotated[bool, typer.Option(help="Open the source before registering it.")] = True,
) -> None:
    """Register a camera or archive."""
    with open_workspace(context) as workspace:
        source = workspace.add_source(
            location,
            name=name,
            kind=kind,
            site=site,
            position=position,
            metadata=_parse_metadata(meta or []),
            check=check,
        )
    typer.echo(f"added source {source.id} {source.name!r} ({source.kind}) {source.location}")


@source_app.command("list")
@friendly_errors
def source_list(
    context: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List registered sources."""
    with open_workspace(context) as workspace:
        sources = workspace.list_sources()
    if as_json:
        rows = [
            {
                "id": s.id,
                "name": s.name,
                "kind": str(s.kind),
                "location": s.location,
                "site": s.site,
                "position": s.position,
                "metadata": s.metadata,
            }
            for s in sources
        ]
        typer.echo(json.dumps(rows, indent=2))
        return
    if not sources:
        typer.echo("no sources yet: add one with 'vigil source add LOCATION'")
        return
    print_table(
        ("id", "name", "kind", "site", "position", "location"),
        [(s.id, s.name, s.kind, s.site, s.position, s.location) for s in sources],
    )


@source_app.command("remove")
@friendly_errors
def source_remove(
    context: typer.Context,
    source: Annotated[str, typer.Argument(help="Source id or name.")],
) -> None:
    """Forget a source and everything indexed from it."""
    with open_workspace(context) as workspace:
        removed = workspace.remove_source(id_or_name(source))
    typer.echo(f"removed source {removed.id} {removed.name!r}")


@app.command("index")
@friendly_errors
def index(
    context: typer.Context,
    sources: Annotated[
        list[str] | None,
        typer.Argument(help="Source ids or names (default: all files and folders)."),
    ] = None,
    interval: Annotated[float | None, typer.Option(help="Seconds between sampled frames.")] = None,
    dedup: Annotated[
        float | None, typer.Option(help="Scene-change threshold 0..1 (0 keeps all).")
    ] = None,
    max_frames: Annotated[int | None, typer.Option(help="Stop after this many new frames.")] = None,
    max_seconds: Annotated[
        float | None, typer.Option(help="Stop after this many seconds (streams).")
    ] = None,
    ray: Annotated[
        str | None,
        typer.Option(
            "--ray",
            metavar="ADDRESS",
            help="Run on a Ray cluster: HOST:PORT of its head, 'auto' or 'local' (docs/ray.md).",
        ),
    ] = None,
    objects: Annotated[
        bool,
        typer.Option(
            "--objects", help="Also detect, crop and embed objects (people, vehicles...)."
        ),
    ] = False,
    wait: Annotated[
        float,
        typer.Option(
            "--wait",
            metavar="SECONDS",
            min=0,
            help="Wait this long for a source another process is indexing (default: refuse).",
        ),
    ] = 0.0,
) -> None:
    """Sample, embed and store frames; resumes where an earlier run stopped."""
    settings = context.obj
    assert isinstance(settings, Settings)
    sampling_update: dict[str, float] = {}
    if interval is not None:
        sampling_update["interval_s"] = interval
    if dedup is not None:
        sampling_update["dedup_threshold"] = dedup
    if sampling_update:
        context.obj = settings.model_copy(
            update={"sampling": settings.sampling.model_copy(update=sampling_update)}
        )
    if ray is not None:  # -- scale (Ray) --
        with open_workspace(context) as workspace:
            ray_report = workspace.index_on_ray([id_or_name(s) for s in sources or []], address=ray)
        typer.echo(
            f"ray {ray_report.address}: {ray_report.frames_written} new frames "
            f"({ray_report.frames_already_indexed} already indexed) from {ray_report.shards} "
            f"shards on {ray_report.cluster_cpus} CPUs in {ray_report.seconds:.1f}s, "
            f"{ray_report.frames_per_second:.1f} frames/s"
        )
        for error in ray_report.errors:
            typer.echo(f"  warning: {error}", err=True)
        if ray_report.errors:
            raise typer.Exit(1)
        return
    bars: dict[int, tqdm[Any]] = {}

    def show(progress: IndexProgress) -> None:
        bar = bars.get(progress.source.id)
        if bar is None:
            total = round(progress.duration, 1) if progress.duration else None
            bar = tqdm(
                total=total,
                desc=progress.source.name,
                file=sys.stderr,
                # n is media seconds set from the progress snapshot: a rate column would lie.
                bar_format="{l_bar}{bar}| {n:.0f}/{total_fmt} s of media [{elapsed}] {postfix}",
            )
            bars[progress.source.id] = bar
        bar.n = min(round(progress.media_time, 1), bar.total or progress.media_time)
        bar.set_postfix(frames=progress.frames_written, refresh=False)
        bar.refresh()

    with open_workspace(context) as workspace:
        typer.echo(f"embedder: {workspace.embedder.describe()}", err=True)
        reports = workspace.index(
            [id_or_name(s) for s in sources or []],
            max_frames=max_frames,
            max_seconds=max_seconds,
            on_progress=show,
            lock_wait_s=wait,
            objects=objects,  # objects found in the same pass: one decode per frame
        )
        for bar in bars.values():
            bar.close()
    for report in reports:
        resumed = (
            f", resumed at {report.resumed_from:.1f}s" if report.resumed_from is not None else ""
        )
        state = "complete" if report.complete else "incomplete"
        typer.echo(
            f"{report.source.name}: {report.frames_written} new frames "
            f"({report.frames_already_indexed} already indexed{resumed}) in {report.seconds:.1f}s, "
            f"{report.frames_per_second:.1f} frames/s, {state}"
        )
        if report.reconnects:
            typer.echo(
                f"  stream: reconnects={report.reconnects} corrupt={report.corrupt_frames} "
                f"last error={report.last_error}",
                err=True,
            )
        for error in report.errors:
            typer.echo(f"  warning: {error}", err=True)
        if report.objects is not None:  # -- objects --
            found = ", ".join(
                f"{n} {label}" for label, n in sorted(report.objects.by_label.items())
            )
            typer.echo(
                f"  objects: {report.objects.objects_stored} from "
                f"{report.objects.frames_scanned} frames ({found or 'none'}) in "
                f"{report.objects.seconds:.1f}s"
            )


@embedders_app.command("list")
@friendly_errors
def embedders_list(context: typer.Context) -> None:
    """Show registered embedders, whether each can load here, and which 'auto' picks."""
    from vigil.embedders.base import embedder_entries

    settings = context.obj
    assert isinstance(settings, Settings)
    chosen = None
    rows = []
    for entry in embedder_entries():
        available = entry.is_available(settings.embedder)
        if chosen is None and entry.priority > 0 and available:
            chosen = entry.name
        rows.append((entry.name, "yes" if available else "no", entry.priority, entry.summary))
    print_table(("name", "available", "priority", "what"), rows)
    typer.echo(f"auto picks: {chosen or 'nothing (install the bundled models: make setup)'}")


# -- search, image search, more-like-this, cross-camera matching (vigil.cli.search) ---
from vigil.cli.search import match, search  # noqa: E402  (needs friendly_errors above)

app.command("search")(search)
app.command("match")(match)


# -- REST API and console (vigil.cli.serve) ---
from vigil.cli.serve import keys_app, serve  # noqa: E402

app.command("serve")(serve)
app.add_typer(keys_app, name="api-key")


# -- scenarios (vigil.cli.scenarios) ---
from vigil.cli.scenarios import scenario_app  # noqa: E402  (needs friendly_errors above)

app.add_typer(scenario_app, name="scenario")


# -- runtime (vigil.cli.runtime) ---
from vigil.cli.runtime import events_app, run, webhook_app  # noqa: E402

app.command("run")(run)
app.add_typer(events_app, name="events")
app.add_typer(webhook_app, name="webhook")


# -- model factory (vigil.cli.models) ---
from vigil.cli.models import distill, model_app  # noqa: E402

app.command("distill")(distill)
app.add_typer(model_app, name="model")


# -- clusters and evaluation (vigil.cli.clusters, vigil.cli.evaluate) ---
from vigil.cli.anomaly import eval_anomaly, scenario_export_edge, unusual  # noqa: E402
from vigil.cli.clusters import clusters  # noqa: E402
from vigil.cli.evaluate import eval_app  # noqa: E402
from vigil.cli.scenarios import eval_scenario  # noqa: E402

app.command("clusters")(clusters)
eval_app.command("scenario")(eval_scenario)
eval_app.command("anomaly")(eval_anomaly)
app.command("unusual")(unusual)
scenario_app.command("export-edge")(scenario_export_edge)


# -- tracks (vigil.cli.tracks) ---
from vigil.cli.tracks import eval_tracking, site_app, tracks_app  # noqa: E402

eval_app.command("tracking")(eval_tracking)
app.add_typer(tracks_app, name="tracks")
app.add_typer(site_app, name="site")
app.add_typer(eval_app, name="eval")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
