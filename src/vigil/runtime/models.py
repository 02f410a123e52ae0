"""Turn what a user passes to ``vigil run --model`` into a ``Scorer``.

Accepted references, in the order they are tried:

* a path to a Vigil ONNX classifier (``*.onnx`` carrying a ``ModelCard``);
* ``scenario:NAME``: the big image-text model, zero-shot over that scenario's
  class prompts (its newest version);
* a model registry id or name (``vigil.catalog.models_schema``, when that
  stage is installed): the ONNX file of a model whose status is ``ready``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from vigil.embedders.base import Embedder
from vigil.errors import InvalidInputError, NotFoundError
from vigil.runtime.scorers import OnnxScorer, Scorer, ZeroShotScorer
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
    engine: Engine,
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
    if reference.startswith(SCENARIO_PREFIX):
        return zero_shot_from_spec(embedder(), scenario(reference[len(SCENARIO_PREFIX) :]))
    registered = registry_path(engine, reference)
    return OnnxScorer(registered, threads=threads)


def registry_path(engine: Engine, reference: str) -> Path:
    """The ONNX file of a ready model in the registry, by id or name."""
    import importlib

    try:
        models_schema = importlib.import_module("vigil.catalog.models_schema")
    except ImportError as error:
        raise NotFoundError(
            f"{reference!r} is not an ONNX file, and this Vigil has no model registry yet; "
            "pass a path to a .onnx model or scenario:NAME"
        ) from error
    table: Any = next(
        (
            value
            for value in vars(models_schema).values()
            if getattr(value, "__tablename__", None) == "models"
        ),
        None,
    )
    if table is None:
        raise NotFoundError(f"the model registry has no 'models' table; cannot find {reference!r}")
    with Session(engine) as session:
        query = select(table)
        if reference.isdigit():
            query = query.where(table.id == int(reference))
        elif hasattr(table, "name"):
            query = query.where(table.name == reference)
        else:
            raise NotFoundError(f"no registered model {reference!r} (give its numeric id)")
        row = session.scalars(query).first()
        if row is None:
            raise NotFoundError(f"no registered model {reference!r}")
        status = getattr(row, "status", "ready")
        if status != "ready":
            raise InvalidInputError(
                f"registered model {reference!r} has status {status!r}, expected 'ready'"
            )
        return Path(row.path)


__all__ = ["SCENARIO_PREFIX", "registry_path", "resolve_scorer", "zero_shot_from_spec"]
