"""A frozen evaluation set per scenario: people's answers every version is judged on.

Why: comparing two model versions on two different random test splits compares
the splits as much as the models, and a test split drawn again each run may hold
items an earlier version trained on. So each person-labelled item is placed once,
the first time a distillation sees it, and keeps its place (``vigil.catalog.models_evalset``):

* placement is stratified: within each class, answers are taken in a stable order
  (SHA-256 of scenario and item) and the 2nd, 6th, 10th, ... go to ``eval``
  (``EVAL_EVERY`` = 4, about 25 %); the first answer of a class is always trained on;
* ``eval`` items are never trained on by any version; as people answer more, the
  set grows and old members stay.

When the frozen set has no item of some class, it cannot judge that class: the
run falls back to a held-out split of its own data, says so in the report (the
figures are then not comparable across versions), and still keeps the frozen
items out of training. It never evaluates on training data.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from typing import Literal

import numpy as np

from vigil.catalog.models_evalset import EvalAssignment, add_eval_assignments, eval_assignments
from vigil.catalog.store import Catalog
from vigil.distill.data import (
    MIN_PER_CLASS,
    DistillDataset,
    Splits,
    check_trainable,
    review_advice,
    split_dataset,
)

EVAL_EVERY = 4  # one answer in four (per class) is held out
MIN_EVAL_PER_CLASS = 1  # below this a class's recall cannot be measured on the frozen set


def placement(index_in_class: int, every: int = EVAL_EVERY) -> Literal["eval", "train"]:
    """Where a class's ``index_in_class``-th answer goes (0-based): the 2nd of every ``every``."""
    return "eval" if index_in_class % every == 1 else "train"


def _order(scenario: str, item: str) -> str:
    return hashlib.sha256(f"{scenario}\0{item}".encode()).hexdigest()


def freeze_eval_set(
    catalog: Catalog, scenario: str, dataset: DistillDataset
) -> dict[str, EvalAssignment]:
    """Place every person-labelled item of ``dataset`` not placed yet; return all placements."""
    existing = eval_assignments(catalog, scenario)
    placed = Counter(assignment.class_name for assignment in existing.values())
    new = [
        (item, dataset.class_names[int(label)])
        for item, label in zip(dataset.item_ids, dataset.human_labels, strict=True)
        if label >= 0 and item not in existing
    ]
    new.sort(key=lambda pair: _order(scenario, pair[0]))
    assignments = []
    for item, class_name in new:
        assignments.append(EvalAssignment(item, class_name, placement(placed[class_name])))
        placed[class_name] += 1
    return add_eval_assignments(catalog, scenario, assignments) if assignments else existing


def answers_needed(placed: int, have_train: int, have_eval: int) -> int:
    """Fewest further answers of a class that give it ``MIN_PER_CLASS`` training examples and
    ``MIN_EVAL_PER_CLASS`` frozen evaluation items, given ``placed`` answers placed so far."""
    needed, index = 0, placed
    while have_train < MIN_PER_CLASS or have_eval < MIN_EVAL_PER_CLASS:
        if placement(index) == "eval":
            have_eval += 1
        else:
            have_train += 1
        index += 1
        needed += 1
    return needed


def split_with_eval_set(
    dataset: DistillDataset,
    assignments: dict[str, EvalAssignment],
    *,
    scenario: str,
    seed: int = 0,
    val_fraction: float = 0.1,
) -> Splits:
    """Test = the frozen evaluation items; train/validation from everything else.

    Checks class balance on the training pool first and raises ``InvalidInputError``
    naming the classes short of examples and the ``vigil scenario review ... --class``
    command for each. Falls back (with a warning in ``Splits.warnings``) to a held-out
    split of the pool when some class has no frozen evaluation item.
    """
    from sklearn.model_selection import train_test_split

    names = dataset.class_names
    is_eval = np.array(
        [
            assignments.get(item) is not None
            and assignments[item].split == "eval"
            and dataset.human_labels[index] >= 0
            for index, item in enumerate(dataset.item_ids)
        ],
        dtype=bool,
    )
    pool = dataset.subset(np.flatnonzero(~is_eval))
    eval_counts = np.bincount(dataset.human_labels[is_eval], minlength=len(names))
    placed = Counter(a.class_name for a in assignments.values())

    def needed(name: str, have_train: int) -> int:
        return answers_needed(placed[name], have_train, int(eval_counts[names.index(name)]))

    check_trainable(pool, scenario=scenario, answers_needed=needed)
    per_class = dict(zip(names, eval_counts.tolist(), strict=True))
    short = [name for name, count in per_class.items() if count < MIN_EVAL_PER_CLASS]
    if short:
        train_counts = np.bincount(pool.targets, minlength=len(names))
        advice = review_advice(
            scenario, {name: needed(name, int(train_counts[names.index(name)])) for name in short}
        )
        fallback = split_dataset(pool, seed=seed, val_fraction=val_fraction)
        warning = (
            f"the frozen evaluation set ({sum(per_class.values())} answers: {per_class}) has no "
            f"item of class(es) {short}, so this run is judged on a held-out split of its own "
            f"data instead (reference = {fallback.test_reference} labels; not comparable across "
            f"versions). To fix: {advice}"
        )
        return Splits(
            train=fallback.train,
            validation=fallback.validation,
            test=fallback.test,
            test_reference=fallback.test_reference,
            frozen=False,
            warnings=(warning,),
        )
    everything = np.arange(len(pool))
    labels = pool.targets
    n_val = max(len(names), round(val_fraction * len(pool)))
    try:
        train, val = train_test_split(
            everything, test_size=n_val, stratify=labels, random_state=int(seed)
        )
    except ValueError:  # a class too rare to stratify: a plain random split
        train, val = train_test_split(everything, test_size=n_val, random_state=int(seed))
    return Splits(
        train=pool.subset(np.sort(train)),
        validation=pool.subset(np.sort(val)),
        test=dataset.subset(np.flatnonzero(is_eval)),
        test_reference="human",
        frozen=True,
    )


def eval_counts_text(splits: Splits) -> str:
    """``empty 3, people 12`` -- test items per class, as the report states them."""
    test = splits.test
    reference = test.targets if splits.test_reference == "human" else test.teacher_probs.argmax(1)
    counts = np.bincount(reference, minlength=len(test.class_names))
    return ", ".join(
        f"{name} {int(count)}" for name, count in zip(test.class_names, counts, strict=True)
    )


__all__ = [
    "EVAL_EVERY",
    "MIN_EVAL_PER_CLASS",
    "answers_needed",
    "eval_counts_text",
    "freeze_eval_set",
    "placement",
    "split_with_eval_set",
]
