"""Records that leave the runtime stage: events, alert deliveries, per-source health."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from vigil.catalog.types import DeliveryRecord, EventRecord


@dataclass(frozen=True)
class SourceHealth:
    """A snapshot of one source in a running ``Runner``."""

    source: str
    connected: bool
    finished: bool  # a file or folder read to its end (streams never finish)
    fps_in: float  # frames decoded per second, last few seconds
    fps_processed: float  # frames scored per second, last few seconds
    lag_s: float  # age of the last scored frame when its scores were ready
    frames_in: int
    frames_processed: int
    frames_dropped: int  # sampled but replaced by a newer frame before the model got to it
    corrupt_frames: int  # undecodable frames or packets skipped
    reconnects: int
    events_open: int
    last_error: str | None
    models: tuple[str, ...] = ()  # what runs now: registry names, else model ids
    # Population stability index of the model's confidence against its training
    # reference (None: no reference, or too few frames yet); see vigil.runtime.drift.
    drift_psi: float | None = None
    drift_frames: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "connected": self.connected,
            "finished": self.finished,
            "fps_in": round(self.fps_in, 2),
            "fps_processed": round(self.fps_processed, 2),
            "lag_s": round(self.lag_s, 3),
            "frames_in": self.frames_in,
            "frames_processed": self.frames_processed,
            "frames_dropped": self.frames_dropped,
            "corrupt_frames": self.corrupt_frames,
            "reconnects": self.reconnects,
            "events_open": self.events_open,
            "last_error": self.last_error,
            "models": list(self.models),
            "drift_psi": None if self.drift_psi is None else round(self.drift_psi, 4),
            "drift_frames": self.drift_frames,
        }


__all__ = ["DeliveryRecord", "EventRecord", "SourceHealth"]
