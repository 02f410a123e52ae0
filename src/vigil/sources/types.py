"""Types that cross the sources stage boundary."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

import numpy as np

from vigil.errors import InvalidInputError


class SourceKind(StrEnum):
    """What a source's location points at."""

    VIDEO = "video"  # a video file (anything FFmpeg decodes)
    IMAGES = "images"  # a folder of still images
    STREAM = "stream"  # a live rtsp://, rtmp://, http(s):// stream


@dataclass(frozen=True)
class SourceSpec:
    """What a user gives to register a camera or archive."""

    name: str
    kind: SourceKind
    location: str
    site: str | None = None
    position: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.name.strip():
            raise InvalidInputError("source name must not be empty")
        if not self.location.strip():
            raise InvalidInputError("source location must not be empty")


@dataclass(frozen=True)
class Source(SourceSpec):
    """A registered source, as stored in the catalog."""

    id: int = 0
    created_at: datetime | None = None


@dataclass
class Frame:
    """One decoded frame and where it came from.

    ``index`` is the frame's position in decode order (video) or in sorted file
    order (image folder); together with the source it identifies the frame, so
    re-indexing never stores it twice. ``media_time`` is the presentation time in
    seconds from the start of the media (pts x time_base), not a frame count
    divided by a nominal rate.
    """

    index: int
    media_time: float
    image: np.ndarray  # (H, W, 3) uint8, RGB
    captured_at: datetime | None = None  # wall-clock time when known (stream, EXIF, file mtime)
    name: str | None = None  # file name for image folders

    def __post_init__(self) -> None:
        if self.image.ndim != 3 or self.image.shape[2] != 3 or self.image.dtype != np.uint8:
            raise InvalidInputError(
                "frame image must be (H, W, 3) uint8 RGB, "
                f"got shape {self.image.shape} dtype {self.image.dtype}"
            )
        if self.index < 0:
            raise InvalidInputError(f"frame index must be >= 0, got {self.index}")
