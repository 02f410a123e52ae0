"""Sources: cameras and archives, decoded into timestamped frames and sampled."""

from vigil.sources.readers import (
    FrameReader,
    SourceInfo,
    detect_kind,
    open_frames,
    probe,
    reconnect,
)
from vigil.sources.sampling import frame_difference, sample_frames
from vigil.sources.types import Frame, Source, SourceKind, SourceSpec

__all__ = [
    "Frame",
    "FrameReader",
    "Source",
    "SourceInfo",
    "SourceKind",
    "SourceSpec",
    "detect_kind",
    "frame_difference",
    "open_frames",
    "probe",
    "reconnect",
    "sample_frames",
]
