"""The offline default embedder: a concept bridge (ConSE, Norouzi et al. 2014).

No CLIP-like image-text model ships offline, but real pretrained vision models
and a real sentence model do. ConSE puts an image into a sentence-embedding
space by taking the probability-weighted mean of the embeddings of the concepts
a classifier sees in it; a text query is then embedded by the same sentence
model and compared by cosine. Here two vision models name the concepts:

* EfficientNet-Lite0 (ImageNet-1k): the top-k classes of the whole frame,
  weighted by their renormalised softmax probabilities (ConSE proper);
* SSD MobileNet v2 (COCO; onnxruntime once set-up converted it, else OpenCV
  DNN): the objects in the frame. Detections
  are pooled per class with a noisy-OR of their scores (the chance that at least
  one instance is really there), so a crowd of weak "person" boxes counts more
  than one, but never outweighs a sure thing by sheer number; a class seen two or
  more times is named by its plural ("a photo of people"), which is what
  multi-object scene queries say.

The sentence model is all-MiniLM-L6-v2. The space is therefore limited to what
those models know: 1000 ImageNet classes and 80 COCO objects. Actions, relations,
colours, counts beyond "one or several", time of day and scene types outside
those vocabularies are invisible to it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import warnings
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from vigil.embedders.base import Embedder, l2_normalize, register_embedder, resolve_device
from vigil.embedders.bundled import (
    ConceptBridgeFiles,
    concept_bridge_available,
    locate_concept_bridge_files,
    quiet_transformers,
    vendored_data,
    vigil_cache_dir,
)
from vigil.embedders.detection import Detection
from vigil.embedders.detector import CocoDetector
from vigil.embedders.onnx_backend import OnnxClassifier, load_onnx_classifier
from vigil.errors import InvalidInputError, ModelUnavailableError
from vigil.settings import EmbedderSettings

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

#: How the classifier runs: "onnx" (onnxruntime over a cached export, the CPU default),
#: "torch" (the package's own module; CUDA devices always use it), or "auto".
BACKENDS = ("auto", "onnx", "torch")

RECIPE_VERSION = "v1"
MODEL_ID = f"concept-bridge:effnet-lite0+ssd-mnv2-coco+minilm-l6-{RECIPE_VERSION}"
TEXT_DIM = 384  # all-MiniLM-L6-v2 sentence embedding size
BACKBONE_DIM = 1280  # EfficientNet-Lite0's pooled features before its classifier layer

# EfficientNet-Lite0 was trained on 224x224 inputs scaled to [-1, 1] (mean = std = 0.5
# per channel; efficientnet/lite/efficientnet_lite_builder.py). The whole frame is
# resized without a centre crop: for a wide camera view the edges matter.
CLASSIFIER_SIZE = 224
CLASSIFIER_MEAN = 0.5
CLASSIFIER_STD = 0.5

PROMPT_TEMPLATE = "a photo of {article} {noun}"
PLURAL_TEMPLATE = "a photo of {noun}"

# ImageNet first synonyms that collide or mislead; everything else uses the first
# name on its line of the label file.
_IMAGENET_OVERRIDES = {
    134: "crane bird",  # the label file names both 134 and 517 just "crane"
    517: "construction crane",
    638: "one-piece swimsuit",  # "maillot" twice (638, 639); neither is an everyday word
    639: "tank suit",
}


@dataclass(frozen=True)
class ConceptWeight:
    """One concept that went into an image vector, with its weight (for explanations)."""

    prompt: str  # the sentence that was embedded, e.g. "a photo of people"
    weight: float  # its share of the image vector before normalisation
    source: str  # "imagenet" (classifier) or "coco" (detector)


@dataclass(frozen=True)
class CocoClass:
    """A row of the vendored COCO label map."""

    class_id: int
    name: str
    noun: str  # prompt noun (differs from name where the COCO name is ambiguous)
    plural: str


def load_coco_classes(path: Path | None = None) -> dict[int, CocoClass]:
    """The 80 COCO classes by TF Object Detection API id, from ``data/coco_labels.txt``."""
    path = path or vendored_data("coco_labels.txt")
    classes: dict[int, CocoClass] = {}
    for line_number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        fields = line.split("\t")
        if len(fields) != 4:
            raise ModelUnavailableError(
                f"{path}:{line_number}: expected 4 tab-separated fields, got {len(fields)}"
            )
        class_id = int(fields[0])
        classes[class_id] = CocoClass(class_id, fields[1], fields[2], fields[3])
    if len(classes) != 80:
        raise ModelUnavailableError(f"{path}: expected 80 COCO classes, got {len(classes)}")
    return classes


def load_imagenet_nouns(path: Path) -> list[str]:
    """One prompt noun per ImageNet-1k class (first synonym, collisions resolved)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    if len(lines) != 1000:
        raise ModelUnavailableError(f"{path}: expected 1000 ImageNet class names, got {len(lines)}")
    nouns = [line.split(",")[0].strip() for line in lines]
    for index, noun in _IMAGENET_OVERRIDES.items():
        nouns[index] = noun
    return nouns


def singular_prompt(noun: str) -> str:
    article = "an" if noun[:1].lower() in "aeiou" else "a"
    return PROMPT_TEMPLATE.format(article=article, noun=noun)


def plural_prompt(noun: str) -> str:
    return PLURAL_TEMPLATE.format(noun=noun)


def noisy_or(scores: list[float]) -> float:
    """P(at least one is real) if each detection is independently right with its score."""
    return 1.0 - float(np.prod([1.0 - score for score in scores]))


# Concept prompt embeddings, computed once per process per text model: ~1,200
# prompts take a few seconds on a CPU, and every ConceptBridgeEmbedder shares them.
_CONCEPT_CACHE: dict[tuple[str, tuple[str, ...]], np.ndarray] = {}
_CACHE_LOCK = threading.Lock()


class ConceptBridgeEmbedder(Embedder):
    """Embeds images as the weighted mean of sentence embeddings of what they show.

    ``top_k`` ImageNet classes enter with their renormalised probabilities and
    weight ``classifier_weight``; COCO detections scoring at least
    ``min_detection_score`` enter pooled per class with weight
    ``detector_weight``. The defaults come from a small grid (top_k 1/3/5/10,
    detector_weight 0.5/1/2, min_detection_score 0.3/0.4/0.5) over 14 hand-written
    queries for 7 real images (skimage/sklearn photos and a vtest.avi frame): they
    ranked all 14 first with the largest worst-case margin. That set is tiny and
    is also what the tests check, so treat the defaults as sensible, not optimal.
    """

    name = "concept-bridge"

    def __init__(
        self,
        *,
        top_k: int = 10,
        classifier_weight: float = 1.0,
        detector_weight: float = 1.0,
        min_detection_score: float = 0.4,
        device: str | None = "auto",
        batch_size: int = 16,
        files: ConceptBridgeFiles | None = None,
        cache_dir: Path | None = None,
        backend: str = "auto",
        detector_backend: str = "auto",
    ) -> None:
        if backend not in BACKENDS:
            raise InvalidInputError(f"backend must be one of {BACKENDS}, got {backend!r}")
        if not 1 <= top_k <= 1000:
            raise InvalidInputError(f"top_k must be in 1..1000, got {top_k}")
        if classifier_weight < 0 or detector_weight < 0 or classifier_weight + detector_weight == 0:
            raise InvalidInputError(
                "classifier_weight and detector_weight must be >= 0 and not both 0, "
                f"got {classifier_weight} and {detector_weight}"
            )
        if not 0.0 < min_detection_score < 1.0:
            raise InvalidInputError(
                f"min_detection_score must be in (0, 1), got {min_detection_score}"
            )
        self.top_k = top_k
        self.classifier_weight = classifier_weight
        self.detector_weight = detector_weight
        self.min_detection_score = min_detection_score
        self.batch_size = batch_size
        self.device = resolve_device(device)
        self.dim = TEXT_DIM
        self.backbone_dim = BACKBONE_DIM
        defaults = (10, 1.0, 1.0, 0.4)
        params = (top_k, classifier_weight, detector_weight, min_detection_score)
        self.model_id = MODEL_ID
        if params != defaults:  # a different recipe is a different embedding space
            self.model_id += "(k={},wc={:g},wd={:g},t={:g})".format(*params)

        self.files = files or locate_concept_bridge_files()
        self._imagenet_nouns = load_imagenet_nouns(self.files.classifier_labels)
        self._coco = load_coco_classes()
        # Only the sentence model loads now: a text query needs nothing else, so the CLI
        # answers one in the time MiniLM takes to load. The image side (classifier,
        # detector, the 1,160 concept vectors) loads on first use.
        self._loading = threading.Lock()
        self._classifier_model: torch.nn.Module | None = None
        self._onnx: OnnxClassifier | None = None
        self.backend = backend  # resolved to "onnx" or "torch" when the classifier loads
        self.backend_note = ""  # why the torch fallback was taken, when it was
        self.detector_backend = detector_backend  # "auto", "onnx" or "opencv" (detector.py)
        self._detector: CocoDetector | None = None
        self._concepts: np.ndarray | None = None
        self.cache_dir = concept_cache_dir() if cache_dir is None else cache_dir
        self._text_model = _load_text_model(self.files.text_model_dir, self.device)

        # One concept table: rows 0..999 ImageNet, then COCO singular, then COCO plural.
        coco_ids = sorted(self._coco)
        self._coco_row = {class_id: row for row, class_id in enumerate(coco_ids)}
        self._prompts = (
            [singular_prompt(noun) for noun in self._imagenet_nouns]
            + [singular_prompt(self._coco[i].noun) for i in coco_ids]
            + [plural_prompt(self._coco[i].plural) for i in coco_ids]
        )
        self._coco_offset = 1000
        self._plural_offset = 1000 + len(coco_ids)

    @property
    def _classifier(self) -> torch.nn.Module:
        with self._loading:
            if self._classifier_model is None:
                self._classifier_model = _load_classifier(
                    self.files.classifier_weights, self.device
                )
            return self._classifier_model

    def _onnx_classifier(self) -> OnnxClassifier | None:
        """The onnxruntime classifier, or None when the torch module runs instead.

        "auto" picks onnxruntime on the CPU (1.3-10x faster there, issue 19) and torch on
        CUDA; when the export or onnxruntime is unavailable it falls back to torch and
        logs why (``backend_note``), since the vectors are the same either way.
        """
        if self.backend == "torch":
            return None
        if self._onnx is not None:
            return self._onnx
        if self.backend == "auto" and self.device != "cpu":
            self.backend = "torch"
            return None
        model = self._classifier  # the export starts from the real weights
        try:
            self._onnx = load_onnx_classifier(model, self.files.classifier_weights, self.cache_dir)
        except ModelUnavailableError as error:
            if self.backend == "onnx":
                raise
            self.backend, self.backend_note = "torch", str(error)
            log.warning("concept-bridge classifier runs in torch: %s", error)
            return None
        self.backend = "onnx"
        return self._onnx

    @property
    def detector(self) -> CocoDetector:
        """The SSD MobileNet v2 COCO detector (loaded on first use)."""
        with self._loading:
            if self._detector is None:
                self._detector = CocoDetector(
                    {class_id: coco.name for class_id, coco in self._coco.items()},
                    graph=self.files.detector_graph,
                    config=self.files.detector_config,
                    cache_dir=self.cache_dir,
                    backend=self.detector_backend,
                )
            return self._detector

    @property
    def _concept_vectors(self) -> np.ndarray:
        """(1160, 384) unit sentence vectors of the concept prompts (image side only)."""
        if self._concepts is None:
            self._concepts = self._concept_embeddings(self._prompts)
        return self._concepts

    # -- the Embedder interface -------------------------------------------------

    def _embed_image_batch(self, images: list[np.ndarray]) -> np.ndarray:
        weights = np.zeros((len(images), len(self._prompts)), dtype=np.float32)
        for position, concepts in enumerate(self._weighted_concepts(images)):
            for row, weight, _ in concepts:
                weights[position, row] += weight
        vectors: np.ndarray = weights @ self._concept_vectors  # (N, 1160) @ (1160, 384)
        return vectors  # (N, 384)

    def _embed_text_batch(self, texts: list[str]) -> np.ndarray:
        return self._encode(texts)

    def embed_crops(self, crops: Sequence[np.ndarray], labels: Sequence[str]) -> np.ndarray:
        """Crop vectors from the classifier plus the detector's own class, no second SSD run.

        Running the detector again on a crop that it has just found costs ~50 ms per
        object and mostly re-finds the same class; the detector's label enters with
        the detector's weight instead, so the vector lives in the same space.
        """
        if len(crops) != len(labels):
            raise InvalidInputError(f"{len(crops)} crops but {len(labels)} labels")
        rows = {coco.name: self._coco_offset + self._coco_row[i] for i, coco in self._coco.items()}
        unknown = sorted({label for label in labels if label not in rows})
        if unknown:
            raise InvalidInputError(f"not COCO class names: {unknown}")
        _check_images(list(crops))
        if not crops:
            return np.empty((0, self.dim), dtype=np.float32)
        vectors = []
        for start in range(0, len(crops), self.batch_size):
            batch = list(crops[start : start + self.batch_size])
            weights = np.zeros((len(batch), len(self._prompts)), dtype=np.float32)
            for position, probs in enumerate(self.classify(batch)):
                top = np.argsort(-probs)[: self.top_k]
                shares = probs[top] / max(float(probs[top].sum()), 1e-12)
                weights[position, top] += self.classifier_weight * shares
                weights[position, rows[labels[start + position]]] += self.detector_weight
            vectors.append(weights @ self._concept_vectors)
        return l2_normalize(np.concatenate(vectors))

    # -- the parts, public so that callers can store objects and explain results --

    def classify(self, images: list[np.ndarray]) -> np.ndarray:
        """ImageNet-1k class probabilities, (N, 1000) float32, one batched forward pass."""
        import torch

        _check_images(images)
        if not images:
            return np.zeros((0, 1000), dtype=np.float32)
        tensors = np.stack([_classifier_input(image) for image in images])  # (N, 3, 224, 224)
        onnx = self._onnx_classifier()
        if onnx is not None:
            return onnx.run(tensors)[0]
        batch = torch.from_numpy(tensors).to(self.device)
        with torch.inference_mode():
            probabilities = torch.softmax(self._classifier(batch).float(), dim=-1)
        result: np.ndarray = probabilities.cpu().numpy()
        return result

    def backbone_features(self, images: list[np.ndarray]) -> np.ndarray:
        """EfficientNet-Lite0's pooled penultimate features, (N, 1280) float32, unit norm.

        The concept vector keeps only what the 1000 ImageNet names and 80 COCO names
        say; a few-shot probe on these features also sees texture and shape that no
        class name covers (grey clothing thumbnails, uniforms, vehicle types).
        """
        import torch

        _check_images(images)
        if not images:
            return np.zeros((0, BACKBONE_DIM), dtype=np.float32)
        onnx = self._onnx_classifier()
        if onnx is not None:
            pooled = [
                onnx.run(np.stack([_classifier_input(i) for i in images[s : s + self.batch_size]]))[
                    1
                ]
                for s in range(0, len(images), self.batch_size)
            ]
            return l2_normalize(np.concatenate(pooled))
        # EfficientNet's own method (the package ships no type hints for it).
        extract: Any = getattr(self._classifier, "extract_features")  # noqa: B009
        rows = []
        for start in range(0, len(images), self.batch_size):
            batch = np.stack(
                [_classifier_input(i) for i in images[start : start + self.batch_size]]
            )
            tensor = torch.from_numpy(batch).to(self.device)  # (B, 3, 224, 224)
            with torch.inference_mode():
                maps = extract(tensor).float()  # (B, 1280, 7, 7)
                rows.append(maps.mean(dim=(2, 3)).cpu().numpy())  # (B, 1280)
        return l2_normalize(np.concatenate(rows).astype(np.float32))

    def top_classes(self, image: np.ndarray, k: int = 5) -> list[tuple[str, float]]:
        """The ``k`` most likely ImageNet classes of one image with their probabilities."""
        probabilities = self.classify([image])[0]
        order = np.argsort(-probabilities)[:k]
        return [(self._imagenet_nouns[i], float(probabilities[i])) for i in order]

    def detect(self, image: np.ndarray, min_score: float | None = None) -> list[Detection]:
        """COCO objects in one RGB uint8 image, boxes in its pixel coordinates, best first."""
        return self.detect_batch([image], min_score)[0]

    def detect_batch(
        self, images: list[np.ndarray], min_score: float | None = None
    ) -> list[list[Detection]]:
        """COCO objects in several images with one network call."""
        threshold = self.min_detection_score if min_score is None else min_score
        _check_images(images)
        return self.detector.detect_batch(images, threshold)

    @property
    def concept_prompts(self) -> list[str]:
        """The embedded concept sentences, in the row order of ``concept_vectors``."""
        return list(self._prompts)

    @property
    def concept_vectors(self) -> np.ndarray:
        """(1160, 384) unit vectors: ImageNet rows, then COCO singular, then COCO plural."""
        return self._concept_vectors

    def vocabulary(self) -> frozenset[str]:
        """Every word of every ImageNet synonym and COCO name: what the bridge can see."""
        lines = self.files.classifier_labels.read_text(encoding="utf-8").splitlines()
        names = [name for line in lines for name in line.split(",")]
        names += [name for coco in self._coco.values() for name in (coco.name, coco.plural)]
        names += list(_IMAGENET_OVERRIDES.values())
        return frozenset(
            word for name in names for word in name.lower().replace("-", " ").split() if word
        )

    def explain(self, image: np.ndarray) -> list[ConceptWeight]:
        """The concepts and weights that make up one image's vector, largest first."""
        concepts = self._weighted_concepts([image])[0]
        named = [
            ConceptWeight(self._prompts[row], weight, source) for row, weight, source in concepts
        ]
        return sorted(named, key=lambda concept: -concept.weight)

    # -- internals -----------------------------------------------------------------

    def _weighted_concepts(self, images: list[np.ndarray]) -> list[list[tuple[int, float, str]]]:
        """Per image, (concept row, weight, source) triples whose weighted sum is its vector."""
        probabilities = self.classify(images)
        detections = self.detect_batch(images)
        result = []
        for probs, found in zip(probabilities, detections, strict=True):
            top = np.argsort(-probs)[: self.top_k]
            shares = probs[top] / max(float(probs[top].sum()), 1e-12)
            concepts = [
                (int(row), self.classifier_weight * float(share), "imagenet")
                for row, share in zip(top, shares, strict=True)
            ]
            for class_id, weight, count in _pool_detections(found):
                offset = self._plural_offset if count >= 2 else self._coco_offset
                concepts.append(
                    (offset + self._coco_row[class_id], self.detector_weight * weight, "coco")
                )
            result.append(concepts)
        return result

    def _encode(self, texts: list[str]) -> np.ndarray:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # tokenizer deprecation chatter
            vectors = self._text_model.encode(
                texts,
                batch_size=64,
                convert_to_numpy=True,
                normalize_embeddings=True,
                show_progress_bar=False,
            )
        return np.asarray(vectors, dtype=np.float32)

    def _concept_embeddings(self, prompts: list[str]) -> np.ndarray:
        key = (str(self.files.text_model_dir), tuple(prompts))
        with _CACHE_LOCK:
            cached = _CONCEPT_CACHE.get(key)
            if cached is None:
                cached = self._stored_concepts(prompts)
                cached.setflags(write=False)
                _CONCEPT_CACHE[key] = cached
        return cached

    def _stored_concepts(self, prompts: list[str]) -> np.ndarray:
        """The prompts' vectors from the disk cache, else encoded and stored there.

        The file name hashes the sentence model's files (names and sizes) and every
        prompt, so a new vocabulary or model never reads an old table. A cache that
        cannot be read or written is only a slower start, never an error.
        """
        folder = self.files.text_model_dir
        fingerprint = sorted((p.name, p.stat().st_size) for p in folder.iterdir() if p.is_file())
        digest = hashlib.sha256(
            json.dumps([str(folder), fingerprint, prompts]).encode("utf-8")
        ).hexdigest()[:32]
        path = self.cache_dir / f"concepts-{digest}.npy"
        try:
            stored = np.load(path, allow_pickle=False)
            if stored.shape == (len(prompts), TEXT_DIM) and stored.dtype == np.float32:
                return np.ascontiguousarray(stored)
        except (OSError, ValueError):
            pass  # missing or damaged: encode again
        vectors = l2_normalize(self._encode(prompts))
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_name(f"{path.stem}.{os.getpid()}.tmp.npy")
            np.save(partial, vectors, allow_pickle=False)
            os.replace(partial, path)  # readers never see half a table
        except OSError:
            pass
        return vectors


def concept_cache_dir() -> Path:
    """``$VIGIL_CACHE_DIR``, else ``$XDG_CACHE_HOME/vigil``, else ``~/.cache/vigil``."""
    return vigil_cache_dir()


def _pool_detections(found: list[Detection]) -> list[tuple[int, float, int]]:
    """(class id, weight, count) per detected class; weights sum to at most 1.

    Each class gets the noisy-OR of its detection scores. If the classes' total
    exceeds 1 they are rescaled to sum to 1, so the detector never weighs more
    than the classifier however busy the scene; a lone weak detection stays weak.
    """
    by_class: dict[int, list[float]] = defaultdict(list)
    for detection in found:
        by_class[detection.class_id].append(detection.score)
    pooled = [(class_id, noisy_or(scores), len(scores)) for class_id, scores in by_class.items()]
    total = sum(weight for _, weight, _ in pooled)
    scale = 1.0 / total if total > 1.0 else 1.0
    return [(class_id, weight * scale, count) for class_id, weight, count in pooled]


def _check_images(images: list[np.ndarray]) -> None:
    """The public part methods take the same images as embed_images."""
    for position, image in enumerate(images):
        if (
            not isinstance(image, np.ndarray)
            or image.ndim != 3
            or image.shape[2] != 3
            or image.dtype != np.uint8
        ):
            shape = getattr(image, "shape", type(image).__name__)
            dtype = getattr(image, "dtype", "")
            raise InvalidInputError(
                f"image {position}: expected (H, W, 3) uint8 RGB, got {shape} {dtype}"
            )


def _classifier_input(image: np.ndarray) -> np.ndarray:
    """RGB uint8 (H, W, 3) -> float32 (3, 224, 224) scaled to [-1, 1]."""
    resized = cv2.resize(image, (CLASSIFIER_SIZE, CLASSIFIER_SIZE), interpolation=cv2.INTER_AREA)
    scaled = (resized.astype(np.float32) / 255.0 - CLASSIFIER_MEAN) / CLASSIFIER_STD
    return np.ascontiguousarray(scaled.transpose(2, 0, 1))  # (3, 224, 224)


def _load_classifier(weights: Path, device: str) -> torch.nn.Module:
    try:
        import torch
        from efficientnet_lite_pytorch import EfficientNet

        model: torch.nn.Module = EfficientNet.from_name("efficientnet-lite0")
        state = torch.load(weights, map_location="cpu", weights_only=True)
        model.load_state_dict(state)
    except (ImportError, OSError, RuntimeError, ValueError) as error:
        raise ModelUnavailableError(
            f"cannot load EfficientNet-Lite0 ImageNet weights from {weights}: {error}"
        ) from error
    return model.eval().to(device)


def _load_text_model(folder: Path, device: str) -> Any:
    try:
        from sentence_transformers import SentenceTransformer

        # A local folder and local_files_only: nothing is looked up on a hub.
        with quiet_transformers():
            return SentenceTransformer(str(folder), device=device, local_files_only=True)
    except (ImportError, OSError, ValueError, RuntimeError) as error:
        raise ModelUnavailableError(
            f"cannot load all-MiniLM-L6-v2 from {folder}: {error}"
        ) from error


@register_embedder(
    "concept-bridge",
    is_available=lambda settings: concept_bridge_available(),
    priority=50,
    summary=(
        "offline ConSE bridge: EfficientNet-Lite0 (ImageNet-1k) + SSD MobileNet v2 (COCO) "
        "concepts embedded by all-MiniLM-L6-v2; needs the bundled weight packages"
    ),
)
def _create_concept_bridge(settings: EmbedderSettings) -> Embedder:
    return ConceptBridgeEmbedder(device=settings.device, batch_size=settings.batch_size or 16)


__all__ = [
    "MODEL_ID",
    "CocoClass",
    "ConceptBridgeEmbedder",
    "ConceptWeight",
    "Detection",
    "load_coco_classes",
    "load_imagenet_nouns",
]
