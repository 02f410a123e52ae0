"""Sampling: pick the frames worth embedding from a decoded sequence.

Two rules, applied in order:

1. **Fixed grid.** Slot ``k`` covers media time ``[k * interval_s, (k+1) * interval_s)``;
   the candidate of a slot is the first frame whose ``media_time >= k * interval_s``.
   The grid is anchored at media time 0, not at wherever decoding started, so a
   frame's candidacy depends only on its own time and the time of the frame
   before it.
2. **De-duplication.** A candidate whose ``frame_difference`` to the last *kept*
   frame is below ``dedup_threshold`` is dropped: a static camera then costs one
   embedding per scene change, not one per second. The slot is consumed either way.

Why a resumed run equals an uninterrupted one: after a frame ``R`` is kept, the
sampler's whole state is ``(next slot = slot(R) + 1, last kept = R)``, and both
parts are functions of ``R`` alone. Resuming with ``start_time = R.media_time``
and ``reference = R`` rebuilds exactly that state (``R`` itself is recognised as
already kept and not emitted again), so every later decision, and thus every
later kept frame, is the same. Resuming from a frame that was *not* kept, or
without a reference, is still valid but may differ from the uninterrupted run.

Example::

    with open_frames(spec) as reader:
        for frame in sample_frames(reader, SamplingSettings(interval_s=1.0)):
            ...
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator

import cv2
import numpy as np

from vigil.errors import InvalidInputError
from vigil.settings import SamplingSettings
from vigil.sources.types import Frame

THUMBNAIL_SIDE = 32
# Media times are floats built from exact rationals (pts x time_base); without slack,
# 0.3 / 0.1 = 2.9999999999999996 would put the frame at 0.3 s in slot 2 instead of 3.
_SLOT_EPS = 1e-6


def thumbnail(image: np.ndarray) -> np.ndarray:
    """32x32 grey float32 thumbnail in 0..1: cheap, and blind to sensor noise and JPEG blocks."""
    if image.ndim != 3 or image.shape[2] != 3:
        raise InvalidInputError(f"expected an (H, W, 3) RGB image, got shape {image.shape}")
    grey = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2GRAY)  # (H, W)
    small = cv2.resize(grey, (THUMBNAIL_SIDE, THUMBNAIL_SIDE), interpolation=cv2.INTER_AREA)
    return small.astype(np.float32) / 255.0  # (32, 32)


def frame_difference(a: Frame | np.ndarray, b: Frame | np.ndarray) -> float:
    """Mean absolute difference of the two frames' grey thumbnails, 0 (same) .. 1.

    >>> frame_difference(frame, frame)
    0.0
    """
    return _thumb_difference(_thumb(a), _thumb(b))


def _thumb(item: Frame | np.ndarray) -> np.ndarray:
    return thumbnail(item.image if isinstance(item, Frame) else item)


def _thumb_difference(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).mean())


def _slot(media_time: float, interval_s: float) -> int:
    return math.floor(media_time / interval_s + _SLOT_EPS)


def sample_frames(
    frames: Iterable[Frame],
    settings: SamplingSettings,
    *,
    reference: Frame | None = None,
) -> Iterator[Frame]:
    """Yield the frames kept by the fixed grid and the de-duplication rule.

    ``reference`` is the last frame kept by an earlier run that this one resumes;
    it seeds both the grid position and the de-duplication baseline, and is not
    yielded again if the resumed sequence starts with it.
    """
    interval = settings.interval_s
    threshold = settings.dedup_threshold
    next_slot = 0
    last_kept: np.ndarray | None = None
    if reference is not None:
        next_slot = _slot(reference.media_time, interval) + 1
        last_kept = _thumb(reference) if threshold > 0 else None
    for frame in frames:
        slot = _slot(frame.media_time, interval)
        if slot < next_slot:
            continue
        next_slot = slot + 1
        if threshold > 0:
            current = _thumb(frame)
            if last_kept is not None and _thumb_difference(current, last_kept) < threshold:
                continue
            last_kept = current
        yield frame


__all__ = ["THUMBNAIL_SIDE", "frame_difference", "sample_frames", "thumbnail"]
