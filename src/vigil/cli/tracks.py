"""``vigil tracks ...`` (build, list, zones, watch, search, match), ``vigil eval tracking``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError

from vigil.cli.common import context_settings, friendly_errors, id_or_name, open_workspace
from vigil.errors import InvalidInputError
from vigil.tracks import TrackBuildReport
from vigil.tracks.zones import check_geometry, load_zones

tracks_app = typer.Typer(
    help="Follow objects from frame to frame: one record per person or vehicle.",
    no_args_is_help=True,
)

SourceArgument = Annotated[str, typer.Argument(help="Source id or name.")]


@tracks_app.command("build")
@friendly_errors
def tracks_build(
    context: typer.Context,
    sources: Annotated[
        list[str] | None,
        typer.Argument(help="Source ids or names (default: all files and folders)."),
    ] = None,
    rate: Annotated[float | None, typer.Option(help="Frames per second tracked.")] = None,
    max_seconds: Annotated[
        float | None, typer.Option(help="Track at most this many seconds of media now (resumable).")
    ] = None,
    restart: Annotated[
        bool, typer.Option("--restart", help="Delete the source's tracks and track again.")
    ] = False,
    wait: Annotated[
        float, typer.Option("--wait", help="Seconds to wait for another run on the source.")
    ] = 0.0,
) -> None:
    """Track objects through sources; resumes where an earlier run stopped."""
    settings = context_settings(context)
    if rate is not None:
        try:
            tracks = settings.tracks.model_validate(
                {**settings.tracks.model_dump(), "rate_fps": rate}
            )
        except ValidationError as error:
            raise InvalidInputError(f"--rate: {error.errors()[0]['msg']}") from None
        settings = settings.model_copy(update={"tracks": tracks})
    context.obj = settings

    def show(report: TrackBuildReport) -> None:
        typer.echo(
            f"\r{report.source.name}: {report.frames_tracked} frames, "
            f"{report.tracks_stored} tracks",
            nl=False,
            err=True,
        )

    with open_workspace(context) as workspace:
        reports = workspace.tracks.build(
            [id_or_name(s) for s in sources or []],
            max_seconds=max_seconds,
            restart=restart,
            lock_wait_s=wait,
            on_progress=show if sys.stderr.isatty() else None,
        )
    for report in reports:
        found = ", ".join(f"{n} {label}" for label, n in sorted(report.by_label.items()))
        state = "complete" if report.finished else "partial (run again to resume)"
        typer.echo(
            f"{report.source.name}: {report.tracks_stored} new tracks ({found or 'none'}) from "
            f"{report.frames_tracked} frames ({report.frames_reused} with reused detections) "
            f"from {report.resumed_from:.1f}s, {report.media_seconds:.1f}s of media in "
            f"{report.seconds:.1f}s; {report.tracks_dropped} too short; "
            f"{report.resets} cuts; {state}"
        )


@tracks_app.command("list")
@friendly_errors
def tracks_list(
    context: typer.Context,
    source: SourceArgument,
    label: Annotated[str | None, typer.Option("--class", help="Only this COCO class.")] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", help="How many tracks.")] = 50,
    plot: Annotated[
        Path | None,
        typer.Option(help="Also write heatmap, trajectories and counts over time to this PNG."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Tracks of a source in time order (class, times, motion, colours)."""
    with open_workspace(context) as workspace:
        found = workspace.get_source(id_or_name(source))
        tracks = workspace.tracks.of(found.id, label=label)
        if plot is not None:
            workspace.tracks.plot(found.id, plot)
    shown = tracks[:limit]
    if as_json:
        typer.echo(
            json.dumps({"source": found.name, "tracks": [t.to_dict() for t in shown]}, indent=2)
        )
    else:
        if not tracks:
            typer.echo(f"no tracks on {found.name} ('vigil tracks build {found.name}' first?)")
        for t in shown:
            heading = f"{t.direction_deg:5.0f}deg" if t.direction_deg is not None else "  still"
            typer.echo(
                f"{t.id:>6}  {t.label:<10} {t.first_media_time:7.1f}-{t.last_media_time:7.1f}s "
                f"{t.observations:>4} obs  {t.speed_px_s:6.1f}px/s {heading}  "
                f"{t.colours.get('upper', '?')}/{t.colours.get('lower', '?')}"
            )
        if len(tracks) > limit:
            typer.echo(f"... {len(tracks) - limit} more (--limit)")
    if plot is not None:
        typer.echo(f"plot: {plot}", err=True)


@tracks_app.command("zones")
@friendly_errors
def tracks_zones(
    context: typer.Context,
    source: SourceArgument,
    zones: Annotated[
        Path | None,
        typer.Option(
            "--zones", help="YAML file of zones and lines (default: the source's stored zones)."
        ),
    ] = None,
    save: Annotated[
        bool, typer.Option("--save", help="Keep the file's zones as the source's zones.")
    ] = False,
    webhook: Annotated[
        list[str] | None, typer.Option(help="Webhook URL events are POSTed to (repeatable).")
    ] = None,
    plot: Annotated[Path | None, typer.Option(help="Also draw the zones on a PNG.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Counts in/out, dwell, loitering, intrusion and line crossings over a source's tracks.

    Loitering, intrusion and crossings are stored as events (``vigil events list``)
    with their alerts queued and delivered like those of ``vigil run``.
    """
    zone_set = load_zones(zones) if zones is not None else None
    if zone_set is not None and zone_set.frame_wh is not None:
        check_geometry(zone_set, *zone_set.frame_wh)  # a bad file fails before any work
    if save and zone_set is None:
        raise InvalidInputError("--save needs --zones FILE")
    settings = context_settings(context)
    if webhook:
        settings = settings.model_copy(
            update={"runtime": settings.runtime.model_copy(update={"webhooks": list(webhook)})}
        )
    context.obj = settings
    with open_workspace(context) as workspace:
        if save and zone_set is not None:
            zone_set = workspace.tracks.save_zones(id_or_name(source), zone_set)
        report = workspace.tracks.zones(id_or_name(source), zone_set)
        if plot is not None:
            workspace.tracks.plot(id_or_name(source), plot, zones=zone_set)
    if as_json:
        typer.echo(json.dumps(report.to_dict(), indent=2))
        return
    for stats in report.areas.values():
        row = stats.to_dict()
        if stats.kind == "zone":
            typer.echo(
                f"zone {stats.name}: {row['entries']} in, {row['exits']} out, {row['visits']} "
                f"visits, dwell mean {row['mean_dwell_s']}s max {row['max_dwell_s']}s"
            )
        else:
            typer.echo(
                f"line {stats.name}: {stats.crossings['left_to_right']} left-to-right, "
                f"{stats.crossings['right_to_left']} right-to-left"
            )
    if report.skipped_tracks:
        typer.echo(
            f"warning: {report.skipped_tracks} tracks recorded at another frame size were skipped",
            err=True,
        )
    typer.echo(
        f"events: {report.events_stored} new, {report.events_known} already stored "
        "('vigil events list --source ...')"
    )


@tracks_app.command("watch")
@friendly_errors
def tracks_watch(
    context: typer.Context,
    source: SourceArgument,
    zones: Annotated[Path, typer.Option("--zones", help="YAML file of zones and lines.")],
    max_seconds: Annotated[
        float | None,
        typer.Option(
            "--max-seconds", min=0.1, help="Stop after this long (a live stream: wall seconds)."
        ),
    ] = None,
    webhook: Annotated[
        list[str] | None, typer.Option(help="Webhook URL events are POSTed to (repeatable).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Track a source and raise zone events as they happen: intrusion on entry, loitering
    once a visit passes its bound, line crossings on the crossing frame.

    For live cameras; stop with Ctrl-C or ``--max-seconds`` (a later run resumes).
    Events carry the frame with the zone and the box drawn.
    """
    zone_set = load_zones(zones)
    if zone_set.frame_wh is not None:
        check_geometry(zone_set, *zone_set.frame_wh)  # a bad file fails before any work
    settings = context_settings(context)
    if webhook:
        settings = settings.model_copy(
            update={"runtime": settings.runtime.model_copy(update={"webhooks": list(webhook)})}
        )
    context.obj = settings
    with open_workspace(context) as workspace:
        tracked, live = workspace.tracks.watch(
            id_or_name(source), zone_set, max_seconds=max_seconds
        )
    if as_json:
        typer.echo(json.dumps({"tracks_stored": tracked.tracks_stored, **live.to_dict()}, indent=2))
        return
    for area, counts in live.counts.items():
        typer.echo(
            f"{area.replace(':', ' ', 1)}: " + ", ".join(f"{n} {k}" for k, n in counts.items())
        )
    typer.echo(
        f"events: {live.events_stored} new, {live.events_known} already stored; "
        f"{tracked.tracks_stored} tracks stored ('vigil events list --source ...')"
    )


@tracks_app.command("search")
@friendly_errors
def tracks_search(
    context: typer.Context,
    query: Annotated[str, typer.Argument(help="What to look for, in plain words.")],
    limit: Annotated[int, typer.Option("--limit", "-n", help="How many tracks.")] = 10,
    source: Annotated[
        list[str] | None, typer.Option("--source", help="Only these sources (repeatable).")
    ] = None,
    label: Annotated[str | None, typer.Option("--class", help="Only this COCO class.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Tracks ranked for words: one result per tracked object, not one per frame."""
    with open_workspace(context) as workspace:
        hits = workspace.tracks.search(
            query,
            limit=limit,
            sources=[id_or_name(s) for s in source] if source else None,
            label=label,
        )
    _print_hits(hits, as_json, {"query": query})


@tracks_app.command("match")
@friendly_errors
def tracks_match(
    context: typer.Context,
    track_id: Annotated[int, typer.Argument(help="The track to find on other cameras.")],
    limit: Annotated[int, typer.Option("--limit", "-n", help="How many candidates.")] = 10,
    same_source: Annotated[
        bool, typer.Option("--same-source", help="Also look on the track's own source.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Tracks of the same class that look alike (vector + colours), other sources first."""
    with open_workspace(context) as workspace:
        hits = workspace.tracks.match(track_id, limit=limit, other_sources=not same_source)
    _print_hits(hits, as_json, {"track_id": track_id})


def _print_hits(hits: list, as_json: bool, head: dict[str, object]) -> None:  # type: ignore[type-arg]
    if as_json:
        typer.echo(json.dumps({**head, "hits": [h.to_dict() for h in hits]}, indent=2))
        return
    if not hits:
        typer.echo("no tracks match ('vigil tracks build' on the sources first?)")
    for hit in hits:
        typer.echo(hit.describe())


@friendly_errors
def eval_tracking(
    context: typer.Context,
    sequence: Annotated[
        list[str] | None,
        typer.Option(
            help="TUD-Campus, TUD-Stadtmitte (derived detections) or vtest (real detector); "
            "default: all three."
        ),
    ] = None,
    tracker: Annotated[
        str | None, typer.Option(help="Tracker backend (default: settings).")
    ] = None,
    video: Annotated[
        Path | None,
        typer.Option(help="vtest.avi (default: shared/data/vtest.avi beside the repo)."),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the derived TUD detections.")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """MOTA, IDF1 and ID switches on real annotated pedestrian sequences (motmetrics)."""
    from vigil.tracks.evaluate import (
        TUD_SEQUENCES,
        TrackingScores,
        evaluate_tud,
        evaluate_vtest,
    )

    settings = context_settings(context)
    name = tracker or settings.tracks.tracker
    chosen = sequence or [*TUD_SEQUENCES, "vtest"]
    results: list[TrackingScores] = []
    for item in chosen:
        if item in TUD_SEQUENCES:
            results.append(evaluate_tud(item, tracker=name, seed=seed))
        elif item == "vtest":
            path = video or Path(__file__).resolve().parents[3].parent / "shared/data/vtest.avi"
            with open_workspace(context) as workspace:
                results.append(
                    evaluate_vtest(path, workspace.detector, settings.tracks, tracker=name)
                )
        else:
            raise InvalidInputError(
                f"unknown sequence {item!r}; choose {', '.join([*TUD_SEQUENCES, 'vtest'])}"
            )
    if as_json:
        typer.echo(json.dumps([r.to_dict() for r in results], indent=2))
        return
    typer.echo(
        f"{'sequence':<16} {'tracker':<10} {'frames':>6} {'gt':>3} {'MOTA':>6} {'IDF1':>6} "
        f"{'IDsw':>4} {'recall':>6} {'prec':>6}"
    )
    for r in results:
        typer.echo(
            f"{r.sequence:<16} {r.tracker:<10} {r.frames:>6} {r.ground_truth_tracks:>3} "
            f"{r.mota:6.3f} {r.idf1:6.3f} {r.id_switches:>4} {r.recall:6.3f} {r.precision:6.3f}"
        )
    for r in results:
        typer.echo(f"  {r.sequence}: detections {r.detections}")


site_app = typer.Typer(
    help="A site's floor plan or map with each camera placed on it, and what crosses between.",
    no_args_is_help=True,
)


@site_app.command("plan")
@friendly_errors
def site_plan(
    context: typer.Context,
    image: Annotated[Path, typer.Argument(help="The plan image (JPEG/PNG).")],
    name: Annotated[str, typer.Option("--name", help="The plan's name.")] = "site",
) -> None:
    """Store (or replace) a site's plan image; cameras already placed stay where they are."""
    with open_workspace(context) as workspace:
        plan = workspace.tracks.set_plan(name, image)
    typer.echo(
        f"plan {plan.name}: {plan.width}x{plan.height} pixels, {len(plan.placements)} cameras"
    )


@site_app.command("place")
@friendly_errors
def site_place(
    context: typer.Context,
    source: SourceArgument,
    x: Annotated[float, typer.Option("--x", help="Plan pixels from the left.")],
    y: Annotated[float, typer.Option("--y", help="Plan pixels from the top.")],
    direction: Annotated[
        float, typer.Option("--direction", help="Where it looks, degrees (0 = right, 90 = down).")
    ] = 0.0,
    plan: Annotated[str, typer.Option("--plan", help="The plan's name.")] = "site",
) -> None:
    """Put a source's camera on the plan."""
    with open_workspace(context) as workspace:
        found = workspace.tracks.place(plan, id_or_name(source), x, y, direction)
    typer.echo(f"plan {found.name}: {len(found.placements)} cameras placed")


@site_app.command("show")
@friendly_errors
def site_show(
    context: typer.Context,
    plan: Annotated[str, typer.Argument(help="The plan's name.")] = "site",
    min_score: Annotated[
        float, typer.Option(help="Match score a handover needs (0-1].", min=0.01, max=1.0)
    ] = 0.8,
    window_s: Annotated[
        float, typer.Option(help="Longest gap between cameras, seconds (capture times).", min=1)
    ] = 300.0,
    plot: Annotated[Path | None, typer.Option(help="Draw the plan to this PNG.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Cameras on the plan with their track counts, and tracks handed over between them."""
    with open_workspace(context) as workspace:
        view = workspace.tracks.site(plan, min_score=min_score, window_s=window_s)
        if plot is not None:
            workspace.tracks.plot_site(view, plot)
    data = view.to_dict()
    if as_json:
        typer.echo(json.dumps(data, indent=2))
        return
    for camera in data["cameras"]:
        counts = ", ".join(f"{n} {label}" for label, n in sorted(camera["tracks"].items()))
        typer.echo(
            f"{camera['source']} at ({camera['x']:g}, {camera['y']:g}) looking "
            f"{camera['direction_deg']:g} deg: {counts or 'no tracks'}"
        )
    for link in data["links"]:
        a, b = (view.names.get(s, str(s)) for s in link["sources"])
        order = "" if link["ordered"] else " (no capture times: order not checked)"
        typer.echo(
            f"{a} <-> {b}: {link['handovers']} handovers, mean score {link['mean_score']}{order}"
        )
    if plot is not None:
        typer.echo(f"plot: {plot}", err=True)
