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

import difflib
import itertools
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np

from vigil.catalog.objects import object_detections
from vigil.catalog.store import Catalog
from vigil.embedders.base import Embedder
from vigil.errors import InvalidInputError, NotFoundError
from vigil.scenarios.classify import (
    ScenarioClassifier,
    cached_class_text_vectors,
    default_temperature,
    fit_classifier,
    one_class_warning,
)
from vigil.scenarios.detector_evidence import DetectorEvidence, detector_evidence
from vigil.scenarios.spec import ItemKind, ScenarioRecord, ScenarioSpec, parse_example
from vigil.scenarios.store import (
    count_labels,
    count_target_items,
    delete_labels,
    human_labels,
    item_exists,
    item_thumbnails,
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
    check_object_classes(spec)
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


def check_object_classes(spec: ScenarioSpec) -> None:
    """``target.object_classes`` must be detector classes: a typo would match no object."""
    from vigil.embedders.concept_bridge import load_coco_classes

    known = sorted(coco.name for coco in load_coco_classes().values())
    for name in spec.target.object_classes:
        if name not in known:
            close = difflib.get_close_matches(name, known, n=3)
            hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
            raise InvalidInputError(
                f"target.object_classes: {name!r} is not a detector class (COCO names such as "
                f"'person', 'car', 'truck'){hint}"
            )


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


def example_backbone_features(
    catalog: Catalog, record: ScenarioRecord, embedder: Embedder, home: Path
) -> np.ndarray:
    """Backbone features of the examples, in ``labeled_examples``' row order."""
    spec = record.spec
    kind = spec.target.kind
    by_item: dict[int, int] = {}
    images: list[np.ndarray] = []
    for item in spec.classes:
        for text in item.examples:
            ref = parse_example(text)
            if ref.kind == "image":
                assert ref.path is not None
                images.append(load_image(ref.path))
            elif ref.kind == kind:
                assert ref.item_id is not None
                by_item[ref.item_id] = 0
    for item_id in human_labels(catalog, record):
        by_item[item_id] = 0
    parts = [item_backbone_features(catalog, kind, sorted(by_item), embedder, home)]
    if images:
        parts.append(embedder.backbone_features(images))
    return np.concatenate(parts).astype(np.float32)


def item_backbone_features(
    catalog: Catalog, kind: ItemKind, ids: Sequence[int], embedder: Embedder, home: Path
) -> np.ndarray:
    """(N, backbone_dim) features of stored items, computed from their thumbnails.

    Not stored: they are computed for the examples when fitting and for each batch
    when labeling with a probe that uses them (about as fast as the crop thumbnails
    decode and EfficientNet-Lite0 runs). A missing thumbnail is a clear error.
    """
    if not ids:
        return np.zeros((0, embedder.backbone_dim), dtype=np.float32)
    paths = item_thumbnails(catalog, kind, ids)
    images = []
    for item_id in ids:
        relative = paths.get(int(item_id))
        if not relative:
            raise NotFoundError(f"{kind.value} {item_id} has no thumbnail to compute features from")
        images.append(load_image(home / relative))
    return embedder.backbone_features(images)


def build_classifier(
    catalog: Catalog, record: ScenarioRecord, embedder: Embedder, *, home: Path | None = None
) -> ScenarioClassifier:
    """The scenario's classifier over ``embedder``'s space, fitted on every example there is.

    With ``home`` (where the thumbnails are) and an embedder that has backbone
    features, the probe sees those beside the vectors.
    """
    text_vectors = cached_class_text_vectors(
        record.spec, embedder.model_id, lambda texts: embedder.embed_texts(texts)
    )
    vectors, labels = labeled_examples(catalog, record, embedder)
    backbone_dim = embedder.backbone_dim if home is not None and len(labels) else 0
    if backbone_dim:
        assert home is not None
        features = example_backbone_features(catalog, record, embedder, home)
        vectors = np.hstack([vectors, features])  # (K, D + B)
    return fit_classifier(
        text_vectors,
        record.spec.class_names,
        vectors,
        labels,
        default_t=default_temperature(embedder.model_id),
        backbone_dim=backbone_dim,
    )


def with_backbone_features(
    model: ScenarioClassifier,
    batches: Iterator[tuple[np.ndarray, np.ndarray]],
    *,
    catalog: Catalog,
    kind: ItemKind,
    embedder: Embedder,
    home: Path | None,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """The (ids, vectors) batches as the model reads them: backbone features appended if used."""
    for ids, vectors in batches:
        if model.backbone_dim:
            if home is None:
                raise InvalidInputError("this classifier needs the workspace home for thumbnails")
            features = item_backbone_features(catalog, kind, [int(i) for i in ids], embedder, home)
            vectors = np.hstack([vectors, features])  # (B, D + backbone_dim)
        yield ids, vectors


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
    home: Path | None = None,
) -> AutolabelReport:
    """Label every target item of the archive not yet labeled at this version.

    ``max_items`` stops after about that many (rounded up to a batch), which is
    how tests and the CLI make a partial run on purpose; run again to resume.
    ``relabel`` first drops this version's machine labels, so a classifier refitted
    on new answers labels everything again (answers themselves are kept).
    ``score`` maps the stream of (ids, vectors) batches to (ids, probabilities)
    in the same order; the default scores here, ``vigil.scale`` scores on Ray.
    Writing stays in this process either way, so a resumed run relabels nothing.
    ``home`` (the workspace folder) lets the probe use backbone features computed
    from thumbnails. For objects, the detector's class is weighed in where a class's
    prompts name it (``detector_evidence``); the stored method says so per label.
    The report's ``warnings`` say when the labels should not be trusted as they are.
    """
    if record.spec.kind == "anomaly":
        raise InvalidInputError(
            f"scenario {record.name!r} is an anomaly scenario: it is scored from pixels by "
            "vigil.anomaly (vigil scenario label runs it), not from stored vectors"
        )
    started = time.perf_counter()
    model = classifier or build_classifier(catalog, record, embedder, home=home)
    if relabel:
        delete_labels(catalog, record)
    evidence = detector_evidence(record.spec)
    provenance = f"{embedder.model_id}/{model.description}"
    if evidence.active:
        provenance += f"+detector(w={evidence.weight:g})"
    total = count_target_items(catalog, record.spec, embedder.model_id)
    before = count_labels(catalog, record)
    labeled = 0
    predicted = np.zeros(len(record.spec.classes), dtype=np.int64)
    batches = iter_target_vectors(
        catalog,
        record.spec,
        embedder.model_id,
        unlabeled_for=(record.id, record.version),
        batch_size=batch_size,
    )
    if max_items is not None:
        batches = itertools.islice(batches, max(1, -(-max_items // batch_size)))
    batches = with_backbone_features(
        model, batches, catalog=catalog, kind=record.spec.target.kind, embedder=embedder, home=home
    )
    scored = (score or score_locally)(model, batches)
    for ids, scored_probs in scored:
        probs, methods = combine_with_detector(catalog, evidence, model.method, ids, scored_probs)
        labeled += write_labels(catalog, record, ids, probs, model_id=provenance, method=methods)
        predicted += np.bincount(probs.argmax(axis=1), minlength=len(predicted))
        if on_progress is not None:
            on_progress(AutolabelProgress(before + labeled, total, labeled))
    warnings = [*model.warnings, *evidence.warnings]
    constant = one_class_warning(predicted, record.spec.class_names, examples=model.examples)
    if constant is not None:
        warnings.append(constant)
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
        cv_recall=dict(model.cv_recall),
        warnings=tuple(warnings),
        notes=tuple(evidence.notes),
        predicted={
            name: int(count) for name, count in zip(record.spec.class_names, predicted, strict=True)
        },
    )


def combine_with_detector(
    catalog: Catalog,
    evidence: DetectorEvidence,
    method: str,
    ids: np.ndarray,
    probs: np.ndarray,
) -> tuple[np.ndarray, list[str]]:
    """Object probabilities with the detector's class weighed in; the method per row says why.

    A row the detector's class spoke for is stored as e.g. ``zero-shot+detector:person``.
    """
    if not evidence.active:
        return probs, [method] * len(ids)
    found = object_detections(catalog, ids)
    combined, used = evidence.apply(probs, [found.get(int(i)) for i in ids])
    return combined, [method if coco is None else f"{method}+detector:{coco}" for coco in used]
