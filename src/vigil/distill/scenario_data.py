"""A scenario's labelled items as a ``DistillDataset`` (read from the catalog and thumbnails).

Shared by the pipeline (training) and ``champion`` (comparing versions on the
frozen evaluation set), so neither imports the other.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vigil.catalog.store import Catalog
from vigil.distill.data import DistillDataset
from vigil.errors import CorruptMediaError, ImageTooLargeError, InvalidInputError
from vigil.sources.images import read_image


def load_scenario_dataset(
    catalog: Catalog, home: Path, scenario: str, version: int | None = None, *, size: int = 96
) -> tuple[DistillDataset, int]:
    """A scenario's labeled items (``vigil.scenarios.training``) as a ``DistillDataset``.

    Items only a person labeled carry the one-hot of that label as their soft
    target. Images are read from the workspace's thumbnails and resized to
    ``size`` (the student's input size or larger). Returns the data set and the
    scenario version it came from.
    """
    import cv2

    from vigil.scenarios.training import training_items

    items = training_items(catalog, scenario, version)
    if not items:
        raise InvalidInputError(
            f"scenario {scenario!r} has no labeled items; auto-label it "
            "(vigil scenario label) or answer its review queue first"
        )
    names = items[0].class_names
    images, probs, humans, ids = [], [], [], []
    for item in items:
        path = home / item.image_path
        try:
            image = read_image(path)
        except (CorruptMediaError, ImageTooLargeError):
            continue  # thumbnail removed or damaged since labeling: it cannot be trained on
        images.append(cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA))
        human = names.index(item.human_label) if item.human_label is not None else -1
        if item.probabilities is not None:
            probs.append(np.asarray(item.probabilities, dtype=np.float32))
        else:
            probs.append(np.eye(len(names), dtype=np.float32)[human])
        humans.append(human)
        ids.append(f"{item.kind}:{item.id}")
    if not images:
        raise InvalidInputError(
            f"none of the {len(items)} labeled items of {scenario!r} has a readable thumbnail "
            f"under {home}"
        )
    dataset = DistillDataset(
        images=np.stack(images),
        teacher_probs=np.stack(probs),
        human_labels=np.asarray(humans, dtype=np.int64),
        class_names=tuple(names),
        item_ids=tuple(ids),
    )
    return dataset, items[0].version


__all__ = ["load_scenario_dataset"]
