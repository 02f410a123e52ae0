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

BINS = 10  # equal-width confidence bins on [0, 1]
EPSILON = 1e-3  # floor of a bin's share: an empty bin would make PSI infinite


def reference_histogram(confidences: np.ndarray, bins: int = BINS) -> np.ndarray:
    """Share of ``confidences`` (N,) in each of ``bins`` equal bins on [0, 1]."""
    values = np.asarray(confidences, dtype=np.float64).ravel()
    if values.size == 0:
        raise InvalidInputError("a drift reference needs at least one score, got none")
    counts, _ = np.histogram(np.clip(values, 0.0, 1.0), bins=bins, range=(0.0, 1.0))
    shares: np.ndarray = counts / counts.sum()
    return shares


def psi(reference: np.ndarray, live: np.ndarray) -> float:
    """Population stability index between two histograms of shares (same bins)."""
    if reference.shape != live.shape:
        raise InvalidInputError(
            f"PSI needs histograms of the same bins, got {reference.shape} and {live.shape}"
        )
    expected = np.clip(reference, EPSILON, None)
    actual = np.clip(live, EPSILON, None)
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


__all__ = ["BINS", "DriftMonitor", "DriftReading", "psi", "reference_histogram"]
