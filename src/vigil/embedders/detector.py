"""The bundled COCO object detector (SSD MobileNet v2, TF model zoo).

One class for everything that needs boxes: the concept-bridge embedder pools its
detections into image vectors, and object structuring stores them as records.
It runs in onnxruntime when set-up converted the graph (``ssd_onnx``: 1.7-2x
faster, identical detections), else in OpenCV DNN. OpenCV's DNN network is not
safe to call from two threads at once (it crashes), so each call holds the
detector's lock.

The detector remembers the raw network output of the last ``MEMO_SIZE`` images it
saw, by object identity: when the frame pass has just detected a decoded frame
and the object pass asks about the same array, the SSD does not run again
(issue 17: ``--objects`` used to run it twice per frame). The raw rows keep every
score, so a later call at any threshold filters them exactly as a new run would.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections import OrderedDict
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from vigil.embedders.bundled import locate_concept_bridge_files, vigil_cache_dir
from vigil.embedders.detection import Detection
from vigil.embedders.ssd_onnx import OnnxSsd, load_cached_ssd
from vigil.errors import InvalidInputError, ModelUnavailableError

log = logging.getLogger(__name__)

# SSD MobileNet v2 COCO takes 300x300 RGB; OpenCV's text graph does its own scaling.
DETECTOR_SIZE = 300
DETECTOR_ID = "ssd-mobilenet-v2-coco"
DETECTOR_BACKENDS = ("auto", "onnx", "opencv")
MEMO_SIZE = 256  # images whose raw detections are kept (a few batches of frames)


class CocoDetector:
    """SSD MobileNet v2 COCO: boxes, COCO class names and scores for RGB uint8 images."""

    detector_id = DETECTOR_ID

    def __init__(
        self,
        class_names: dict[int, str],
        *,
        graph: Path | None = None,
        config: Path | None = None,
        cache_dir: Path | None = None,
        backend: str = "auto",
    ) -> None:
        if backend not in DETECTOR_BACKENDS:
            raise InvalidInputError(
                f"detector backend must be one of {DETECTOR_BACKENDS}, got {backend!r}"
            )
        if graph is None or config is None:
            files = locate_concept_bridge_files()
            graph, config = files.detector_graph, files.detector_config
        self.class_names = class_names
        self._onnx: OnnxSsd | None = None
        self._network: Any = None
        self.backend_note = ""  # why OpenCV runs it, when "auto" fell back
        if backend != "opencv":
            try:
                self._onnx = load_cached_ssd(cache_dir or vigil_cache_dir(), graph)
            except ModelUnavailableError as error:
                if backend == "onnx":
                    raise
                self.backend_note = str(error)
                log.info("SSD runs in OpenCV DNN: %s", error)
        if self._onnx is None:
            self._network = _load_network(graph, config)
        self.backend = "onnx" if self._onnx is not None else "opencv"
        self._lock = threading.Lock()
        self._memo_lock = threading.Lock()
        # id(image) -> (weak reference to it, its raw (M, 7) rows); identity is checked.
        self._memo: OrderedDict[int, tuple[weakref.ref[np.ndarray], np.ndarray]] = OrderedDict()
        self.network_images = 0  # images the network actually ran on (memo misses)

    def detect_batch(self, images: list[np.ndarray], min_score: float) -> list[list[Detection]]:
        """Objects scoring at least ``min_score`` in each image, best first, one network call."""
        if not images:
            return []
        # Two locks: the network's (held for a whole forward pass) and the memory's, so
        # the object stage reads remembered frames while the frame pass runs the next batch.
        with self._memo_lock:
            raws: list[np.ndarray | None] = [self._remembered(image) for image in images]
        missing = [i for i, raw in enumerate(raws) if raw is None]
        if missing:
            with self._lock:
                rows = self._forward([images[i] for i in missing])
            with self._memo_lock:
                self.network_images += len(missing)
                for position, index in enumerate(missing):
                    mine = rows[rows[:, 0] == position]
                    raws[index] = mine
                    self._remember(images[index], mine)
        return [
            self._parse(image, raw if raw is not None else np.zeros((0, 7), np.float32), min_score)
            for image, raw in zip(images, raws, strict=True)
        ]

    def _forward(self, images: list[np.ndarray]) -> np.ndarray:
        """Raw (M, 7) rows for ``images``: position in the list, class, score, x1 y1 x2 y2."""
        try:
            if self._onnx is not None:
                # Resized here exactly as blobFromImages does for OpenCV: same pixels in,
                # same detections out (the graph's own resize is then the identity).
                batch = np.stack(
                    [cv2.resize(image, (DETECTOR_SIZE, DETECTOR_SIZE)) for image in images]
                )  # (N, 300, 300, 3) uint8 RGB
                return self._onnx.run(batch)
            # blobFromImages wants BGR when swapRB=True; our frames are RGB, so no swap.
            blob = cv2.dnn.blobFromImages(
                images, size=(DETECTOR_SIZE, DETECTOR_SIZE), swapRB=False, crop=False
            )
            self._network.setInput(blob)
            raw = self._network.forward()  # (1, 1, N, 7): image, class, score, x1 y1 x2 y2
        except cv2.error as error:
            raise ModelUnavailableError(f"SSD MobileNet v2 COCO failed: {error}") from error
        except Exception as error:  # onnxruntime's errors are untyped
            if self._onnx is None:
                raise
            raise ModelUnavailableError(f"SSD MobileNet v2 COCO (ONNX) failed: {error}") from error
        return np.asarray(raw, dtype=np.float32).reshape(-1, 7)

    def _remembered(self, image: np.ndarray) -> np.ndarray | None:
        entry = self._memo.get(id(image))
        if entry is None or entry[0]() is not image:
            return None
        return entry[1]

    def _remember(self, image: np.ndarray, rows: np.ndarray) -> None:
        try:
            reference = weakref.ref(image)
        except TypeError:
            return  # an array subclass without weak references: not remembered
        self._memo[id(image)] = (reference, rows)
        self._memo.move_to_end(id(image))
        while len(self._memo) > MEMO_SIZE:
            self._memo.popitem(last=False)

    def _parse(self, image: np.ndarray, raw: np.ndarray, min_score: float) -> list[Detection]:
        height, width = image.shape[:2]
        found: list[Detection] = []
        for row in raw:
            score = float(row[2])
            class_id = int(row[1])
            if score < min_score or class_id not in self.class_names:
                continue
            x1, y1, x2, y2 = (float(v) for v in np.clip(row[3:7], 0.0, 1.0))
            found.append(
                Detection.from_normalized(
                    (x1, y1, x2, y2),
                    width=width,
                    height=height,
                    label=self.class_names[class_id],
                    score=score,
                    class_id=class_id,
                )
            )
        return sorted(found, key=lambda d: -d.score)


def _load_network(graph: Path, config: Path) -> Any:
    try:
        return cv2.dnn.readNetFromTensorflow(str(graph), str(config))
    except cv2.error as error:
        raise ModelUnavailableError(
            f"OpenCV cannot read SSD MobileNet v2 COCO from {graph} + {config}: {error}"
        ) from error
