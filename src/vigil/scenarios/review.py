"""The review queue: ask a person about the items whose answer helps most.

Uncertainty sampling with a committee of two: an item comes first when the
current model is unsure (small margin between its two best classes, high
entropy) and when the prompts alone (zero-shot) and the adapted model disagree
about it; disagreement is what active learning calls query-by-committee, and it
surfaces items the few-shot model may have learned wrong. An answer is stored as
a human label; it overrides the machine label, the item leaves the queue, and the
next queue or auto-label run refits the classifier with it as an example.

Runtime false positives come first of all: frames inside the time span of an
event that a person corrected (``vigil events feedback``), other than the one the
correction labeled, are where the deployed model was wrong on real footage.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from vigil.catalog.feedback_store import false_positive_frames
from vigil.catalog.store import Catalog
from vigil.embedders.base import Embedder
from vigil.errors import InvalidInputError
from vigil.scenarios.autolabel import (
    build_classifier,
    combine_with_detector,
    with_backbone_features,
)
from vigil.scenarios.classify import ScenarioClassifier
from vigil.scenarios.detector_evidence import detector_evidence
from vigil.scenarios.spec import ItemKind, ScenarioRecord, parse_item
from vigil.scenarios.store import (
    human_labels,
    item_thumbnails,
    iter_target_vectors,
    set_human_label,
)
from vigil.scenarios.types import ReviewItem

DISAGREEMENT_BONUS = 1.0  # puts every disagreement ahead of every agreement (priority <= 1 else)
WANTED_FIRST = 10.0  # with ``wanted``: items the model labels that class come before all others
WANTED_WEIGHT = 3.0  # then by that class's probability, ahead of the usual priority (<= 2)
# Puts the frames of a runtime false positive (an event a person corrected to another
# class) ahead of every other item (a ``wanted`` class still comes first): the model was
# wrong there in production, on footage like them, and the next model should see them.
FALSE_POSITIVE_BONUS = 2.0


def priorities(
    probs: np.ndarray, zero_shot: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(priority, margin, entropy, disagree) per row of (N, C) probabilities."""
    ordered = np.sort(probs, axis=1)
    margin = ordered[:, -1] - (ordered[:, -2] if probs.shape[1] > 1 else 0.0)
    entropy = -(probs * np.log(np.clip(probs, 1e-12, 1.0))).sum(axis=1)
    disagree = probs.argmax(axis=1) != zero_shot.argmax(axis=1)
    return (1.0 - margin) + DISAGREEMENT_BONUS * disagree, margin, entropy, disagree


def review_queue(
    catalog: Catalog,
    record: ScenarioRecord,
    embedder: Embedder,
    *,
    limit: int = 20,
    classifier: ScenarioClassifier | None = None,
    home: Path | None = None,
    wanted: str | None = None,
) -> list[ReviewItem]:
    """The ``limit`` unanswered target items a person should look at first.

    Both committee members see what auto-label sees: the detector's class is
    weighed into each (object scenarios), and ``home`` gives the probe its
    backbone features. ``wanted`` (a class name) puts the items the model thinks
    are that class first, then the likeliest ones: what ``vigil distill`` asks for
    when a class has too few examples (``vigil scenario review NAME --class X``).
    """
    if limit < 1:
        raise InvalidInputError(f"limit must be >= 1, got {limit}")
    if wanted is not None and wanted not in record.spec.class_names:
        raise InvalidInputError(
            f"scenario {record.name!r} has no class {wanted!r}; its classes are "
            f"{list(record.spec.class_names)}"
        )
    if record.spec.kind == "anomaly":
        raise InvalidInputError(
            f"scenario {record.name!r} is an anomaly scenario; its queue comes from "
            "vigil.anomaly.scenario.anomaly_review_queue"
        )
    model = classifier or build_classifier(catalog, record, embedder, home=home)
    evidence = detector_evidence(record.spec)
    answered = set(human_labels(catalog, record))
    mistaken = (
        false_positive_frames(catalog, record.name)
        if record.spec.target.kind == ItemKind.FRAME
        else set()
    )
    names = record.spec.class_names
    best: list[tuple[float, int, int, float, float, float, int, bool]] = []  # a min-heap

    def unanswered() -> Iterator[tuple[np.ndarray, np.ndarray]]:
        for ids, vectors in iter_target_vectors(catalog, record.spec, embedder.model_id):
            keep = np.fromiter((int(i) not in answered for i in ids), dtype=bool, count=len(ids))
            if keep.any():
                yield ids[keep], vectors[keep]

    batches = with_backbone_features(
        model,
        unanswered(),
        catalog=catalog,
        kind=record.spec.target.kind,
        embedder=embedder,
        home=home,
    )
    for ids, vectors in batches:
        probs, _ = combine_with_detector(
            catalog, evidence, model.method, ids, model.predict_proba(vectors)
        )
        zero_shot, _ = combine_with_detector(
            catalog, evidence, "zero-shot", ids, model.zero_shot_proba(vectors)
        )
        priority, margin, entropy, disagree = priorities(probs, zero_shot)
        wrong = np.fromiter((int(i) in mistaken for i in ids), dtype=bool, count=len(ids))
        priority = priority + FALSE_POSITIVE_BONUS * wrong
        winners, zs_winners = probs.argmax(axis=1), zero_shot.argmax(axis=1)
        if wanted is not None:
            column = names.index(wanted)
            priority = (
                priority + WANTED_FIRST * (winners == column) + WANTED_WEIGHT * probs[:, column]
            )
        for row in np.argsort(-priority)[:limit]:
            entry = (
                float(priority[row]),
                -int(ids[row]),  # ties: older items first
                int(winners[row]),
                float(probs[row, winners[row]]),
                float(margin[row]),
                float(entropy[row]),
                int(zs_winners[row]),
                bool(disagree[row]),
            )
            if len(best) < limit:
                heapq.heappush(best, entry)
            else:
                heapq.heappushpop(best, entry)
    best.sort(reverse=True)
    kind = record.spec.target.kind
    thumbs = item_thumbnails(catalog, kind, [-entry[1] for entry in best])
    return [
        ReviewItem(
            kind=kind,
            id=-neg_id,
            thumbnail_path=thumbs.get(-neg_id, ""),
            label=names[winner],
            confidence=confidence,
            margin=margin_value,
            entropy=entropy_value,
            zero_shot_label=names[zs_winner],
            disagree=disagrees,
            priority=priority_value,
            false_positive=-neg_id in mistaken,
        )
        for (
            priority_value,
            neg_id,
            winner,
            confidence,
            margin_value,
            entropy_value,
            zs_winner,
            disagrees,
        ) in best
    ]


def answer(
    catalog: Catalog, record: ScenarioRecord, item: str, label: str, *, annotator: str = "human"
) -> tuple[ItemKind, int]:
    """Store a person's label for 'frame:ID' / 'object:ID'; it overrides the machine label."""
    kind, item_id = parse_item(item)
    if kind != record.spec.target.kind:
        raise InvalidInputError(
            f"scenario {record.name!r} labels {record.spec.target.kind.value}s, got {item!r}"
        )
    set_human_label(catalog, record, item_id, label, annotator)
    return kind, item_id
