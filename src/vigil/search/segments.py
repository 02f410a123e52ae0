"""Merge ranked frame hits into time segments: a query answers with events, not 40 frames.

Sampled frames of one event (a person crossing the walkway) all match the query
about equally well, so a plain top-k list repeats the same moment. Hits on the
same source whose media times lie within ``gap_s`` of each other are one
segment; a segment is ranked by its best hit.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from vigil.errors import InvalidInputError
from vigil.search.types import SearchHit
from vigil.sources.types import Source

GAP_INTERVALS = 2.0  # default gap: this many sampling intervals (one skipped sample is tolerated)


@dataclass(frozen=True)
class Segment:
    """A stretch of one source where consecutive hits matched the query."""

    rank: int
    source: Source
    start: float  # media time of the first hit, seconds
    end: float  # media time of the last hit, seconds
    best: SearchHit  # the hit with the peak score (its frame is the segment's thumbnail)
    hits: int  # how many hits the segment merges
    peak_score: float

    @property
    def duration(self) -> float:
        return self.end - self.start

    def describe(self) -> str:
        frame = self.best.frame
        return (
            f"{self.rank:>3}  {self.peak_score:6.3f}  {self.source.name}  "
            f"{self.start:8.2f}s-{self.end:8.2f}s  {self.hits:>3} hits  "
            f"best t={frame.media_time:.2f}s frame:{frame.id} (#{frame.frame_index})"
        )


def default_gap(interval_s: float) -> float:
    """The merge gap for frames sampled every ``interval_s`` seconds."""
    if interval_s <= 0:
        raise InvalidInputError(f"interval_s must be > 0, got {interval_s}")
    return GAP_INTERVALS * interval_s


def merge_segments(
    hits: Sequence[SearchHit], *, gap_s: float, limit: int | None = None
) -> list[Segment]:
    """Group hits per source into runs whose neighbours are at most ``gap_s`` apart.

    Object hits in the same frame fall into the same segment (their media time is
    the same). Segments are ordered by peak score, ties by source and start time,
    and ranked from 1; ``limit`` keeps the best ones.
    """
    if gap_s < 0:
        raise InvalidInputError(f"gap_s must be >= 0, got {gap_s}")
    if limit is not None and limit < 1:
        raise InvalidInputError(f"limit must be >= 1, got {limit}")
    by_source: dict[int, list[SearchHit]] = defaultdict(list)
    for hit in hits:
        by_source[hit.source.id].append(hit)
    runs: list[list[SearchHit]] = []
    for source_hits in by_source.values():
        source_hits.sort(key=lambda h: (h.frame.media_time, -h.score))
        run = [source_hits[0]]
        for hit in source_hits[1:]:
            if hit.frame.media_time - run[-1].frame.media_time <= gap_s:
                run.append(hit)
            else:
                runs.append(run)
                run = [hit]
        runs.append(run)
    segments = [_segment(run) for run in runs]
    segments.sort(key=lambda s: (-s.peak_score, s.source.id, s.start))
    if limit is not None:
        segments = segments[:limit]
    return [
        Segment(
            rank=i,
            source=s.source,
            start=s.start,
            end=s.end,
            best=s.best,
            hits=s.hits,
            peak_score=s.peak_score,
        )
        for i, s in enumerate(segments, start=1)
    ]


def _segment(run: list[SearchHit]) -> Segment:
    best = max(run, key=lambda h: (h.score, -h.rank))
    return Segment(
        rank=0,
        source=run[0].source,
        start=run[0].frame.media_time,
        end=run[-1].frame.media_time,
        best=best,
        hits=len(run),
        peak_score=best.score,
    )
