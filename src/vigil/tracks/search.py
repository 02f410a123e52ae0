"""Search and cross-camera matching over tracks: one result per tracked object.

A frame or object search returns the same walker once per sampled frame; a
track search returns them once, ranked by the track's pooled vector (the mean
of up to N crop vectors). Tracks are few next to frames (one per object, not
one per frame), so they are ranked exactly, by a matrix product over every
stored track vector, with no approximate index to keep in step.

Matching follows ``vigil.search.matching``: the image-text vector says *what*
the object is, the colour descriptor (averaged over the track's crops) helps
tell *who*; it is not a trained re-identification model.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from vigil.catalog.store import Catalog
from vigil.catalog.tracks_store import TrackRecord, get_track, track_vectors, tracks_with_sources
from vigil.embedders.base import Embedder
from vigil.errors import InvalidInputError, NotFoundError
from vigil.search.matching import APPEARANCE_WEIGHT, appearance_similarity
from vigil.sources.types import Source

MAX_TRACK_RESULTS = 1000


@dataclass(frozen=True)
class TrackHit:
    """A track ranked for a query; ``score`` is the cosine of its pooled vector."""

    rank: int
    score: float
    track: TrackRecord
    source: Source
    appearance: float | None = None  # colour similarity, for matches
    combined: float | None = None  # what matches are ranked by

    def describe(self) -> str:
        t = self.track
        colours = f"{t.colours.get('upper', '?')}/{t.colours.get('lower', '?')}"
        extra = (
            f" (semantic {self.score:.3f}, colour {self.appearance:.3f})"
            if self.appearance is not None
            else ""
        )
        value = self.combined if self.combined is not None else self.score
        return (
            f"{self.rank:>3}  {value:6.3f}{extra}  track {t.id:<6} {self.source.name}  "
            f"{t.label:<10} {t.first_media_time:7.1f}-{t.last_media_time:7.1f}s  {colours}"
        )

    def to_dict(self) -> dict[str, Any]:
        row: dict[str, Any] = {
            "rank": self.rank,
            "score": round(self.score, 4),
            "source": self.source.name,
            "track": self.track.to_dict(),
        }
        if self.appearance is not None:
            row["appearance"] = round(self.appearance, 4)
            row["combined"] = round(self.combined or 0.0, 4)
        return row


def search_tracks(
    query: str,
    *,
    catalog: Catalog,
    embedder: Embedder,
    limit: int = 10,
    source_ids: Sequence[int] | None = None,
    label: str | None = None,
) -> list[TrackHit]:
    """Tracks whose pooled vector is closest to the words of ``query``."""
    if not query.strip():
        raise InvalidInputError("query must not be empty")
    _check_limit(limit)
    vector = embedder.embed_texts([query])[0]
    return _rank(catalog, embedder.model_id, vector, limit, source_ids, label, exclude=())


def match_track(
    track_id: int,
    *,
    catalog: Catalog,
    model_id: str,
    limit: int = 10,
    other_sources: bool = True,
) -> list[TrackHit]:
    """Tracks of the same class that look like ``track_id`` (other sources by default).

    Candidates come from the vector ranking; the colour descriptor re-ranks them
    with the same weight as object matching.
    """
    _check_limit(limit)
    query = get_track(catalog, track_id)
    ids, vectors = track_vectors(catalog, model_id, source_ids=[query.source_id])
    own = np.flatnonzero(ids == track_id)
    if own.size == 0:
        raise NotFoundError(f"track {track_id} has no vector for model {model_id!r}")
    candidates = _rank(
        catalog,
        model_id,
        vectors[int(own[0])],
        min(MAX_TRACK_RESULTS, limit * 5),
        None,
        query.label,
        exclude=(track_id,),
    )
    if other_sources:
        candidates = [hit for hit in candidates if hit.track.source_id != query.source_id]
    mine = np.asarray(query.colours.get("appearance", []), dtype=np.float32)
    scored = []
    for hit in candidates:
        theirs = np.asarray(hit.track.colours.get("appearance", []), dtype=np.float32)
        look = (
            appearance_similarity(mine, theirs) if mine.size and mine.size == theirs.size else 0.0
        )
        combined = (1 - APPEARANCE_WEIGHT) * hit.score + APPEARANCE_WEIGHT * look
        scored.append((combined, look, hit))
    scored.sort(key=lambda item: -item[0])
    return [
        TrackHit(rank, hit.score, hit.track, hit.source, appearance=look, combined=combined)
        for rank, (combined, look, hit) in enumerate(scored[:limit], start=1)
    ]


def _rank(
    catalog: Catalog,
    model_id: str,
    vector: np.ndarray,
    limit: int,
    source_ids: Sequence[int] | None,
    label: str | None,
    exclude: Sequence[int],
) -> list[TrackHit]:
    ids, vectors = track_vectors(catalog, model_id, source_ids=source_ids, label=label)
    if ids.size == 0:
        return []
    if vectors.shape[1] != vector.shape[0]:
        raise InvalidInputError(
            f"track vectors are {vectors.shape[1]}-d, the query is {vector.shape[0]}-d"
        )
    scores = vectors @ vector.astype(np.float32)  # (N,) cosines: both sides unit norm
    keep = ~np.isin(ids, np.asarray(exclude, dtype=np.int64))
    ids, scores = ids[keep], scores[keep]
    order = np.argsort(-scores, kind="stable")[:limit]
    found = tracks_with_sources(catalog, ids[order].tolist())
    hits: list[TrackHit] = []
    for position in order:
        item = found.get(int(ids[position]))
        if item is None:  # removed meanwhile
            continue
        hits.append(TrackHit(len(hits) + 1, float(scores[position]), item[0], item[1]))
    return hits


def _check_limit(limit: int) -> None:
    if not 1 <= limit <= MAX_TRACK_RESULTS:
        raise InvalidInputError(f"limit must be in 1..{MAX_TRACK_RESULTS}, got {limit}")
