"""The trainer's input as plain arrays, and the splits it is trained and judged on.

Everything upstream (a scenario's labeled items, Fashion-MNIST in the bench) is
turned into a ``DistillDataset`` first, so training, pruning, quantization and the
report never touch the catalog and are testable on their own.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from vigil.errors import InvalidInputError

NO_LABEL = -1  # human_labels value of an item no person has labeled
MIN_ITEMS = 20  # below this a student cannot be trained and judged on held-out items
MIN_PER_CLASS = 2  # one for training, one for judging: fewer and the class cannot be learned


@dataclass(frozen=True)
class DistillDataset:
    """Images with the big model's class probabilities and, where present, a person's label.

    ``teacher_probs`` rows sum to 1 (an item only a person labeled carries the
    one-hot of that label). ``item_ids`` identify the items in the training
    snapshot stored with each model.
    """

    images: np.ndarray  # (N, H, W, 3) uint8 RGB, all the same size
    teacher_probs: np.ndarray  # (N, C) float32
    human_labels: np.ndarray  # (N,) int64, NO_LABEL where no person answered
    class_names: tuple[str, ...]
    item_ids: tuple[str, ...]

    def __post_init__(self) -> None:
        n = len(self.item_ids)
        if self.images.ndim != 4 or self.images.shape[3] != 3 or self.images.dtype != np.uint8:
            raise InvalidInputError(
                f"images must be (N, H, W, 3) uint8, got {self.images.shape} {self.images.dtype}"
            )
        expected_probs = (n, len(self.class_names))
        if self.images.shape[0] != n or self.teacher_probs.shape != expected_probs:
            raise InvalidInputError(
                f"expected {n} images and teacher probabilities shaped {expected_probs}, got "
                f"{self.images.shape[0]} images and {self.teacher_probs.shape}"
            )
        if self.human_labels.shape != (n,):
            raise InvalidInputError(f"expected {n} human labels, got {self.human_labels.shape}")
        bad = (self.human_labels < NO_LABEL) | (self.human_labels >= len(self.class_names))
        if bad.any():
            raise InvalidInputError(
                f"human labels must be in [-1, {len(self.class_names) - 1}], "
                f"got {sorted(set(self.human_labels[bad].tolist()))}"
            )
        if len(set(self.item_ids)) != n:
            raise InvalidInputError("item ids must be unique")

    def __len__(self) -> int:
        return len(self.item_ids)

    @property
    def targets(self) -> np.ndarray:
        """Hard label per item: the person's answer where there is one, else the teacher's."""
        machine = self.teacher_probs.argmax(axis=1)
        return np.where(self.human_labels >= 0, self.human_labels, machine).astype(np.int64)

    def subset(self, index: np.ndarray) -> DistillDataset:
        return DistillDataset(
            images=self.images[index],
            teacher_probs=self.teacher_probs[index],
            human_labels=self.human_labels[index],
            class_names=self.class_names,
            item_ids=tuple(self.item_ids[i] for i in index.tolist()),
        )

    def snapshot(self) -> dict[str, object]:
        """What a model was trained on: item ids and a hash of every label and soft target."""
        digest = hashlib.sha256()
        digest.update("\n".join(self.item_ids).encode())
        digest.update(np.ascontiguousarray(self.human_labels, dtype="<i8").tobytes())
        digest.update(np.round(self.teacher_probs.astype("<f8"), 6).tobytes())
        return {
            "items": len(self),
            "item_ids": list(self.item_ids),
            "human_labels": int((self.human_labels >= 0).sum()),
            "label_sha256": digest.hexdigest(),
        }


def review_advice(scenario: str | None, needs: dict[str, int]) -> str:
    """What to run to fix a class shortfall: one clause per class, with the command."""
    name = scenario or "SCENARIO"
    return "; ".join(
        f"answer at least {count} more items of class {label!r}: "
        f"vigil scenario review {name} --class {label}"
        for label, count in needs.items()
    )


def check_trainable(
    dataset: DistillDataset,
    *,
    scenario: str | None = None,
    answers_needed: Callable[[str, int], int] | None = None,
) -> None:
    """Refuse a data set that cannot give a student and a fair held-out score.

    Run before any training. A class short of examples is named with the command
    that fixes it; ``answers_needed(class, count)`` says how many more answers that
    takes (more than the shortfall when some answers go to the frozen evaluation set).
    """

    def needs(names: list[str]) -> str:
        counted = dict(zip(dataset.class_names, counts.tolist(), strict=True))
        return review_advice(
            scenario,
            {
                name: (answers_needed or (lambda _, have: MIN_PER_CLASS - have))(
                    name, counted[name]
                )
                for name in names
            },
        )

    if len(dataset) < MIN_ITEMS:
        raise InvalidInputError(
            f"too few labeled items to train a student: {MIN_ITEMS} are needed "
            f"(at least {MIN_PER_CLASS} per class), got {len(dataset)}; label more items "
            "(vigil scenario label / review) and try again"
        )
    counts = np.bincount(dataset.targets, minlength=len(dataset.class_names))
    per_class = dict(zip(dataset.class_names, counts.tolist(), strict=True))
    missing = [name for name, count in zip(dataset.class_names, counts, strict=True) if count == 0]
    if missing:
        raise InvalidInputError(
            f"class(es) {missing} have no labeled example; every class needs at least "
            f"{MIN_PER_CLASS} (got counts {per_class}); {needs(missing)}"
        )
    few = [
        name
        for name, count in zip(dataset.class_names, counts, strict=True)
        if count < MIN_PER_CLASS
    ]
    if few:
        raise InvalidInputError(
            f"class(es) {few} have fewer than {MIN_PER_CLASS} labeled examples; "
            f"got counts {per_class}; {needs(few)}"
        )


@dataclass(frozen=True)
class Splits:
    """Train / validation (early stopping) / test (the report) partitions."""

    train: DistillDataset
    validation: DistillDataset
    test: DistillDataset
    test_reference: str  # "human" when the test labels are people's answers, else "teacher"
    frozen: bool = False  # the test split is the scenario's frozen evaluation set
    warnings: tuple[str, ...] = ()  # why the test split is weaker than it should be


def split_dataset(
    dataset: DistillDataset, *, test_fraction: float = 0.2, val_fraction: float = 0.1, seed: int = 0
) -> Splits:
    """Stratified splits; the test split is drawn from human-labeled items when enough exist.

    Judging a student on the teacher's own labels would only measure agreement, so
    the test split prefers items a person labeled (``test_reference`` says which).
    """
    from sklearn.model_selection import train_test_split

    check_trainable(dataset)
    rng_seed = int(seed)
    everything = np.arange(len(dataset))
    human = everything[dataset.human_labels >= 0]
    n_classes = len(dataset.class_names)
    n_test = max(n_classes, round(test_fraction * len(dataset)))
    human_counts = np.bincount(dataset.human_labels[human], minlength=n_classes)
    if len(human) >= 2 * n_test or (len(human) >= n_test + n_classes and human_counts.min() >= 2):
        pool, reference = human, "human"
    else:
        pool, reference = everything, "teacher"
    labels = dataset.targets
    try:
        _, test = train_test_split(
            pool,
            test_size=min(n_test, len(pool) // 2),
            stratify=labels[pool],
            random_state=rng_seed,
        )
    except ValueError:  # a class too rare to stratify: fall back to a plain random split
        _, test = train_test_split(
            pool, test_size=min(n_test, len(pool) // 2), random_state=rng_seed
        )
    rest = np.setdiff1d(everything, test)
    n_val = max(n_classes, round(val_fraction * len(dataset)))
    try:
        train, val = train_test_split(
            rest, test_size=n_val, stratify=labels[rest], random_state=rng_seed
        )
    except ValueError:
        train, val = train_test_split(rest, test_size=n_val, random_state=rng_seed)
    return Splits(
        train=dataset.subset(np.sort(train)),
        validation=dataset.subset(np.sort(val)),
        test=dataset.subset(np.sort(test)),
        test_reference=reference,
    )


__all__ = [
    "MIN_ITEMS",
    "MIN_PER_CLASS",
    "NO_LABEL",
    "DistillDataset",
    "Splits",
    "check_trainable",
    "review_advice",
    "split_dataset",
]
