"""Drift: has the camera's picture moved away from what the model was trained on?

The signal is the population stability index (PSI) between two histograms of the
model's confidence (its highest class probability per frame): the training
reference (the model run on its own training items, at load time) and the last
``window`` frames the runtime scored on one source. PSI sums
``(live - ref) * ln(live / ref)`` over the bins; the usual reading is < 0.1
stable, 0.1-0.2 moving, > 0.2 shifted. A model that meets scenes it never saw
(a new camera angle, night, snow, a lens covered) becomes unsure of itself or
confidently one-sided, and either moves the histogram.

Confidence needs no labels, so drift is known before anyone reviews an event;
it says "the inputs changed", not "the model is wrong", and is raised as a
warning event for a person to look at.

>>> monitor = DriftMonitor(reference_histogram(np.array([0.9, 0.95, 0.99])), window=50)
>>> for p in (0.4, 0.5, 0.45): monitor.add(p)  # doctest: +SKIP
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from vigil.errors import InvalidInputError

# Five equal-width confidence bins on [0, 1], and half a frame added to every bin of
# both histograms (additive smoothing). PSI is usually read on ten bins over large
# samples; over a window of a hundred frames against a reference of a few dozen
# training items, ten raw bins read sampling noise as drift. Measured with
# EfficientNet-Lite0 against 40 vtest.avi frames (reference): 40 other vtest frames
# gave 0.18 with 10 bins and 0.08 with these; 16 unrelated photos gave 0.96 and 0.82.
BINS = 5
PSEUDO_COUNT = 0.5


def reference_histogram(confidences: np.ndarray, bins: int = BINS) -> np.ndarray:
    """Counts of ``confidences`` (N,) in ``bins`` equal bins on [0, 1] (float64)."""
    values = np.asarray(confidences, dtype=np.float64).ravel()
    if values.size == 0:
        raise InvalidInputError("a drift reference needs at least one score, got none")
    counts, _ = np.histogram(np.clip(values, 0.0, 1.0), bins=bins, range=(0.0, 1.0))
    return counts.astype(np.float64)


def psi(reference: np.ndarray, live: np.ndarray) -> float:
    """Population stability index between two histograms of counts (same bins)."""
    if reference.shape != live.shape:
        raise InvalidInputError(
            f"PSI needs histograms of the same bins, got {reference.shape} and {live.shape}"
        )
    expected = reference + PSEUDO_COUNT
    actual = live + PSEUDO_COUNT
    expected, actual = expected / expected.sum(), actual / actual.sum()
    return float(np.sum((actual - expected) * np.log(actual / expected)))


@dataclass(frozen=True)
class DriftReading:
    """Where one source stands against the training reference."""

    psi: float | None  # None until min_frames were scored
    frames: int  # scored frames in the window
    shifted: bool  # psi above the bound


class DriftMonitor:
    """The last ``window`` confidences of one source against a reference histogram."""

    def __init__(
        self,
        reference: np.ndarray,
        *,
        window: int = 120,
        min_frames: int = 30,
        bound: float = 0.2,
    ) -> None:
        if window < 1 or not 1 <= min_frames <= window:
            raise InvalidInputError(
                f"drift needs window >= 1 and 1 <= min_frames <= window, got {window}, {min_frames}"
            )
        if bound <= 0:
            raise InvalidInputError(f"the drift bound must be > 0, got {bound}")
        self.reference = np.asarray(reference, dtype=np.float64)
        self.bins = len(self.reference)
        self.min_frames = min_frames
        self.bound = bound
        self._live: deque[float] = deque(maxlen=window)
        self.warned = False  # a warning was raised and PSI has not come back under the bound

    def add(self, confidence: float) -> None:
        self._live.append(float(confidence))

    def extend(self, confidences: Sequence[float]) -> None:
        for value in confidences:
            self.add(value)

    def reading(self) -> DriftReading:
        frames = len(self._live)
        if frames < self.min_frames:
            return DriftReading(None, frames, False)
        live = reference_histogram(np.fromiter(self._live, dtype=np.float64), self.bins)
        value = psi(self.reference, live)
        return DriftReading(value, frames, value > self.bound)

    def should_warn(self) -> DriftReading | None:
        """The reading when it just crossed the bound (once per crossing), else None."""
        reading = self.reading()
        if reading.psi is None:
            return None
        if reading.shifted and not self.warned:
            self.warned = True
            return reading
        if not reading.shifted:
            self.warned = False
        return None


__all__ = ["BINS", "PSEUDO_COUNT", "DriftMonitor", "DriftReading", "psi", "reference_histogram"]
