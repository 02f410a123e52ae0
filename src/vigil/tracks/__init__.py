"""Tracks: follow objects from frame to frame, one record per tracked object.

``build_tracks`` is the pass (detect at the tracking rate, track, store); the
records, trajectories and pooled vectors live in ``vigil.catalog.tracks_store``.
"""

from vigil.tracks.build import TrackBuildReport, TrackPass, build_tracks
from vigil.tracks.tracker import (
    Tracker,
    TrackerConfig,
    create_tracker,
    detections_from_coco,
    tracker_names,
)

__all__ = [
    "TrackBuildReport",
    "TrackPass",
    "Tracker",
    "TrackerConfig",
    "build_tracks",
    "create_tracker",
    "detections_from_coco",
    "tracker_names",
]
