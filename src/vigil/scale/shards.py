"""Shards: cut each source into pieces that Ray workers decode and embed independently.

A shard is a half-open range of *sampling slots* of one source, not of frames or
seconds: slot ``k`` covers media time ``[k * interval_s, (k+1) * interval_s)``
(the grid of ``vigil.sources.sampling``, anchored at media time 0). Cutting on
slot boundaries is what makes the sharded result equal the single-process one:

- **Grid.** Every frame before a shard's first slot belongs to an earlier slot, so
  the single-process sampler reaches the shard with ``next_slot <= first_slot`` and
  picks, inside the shard, the first frame of each slot, which is exactly what a
  worker that sees only the shard picks.
- **Scene-change de-duplication** is *not* local (it compares with the last frame
  kept anywhere before), so workers never decide it. They return each grid
  candidate's 32x32 thumbnail (4 KB); the driver replays the de-duplication over
  the candidates of a source in shard order, with the same threshold and the same
  thumbnails, and only then asks workers to embed the frames it kept.

Image folders use the same machinery: their stills carry an ordinal media time
(one unit per image) and are sampled with a 1-unit interval, so a shard is a
range of file positions.

>>> plan_shards(source, duration=79.5, interval_s=1.0, shard_seconds=30.0)  # doctest: +SKIP
[Shard(source_id=1, number=0, first_slot=0, end_slot=30), ..., Shard(..., end_slot=None)]
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from vigil.errors import InvalidInputError
from vigil.settings import SamplingSettings
from vigil.sources.types import Source, SourceKind


@dataclass(frozen=True)
class Shard:
    """Slots ``[first_slot, end_slot)`` of one source; ``end_slot`` None runs to the end."""

    source: Source
    number: int  # position of the shard within its source, 0-based
    first_slot: int
    end_slot: int | None
    interval_s: float

    def __post_init__(self) -> None:
        if self.first_slot < 0:
            raise InvalidInputError(f"first_slot must be >= 0, got {self.first_slot}")
        if self.end_slot is not None and self.end_slot <= self.first_slot:
            raise InvalidInputError(
                f"end_slot must be > first_slot ({self.first_slot}), got {self.end_slot}"
            )
        if self.interval_s <= 0:
            raise InvalidInputError(f"interval_s must be > 0, got {self.interval_s}")

    @property
    def start_time(self) -> float:
        return self.first_slot * self.interval_s

    @property
    def end_time(self) -> float | None:
        return None if self.end_slot is None else self.end_slot * self.interval_s

    def __str__(self) -> str:
        end = "end" if self.end_time is None else f"{self.end_time:g}s"
        return f"{self.source.name}#{self.number} [{self.start_time:g}s, {end})"


def effective_sampling(source: Source, sampling: SamplingSettings) -> SamplingSettings:
    """The sampling a source really gets: stills are all kept (interval 1 ordinal unit)."""
    if source.kind == SourceKind.IMAGES:
        return sampling.model_copy(update={"interval_s": 1.0})
    return sampling


def plan_shards(
    source: Source, *, duration: float | None, interval_s: float, shard_seconds: float
) -> list[Shard]:
    """Cut ``source`` into shards of about ``shard_seconds`` of media, on slot boundaries.

    ``duration`` is the media length in seconds (images: the number of files); the
    last shard is left open-ended so frames past a header's promised length are
    still indexed. Live streams cannot be sharded: they have no media time to split.
    """
    if source.kind == SourceKind.STREAM:
        raise InvalidInputError(
            f"source {source.name!r} is a live stream; only files and image folders can be "
            "sharded (index streams with the single-process pipeline)"
        )
    if shard_seconds <= 0:
        raise InvalidInputError(f"shard_seconds must be > 0, got {shard_seconds}")
    slots_per_shard = max(1, math.floor(shard_seconds / interval_s + 1e-9))
    total_slots = 1 if not duration else max(1, math.ceil(duration / interval_s - 1e-9))
    count = max(1, math.ceil(total_slots / slots_per_shard))
    shards = []
    for number in range(count):
        first = number * slots_per_shard
        end = None if number == count - 1 else first + slots_per_shard
        shards.append(Shard(source, number, first, end, interval_s))
    return shards


__all__ = ["Shard", "effective_sampling", "plan_shards"]
