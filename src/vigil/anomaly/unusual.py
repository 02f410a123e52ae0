"""What is unusual here: rank a source's frames by their distance from its own history.

No scenario, no examples: a camera's own past is its model of normal. A
frame's unusualness is the distance from its stored vector (the embedder that
indexed the archive) to the nearest *other* frame of the same source that is
at least ``gap_s`` seconds away in time; the gap keeps a frame's own
neighbours in the same scene (near-duplicates a tenth of a second apart) from
calling everything ordinary. With ``since``, frames from then on are compared
with the frames before (the history). ``by_hour`` compares a frame only with
frames captured in the same hour of the day, so night does not look unusual
to a day-time history.

This is how the video nobody watches gets looked at: the top of the list is
what the camera rarely sees.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from vigil.catalog.anomaly_store import source_frame_vectors
from vigil.catalog.store import Catalog
from vigil.errors import InvalidInputError, NotFoundError

#: Neighbours fetched per frame before the time-gap filter; rows with none left fall back
#: to an exact scan.
_CANDIDATES = 64


@dataclass(frozen=True)
class UnusualItem:
    frame_id: int
    media_time: float
    distance: float
    thumbnail_path: str
    rank: int  # 1 = most unusual

    def to_json(self) -> dict[str, Any]:
        return {
            "item": f"frame:{self.frame_id}",
            "media_time": self.media_time,
            "distance": round(self.distance, 6),
            "thumbnail": self.thumbnail_path,
            "rank": self.rank,
        }


@dataclass(frozen=True)
class UnusualRanking:
    items: list[UnusualItem]
    ranked: int  # frames that were scored
    history: int  # frames they were compared with


def _normalise(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.ascontiguousarray(vectors / np.maximum(norms, 1e-12), dtype=np.float32)


def unusual_distances(
    vectors: np.ndarray,
    times: np.ndarray,
    candidates: np.ndarray,
    history: np.ndarray,
    *,
    gap_s: float = 5.0,
) -> np.ndarray:
    """Distance of each candidate row to its nearest history row at least ``gap_s`` away.

    ``vectors`` (N, D) are L2-normalised here (cosine geometry, as the indexes
    use); ``candidates`` and ``history`` are boolean masks over the N rows.
    Returns (N,) distances, NaN for non-candidates and where no history row is
    far enough in time.
    """
    import faiss

    if vectors.ndim != 2 or len(vectors) != len(times):
        raise InvalidInputError(
            f"expected vectors (N, D) and times (N,), got {vectors.shape} and {times.shape}"
        )
    if gap_s < 0:
        raise InvalidInputError(f"gap must be >= 0 seconds, got {gap_s}")
    unit = _normalise(vectors)
    out = np.full(len(unit), np.nan)
    history_rows = np.flatnonzero(history)
    query_rows = np.flatnonzero(candidates)
    if not len(history_rows) or not len(query_rows):
        return out
    index = faiss.IndexFlatL2(unit.shape[1])
    index.add(unit[history_rows])
    k = min(len(history_rows), _CANDIDATES)
    squared, found = index.search(unit[query_rows], k)
    for row, distances, neighbours in zip(query_rows, squared, found, strict=True):
        rows = history_rows[neighbours]
        ok = (rows != row) & (np.abs(times[rows] - times[row]) >= gap_s)
        if ok.any():
            out[row] = float(np.sqrt(max(distances[ok][0], 0.0)))
            continue
        far = history_rows[
            (history_rows != row) & (np.abs(times[history_rows] - times[row]) >= gap_s)
        ]
        if len(far):
            exact = np.sum((unit[far] - unit[row]) ** 2, axis=1)
            out[row] = float(np.sqrt(exact.min()))
    return out


def rank_unusual(
    catalog: Catalog,
    source_id: int,
    model_id: str,
    *,
    since: float | None = None,
    limit: int = 20,
    gap_s: float = 5.0,
    by_hour: bool = False,
) -> UnusualRanking:
    """The ``limit`` most unusual frames of a source (see the module docstring)."""
    if limit < 1:
        raise InvalidInputError(f"limit must be >= 1, got {limit}")
    stored = source_frame_vectors(catalog, source_id, model_id)
    if not len(stored.frame_ids):
        raise NotFoundError(
            f"source {source_id} has no frame vectors of {model_id!r}; index it first"
        )
    times = stored.media_times
    if since is None:
        candidates = np.ones(len(times), dtype=bool)
        history = candidates
    else:
        candidates = times >= since
        history = ~candidates
        if not history.any():
            raise InvalidInputError(
                f"no history before {since} s: the source's first frame is at {times.min():.1f} s"
            )
    if by_hour:
        hours = np.array([-1 if moment is None else moment.hour for moment in stored.captured_at])
        distances = np.full(len(times), np.nan)
        for hour in np.unique(hours):
            same = hours == hour
            part = unusual_distances(
                stored.vectors, times, candidates & same, history & same, gap_s=gap_s
            )
            distances[same] = part[same]
    else:
        distances = unusual_distances(stored.vectors, times, candidates, history, gap_s=gap_s)
    scored = np.flatnonzero(~np.isnan(distances))
    order = scored[np.argsort(-distances[scored], kind="stable")]
    items = [
        UnusualItem(
            frame_id=int(stored.frame_ids[row]),
            media_time=float(times[row]),
            distance=float(distances[row]),
            thumbnail_path=stored.thumbnails[row],
            rank=rank,
        )
        for rank, row in enumerate(order[:limit], start=1)
    ]
    return UnusualRanking(items=items, ranked=len(scored), history=int(history.sum()))


def foreign_ranks(
    vectors: np.ndarray, times: np.ndarray, foreign: np.ndarray, *, gap_s: float = 5.0
) -> np.ndarray:
    """Ranks (1 = most unusual) of the ``foreign`` rows among all rows: the evaluation.

    Frames of another clip mixed into a source's history should rank at the
    top; the ranks measure how well "unusual" finds them.
    """
    everything = np.ones(len(vectors), dtype=bool)
    distances = unusual_distances(vectors, times, everything, everything, gap_s=gap_s)
    distances = np.nan_to_num(distances, nan=-np.inf)
    order = np.argsort(-distances, kind="stable")
    ranks = np.empty(len(order), dtype=np.int64)
    ranks[order] = np.arange(1, len(order) + 1)
    return np.asarray(ranks[foreign])


__all__ = [
    "UnusualItem",
    "UnusualRanking",
    "foreign_ranks",
    "rank_unusual",
    "unusual_distances",
]
