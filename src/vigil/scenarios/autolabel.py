"""Auto-label an indexed archive for a scenario, from stored embeddings, resumably.

The image model already ran when the archive was indexed; a scenario adds only
its prompt embeddings (milliseconds) and the vectors of its examples. Labels are
written batch by batch, one transaction each, with provenance (embedder model id
and method, scenario version, time): a run stopped half-way keeps every batch
it finished and the next run of the same version labels only what is left; a
new version of the scenario labels everything again under that version.

>>> report = autolabel(catalog, record, embedder)  # doctest: +SKIP
>>> report.labeled, report.items_per_s  # doctest: +SKIP
(156, 41000.0)
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from vigil.catalog.store import Catalog
from vigil.embedders.base import Embedder
from vigil.errors import InvalidInputError, NotFoundError
from vigil.scenarios.classify import (
    ScenarioClassifier,
    cached_class_text_vectors,
    default_temperature,
    fit_classifier,
)
from vigil.scenarios.spec import ScenarioRecord, ScenarioSpec, parse_example
from vigil.scenarios.store import (
    count_labels,
    count_target_items,
    delete_labels,
    human_labels,
    item_exists,
    item_vectors,
    iter_target_vectors,
    write_labels,
)
from vigil.scenarios.types import AutolabelProgress, AutolabelReport
from vigil.sources.images import read_image

DEFAULT_BATCH = (
    4096  # items per transaction: big enough to amortise a commit, small enough to resume
)


def validate_examples(
    catalog: Catalog, spec: ScenarioSpec, *, base: Path | None = None
) -> ScenarioSpec:
    """Check every example exists (items in the catalog, image files that decode, folders).

    Returns the spec with image paths made absolute, so a spec imported from a
    YAML file keeps pointing at its images whatever the working folder later is.
    """
    classes = []
    for item in spec.classes:
        resolved = []
        for text in item.examples:
            ref = parse_example(text, base=base)
            if ref.kind == "image":
                assert ref.path is not None
                load_image(ref.path)
                resolved.append(str(ref.path.resolve()))
                continue
            assert ref.item_id is not None
            if ref.kind != spec.target.kind:
                raise InvalidInputError(
                    f"class {item.name!r}: example {text!r} names a {ref.kind.value}, but the "
                    f"scenario labels {spec.target.kind.value}s"
                )
            if not item_exists(catalog, ref.kind, ref.item_id):
                raise NotFoundError(
                    f"class {item.name!r}: example {text!r} does not exist in the catalog"
                )
            resolved.append(text)
        classes.append(item.model_copy(update={"examples": resolved}))
    if spec.kind == "anomaly":
        return spec.model_copy(
            update={
                "normal_examples": _resolve_anomaly_examples(
                    catalog, spec, spec.normal_examples, base
                ),
                "defect_examples": _resolve_anomaly_examples(
                    catalog, spec, spec.defect_examples, base
                ),
            }
        )
    return spec.model_copy(update={"classes": classes})


def _resolve_anomaly_examples(
    catalog: Catalog, spec: ScenarioSpec, examples: list[str], base: Path | None
) -> list[str]:
    """Anomaly examples: files and folders must exist (made absolute), items must be stored."""
    resolved = []
    for text in examples:
        ref = parse_example(text, base=base)
        if ref.kind == "image":
            assert ref.path is not None
            if ref.path.is_dir():
                resolved.append(str(ref.path.resolve()))
                continue
            load_image(ref.path)
            resolved.append(str(ref.path.resolve()))
            continue
        assert ref.item_id is not None
        if ref.kind != spec.target.kind:
            raise InvalidInputError(
                f"example {text!r} names a {ref.kind.value}, but the scenario scores "
                f"{spec.target.kind.value}s"
            )
        if not item_exists(catalog, ref.kind, ref.item_id):
            raise NotFoundError(f"example {text!r} does not exist in the catalog")
        resolved.append(text)
    return resolved


def load_image(path: Path) -> np.ndarray:
    """An example image file as (H, W, 3) uint8 RGB; missing or undecodable is a clear error.

    Decoded by the one guarded decoder, so an example that declares a huge canvas is
    refused before its pixels are allocated.
    """
    if not path.is_file():
        raise NotFoundError(f"example image {path} does not exist")
    return read_image(path, what=f"example image {path}")


def labeled_examples(
    catalog: Catalog, record: ScenarioRecord, embedder: Embedder
) -> tuple[np.ndarray, np.ndarray]:
    """(vectors (K, D), labels (K,)) from the spec's examples and people's answers.

    A person's answer about an item also listed as an example wins: it is the
    newer statement about it.
    """
    spec = record.spec
    kind = spec.target.kind
    by_item: dict[int, int] = {}
    image_rows: list[np.ndarray] = []
    image_labels: list[int] = []
    for class_id, item in enumerate(spec.classes):
        for text in item.examples:
            ref = parse_example(text)
            if ref.kind == "image":
                assert ref.path is not None
                image_rows.append(load_image(ref.path))
                image_labels.append(class_id)
            elif ref.kind == kind:
                assert ref.item_id is not None
                by_item[ref.item_id] = class_id
    for item_id, label in human_labels(catalog, record).items():
        by_item[item_id] = spec.class_index(label)
    ids = sorted(by_item)
    parts = [item_vectors(catalog, kind, ids, embedder.model_id)] if ids else []
    labels = [by_item[i] for i in ids]
    if image_rows:
        parts.append(embedder.embed_images(image_rows))
        labels += image_labels
    if not parts:
        return np.zeros((0, embedder.dim), dtype=np.float32), np.zeros(0, dtype=np.int64)
    return np.concatenate(parts).astype(np.float32), np.asarray(labels, dtype=np.int64)


def build_classifier(
    catalog: Catalog, record: ScenarioRecord, embedder: Embedder
) -> ScenarioClassifier:
    """The scenario's classifier over ``embedder``'s space, fitted on every example there is."""
    text_vectors = cached_class_text_vectors(
        record.spec, embedder.model_id, lambda texts: embedder.embed_texts(texts)
    )
    vectors, labels = labeled_examples(catalog, record, embedder)
    return fit_classifier(
        text_vectors,
        record.spec.class_names,
        vectors,
        labels,
        default_t=default_temperature(embedder.model_id),
    )


BatchScorer = Callable[
    [ScenarioClassifier, Iterator[tuple[np.ndarray, np.ndarray]]],
    Iterator[tuple[np.ndarray, np.ndarray]],
]


def score_locally(
    model: ScenarioClassifier, batches: Iterator[tuple[np.ndarray, np.ndarray]]
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(ids, probabilities) for each (ids, vectors) batch, in this process."""
    for ids, vectors in batches:
        yield ids, model.predict_proba(vectors)


def autolabel(
    catalog: Catalog,
    record: ScenarioRecord,
    embedder: Embedder,
    *,
    batch_size: int = DEFAULT_BATCH,
    max_items: int | None = None,
    on_progress: Callable[[AutolabelProgress], None] | None = None,
    classifier: ScenarioClassifier | None = None,
    relabel: bool = False,
    score: BatchScorer | None = None,
) -> AutolabelReport:
    """Label every target item of the archive not yet labeled at this version.

    ``max_items`` stops after about that many (rounded up to a batch), which is
    how tests and the CLI make a partial run on purpose; run again to resume.
    ``relabel`` first drops this version's machine labels, so a classifier refitted
    on new answers labels everything again (answers themselves are kept).
    ``score`` maps the stream of (ids, vectors) batches to (ids, probabilities)
    in the same order; the default scores here, ``vigil.scale`` scores on Ray.
    Writing stays in this process either way, so a resumed run relabels nothing.
    """
    if record.spec.kind == "anomaly":
        raise InvalidInputError(
            f"scenario {record.name!r} is an anomaly scenario: it is scored from pixels by "
            "vigil.anomaly (vigil scenario label runs it), not from stored vectors"
        )
    started = time.perf_counter()
    model = classifier or build_classifier(catalog, record, embedder)
    if relabel:
        delete_labels(catalog, record)
    provenance = f"{embedder.model_id}/{model.description}"
    total = count_target_items(catalog, record.spec, embedder.model_id)
    before = count_labels(catalog, record)
    labeled = 0
    batches = iter_target_vectors(
        catalog,
        record.spec,
        embedder.model_id,
        unlabeled_for=(record.id, record.version),
        batch_size=batch_size,
    )
    if max_items is not None:
        batches = itertools.islice(batches, max(1, -(-max_items // batch_size)))
    scored = (score or score_locally)(model, batches)
    for ids, probs in scored:
        labeled += write_labels(
            catalog, record, ids, probs, model_id=provenance, method=model.method
        )
        if on_progress is not None:
            on_progress(AutolabelProgress(before + labeled, total, labeled))
    return AutolabelReport(
        scenario=record.name,
        version=record.version,
        model_id=provenance,
        method=model.method,
        examples=model.examples,
        total=total,
        labeled=labeled,
        skipped=before,
        seconds=time.perf_counter() - started,
        cv_accuracy=dict(model.cv_accuracy),
        ece=model.ece,
    )
