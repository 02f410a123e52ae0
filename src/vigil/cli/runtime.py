"""``vigil run``, ``vigil events list|show``, ``vigil webhook secret``: models on streams.

Thin: ``run`` builds a ``Runner`` through the workspace and prints per-source
health every few seconds; ``events`` reads the event store.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from vigil.catalog.types import EventQuery
from vigil.cli.common import context_settings, friendly_errors, print_table
from vigil.errors import InvalidInputError
from vigil.runtime.alerts import SECRET_PREFIX, workspace_webhook_secret
from vigil.runtime.swap import Swap
from vigil.runtime.types import SourceHealth
from vigil.workspace import Workspace

events_app = typer.Typer(help="List and inspect events found by 'vigil run'.", no_args_is_help=True)
webhook_app = typer.Typer(
    help="Webhook signing: every webhook is signed (Standard Webhooks headers).",
    no_args_is_help=True,
)


@webhook_app.command("secret")
@friendly_errors
def webhook_secret(context: typer.Context) -> None:
    """Print the workspace's webhook signing secret (made on first use), for receivers.

    Receivers verify with it, e.g. ``standardwebhooks.Webhook(secret).verify(body, headers)``.
    """
    settings = context_settings(context)
    configured = settings.runtime.webhook_secret or ""
    if configured.startswith(SECRET_PREFIX):
        typer.echo(configured)
        return
    home = Path(settings.home)
    home.mkdir(parents=True, exist_ok=True)
    typer.echo(workspace_webhook_secret(home))


def _workspace(context: typer.Context, **runtime: object) -> Workspace:
    settings = context_settings(context)
    updates = {key: value for key, value in runtime.items() if value is not None}
    if updates:
        merged = settings.runtime.model_validate({**settings.runtime.model_dump(), **updates})
        settings = settings.model_copy(update={"runtime": merged})
    return Workspace.open(settings)


def _print_health(rows: list[SourceHealth]) -> None:
    for row in rows:
        state = "connected" if row.connected else ("finished" if row.finished else "down")
        drift = f" drift_psi={row.drift_psi:.3f}" if row.drift_psi is not None else ""
        typer.echo(
            f"{row.source:<20} {state:<9} in={row.fps_in:5.1f}/s done={row.fps_processed:4.1f}/s "
            f"lag={row.lag_s:6.2f}s dropped={row.frames_dropped} corrupt={row.corrupt_frames} "
            f"reconnects={row.reconnects} open={row.events_open}{drift}"
            + (f" model={','.join(row.models)}" if row.models else "")
            + (f" error={row.last_error}" if row.last_error else "")
        )


def _print_swap(swap: Swap) -> None:
    typer.echo(swap.message)


@friendly_errors
def run(
    context: typer.Context,
    model: Annotated[
        list[str],
        typer.Option(help="ONNX file, 'scenario:NAME' (zero-shot) or registry id (repeatable)."),
    ],
    source: Annotated[list[str], typer.Option(help="Registered source id or name (repeatable).")],
    duration: Annotated[
        float | None, typer.Option(help="Stop after this many seconds (default: until Ctrl-C).")
    ] = None,
    rate: Annotated[float | None, typer.Option(help="Frames/s scored per source.")] = None,
    webhook: Annotated[
        list[str] | None, typer.Option(help="Webhook URL events are POSTed to (repeatable).")
    ] = None,
    mqtt: Annotated[
        list[str] | None,
        typer.Option(
            help="MQTT broker HOST[:PORT] events are published to, Frigate-style (repeatable)."
        ),
    ] = None,
    event_class: Annotated[
        list[str] | None,
        typer.Option(
            "--class",
            help="Only these classes raise events (default: the scenario's alert_classes, "
            "else all).",
        ),
    ] = None,
    threshold: Annotated[
        float | None,
        typer.Option(
            min=0.0,
            max=1.0,
            help="Score that starts an event (default: the scenario's alert_threshold, "
            "else runtime.on_threshold).",
        ),
    ] = None,
    pin: Annotated[
        bool,
        typer.Option(
            "--pin",
            help="Keep exactly the given registry models; do not swap to a newly promoted one.",
        ),
    ] = False,
    archive: Annotated[
        bool, typer.Option(help="Files as fast as possible, no frame dropped (not real time).")
    ] = False,
    health_every: Annotated[float, typer.Option(help="Seconds between health lines.")] = 5.0,
) -> None:
    """Run scenario models on sources; store events, send alerts, print health."""
    brokers = [b if b.startswith("mqtt://") else f"mqtt://{b}" for b in mqtt or []]
    with _workspace(
        context, rate_fps=rate, webhooks=webhook or None, mqtt_brokers=brokers or None
    ) as workspace:
        sources: list[int | str] = [int(s) if s.isdigit() else s for s in source]
        runner = workspace.runtime.runner(
            model,
            sources,
            classes=event_class,
            realtime=not archive,
            threshold=threshold,
            follow=not pin,
            on_swap=_print_swap,
        )
        if runner.interrupted:
            typer.echo(f"closed {len(runner.interrupted)} events left open by a stopped run")
        try:
            final = runner.run(duration, on_health=_print_health, health_every_s=health_every)
        except KeyboardInterrupt:
            final = runner.health()
        _print_health(final)


def _parse_time(value: str | None, option: str) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as error:
        raise InvalidInputError(f"{option} must be an ISO time, got {value!r}") from error
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@events_app.command("list")
@friendly_errors
def events_list(
    context: typer.Context,
    source: Annotated[str | None, typer.Option(help="Source id or name.")] = None,
    scenario: Annotated[str | None, typer.Option(help="Scenario name.")] = None,
    event_class: Annotated[str | None, typer.Option("--class", help="Class name.")] = None,
    since: Annotated[str | None, typer.Option(help="Started at or after (ISO, UTC).")] = None,
    until: Annotated[str | None, typer.Option(help="Started at or before (ISO, UTC).")] = None,
    status: Annotated[str | None, typer.Option(help="open, closed or interrupted.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many, newest first.")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """List events, newest first."""
    with _workspace(context) as workspace:
        query = EventQuery(
            source=int(source) if source and source.isdigit() else source,
            scenario=scenario,
            class_name=event_class,
            since=_parse_time(since, "--since"),
            until=_parse_time(until, "--until"),
            status=status,
            limit=limit,
        )
        found = workspace.runtime.events(query)
    if as_json:
        for event in found:
            typer.echo(json.dumps(event.to_dict()))
        return
    if not found:
        typer.echo("no events: 'vigil run --model ... --source ...' finds them")
        return
    print_table(
        ("id", "source", "scenario", "class", "started", "ended", "peak", "status"),
        [
            (
                e.id,
                e.source_name,
                e.scenario,
                e.class_name,
                e.started_at.isoformat(timespec="seconds"),
                e.ended_at.isoformat(timespec="seconds") if e.ended_at else None,
                f"{e.peak_score:.2f}",
                e.status,
            )
            for e in found
        ],
    )


@events_app.command("feedback")
@friendly_errors
def events_feedback(
    context: typer.Context,
    event_id: Annotated[int, typer.Argument(help="Event id.")],
    label: Annotated[
        str | None,
        typer.Option(help="The class the event really shows (a correction)."),
    ] = None,
    confirm: Annotated[
        bool, typer.Option("--confirm", help="The event's class was right.")
    ] = False,
    replace: Annotated[
        bool, typer.Option("--replace", help="Replace an earlier verdict on this event.")
    ] = False,
    annotator: Annotated[str, typer.Option(help="Who gives the verdict.")] = "feedback",
) -> None:
    """Confirm or correct an event; it becomes a label of its scenario for the next model."""
    if confirm == (label is not None):
        raise InvalidInputError("give exactly one of --confirm or --label CLASS")
    with _workspace(context) as workspace:
        stored = workspace.runtime.feedback(
            event_id, label=label, annotator=annotator, replace=replace
        )
    what = (
        f"corrected: {stored.predicted} -> {stored.label}"
        if stored.verdict == "corrected"
        else f"confirmed: {stored.label}"
    )
    typer.echo(
        f"event {event_id} {what}; {stored.item} labeled in scenario {stored.scenario!r} "
        f"(model {stored.model_version or stored.model_id})"
    )


@events_app.command("show")
@friendly_errors
def events_show(
    context: typer.Context, event_id: Annotated[int, typer.Argument(help="Event id.")]
) -> None:
    """One event with its evidence files and alert deliveries, as JSON."""
    with _workspace(context) as workspace:
        event = workspace.runtime.event(event_id)
        deliveries = workspace.runtime.deliveries(event_id)
        home = workspace.home
        feedback = workspace.runtime.feedback_of(event_id)
    shown = event.to_dict()
    shown["feedback"] = feedback.to_dict() if feedback is not None else None
    for key in ("thumbnail_path", "strip_path"):
        if shown[key]:
            shown[key] = str((home / shown[key]).resolve())
    shown["deliveries"] = [
        {
            "kind": d.kind,
            "target": d.target,
            "status": d.status,
            "attempts": d.attempts,
            "last_error": d.last_error,
        }
        for d in deliveries
    ]
    typer.echo(json.dumps(shown, indent=2))


__all__ = ["events_app", "run"]
