"""Types that cross the search stage boundary."""

from __future__ import annotations

from dataclasses import dataclass

from vigil.catalog.types import FrameRecord
from vigil.sources.types import Source


@dataclass(frozen=True)
class SearchHit:
    """One ranked frame: where it is, when, and how well it matches (cosine, -1..1)."""

    rank: int
    score: float
    embedding_id: int
    frame: FrameRecord
    source: Source

    def describe(self) -> str:
        when = f"t={self.frame.media_time:8.2f}s"
        if self.frame.captured_at is not None:
            when += f" ({self.frame.captured_at.isoformat(timespec='seconds')})"
        frame = f"frame {self.frame.frame_index}"
        return f"{self.rank:>3}  {self.score:6.3f}  {self.source.name}  {when}  {frame}"
