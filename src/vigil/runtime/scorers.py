"""Scorers: anything that turns a batch of RGB frames into per-class probabilities.

Two kinds share one interface (``class_names`` + ``score(images) -> (N, C)``):

* ``OnnxScorer``: a small registered scenario model, an ONNX classifier whose
  ``ModelCard`` (in the file's metadata) says how to preprocess and what the
  classes are, so the runtime never restates either;
* ``ZeroShotScorer``: the big image-text model, zero-shot over class prompts
  (image embedding . mean prompt embedding, softmax with a temperature).

>>> scorer = OnnxScorer(Path("models/walkway.onnx"))  # doctest: +SKIP
>>> scorer.score([frame.image]).shape  # doctest: +SKIP
(1, 3)
"""

from __future__ import annotations

import hashlib
import threading
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from vigil.distill.model_card import INPUT_NAME, ModelCard, ResizeMode, read_model_card
from vigil.embedders.base import Embedder, l2_normalize
from vigil.errors import InvalidInputError, ModelUnavailableError


class Scorer(ABC):
    """One model run by the runtime; checks live here, backends implement ``_score_batch``."""

    model_id: str  # stored with every event
    scenario: str  # the scenario the classes belong to ('' when unknown)
    class_names: tuple[str, ...]
    # Set when the model came from the registry: stored with every event it raises.
    model_version: str | None = None
    registry_model_id: int | None = None
    # Training distribution of the model's confidence (``vigil.runtime.drift``), when known.
    drift_reference: np.ndarray | None = None

    @abstractmethod
    def _score_batch(self, images: list[np.ndarray]) -> np.ndarray:
        """(N, C) float32 probabilities for N checked RGB uint8 images."""

    def score(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """Per-class probabilities (N, C) in ``class_names`` order."""
        batch = list(images)
        for position, image in enumerate(batch):
            if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
                raise InvalidInputError(
                    f"image {position}: expected (H, W, 3) uint8 RGB, got "
                    f"{image.shape} {image.dtype}"
                )
        if not batch:
            return np.zeros((0, len(self.class_names)), dtype=np.float32)
        scores = self._score_batch(batch)
        expected = (len(batch), len(self.class_names))
        if scores.shape != expected:
            raise ModelUnavailableError(
                f"{self.model_id} returned scores shaped {scores.shape}, expected {expected}"
            )
        return scores

    def overlay(self, image: np.ndarray) -> np.ndarray | None:
        """Why this thread's last score came out as it did, drawn over ``image``; or None.

        Most models have nothing to draw; an anomaly bank draws its heatmap. The event
        recorder calls it in the scoring thread right after ``score``, at an event's new
        peak, and stores what it returns as evidence beside the best frame.
        """
        return None


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    probs: np.ndarray = (exp / exp.sum(axis=1, keepdims=True)).astype(np.float32)
    return probs


def preprocess(image: np.ndarray, card: ModelCard) -> np.ndarray:
    """RGB uint8 (H, W, 3) -> float32 (3, h, w) as the model card says."""
    height, width = card.input_size
    src_h, src_w = image.shape[:2]
    if card.resize is ResizeMode.STRETCH:
        resized = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)
    elif card.resize is ResizeMode.CENTER_CROP:
        scale = max(height / src_h, width / src_w)
        size = (max(width, round(src_w * scale)), max(height, round(src_h * scale)))
        scaled = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        top, left = (size[1] - height) // 2, (size[0] - width) // 2
        resized = scaled[top : top + height, left : left + width]
    else:  # letterbox: fit inside, pad with the mean colour
        scale = min(height / src_h, width / src_w)
        size = (max(1, round(src_w * scale)), max(1, round(src_h * scale)))
        scaled = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        fill = np.array(card.mean, dtype=np.float32) * 255.0
        resized = np.empty((height, width, 3), dtype=np.uint8)
        resized[:] = np.clip(fill, 0, 255).astype(np.uint8)
        top, left = (height - size[1]) // 2, (width - size[0]) // 2
        resized[top : top + size[1], left : left + size[0]] = scaled
    mean = np.array(card.mean, dtype=np.float32)
    std = np.array(card.std, dtype=np.float32)
    scaled_pixels = (resized.astype(np.float32) / 255.0 - mean) / std
    return np.ascontiguousarray(scaled_pixels.transpose(2, 0, 1))  # (3, h, w)


class OnnxScorer(Scorer):
    """A Vigil ONNX classifier run with onnxruntime on the CPU.

    ``threads`` is onnxruntime's intra-op pool per call; 1 lets several sources
    score in parallel on a small machine instead of fighting over one big pool.
    """

    def __init__(self, path: Path, *, threads: int = 1) -> None:
        try:
            import onnxruntime as ort
        except ImportError as error:
            raise ModelUnavailableError(f"onnxruntime is needed to run {path}: {error}") from error
        self.path = Path(path)
        self.card = read_model_card(self.path)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3  # errors only: warnings are not actionable here
        try:
            self._session = ort.InferenceSession(
                str(self.path), options, providers=["CPUExecutionProvider"]
            )
        except Exception as error:  # onnxruntime raises its own untyped errors
            raise ModelUnavailableError(f"onnxruntime cannot load {self.path}: {error}") from error
        digest = hashlib.sha256(self.path.read_bytes()).hexdigest()[:12]
        self.model_id = f"onnx:{self.path.stem}:{digest}"
        self.scenario = self.card.scenario or self.path.stem
        self.class_names = self.card.class_names

    def _score_batch(self, images: list[np.ndarray]) -> np.ndarray:
        batch = np.stack([preprocess(image, self.card) for image in images])  # (N, 3, h, w)
        try:
            (logits,) = self._session.run(None, {INPUT_NAME: batch})[:1]
        except Exception as error:
            raise ModelUnavailableError(f"{self.model_id} failed on a batch: {error}") from error
        return softmax(np.asarray(logits, dtype=np.float32))


class ZeroShotScorer(Scorer):
    """The big model: cosine to each class's mean prompt embedding, softmax over T."""

    def __init__(
        self,
        embedder: Embedder,
        prompts: dict[str, list[str]],
        *,
        scenario: str = "",
        temperature: float | None = None,
        text_vectors: np.ndarray | None = None,
    ) -> None:
        if len(prompts) < 2 or any(not texts for texts in prompts.values()):
            raise InvalidInputError(
                "zero-shot scoring needs at least two classes with one prompt or more each, "
                f"got {prompts}"
            )
        if temperature is None:
            from vigil.scenarios.classify import default_temperature

            temperature = default_temperature(embedder.model_id)
        if temperature <= 0:
            raise InvalidInputError(f"temperature must be > 0, got {temperature}")
        self.embedder = embedder
        self._lock = threading.Lock()
        self.temperature = temperature
        self.class_names = tuple(prompts)
        self.scenario = scenario
        self.model_id = f"zero-shot:{embedder.model_id}"
        if text_vectors is None:
            vectors = [embedder.embed_texts(texts).mean(axis=0) for texts in prompts.values()]
            text_vectors = np.stack(vectors)
        if text_vectors.shape != (len(prompts), embedder.dim):
            raise InvalidInputError(
                f"text vectors must be ({len(prompts)}, {embedder.dim}), got {text_vectors.shape}"
            )
        self._text = l2_normalize(text_vectors.astype(np.float32))  # (C, D)

    def _score_batch(self, images: list[np.ndarray]) -> np.ndarray:
        with self._lock:  # one shared model; OpenCV's DNN net is not safe to call concurrently
            vectors = self.embedder.embed_images(images)  # (N, D) unit
        return softmax((vectors @ self._text.T) / self.temperature)


def is_anomaly_folder(path: Path) -> bool:
    """A folder holding a fitted anomaly bank (card.json + bank.npy), from label or export-edge."""
    return path.is_dir() and (path / "card.json").is_file() and (path / "bank.npy").is_file()


class AnomalyScorer(Scorer):
    """A fitted anomaly bank (``vigil.anomaly``) as (normal, anomalous) probabilities.

    The runtime speaks per-class probabilities; the anomalous one is the score
    relative to the model's threshold (``AnomalyModel.relative``), the same the
    scenario labels carry: 0.5 is the model's own threshold, so ``--class
    anomalous`` alerts where the scenario would label "anomalous".
    """

    def __init__(self, folder: Path, *, scenario: str = "") -> None:
        from vigil.anomaly.features import PatchExtractor
        from vigil.anomaly.patchcore import AnomalyModel
        from vigil.scenarios.spec import ANOMALY_CLASSES

        self.model = AnomalyModel.load(folder)
        self.extractor = PatchExtractor(self.model.config)
        self.class_names = ANOMALY_CLASSES
        self.scenario = scenario
        self.model_id = f"anomaly:{folder.resolve()}"
        self._lock = threading.Lock()
        # Each source scores in its own thread: its last patch map stays its own.
        self._last = threading.local()

    def _score_batch(self, images: list[np.ndarray]) -> np.ndarray:
        with self._lock:
            scored = self.model.score(images, self.extractor)
        self._last.item = scored[-1]
        anomalous = self.model.relative(np.array([item.score for item in scored]))
        return np.stack([1.0 - anomalous, anomalous], axis=1).astype(np.float32)

    def overlay(self, image: np.ndarray) -> np.ndarray | None:
        """The anomaly heatmap of this thread's last scored frame over ``image`` (any size).

        One colour scale for every event of the bank, as in the review queue: red at twice
        the largest leave-one-out distance of a normal.
        """
        from vigil.anomaly.scenario import heatmap_overlay

        item = getattr(self._last, "item", None)
        if item is None:
            return None
        heat = item.heatmap(image.shape[0], image.shape[1])
        return heatmap_overlay(image, heat, float(np.max(self.model.normal_scores)))


__all__ = [
    "AnomalyScorer",
    "OnnxScorer",
    "Scorer",
    "ZeroShotScorer",
    "is_anomaly_folder",
    "preprocess",
    "softmax",
]
