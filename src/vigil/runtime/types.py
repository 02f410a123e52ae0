"""Records that leave the runtime stage: events, alert deliveries, per-source health."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class EventRecord:
    """One stored event (times are UTC)."""

    id: int
    source_id: int
    source_name: str
    model_id: str
    scenario: str
    class_name: str
    status: str  # open | closed | interrupted
    started_at: datetime
    ended_at: datetime | None
    last_seen_at: datetime
    peak_score: float
    peak_at: datetime
    frames: int
    thumbnail_path: str | None  # relative to the workspace home
    strip_path: str | None
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, as sent in alerts and printed by ``vigil events show``."""
        return {
            "id": self.id,
            "source_id": self.source_id,
            "source": self.source_name,
            "model_id": self.model_id,
            "scenario": self.scenario,
            "class": self.class_name,
            "status": self.status,
            "started_at": self.started_at.isoformat(),
            "ended_at": self.ended_at.isoformat() if self.ended_at else None,
            "last_seen_at": self.last_seen_at.isoformat(),
            "peak_score": round(self.peak_score, 6),
            "peak_at": self.peak_at.isoformat(),
            "frames": self.frames,
            "thumbnail_path": self.thumbnail_path,
            "strip_path": self.strip_path,
            "details": self.details,
        }


@dataclass(frozen=True)
class DeliveryRecord:
    """One alert message to one target, from the outbox."""

    id: int
    event_id: int
    kind: str  # event.started | event.ended
    target: str  # webhook URL or "log"
    payload: dict[str, Any]
    status: str  # pending | delivered | failed
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    delivered_at: datetime | None


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
        }


__all__ = ["DeliveryRecord", "EventRecord", "SourceHealth"]
