"""``vigil search`` (text, image or more-like-this, frames or objects, filters, pages) and
``vigil match`` (the same-looking object on other cameras, by time)."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from vigil.cli.common import friendly_errors, id_or_name, item_id
from vigil.errors import InvalidInputError
from vigil.search.trust import TrustedResult, Why
from vigil.search.types import SearchFilters, SearchHit, Target
from vigil.settings import Settings
from vigil.workspace import Workspace

SourceOption = Annotated[
    list[str] | None, typer.Option("--source", help="Only these source ids or names (repeatable).")
]
SiteOption = Annotated[
    list[str] | None, typer.Option("--site", help="Only sources at these sites (repeatable).")
]
SinceOption = Annotated[
    str | None,
    typer.Option("--since", help="Captured at or after, ISO 8601 with a zone (2026-11-23T08:00Z)."),
]
UntilOption = Annotated[
    str | None, typer.Option("--until", help="Captured at or before, ISO 8601 with a zone.")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def _time(name: str, text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError as error:
        raise InvalidInputError(
            f"{name} must be an ISO 8601 time with a zone such as 2026-11-23T08:00:00+00:00, "
            f"got {text!r}"
        ) from error


def _filters(
    workspace: Workspace,
    sources: list[str] | None,
    sites: list[str] | None,
    since: str | None,
    until: str | None,
    classes: list[str] | None = None,
    min_score: float | None = None,
) -> SearchFilters:
    return workspace.filters(
        sources=[id_or_name(s) for s in sources] if sources else None,
        sites=tuple(sites) if sites else None,
        since=_time("--since", since),
        until=_time("--until", until),
        classes=tuple(classes) if classes else None,
        min_detection_score=min_score,
    )


def _row(hit: SearchHit, home: Path) -> dict[str, Any]:
    row: dict[str, Any] = {
        "rank": hit.rank,
        "score": round(hit.score, 4),
        "source": hit.source.name,
        "source_id": hit.source.id,
        "frame_id": hit.frame.id,
        "media_time": hit.frame.media_time,
        "frame_index": hit.frame.frame_index,
        "captured_at": hit.frame.captured_at.isoformat() if hit.frame.captured_at else None,
        "thumbnail": str(home / hit.frame.thumbnail_path),
    }
    if hit.object is not None:
        row["object"] = {
            "id": hit.object.id,
            "label": hit.object.label,
            "score": round(hit.object.score, 4),
            "box": [round(v, 1) for v in hit.object.xyxy],
            "crop": str(home / hit.object.thumbnail_path),
        }
    return row


def _indexed(workspace: Workspace, target: Target) -> int:
    """How many frames (or objects) the search could have returned with no filters."""
    if target == Target.OBJECTS:
        return len(workspace.object_index)
    return len(workspace.vector_index)


def no_hits_reason(filters: SearchFilters, target: Target, indexed: int) -> str:
    """Why a search came back empty: nothing indexed, or the filters left nothing."""
    what = "objects" if target == Target.OBJECTS else "frames"
    if indexed == 0:
        first = "vigil index --objects" if target == Target.OBJECTS else "vigil index"
        return f"no hits: no {what} indexed yet ('{first}' first)"
    reasons = []
    if filters.since is not None or filters.until is not None:
        reasons.append(
            "--since/--until match capture times, and frames of video files have none "
            "(only image folders with EXIF times and live streams do)"
        )
    if filters.sources or filters.sites:
        reasons.append("--source/--site")
    if filters.classes or filters.min_detection_score is not None:
        reasons.append("--class/--min-score")
    if filters.min_similarity is not None:
        reasons.append("the minimum similarity")
    if not reasons:
        return f"no hits among {indexed} indexed {what} (past the last page?)"
    return f"no hits: {indexed} {what} are indexed, but the filters exclude them all: " + "; ".join(
        reasons
    )


@friendly_errors
def search(
    context: typer.Context,
    query: Annotated[
        str | None, typer.Argument(help="What to look for, in plain words (or use --image).")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", help="How many hits.")] = 10,
    offset: Annotated[int, typer.Option("--offset", help="Hits to skip (next pages).")] = 0,
    objects: Annotated[
        bool, typer.Option("--objects", help="Rank detected objects instead of whole frames.")
    ] = False,
    image: Annotated[
        Path | None, typer.Option("--image", help="Query by a picture instead of words.")
    ] = None,
    like_frame: Annotated[
        str | None,
        typer.Option("--like-frame", help="More like this indexed frame (frame:12 or 12)."),
    ] = None,
    like_object: Annotated[
        str | None,
        typer.Option("--like-object", help="More like this object (object:3 or 3)."),
    ] = None,
    source: SourceOption = None,
    site: SiteOption = None,
    since: SinceOption = None,
    until: UntilOption = None,
    class_name: Annotated[
        list[str] | None,
        typer.Option("--class", help="Objects of these COCO classes only (repeatable)."),
    ] = None,
    min_score: Annotated[
        float | None, typer.Option("--min-score", help="Minimum detector score of objects.")
    ] = None,
    sheet: Annotated[
        Path | None, typer.Option(help="Write a contact sheet image of the hits here.")
    ] = None,
    as_json: JsonOption = False,
    why: Annotated[
        bool,
        typer.Option("--why", help="Print under each hit what made its score (always in --json)."),
    ] = False,
    segments: Annotated[
        bool,
        typer.Option(
            "--segments",
            help="Merge consecutive hits on a source into events (start, end, best frame).",
        ),
    ] = False,
    tracks: Annotated[
        bool,
        typer.Option("--tracks", help="Rank tracks: one result per tracked object (words only)."),
    ] = False,
) -> None:
    """Find frames or objects that match words, a picture, or an indexed frame/object."""
    # Arguments are checked before anything loads: a typo costs milliseconds, not a model load.
    if query is not None and not query.strip():
        raise InvalidInputError("search query must not be empty")
    if image is not None and not image.is_file():
        raise InvalidInputError(f"cannot read the query image {image}: no such file")
    if class_name:  # an unknown class would match nothing, silently: say so instead
        from vigil.embedders.concept_bridge import load_coco_classes
        from vigil.names import did_you_mean

        known = sorted({coco.name for coco in load_coco_classes().values()})
        for name in class_name:
            if name not in known:
                raise InvalidInputError(
                    f"--class {name!r} is not a COCO class the detector knows"
                    f"{did_you_mean(name, known)}"
                )
    like_frame_id = item_id(like_frame, "frame") if like_frame is not None else None
    like_object_id = item_id(like_object, "object") if like_object is not None else None
    if tracks:  # -- tracks (vigil.cli.tracks) --
        if query is None or image is not None or like_frame or like_object or segments:
            raise InvalidInputError("--tracks takes a query in words only")
        if class_name and len(class_name) > 1:
            raise InvalidInputError("--tracks takes at most one --class")
        from vigil.cli.tracks import tracks_search

        tracks_search(
            context,
            query,
            limit=limit,
            source=source,
            label=class_name[0] if class_name else None,
            as_json=as_json,
        )
        return
    if segments:  # -- segments (vigil.search.segments) --
        if query is None:
            raise InvalidInputError("--segments needs a query in words")
        _search_segments(context, query, limit, objects, source, site, since, until, sheet, as_json)
        return
    given = [query is not None, image is not None, like_frame is not None, like_object is not None]
    if sum(given) != 1:
        raise InvalidInputError(
            "give exactly one query: words, --image PATH, --like-frame ID or --like-object ID"
        )
    if (class_name or min_score is not None) and not (objects or like_object is not None):
        objects = True  # class and detector score only exist for objects
    target = Target.OBJECTS if objects or like_object is not None else Target.FRAMES
    settings = context.obj
    assert isinstance(settings, Settings)
    trusted: TrustedResult | None = None
    plain: list[SearchHit] = []
    with Workspace.open(settings) as workspace:
        filters = _filters(workspace, source, site, since, until, class_name, min_score)
        if query is not None:
            label = f'"{query}"'
            trusted = workspace.archive.search_trusted(
                query, limit=limit, offset=offset, target=target, filters=filters
            )
        elif image is not None:
            label = f"image {image}"
            try:
                data = image.read_bytes()
            except OSError as error:
                raise InvalidInputError(f"cannot read the query image {image}: {error}") from error
            trusted = workspace.archive.search_trusted(
                data, limit=limit, offset=offset, target=target, filters=filters
            )
        else:
            label = (
                f"like frame:{like_frame_id}"
                if like_frame_id is not None
                else f"like object:{like_object_id}"
            )
            plain = workspace.more_like(
                frame_id=like_frame_id,
                object_id=like_object_id,
                limit=limit,
                offset=offset,
                filters=filters,
            )
        hits = [h.hit for h in trusted.hits] if trusted is not None else plain
        if sheet is not None and hits:
            workspace.contact_sheet(hits, sheet, title=label)
        home = workspace.home
        indexed = 0 if hits else _indexed(workspace, target)
    if as_json:
        payload: dict[str, Any] = {"query": label, "target": str(target)}
        if trusted is not None:
            payload.update(trust_fields(trusted))
            payload["hits"] = [
                {**_row(h.hit, home), "confidence": h.confidence, "why": h.why.to_dict()}
                for h in trusted.hits
            ]
        else:
            payload["hits"] = [_row(h, home) for h in hits]
        typer.echo(json.dumps(payload, indent=2, ensure_ascii=False))
    else:
        if trusted is not None:
            typer.echo(trusted.headline())
            for note in trusted.notes:
                typer.echo(f"note: {note}")
            for predicate in trusted.predicates:
                typer.echo(f"parsed: {predicate}")
        if not hits:
            typer.echo(no_hits_reason(filters, target, indexed))
        typer.echo(f"query: {label}")
        if trusted is not None:
            for found in trusted.hits:
                typer.echo(f"{found.hit.describe()}  confidence {found.confidence:.2f}")
                if why:
                    typer.echo(f"       why: {why_line(found.why)}")
        else:
            for hit in hits:
                typer.echo(hit.describe())
    if sheet is not None and hits:
        typer.echo(f"contact sheet: {sheet}", err=True)


def why_line(why: Why) -> str:
    """A hit's "why" on one line: concepts with weights, detected classes, checks."""
    parts = []
    if why.concepts:
        parts.append("concepts " + ", ".join(f"{c} {w:+.3f}" for c, w in why.concepts))
    if why.detected:
        parts.append("detected " + ", ".join(f"{n} {c}" for c, n in why.detected.items()))
    parts += [f"{p.words}: {p.detail} (x{p.factor:.2f})" for p in why.predicates]
    return "; ".join(parts) or "nothing stored explains it"


def trust_fields(result: TrustedResult) -> dict[str, Any]:
    """The top-level trust fields of ``vigil search --json`` (same names as the REST API)."""
    return {
        "confident": result.confident,
        "message": result.headline(),
        "semantic_query": result.semantic_query,
        "predicates": result.predicates,
        "unknown_words": result.unknown_words,
        "notes": result.notes,
        "calibration": result.calibration,
    }


def _search_segments(
    context: typer.Context,
    query: str,
    limit: int,
    objects: bool,
    source: list[str] | None,
    site: list[str] | None,
    since: str | None,
    until: str | None,
    sheet: Path | None,
    as_json: bool,
) -> None:
    """``vigil search --segments``: events ranked by their best hit, not single frames."""
    settings = context.obj
    assert isinstance(settings, Settings)
    with Workspace.open(settings) as workspace:
        filters = _filters(workspace, source, site, since, until)
        found = workspace.search_segments(
            query, limit=limit, target=Target.OBJECTS if objects else Target.FRAMES, filters=filters
        )
        if sheet is not None and found:
            workspace.contact_sheet([s.best for s in found], sheet, title=f'"{query}" (events)')
        home = workspace.home
    if as_json:
        rows = [
            {
                "rank": s.rank,
                "source": s.source.name,
                "source_id": s.source.id,
                "start": s.start,
                "end": s.end,
                "hits": s.hits,
                "peak_score": round(s.peak_score, 4),
                "best": _row(s.best, home),
            }
            for s in found
        ]
        typer.echo(json.dumps({"query": query, "segments": rows}, indent=2))
        return
    if not found:
        typer.echo("no hits: nothing indexed matches ('vigil index' first?)")
    for segment in found:
        typer.echo(segment.describe())


@friendly_errors
def match(
    context: typer.Context,
    object_ref: Annotated[
        str | None,
        typer.Argument(help="The object to follow across cameras (object:42 or 42)."),
    ] = None,
    track: Annotated[
        int | None, typer.Option("--track", help="Match a track instead of one object.")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", help="How many sightings.")] = 10,
    source: SourceOption = None,
    site: SiteOption = None,
    since: SinceOption = None,
    until: UntilOption = None,
    as_json: JsonOption = False,
) -> None:
    """The same-looking object on OTHER sources, ordered by time (a cross-camera trajectory)."""
    if (object_ref is None) == (track is None):
        raise InvalidInputError("give an object id or --track TRACK_ID (one of them)")
    if track is not None:  # -- tracks (vigil.cli.tracks) --
        from vigil.cli.tracks import tracks_match

        tracks_match(context, track, limit=limit, as_json=as_json)
        return
    assert object_ref is not None
    object_id = item_id(object_ref, "object")
    settings = context.obj
    assert isinstance(settings, Settings)
    with Workspace.open(settings) as workspace:
        filters = _filters(workspace, source, site, since, until)
        matches = workspace.match_object(object_id, limit=limit, filters=filters)
        home = workspace.home
    if as_json:
        rows = [
            {**_row(m.hit, home), "appearance": round(m.appearance, 4), "combined": m.combined}
            for m in matches
        ]
        typer.echo(json.dumps({"object_id": object_id, "matches": rows}, indent=2))
        return
    if not matches:
        typer.echo("no match on other sources ('vigil index --objects' on them first?)")
    for position, found in enumerate(matches, start=1):
        line = found.hit.describe().split(maxsplit=2)[-1]
        typer.echo(
            f"{position:>3}  combined {found.combined:5.3f} (semantic {found.hit.score:5.3f}, "
            f"colour {found.appearance:5.3f})  {line}"
        )
