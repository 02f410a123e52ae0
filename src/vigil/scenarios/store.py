"""The scenarios stage's view of its stored data: specs as ``ScenarioSpec``, labels by record.

The queries live in ``vigil.catalog.scenarios_store``, which stores a spec as JSON
and knows labels by a ``LabelScope``; these functions turn a ``ScenarioRecord`` into
what the catalog needs, so callers in this stage keep speaking in scenarios.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

from vigil.catalog import scenarios_store as stored
from vigil.catalog.scenarios_store import StoredLabel, item_exists, item_thumbnails, item_vectors
from vigil.catalog.store import Catalog
from vigil.catalog.types import StoredScenario
from vigil.scenarios.spec import ScenarioRecord, ScenarioSpec, spec_from_dict


def _record(found: StoredScenario) -> ScenarioRecord:
    return ScenarioRecord(
        id=found.id,
        name=found.name,
        version=found.version,
        spec=spec_from_dict(found.spec),
        created_at=found.created_at,
        versions=found.versions,
    )


def save_scenario(catalog: Catalog, spec: ScenarioSpec) -> ScenarioRecord:
    """Store a spec: a new scenario, or a new version when it differs from the newest.

    Saving a spec equal to the newest version stores nothing and returns that
    version, so re-importing the same YAML never bumps the version (and never
    makes auto-label redo its work).
    """
    return _record(stored.save_scenario(catalog, spec.name, spec.model_dump(mode="json")))


def get_scenario(catalog: Catalog, name: str, version: int | None = None) -> ScenarioRecord:
    """A scenario's newest version, or the given one."""
    return _record(stored.get_scenario(catalog, name, version))


def list_scenarios(catalog: Catalog) -> list[ScenarioRecord]:
    """The newest version of every scenario, by name."""
    return [_record(found) for found in stored.list_scenarios(catalog)]


def count_target_items(catalog: Catalog, spec: ScenarioSpec, model_id: str) -> int:
    """How many of the scenario's target items have a vector of ``model_id``."""
    target = spec.target
    return stored.count_target_items(catalog, target.kind, target.object_classes, model_id)


def iter_target_vectors(
    catalog: Catalog,
    spec: ScenarioSpec,
    model_id: str,
    *,
    unlabeled_for: tuple[int, int] | None = None,
    batch_size: int = 4096,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Stream (item ids (B,), vectors (B, dim)) of the target items in vector-id order.

    ``unlabeled_for=(scenario_id, version)`` skips items that already have a
    machine label of that version: what makes a stopped run resumable.
    """
    return stored.iter_target_vectors(
        catalog,
        spec.target.kind,
        spec.target.object_classes,
        model_id,
        unlabeled_for=unlabeled_for,
        batch_size=batch_size,
    )


def write_labels(
    catalog: Catalog,
    record: ScenarioRecord,
    ids: np.ndarray,
    probabilities: np.ndarray,
    *,
    model_id: str,
    method: str | Sequence[str],
) -> int:
    """Store machine labels of one batch in ONE transaction; returns how many were written.

    ``method`` is one for the batch or one per item (e.g. ``zero-shot+detector:person``).
    """
    return stored.write_labels(
        catalog, record.scope, ids, probabilities, model_id=model_id, method=method
    )


def delete_labels(catalog: Catalog, record: ScenarioRecord) -> int:
    """Drop the machine labels of one version (human labels stay); returns how many."""
    return stored.delete_labels(catalog, record.scope)


def count_labels(catalog: Catalog, record: ScenarioRecord) -> int:
    return stored.count_labels(catalog, record.scope)


def set_human_label(
    catalog: Catalog, record: ScenarioRecord, item_id: int, label: str, annotator: str
) -> None:
    """Store (or replace) a person's answer; an unknown class is an ``InvalidInputError``."""
    record.spec.class_index(label)
    stored.set_human_label(catalog, record.scope, item_id, label, annotator)


def human_labels(catalog: Catalog, record: ScenarioRecord) -> dict[int, str]:
    """Item id -> a person's label, for the scenario's target kind (current classes only)."""
    return stored.human_labels(catalog, record.scope)


def stored_labels(catalog: Catalog, record: ScenarioRecord) -> list[StoredLabel]:
    """Every item with a machine label of this version or a human label, in item order."""
    return stored.stored_labels(catalog, record.scope)


__all__ = [
    "StoredLabel",
    "count_labels",
    "count_target_items",
    "delete_labels",
    "get_scenario",
    "human_labels",
    "item_exists",
    "item_thumbnails",
    "item_vectors",
    "iter_target_vectors",
    "list_scenarios",
    "save_scenario",
    "set_human_label",
    "stored_labels",
    "write_labels",
]
