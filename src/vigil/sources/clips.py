"""Look again at an indexed moment: its frame at full resolution, and a short clip around it.

Search stores a 320x240 thumbnail per frame, which is enough to pick a hit but not to
judge it. An operator who opens a hit wants the original pixels and a few seconds of
motion around it; both are decoded again from the source file by the same readers that
indexed it (so frame numbers agree), never from a path the client sends.

Clips are WebM (VP8), which every current browser plays, cut with PyAV and kept in a
cache folder: a second look costs a file read. Both the clip and the cache are capped:
at most ``MAX_CLIP_SECONDS`` of media, at most ``MAX_CLIP_SIDE`` pixels on the long
side, and the cache folder is trimmed (oldest first) to ``max_bytes``.

Only video files can be cut: a folder of stills has no motion, and a live stream cannot
be read again (``SourceError``, which the REST API answers with 422).

>>> spec = SourceSpec(name="gate", kind=SourceKind.VIDEO, location="vtest.avi")
>>> image = read_frame(spec, frame_index=250, media_time=25.0)  # doctest: +SKIP
>>> cache = ClipCache(Path("home/cache/clips"), max_bytes=200 * 2**20)  # doctest: +SKIP
>>> cache.clip(spec, key="frame-12", media_time=25.0)  # doctest: +SKIP
PosixPath('home/cache/clips/frame-12-2.0-2.0.webm')
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image

from vigil.errors import InvalidInputError, NotFoundError, SourceError
from vigil.sources.readers import open_frames
from vigil.sources.types import SourceKind, SourceSpec

log = logging.getLogger(__name__)

MAX_CLIP_SECONDS = 10.0  # before + after: enough to see what happened, small to send
MAX_CLIP_SIDE = 640  # pixels on the long side of a clip; the full frame is served apart
CLIP_FPS = 12  # frames per second written: smooth enough to follow people, a third the size
DEFAULT_CACHE_BYTES = 256 * 2**20


def read_frame(spec: SourceSpec, *, frame_index: int, media_time: float) -> np.ndarray:
    """The indexed frame's RGB pixels (H, W, 3) at the source's own resolution.

    Raises ``SourceError`` for live streams (they cannot be read again) and
    ``NotFoundError`` when the file no longer holds that frame.
    """
    if spec.kind == SourceKind.STREAM:
        raise SourceError(
            f"source {spec.name!r} is a live stream: its frames cannot be decoded again"
        )
    with open_frames(spec, start_time=max(0.0, media_time)) as reader:
        for frame in reader:
            if frame.index == frame_index:
                return frame.image
            if frame.index > frame_index:
                break
    raise NotFoundError(
        f"frame {frame_index} of source {spec.name!r} could not be decoded again "
        "(was the file changed or moved?)"
    )


@dataclass(frozen=True)
class ClipWindow:
    """Seconds of media before and after the moment; checked against the caps."""

    before_s: float = 2.0
    after_s: float = 2.0

    def __post_init__(self) -> None:
        if self.before_s < 0 or self.after_s < 0:
            raise InvalidInputError(
                f"clip window must be >= 0 s on both sides, got {self.before_s}, {self.after_s}"
            )
        if self.before_s + self.after_s > MAX_CLIP_SECONDS:
            raise InvalidInputError(
                f"a clip is at most {MAX_CLIP_SECONDS:g} s long, "
                f"asked {self.before_s + self.after_s:g} s"
            )
        if self.before_s + self.after_s <= 0:
            raise InvalidInputError("a clip needs some length: before_s + after_s must be > 0")


def _even(value: float) -> int:
    """VP8 wants even dimensions (4:2:0 chroma)."""
    return max(2, int(value) // 2 * 2)


def _clip_size(width: int, height: int) -> tuple[int, int]:
    scale = min(1.0, MAX_CLIP_SIDE / max(width, height))
    return _even(width * scale), _even(height * scale)


def cut_clip(spec: SourceSpec, media_time: float, path: Path, window: ClipWindow) -> Path:
    """Write ``window`` around ``media_time`` of a video file to ``path`` as WebM (VP8).

    Decodes with the indexing reader from ``media_time - before_s`` (it seeks to the
    keyframe before), keeps one frame per 1/CLIP_FPS s, scales to at most MAX_CLIP_SIDE,
    and writes to a temporary file renamed into place, so a reader never sees half a clip.
    """
    if spec.kind != SourceKind.VIDEO:
        what = "a live stream" if spec.kind == SourceKind.STREAM else "a folder of still images"
        raise SourceError(f"source {spec.name!r} is {what}: clips exist only for video files")
    start = max(0.0, media_time - window.before_s)
    end = media_time + window.after_s
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(suffix=".webm", dir=path.parent, prefix=".clip-")
    os.close(handle)
    written = 0
    try:
        with av.open(temporary, mode="w", format="webm") as container:
            stream = container.add_stream("libvpx", rate=CLIP_FPS)
            stream.pix_fmt = "yuv420p"
            stream.time_base = Fraction(1, CLIP_FPS)
            stream.options = {"deadline": "realtime", "cpu-used": "8", "crf": "10", "b": "1M"}
            size: tuple[int, int] | None = None
            next_slot = 0
            with open_frames(spec, start_time=start) as reader:
                for frame in reader:
                    if frame.media_time > end:
                        break
                    slot = int((frame.media_time - start) * CLIP_FPS + 1e-6)
                    if slot < next_slot:
                        continue  # the source runs faster than the clip: drop this one
                    if size is None:
                        size = _clip_size(frame.image.shape[1], frame.image.shape[0])
                        stream.width, stream.height = size
                    image = Image.fromarray(frame.image).resize(size, Image.Resampling.BILINEAR)
                    video_frame = av.VideoFrame.from_ndarray(np.asarray(image), format="rgb24")
                    video_frame.pts = slot
                    container.mux(stream.encode(video_frame))
                    next_slot = slot + 1
                    written += 1
            if written:
                container.mux(stream.encode(None))
        if not written:
            raise NotFoundError(
                f"no frames of source {spec.name!r} between {start:.2f} s and {end:.2f} s"
            )
        os.replace(temporary, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
    return path


class ClipCache:
    """Clips cut once and kept in ``folder``, trimmed oldest-first to ``max_bytes``.

    ``key`` names the moment (e.g. ``frame-12``): the caller derives it from catalog
    ids, never from client text, so it is a safe file name.
    """

    def __init__(self, folder: Path, *, max_bytes: int = DEFAULT_CACHE_BYTES) -> None:
        if max_bytes <= 0:
            raise InvalidInputError(f"clip cache size must be > 0 bytes, got {max_bytes}")
        self.folder = folder
        self.max_bytes = max_bytes

    def path_for(self, key: str, window: ClipWindow) -> Path:
        if not key or "/" in key or "\\" in key or key.startswith("."):
            raise InvalidInputError(f"clip key must be a plain file name, got {key!r}")
        return self.folder / f"{key}-{window.before_s:g}-{window.after_s:g}.webm"

    def clip(
        self, spec: SourceSpec, *, key: str, media_time: float, window: ClipWindow | None = None
    ) -> Path:
        """The cached clip for ``key``, cut now if it is not there yet."""
        window = window or ClipWindow()
        path = self.path_for(key, window)
        if path.is_file():
            path.touch()  # recently seen: trimmed last
            return path
        cut_clip(spec, media_time, path, window)
        self.trim(keep=path)
        return path

    def trim(self, *, keep: Path | None = None) -> int:
        """Delete the least recently used clips until the folder fits; returns how many."""
        clips = sorted(
            (p for p in self.folder.glob("*.webm") if p.is_file()),
            key=lambda p: p.stat().st_mtime,
        )
        total = sum(p.stat().st_size for p in clips)
        removed = 0
        for clip in clips:
            if total <= self.max_bytes:
                break
            if keep is not None and clip == keep:
                continue
            size = clip.stat().st_size
            with contextlib.suppress(FileNotFoundError):
                clip.unlink()
                total -= size
                removed += 1
        return removed


__all__ = [
    "CLIP_FPS",
    "MAX_CLIP_SECONDS",
    "MAX_CLIP_SIDE",
    "ClipCache",
    "ClipWindow",
    "cut_clip",
    "read_frame",
]
