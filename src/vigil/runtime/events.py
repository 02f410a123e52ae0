"""Turn a per-frame score into events: hysteresis, a minimum duration and a quiet period.

One ``Track`` per (source, model, class) and one pure function, ``step``, that
advances it by one scored frame. Raw per-frame scores flicker (a pedestrian
turns, the codec smears a frame); three rules keep that out of the events:

* a score must reach ``on_threshold`` and stay there for ``min_duration_s``
  before an event starts (dated from the first frame above it);
* an open event stays open while the score is at or above the lower
  ``off_threshold`` (hysteresis: one dip between the two thresholds is ignored);
* it closes only after ``quiet_period_s`` below ``off_threshold``, and ends at
  the last frame that was still above it.

Times are float seconds (epoch), so the same code runs on archives and streams.

>>> rule = EventRule(on_threshold=0.6, off_threshold=0.4, min_duration_s=0, quiet_period_s=1)
>>> track, change = step(Track(), 0.0, 0.9, rule)
>>> change.kind if change else None
'started'
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum

from vigil.errors import InvalidInputError


class Phase(StrEnum):
    IDLE = "idle"  # below on_threshold
    ARMING = "arming"  # above on_threshold, not yet for min_duration_s
    OPEN = "open"  # an event is running


class ChangeKind(StrEnum):
    """What happened to an event on one frame (a ``StrEnum``: equal to its value)."""

    STARTED = "started"
    PEAK = "peak"  # the open event reached a new highest score
    ENDED = "ended"


@dataclass(frozen=True)
class EventRule:
    """Thresholds and timings of one scenario's events."""

    on_threshold: float
    off_threshold: float
    min_duration_s: float
    quiet_period_s: float

    def __post_init__(self) -> None:
        if not 0.0 < self.on_threshold <= 1.0:
            raise InvalidInputError(f"on_threshold must be in (0, 1], got {self.on_threshold}")
        if not 0.0 <= self.off_threshold <= self.on_threshold:
            raise InvalidInputError(
                "off_threshold must be in [0, on_threshold] "
                f"(= {self.on_threshold}), got {self.off_threshold}"
            )
        if self.min_duration_s < 0 or self.quiet_period_s < 0:
            raise InvalidInputError(
                "min_duration_s and quiet_period_s must be >= 0, got "
                f"{self.min_duration_s} and {self.quiet_period_s}"
            )


@dataclass(frozen=True)
class Track:
    """Where one (source, model, class) stands; immutable, replaced by ``step``."""

    phase: Phase = Phase.IDLE
    started_at: float | None = None  # first frame at or above on_threshold
    last_above: float | None = None  # last frame at or above off_threshold (open) / on (arming)
    peak_score: float = 0.0
    peak_at: float | None = None
    frames: int = 0  # frames at or above the active threshold since started_at


@dataclass(frozen=True)
class Change:
    """What ``step`` reports: an event started, got a new peak, or ended."""

    kind: ChangeKind
    track: Track  # the track as it was when the change happened (ended: before reset)
    ended_at: float | None = None


def step(track: Track, t: float, score: float, rule: EventRule) -> tuple[Track, Change | None]:
    """Advance ``track`` by one frame scored ``score`` at time ``t``."""
    if track.phase is Phase.OPEN:
        last = track.last_above if track.last_above is not None else t
        if score >= rule.off_threshold:
            new_peak = score > track.peak_score
            track = replace(
                track,
                last_above=t,
                frames=track.frames + 1,
                peak_score=max(track.peak_score, score),
                peak_at=t if new_peak else track.peak_at,
            )
            return track, (Change(ChangeKind.PEAK, track) if new_peak else None)
        if t - last >= rule.quiet_period_s:
            return Track(), Change(ChangeKind.ENDED, track, ended_at=last)
        return track, None
    if score < rule.on_threshold:
        return Track(), None  # idle, or a flicker shorter than min_duration_s
    if track.phase is Phase.IDLE:
        track = Track(
            Phase.ARMING, started_at=t, last_above=t, peak_score=score, peak_at=t, frames=1
        )
    else:
        new_peak = score > track.peak_score
        track = replace(
            track,
            last_above=t,
            frames=track.frames + 1,
            peak_score=max(track.peak_score, score),
            peak_at=t if new_peak else track.peak_at,
        )
    assert track.started_at is not None
    if t - track.started_at >= rule.min_duration_s:
        track = replace(track, phase=Phase.OPEN)
        return track, Change(ChangeKind.STARTED, track)
    return track, None


def finish(track: Track) -> Change | None:
    """Close an open track when its source stops (end of file, clean shutdown)."""
    if track.phase is Phase.OPEN:
        return Change(ChangeKind.ENDED, track, ended_at=track.last_above)
    return None


__all__ = ["Change", "EventRule", "Phase", "Track", "finish", "step"]
