"""The site plan: cameras placed on a floor plan or map, with what their tracks say.

The "digital twin" view of a site: each source stands where it is mounted,
looking where it looks, with the count of objects it tracked; a line between two
cameras counts the tracks handed over between them — a track on one camera and a
track on the other that are each other's best cross-camera match (the same score
as ``vigil match --track``: image-text vector and colours), above ``min_score``.
When both tracks have capture times the second must start after the first ends,
within ``window_s``; without capture times (files) Vigil cannot order them and
says so (``ordered: false``).

Matches are a similarity, not an identity: the colour cue and a general-purpose
image-text vector are not a trained re-identification model, so a handover count
is "looks like the same object", with the score bound stated beside it.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from vigil.catalog.site_store import SitePlan
from vigil.catalog.store import Catalog
from vigil.catalog.tracks_store import TrackRecord, count_tracks, list_tracks, track_vectors
from vigil.errors import InvalidInputError
from vigil.search.matching import APPEARANCE_WEIGHT, appearance_similarity
from vigil.sources.images import decode_image, read_image
from vigil.structure.thumbnails import write_thumbnail

MAX_PLAN_BYTES = 20_000_000
MAX_PLAN_PIXELS = 25_000_000
PLAN_LONGEST_SIDE = 2400  # plans are stored no larger than this
DEFAULT_MIN_SCORE = 0.80
DEFAULT_WINDOW_S = 300.0
VIEW_CONE_DEG = 60.0
PLAN_NAME = re.compile(r"[A-Za-z0-9_-]{1,100}")


@dataclass(frozen=True)
class Handover:
    """One track that looks like a track on another camera."""

    from_source: int
    to_source: int
    from_track: int
    to_track: int
    score: float
    ordered: bool  # both tracks had capture times and the order was checked


@dataclass
class SiteView:
    """What a plan shows: cameras, their counts, and handovers between them."""

    plan: SitePlan
    names: dict[int, str]
    counts: dict[int, dict[str, int]]
    handovers: list[Handover] = field(default_factory=list)
    min_score: float = DEFAULT_MIN_SCORE
    window_s: float = DEFAULT_WINDOW_S

    def links(self) -> list[dict[str, Any]]:
        """Handovers per camera pair (either direction), most first."""
        pairs: dict[tuple[int, int], list[Handover]] = {}
        for item in self.handovers:
            key = (min(item.from_source, item.to_source), max(item.from_source, item.to_source))
            pairs.setdefault(key, []).append(item)
        rows = [
            {
                "sources": list(key),
                "handovers": len(items),
                "ordered": all(i.ordered for i in items),
                "mean_score": round(float(np.mean([i.score for i in items])), 3),
            }
            for key, items in pairs.items()
        ]
        return sorted(rows, key=lambda row: -row["handovers"])

    def to_dict(self) -> dict[str, Any]:
        return {
            "plan": {
                "id": self.plan.id,
                "name": self.plan.name,
                "width": self.plan.width,
                "height": self.plan.height,
            },
            "cameras": [
                {
                    "source_id": p.source_id,
                    "source": self.names.get(p.source_id, str(p.source_id)),
                    "x": p.x,
                    "y": p.y,
                    "direction_deg": p.direction_deg,
                    "tracks": self.counts.get(p.source_id, {}),
                }
                for p in self.plan.placements
            ],
            "links": self.links(),
            "min_score": self.min_score,
            "window_s": self.window_s,
        }


def store_plan_image(home: Path, name: str, data: bytes | Path) -> tuple[str, int, int]:
    """Decode a plan image through the one checked decoder and store it; (relpath, w, h)."""
    if isinstance(data, Path):
        image = read_image(data, what="site plan", max_pixels=MAX_PLAN_PIXELS)
    else:
        image = decode_image(
            data, what="site plan", max_bytes=MAX_PLAN_BYTES, max_pixels=MAX_PLAN_PIXELS
        )
    check_plan_name(name)
    relpath = f"site/{name}.jpg"
    write_thumbnail(home, relpath, image, PLAN_LONGEST_SIDE)
    stored = read_image(home / relpath)
    return relpath, int(stored.shape[1]), int(stored.shape[0])


def check_plan_name(name: str) -> None:
    if not PLAN_NAME.fullmatch(name):
        raise InvalidInputError(
            f"plan name {name[:40]!r} must be 1-100 letters, digits, '-' or '_'"
        )


def check_placement(plan: SitePlan, x: float, y: float) -> None:
    if not (0 <= x <= plan.width and 0 <= y <= plan.height):
        raise InvalidInputError(
            f"({x:g}, {y:g}) is outside the {plan.width}x{plan.height} plan {plan.name!r}"
        )


def site_view(
    catalog: Catalog,
    plan: SitePlan,
    model_id: str,
    *,
    min_score: float = DEFAULT_MIN_SCORE,
    window_s: float = DEFAULT_WINDOW_S,
) -> SiteView:
    """Counts per placed camera and the handovers between placed cameras."""
    if not 0.0 < min_score <= 1.0:
        raise InvalidInputError("min_score must be in (0, 1]")
    placed = [p.source_id for p in plan.placements]
    names = {s.id: s.name for s in catalog.list_sources()}
    view = SiteView(
        plan,
        names,
        {source: count_tracks(catalog, source) for source in placed},
        min_score=min_score,
        window_s=window_s,
    )
    if len(placed) < 2:
        return view
    ids, vectors = track_vectors(catalog, model_id, source_ids=placed)
    if len(ids) == 0:
        return view
    tracks = {t.id: t for t in list_tracks(catalog, source_ids=placed)}
    rows = [tracks[int(i)] for i in ids]
    semantic = vectors @ vectors.T
    best = {
        (a, other): _best_on(a, other, rows, semantic, window_s, min_score)
        for a in range(len(rows))
        for other in placed
        if other != rows[a].source_id
    }
    for (a, _), found in best.items():
        if found is None:
            continue
        b, score = found
        # Mutual best only: a crowd of look-alikes (every person is "a person") must
        # not all hand over to the one best-looking track on the other camera.
        back = _best_on(b, rows[a].source_id, rows, semantic, window_s, min_score, reverse=True)
        if back is None or back[0] != a:
            continue
        first, second = rows[a], rows[b]
        view.handovers.append(
            Handover(
                first.source_id,
                second.source_id,
                first.id,
                second.id,
                round(score, 4),
                first.last_captured_at is not None and second.first_captured_at is not None,
            )
        )
    return view


def draw_site(view: SiteView, home: Path) -> np.ndarray:
    """The plan with cameras, view cones, counts and handover lines (RGB)."""
    canvas = read_image(home / view.plan.image_path).copy()
    scale = max(canvas.shape[:2]) / 1000
    where = {p.source_id: (int(p.x), int(p.y)) for p in view.plan.placements}
    for link in view.links():
        a, b = (where[s] for s in link["sources"])
        cv2.line(canvas, a, b, (255, 140, 0), max(2, round(scale * (1 + link["handovers"]))))
        middle = ((a[0] + b[0]) // 2, (a[1] + b[1]) // 2)
        _text(canvas, f"{link['handovers']} handovers", middle, scale)
    for placement in view.plan.placements:
        x, y = int(placement.x), int(placement.y)
        reach = 60 * scale
        cone = [
            (
                x + reach * math.cos(math.radians(placement.direction_deg + d)),
                y + reach * math.sin(math.radians(placement.direction_deg + d)),
            )
            for d in (-VIEW_CONE_DEG / 2, VIEW_CONE_DEG / 2)
        ]
        points = np.asarray([(x, y), *cone], dtype=np.int32)
        overlay = canvas.copy()
        cv2.fillPoly(overlay, [points], (79, 179, 255))
        canvas = cv2.addWeighted(overlay, 0.35, canvas, 0.65, 0)
        cv2.circle(canvas, (x, y), max(4, round(8 * scale)), (220, 30, 30), -1)
        counts = view.counts.get(placement.source_id, {})
        summary = ", ".join(f"{n} {label}" for label, n in sorted(counts.items())) or "no tracks"
        name = view.names.get(placement.source_id, str(placement.source_id))
        _text(canvas, f"{name}: {summary}", (x + round(10 * scale), y - round(10 * scale)), scale)
    return canvas


def _best_on(
    a: int,
    source_id: int,
    rows: list[TrackRecord],
    semantic: np.ndarray,
    window_s: float,
    min_score: float,
    *,
    reverse: bool = False,
) -> tuple[int, float] | None:
    """The best-matching track on ``source_id`` for track ``a`` (after it, or before it)."""
    first = rows[a]
    found: tuple[int, float] | None = None
    for b, second in enumerate(rows):
        if second.source_id != source_id or second.label != first.label:
            continue
        ordered = (
            _in_order(second, first, window_s) if reverse else _in_order(first, second, window_s)
        )
        if not ordered:
            continue
        score = _combined(float(semantic[a, b]), first, second)
        if score >= min_score and (found is None or score > found[1]):
            found = (b, score)
    return found


def _combined(semantic: float, first: TrackRecord, second: TrackRecord) -> float:
    mine = np.asarray(first.colours.get("appearance", []), dtype=np.float32)
    theirs = np.asarray(second.colours.get("appearance", []), dtype=np.float32)
    look = appearance_similarity(mine, theirs) if mine.size and mine.size == theirs.size else 0.0
    return (1 - APPEARANCE_WEIGHT) * semantic + APPEARANCE_WEIGHT * look


def _in_order(first: TrackRecord, second: TrackRecord, window_s: float) -> bool:
    """Second starts after first ends, within the window; unknowable without capture times."""
    if first.last_captured_at is None or second.first_captured_at is None:
        return first.source_id < second.source_id  # unordered: count each pair once
    gap = (second.first_captured_at - first.last_captured_at).total_seconds()
    return 0.0 <= gap <= window_s


def _text(canvas: np.ndarray, text: str, origin: tuple[int, int], scale: float) -> None:
    size = 0.5 * max(1.0, scale)
    cv2.putText(canvas, text, origin, cv2.FONT_HERSHEY_SIMPLEX, size, (0, 0, 0), 4, cv2.LINE_AA)
    cv2.putText(canvas, text, origin, cv2.FONT_HERSHEY_SIMPLEX, size, (255, 255, 255), 1)
