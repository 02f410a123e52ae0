"""Turn what a user passes to ``vigil run --model`` into a ``Scorer``.

Accepted references, in the order they are tried:

* a path to a Vigil ONNX classifier (``*.onnx`` carrying a ``ModelCard``);
* ``scenario:NAME``: the big image-text model, zero-shot over that scenario's
  class prompts (its newest version);
* a folder with a fitted anomaly bank (``card.json`` + ``bank.npy``: what
  ``vigil scenario label`` keeps under HOME/anomaly/NAME/vN and what
  ``vigil scenario export-edge`` writes): normal / anomalous per frame;
* a model registry id or name: the ONNX file of a model whose status is ``ready``
  and whose file still has its registered SHA-256 (``catalog.models_store.ready_model``,
  the same check ``vigil model export`` makes).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np

from vigil.catalog.models_promotions import current_champion
from vigil.catalog.models_store import ModelRecord, ModelStatus, ready_model
from vigil.catalog.store import Catalog
from vigil.embedders.base import Embedder
from vigil.errors import InvalidInputError
from vigil.runtime.scorers import (
    AnomalyScorer,
    OnnxScorer,
    Scorer,
    ZeroShotScorer,
    is_anomaly_folder,
)
from vigil.runtime.swap import ModelRef, Resolver
from vigil.scenarios.spec import ScenarioSpec

log = logging.getLogger(__name__)

SCENARIO_PREFIX = "scenario:"


def zero_shot_from_spec(
    embedder: Embedder, spec: ScenarioSpec, *, temperature: float | None = None
) -> ZeroShotScorer:
    """The scenario's prompt ensemble (negatives subtracted, as in ``vigil.scenarios``)."""
    from vigil.scenarios.classify import class_text_vectors

    def embed(texts: list[str]) -> np.ndarray:
        return embedder.embed_texts(texts)

    prompts = {item.name: list(item.prompts) for item in spec.classes}
    return ZeroShotScorer(
        embedder,
        prompts,
        scenario=spec.name,
        temperature=temperature,
        text_vectors=class_text_vectors(spec, embed),
    )


def resolve_scorer(
    reference: str,
    *,
    catalog: Catalog,
    embedder: Callable[[], Embedder],
    scenario: Callable[[str], ScenarioSpec],
    threads: int = 1,
) -> Scorer:
    """The scorer ``reference`` names (see the module docstring for the forms)."""
    reference = reference.strip()
    if not reference:
        raise InvalidInputError("a model reference must not be empty")
    path = Path(reference).expanduser()
    if reference.endswith(".onnx") or path.is_file():
        if not path.is_file():
            raise InvalidInputError(f"no ONNX model file at {path}")
        return OnnxScorer(path, threads=threads)
    if path.is_dir() and is_anomaly_folder(path):
        return AnomalyScorer(path)
    if reference.startswith(SCENARIO_PREFIX):
        spec = scenario(reference[len(SCENARIO_PREFIX) :])
        if spec.kind == "anomaly":
            raise InvalidInputError(
                f"{spec.name!r} is an anomaly scenario: run 'vigil scenario label {spec.name}' "
                "and pass the model folder it prints (or an export-edge folder) as --model"
            )
        return zero_shot_from_spec(embedder(), spec)
    return registry_scorer(catalog, ready_model(catalog, reference), threads=threads)


def registry_path(catalog: Catalog, reference: str) -> Path:
    """The ONNX file of a ready, unaltered model in the registry, by id or name."""
    record = ready_model(catalog, reference)
    assert record.path is not None  # ready_model refuses a record without a file
    return record.path


def registry_scorer(catalog: Catalog, record: ModelRecord, *, threads: int = 1) -> OnnxScorer:
    """A ready registry model as a scorer that names its version on every event."""
    assert record.path is not None  # ready_model refuses a record without a file
    scorer = OnnxScorer(record.path, threads=threads)
    scorer.model_version = record.name
    scorer.registry_model_id = record.id
    return scorer


def model_ref(record: ModelRecord) -> ModelRef:
    assert record.path is not None
    return ModelRef(id=record.id, name=record.name, path=record.path)


def champion_resolver(catalog: Catalog, scenario: str) -> Resolver:
    """What a running registry model of ``scenario`` follows: the scenario's champion
    (``vigil model promote`` / ``rollback``, or an automatic promotion). None while the
    scenario has no champion, or when it is not ready: the running model stays."""

    def resolve() -> ModelRef | None:
        record = current_champion(catalog, scenario)
        if record is None or record.status is not ModelStatus.READY or record.path is None:
            return None
        return model_ref(record)

    return resolve


def training_reference(
    catalog: Catalog, home: Path, record: ModelRecord, scorer: Scorer, *, limit: int = 120
) -> np.ndarray | None:
    """The histogram of ``scorer``'s confidence on the frames it was trained on.

    Made at load time from the training snapshot the registry keeps (the item
    ids): each frame is decoded again at full resolution, as the runtime sees
    frames, because a model's confidence on the small JPEG thumbnails it was
    trained from is measurably different (EfficientNet-Lite0 on vtest.avi: median
    top probability 0.65 on 40 thumbnails, 0.39 on 40 full frames), and comparing
    one to the other would report drift where there is none. Streams, which cannot be
    read again, use their thumbnails. None when nothing can be read.
    """
    from vigil.catalog.types import FrameRecord
    from vigil.errors import VigilError
    from vigil.runtime.drift import reference_histogram
    from vigil.structure.objects import stored_frame_images

    per_source: dict[int, list[FrameRecord]] = {}
    for item in list(record.snapshot.get("item_ids", []))[:limit]:
        kind, _, number = str(item).partition(":")
        if kind != "frame" or not number.isdigit():
            continue  # object crops are not what a frame model sees at run time
        try:
            frame = catalog.get_frame(int(number))
        except VigilError:
            continue  # removed since training
        per_source.setdefault(frame.source_id, []).append(frame)
    images: list[np.ndarray] = []
    for source_id, frames in per_source.items():
        try:
            source = catalog.get_source(source_id)
            images.extend(image for _, image in stored_frame_images(source, frames, home))
        except VigilError as error:
            log.warning(
                "drift reference: cannot read the frames of source %s: %s", source_id, error
            )
    if not images:
        return None
    batches = [images[start : start + 16] for start in range(0, len(images), 16)]
    confidences = np.concatenate([scorer.score(batch).max(axis=1) for batch in batches])
    return reference_histogram(confidences)


__all__ = [
    "SCENARIO_PREFIX",
    "champion_resolver",
    "model_ref",
    "registry_path",
    "registry_scorer",
    "resolve_scorer",
    "training_reference",
    "zero_shot_from_spec",
]
