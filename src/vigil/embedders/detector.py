"""The bundled COCO object detector (SSD MobileNet v2, TF model zoo), run by OpenCV DNN.

One class for everything that needs boxes: the concept-bridge embedder pools its
detections into image vectors, and object structuring stores them as records.
OpenCV's DNN network is not safe to call from two threads at once (it crashes),
so each call holds the detector's lock.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from vigil.embedders.bundled import locate_concept_bridge_files
from vigil.embedders.detection import Detection
from vigil.errors import ModelUnavailableError

# SSD MobileNet v2 COCO takes 300x300 RGB; OpenCV's text graph does its own scaling.
DETECTOR_SIZE = 300
DETECTOR_ID = "ssd-mobilenet-v2-coco"


class CocoDetector:
    """SSD MobileNet v2 COCO: boxes, COCO class names and scores for RGB uint8 images."""

    detector_id = DETECTOR_ID

    def __init__(
        self,
        class_names: dict[int, str],
        *,
        graph: Path | None = None,
        config: Path | None = None,
    ) -> None:
        if graph is None or config is None:
            files = locate_concept_bridge_files()
            graph, config = files.detector_graph, files.detector_config
        self.class_names = class_names
        self._network = _load_network(graph, config)
        self._lock = threading.Lock()

    def detect_batch(self, images: list[np.ndarray], min_score: float) -> list[list[Detection]]:
        """Objects scoring at least ``min_score`` in each image, best first, one network call."""
        if not images:
            return []
        # blobFromImages wants BGR when swapRB=True; our frames are RGB, so no swap.
        blob = cv2.dnn.blobFromImages(
            images, size=(DETECTOR_SIZE, DETECTOR_SIZE), swapRB=False, crop=False
        )
        try:
            with self._lock:
                self._network.setInput(blob)
                raw = self._network.forward()  # (1, 1, N, 7): image, class, score, x1 y1 x2 y2
        except cv2.error as error:
            raise ModelUnavailableError(f"SSD MobileNet v2 COCO failed: {error}") from error
        found: list[list[Detection]] = [[] for _ in images]
        for row in raw.reshape(-1, 7):
            score = float(row[2])
            class_id = int(row[1])
            if score < min_score or class_id not in self.class_names:
                continue
            position = int(row[0])
            height, width = images[position].shape[:2]
            x1, y1, x2, y2 = (float(v) for v in np.clip(row[3:7], 0.0, 1.0))
            found[position].append(
                Detection.from_normalized(
                    (x1, y1, x2, y2),
                    width=width,
                    height=height,
                    label=self.class_names[class_id],
                    score=score,
                    class_id=class_id,
                )
            )
        return [sorted(items, key=lambda d: -d.score) for items in found]


def _load_network(graph: Path, config: Path) -> Any:
    try:
        return cv2.dnn.readNetFromTensorflow(str(graph), str(config))
    except cv2.error as error:
        raise ModelUnavailableError(
            f"OpenCV cannot read SSD MobileNet v2 COCO from {graph} + {config}: {error}"
        ) from error
