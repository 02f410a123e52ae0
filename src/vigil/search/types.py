"""Types that cross the search stage boundary."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from vigil.catalog.objects import ObjectRecord
from vigil.catalog.types import FrameRecord
from vigil.errors import InvalidInputError
from vigil.sources.types import Source


class Target(StrEnum):
    """What a query ranks: whole frames or the objects detected in them."""

    FRAMES = "frames"
    OBJECTS = "objects"


@dataclass(frozen=True)
class SearchFilters:
    """Restrictions combined with any text or image query (all optional, ANDed).

    Time windows are on the capture time (tz-aware; frames without one never
    match) and/or on media time in seconds from the start of each source.
    ``classes`` and ``min_detection_score`` apply to objects only.
    """

    sources: tuple[int, ...] | None = None
    sites: tuple[str, ...] | None = None
    since: datetime | None = None
    until: datetime | None = None
    media_start_s: float | None = None
    media_end_s: float | None = None
    classes: tuple[str, ...] | None = None
    min_detection_score: float | None = None
    min_similarity: float | None = None

    def __post_init__(self) -> None:
        for name in ("since", "until"):
            value = getattr(self, name)
            if value is not None and value.utcoffset() is None:
                raise InvalidInputError(
                    f"{name} must include a time zone (e.g. 2026-11-23T08:00:00+00:00), "
                    f"got {value.isoformat()}"
                )
        if self.since and self.until and self.until < self.since:
            raise InvalidInputError(
                f"time window ends before it starts: since {self.since.isoformat()} > "
                f"until {self.until.isoformat()}"
            )
        if (
            self.media_start_s is not None
            and self.media_end_s is not None
            and self.media_end_s < self.media_start_s
        ):
            raise InvalidInputError(
                f"media time window ends before it starts: {self.media_start_s} s > "
                f"{self.media_end_s} s"
            )
        if self.min_detection_score is not None and not 0 <= self.min_detection_score <= 1:
            raise InvalidInputError(
                f"min_detection_score must be in [0, 1], got {self.min_detection_score}"
            )
        if self.min_similarity is not None and not -1 <= self.min_similarity <= 1:
            raise InvalidInputError(
                f"min_similarity must be a cosine in [-1, 1], got {self.min_similarity}"
            )

    @property
    def restricts_items(self) -> bool:
        """True when only some stored items qualify (an id filter is needed)."""
        return any(
            value is not None
            for value in (
                self.sources,
                self.sites,
                self.since,
                self.until,
                self.media_start_s,
                self.media_end_s,
                self.classes,
                self.min_detection_score,
            )
        )


@dataclass(frozen=True)
class SearchHit:
    """One ranked frame or object: where it is, when, and how well it matches (cosine)."""

    rank: int
    score: float
    embedding_id: int
    frame: FrameRecord
    source: Source
    object: ObjectRecord | None = None

    def describe(self) -> str:
        when = f"t={self.frame.media_time:8.2f}s"
        if self.frame.captured_at is not None:
            when += f" ({self.frame.captured_at.isoformat(timespec='seconds')})"
        # One id form everywhere (CLI, YAML examples, console): 'frame:12' is the catalog id;
        # '#120' is the frame's position in its video, for people who scrub the file.
        what = f"frame:{self.frame.id} (#{self.frame.frame_index})"
        if self.object is not None:
            x1, y1, x2, y2 = (round(v) for v in self.object.xyxy)
            what = (
                f"object:{self.object.id} {self.object.label} {self.object.score:.2f} "
                f"[{x1},{y1},{x2},{y2}] in {what}"
            )
        return f"{self.rank:>3}  {self.score:6.3f}  {self.source.name}  {when}  {what}"
