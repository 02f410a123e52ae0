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

from collections.abc import Callable
from pathlib import Path

import numpy as np

from vigil.catalog.models_store import ready_model
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
from vigil.scenarios.spec import ScenarioSpec

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
    registered = registry_path(catalog, reference)
    return OnnxScorer(registered, threads=threads)


def registry_path(catalog: Catalog, reference: str) -> Path:
    """The ONNX file of a ready, unaltered model in the registry, by id or name."""
    record = ready_model(catalog, reference)
    assert record.path is not None  # ready_model refuses a record without a file
    return record.path


__all__ = ["SCENARIO_PREFIX", "registry_path", "resolve_scorer", "zero_shot_from_spec"]
