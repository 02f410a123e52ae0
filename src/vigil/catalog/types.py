"""Types that cross the catalog stage boundary."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from vigil.errors import InvalidInputError
from vigil.sources.types import Frame


@dataclass(frozen=True)
class NewFrame:
    """One sampled frame to be written to the catalog with its vector.

    ``frame_index`` identifies the frame within its source (decode order for
    video, sorted file order for image folders, wall-clock ms for streams), so
    writing the same frame twice reuses the stored row instead of adding one.
    """

    frame_index: int
    media_time: float  # seconds from the start of the media (pts x time_base)
    width: int
    height: int
    thumbnail_path: str  # relative to the workspace folder
    captured_at: datetime | None = None  # wall-clock time, timezone-aware

    @classmethod
    def from_frame(cls, frame: Frame, thumbnail_path: str) -> NewFrame:
        """The catalog's record of a decoded frame whose thumbnail is at ``thumbnail_path``."""
        height, width = frame.image.shape[:2]  # (H, W, 3)
        return cls(
            frame_index=frame.index,
            media_time=frame.media_time,
            width=width,
            height=height,
            thumbnail_path=thumbnail_path,
            captured_at=frame.captured_at,
        )

    def __post_init__(self) -> None:
        if self.frame_index < 0:
            raise InvalidInputError(f"frame_index must be >= 0, got {self.frame_index}")
        if not math.isfinite(self.media_time) or self.media_time < 0:
            raise InvalidInputError(
                f"media_time must be a finite number of seconds >= 0, got {self.media_time}"
            )
        if self.width <= 0 or self.height <= 0:
            raise InvalidInputError(f"frame size must be positive, got {self.width}x{self.height}")
        if self.captured_at is not None and self.captured_at.utcoffset() is None:
            # A naive time is ambiguous across cameras in different zones; refuse it
            # rather than guess the zone of the machine that happens to index.
            raise InvalidInputError(
                f"captured_at must be timezone-aware, got naive {self.captured_at.isoformat()}"
            )
        if not self.thumbnail_path or self.thumbnail_path.startswith("/"):
            raise InvalidInputError(
                "thumbnail_path must be a non-empty path relative to the workspace, "
                f"got {self.thumbnail_path!r}"
            )


@dataclass(frozen=True)
class FrameRecord:
    """A frame as stored in the catalog."""

    id: int
    source_id: int
    frame_index: int
    media_time: float
    captured_at: datetime | None
    width: int
    height: int
    thumbnail_path: str  # relative to the workspace folder


class ProgressStatus(StrEnum):
    """Where indexing of one source with one model stands."""

    RUNNING = "running"  # a run started and has not finished (or was killed)
    PARTIAL = "partial"  # a run stopped at a frame or time limit, or a stream run ended
    COMPLETE = "complete"  # the whole source was indexed without errors
    FAILED = "failed"  # the last run stopped on an error (see last_error)


@dataclass(frozen=True)
class IndexProgressRecord:
    """Indexing progress of one (source, model) pair, for resume and reporting."""

    source_id: int
    model_id: str
    status: ProgressStatus
    frames_done: int
    last_frame_index: int | None
    settings: dict[str, Any]
    updated_at: datetime
    last_error: str | None


@dataclass(frozen=True)
class CatalogStats:
    """Counts for ``vigil stats`` and health checks."""

    url: str  # with the password hidden
    schema_revision: str | None
    sources: int
    frames: int
    embeddings: dict[str, int] = field(default_factory=dict)  # model_id -> count


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
    reviewed_at: datetime | None = None  # triage: when an operator marked it reviewed
    reviewed_by: str | None = None
    # The registry model (name, id) that raised it; None for ONNX files and zero-shot.
    model_version: str | None = None
    registry_model_id: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, as sent in alerts and printed by ``vigil events show``."""
        evidence = {
            "thumbnail": f"/api/v1/events/{self.id}/thumbnail" if self.thumbnail_path else None,
            "strip": f"/api/v1/events/{self.id}/strip" if self.strip_path else None,
        }
        if self.details.get("evidence", {}).get("heatmap"):  # anomaly models draw one
            evidence["heatmap"] = f"/api/v1/events/{self.id}/heatmap"
        return {
            "id": self.id,
            "source_id": self.source_id,
            "source": self.source_name,
            "model_id": self.model_id,
            "model_version": self.model_version,
            "registry_model_id": self.registry_model_id,
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
            # Seconds into the source's media (files: position in the video), and the
            # evidence as API paths (the alert dispatcher prefixes runtime.public_url).
            "media_time_s": self.details.get("media_time_s", {}),
            "evidence": evidence,
            "details": self.details,
        }


@dataclass(frozen=True)
class DeliveryRecord:
    """One alert message to one target, from the outbox."""

    id: int
    event_id: int
    kind: str  # event.started | event.updated | event.ended
    target: str  # webhook URL or "log"
    payload: dict[str, Any]
    status: str  # pending | delivered | failed
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    delivered_at: datetime | None


class ItemKind(StrEnum):
    """What a scenario labels."""

    FRAME = "frame"
    OBJECT = "object"


@dataclass(frozen=True)
class StoredScenario:
    """One stored version of a scenario, its spec as the JSON it was saved as."""

    id: int  # the scenario's id (shared by all its versions)
    name: str
    version: int
    spec: dict[str, Any]
    created_at: datetime
    versions: int  # how many versions exist


@dataclass(frozen=True)
class LabelScope:
    """Whose labels: one version of one scenario, its item kind and class names."""

    scenario_id: int
    name: str
    version: int
    kind: ItemKind
    class_names: tuple[str, ...]


@dataclass(frozen=True)
class EventQuery:
    """Which stored events to list: every field given narrows the list (ANDed).

    ``source`` is an id or a name (the runtime area resolves a name to its id);
    ``since``/``until`` bound the start time and must carry a time zone.

    >>> EventQuery(scenario="gate", status="open", limit=20)  # doctest: +SKIP
    """

    source: int | str | None = None
    scenario: str | None = None
    class_name: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    status: str | None = None  # open | closed | interrupted
    limit: int = 100

    def __post_init__(self) -> None:
        if self.limit < 1:
            raise InvalidInputError(f"limit must be >= 1, got {self.limit}")
        for name, value in (("since", self.since), ("until", self.until)):
            if value is not None and value.utcoffset() is None:
                raise InvalidInputError(f"{name} must carry a time zone, got {value.isoformat()}")
