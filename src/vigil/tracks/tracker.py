"""Tracker backends: detections of one frame in, the same detections with track ids out.

The association itself is Roboflow's ``trackers`` package (clean-room ByteTrack
and SORT, Apache-2.0); this module only adapts Vigil's detections to its
interchange type (supervision's ``Detections``) and gives every backend the same
two operations, ``update`` and ``reset``. ``reset`` is what a stream reconnect,
a jump in media time or a change of resolution calls: the tracker's motion model
would otherwise match boxes across a cut it knows nothing about.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import supervision as sv

from vigil.embedders.detection import Detection
from vigil.errors import InvalidInputError

# trackers counts its lost-track buffer in frames of a 30 fps video.
_TRACKERS_BUFFER_FPS = 30.0


@dataclass(frozen=True)
class TrackerConfig:
    """What every backend needs to know, in seconds and confidences, not frames."""

    rate_fps: float  # frames per second the tracker is fed
    lost_after_s: float  # how long an unseen track is kept for re-association
    activation_score: float  # confidence needed to start a track

    def __post_init__(self) -> None:
        if self.rate_fps <= 0 or self.lost_after_s <= 0:
            raise InvalidInputError(
                f"tracker rate and lost time must be > 0, got {self.rate_fps} fps, "
                f"{self.lost_after_s} s"
            )
        if not 0.0 < self.activation_score < 1.0:
            raise InvalidInputError(
                f"activation score must be in (0, 1), got {self.activation_score}"
            )


class Tracker(ABC):
    """One tracker per source; ``update`` is called once per tracked frame, in time order."""

    name: str = ""

    def __init__(self, config: TrackerConfig) -> None:
        self.config = config

    @abstractmethod
    def update(self, detections: sv.Detections, timestamp: float) -> sv.Detections:
        """The detections that belong to a confirmed track, with ``tracker_id`` set."""

    @abstractmethod
    def reset(self) -> None:
        """Forget every track (after a reconnect, a time jump or a resolution change)."""


class _RoboflowTracker(Tracker):
    """A tracker from the ``trackers`` package; confirmed detections only (id >= 0)."""

    def __init__(self, config: TrackerConfig) -> None:
        super().__init__(config)
        self._tracker = self._create()

    @abstractmethod
    def _create(self) -> object: ...

    def update(self, detections: sv.Detections, timestamp: float) -> sv.Detections:
        tracked = self._tracker.update(detections, timestamp=timestamp)  # type: ignore[attr-defined]
        assert isinstance(tracked, sv.Detections)
        if tracked.tracker_id is None or len(tracked) == 0:
            return sv.Detections.empty()
        confirmed = tracked[np.asarray(tracked.tracker_id) >= 0]
        assert isinstance(confirmed, sv.Detections)
        return confirmed

    def reset(self) -> None:
        self._tracker = self._create()


class ByteTrack(_RoboflowTracker):
    """ByteTrack (Zhang et al. 2022): low-confidence boxes keep occluded tracks alive."""

    name = "bytetrack"

    def _create(self) -> object:
        from trackers import ByteTrackTracker

        return ByteTrackTracker(
            lost_track_buffer=max(1, round(self.config.lost_after_s * _TRACKERS_BUFFER_FPS)),
            frame_rate=self.config.rate_fps,
            track_activation_threshold=self.config.activation_score,
            high_conf_det_threshold=self.config.activation_score,
            minimum_consecutive_frames=2,
            minimum_iou_threshold=0.1,
        )


class Sort(_RoboflowTracker):
    """SORT (Bewley et al. 2016): Kalman filter and IoU matching, the baseline."""

    name = "sort"

    def _create(self) -> object:
        from trackers import SORTTracker

        return SORTTracker(
            lost_track_buffer=max(1, round(self.config.lost_after_s * _TRACKERS_BUFFER_FPS)),
            frame_rate=self.config.rate_fps,
            track_activation_threshold=self.config.activation_score,
            minimum_consecutive_frames=2,
            minimum_iou_threshold=0.1,
        )


_REGISTRY: dict[str, Callable[[TrackerConfig], Tracker]] = {
    ByteTrack.name: ByteTrack,
    Sort.name: Sort,
}


def tracker_names() -> list[str]:
    return sorted(_REGISTRY)


def create_tracker(name: str, config: TrackerConfig) -> Tracker:
    """A tracker by name (``vigil.tracks.tracker_names()`` lists them)."""
    try:
        factory = _REGISTRY[name]
    except KeyError:
        raise InvalidInputError(
            f"unknown tracker {name!r}; choose one of {', '.join(tracker_names())}"
        ) from None
    return factory(config)


def detections_from_coco(found: Sequence[Detection]) -> sv.Detections:
    """supervision ``Detections`` (xyxy, confidence, class_id, data['label']) from COCO boxes."""
    if not found:
        return sv.Detections.empty()
    return sv.Detections(
        xyxy=np.asarray([d.xyxy for d in found], dtype=np.float32).reshape(-1, 4),  # (N, 4)
        confidence=np.asarray([d.score for d in found], dtype=np.float32),
        class_id=np.asarray([d.class_id for d in found], dtype=int),
        data={"label": np.asarray([d.label for d in found], dtype=object)},
    )
