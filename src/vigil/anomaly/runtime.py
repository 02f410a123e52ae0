"""Anomaly models in the runtime: ``vigil run --model FOLDER`` for a fitted or exported bank.

The runtime speaks per-class probabilities; an anomaly model answers two
"classes", normal and anomalous, with the same relative probability the
scenario labels carry (``vigil.anomaly.scenario``): the head's probability when
defects were given, else ``score / threshold / 2`` clipped to [0, 1], so 0.5 is
the model's own threshold and ``--class anomalous`` alerts exactly where the
scenario would label "anomalous".
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from vigil.anomaly.features import PatchExtractor
from vigil.anomaly.patchcore import AnomalyModel
from vigil.runtime.scorers import Scorer
from vigil.scenarios.spec import ANOMALY_CLASSES


def is_anomaly_folder(path: Path) -> bool:
    """A folder holding a fitted bank (card.json + bank.npy), as written by label or export."""
    return path.is_dir() and (path / "card.json").is_file() and (path / "bank.npy").is_file()


class AnomalyScorer(Scorer):
    """PatchCore scores as (normal, anomalous) probabilities for the runtime."""

    def __init__(self, folder: Path, *, scenario: str = "") -> None:
        self.model = AnomalyModel.load(folder)
        self.extractor = PatchExtractor(self.model.config)
        self.class_names = ANOMALY_CLASSES
        self.scenario = scenario
        self.model_id = f"anomaly:{folder.resolve()}"
        self._lock = threading.Lock()

    def _score_batch(self, images: list[np.ndarray]) -> np.ndarray:
        with self._lock:
            scored = self.model.score(images, self.extractor)
        if self.model.head is not None:
            anomalous = np.array([item.score for item in scored])
        else:
            relative = np.array([item.score for item in scored]) / max(self.model.threshold, 1e-9)
            anomalous = np.clip(relative / 2.0, 0.0, 1.0)
        return np.stack([1.0 - anomalous, anomalous], axis=1).astype(np.float32)


__all__ = ["AnomalyScorer", "is_anomaly_folder"]
