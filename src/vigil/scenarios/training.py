"""What a scenario hands to distillation: labeled items with soft targets.

``training_items`` is the contract between the scenarios stage and ``vigil
distill SCENARIO``: one ``LabeledItem`` per frame or object that has a machine
label of the chosen version or a person's answer.

>>> from vigil.scenarios.training import training_items
>>> items = training_items(catalog, "smoke-watch")  # doctest: +SKIP
>>> items[0].class_names, items[0].probabilities, items[0].label  # doctest: +SKIP
(('smoke', 'clear'), (0.91, 0.09), 'smoke')
"""

from __future__ import annotations

from dataclasses import dataclass

from vigil.catalog.store import Catalog
from vigil.scenarios.spec import ItemKind
from vigil.scenarios.store import get_scenario, stored_labels


@dataclass(frozen=True)
class LabeledItem:
    """One training item of a scenario.

    ``probabilities`` are the machine's class probabilities in ``class_names``
    order (soft targets), or None for an item only a person has labeled (no
    machine label at this version yet). ``label`` is the hard target: the human
    label when there is one (it overrides the machine), else the machine label.
    """

    kind: ItemKind  # "frame" or "object"
    id: int  # frames.id or objects.id
    image_path: str  # frame thumbnail or object crop thumbnail, relative to the workspace home
    class_names: tuple[str, ...]
    probabilities: tuple[float, ...] | None
    machine_label: str | None
    human_label: str | None
    scenario: str
    version: int
    model_id: str | None  # the embedder + method that produced the machine label

    @property
    def label(self) -> str:
        label = self.human_label if self.human_label is not None else self.machine_label
        assert label is not None  # an item is listed only when it has one or the other
        return label

    @property
    def label_index(self) -> int:
        """Position of ``label`` in ``class_names`` (the hard target's class id)."""
        return self.class_names.index(self.label)


def training_items(
    catalog: Catalog, scenario_name: str, version: int | None = None
) -> list[LabeledItem]:
    """Labeled items of a scenario version (newest when None), ordered by item id.

    Raises ``NotFoundError`` for an unknown scenario or version. Items whose frame
    or object was deleted since labeling are gone (labels cascade with them).
    """
    record = get_scenario(catalog, scenario_name, version)
    names = record.spec.class_names
    return [
        LabeledItem(
            kind=stored.kind,
            id=stored.item_id,
            image_path=stored.thumbnail_path,
            class_names=names,
            probabilities=stored.probabilities,
            machine_label=stored.machine_label,
            human_label=stored.human_label,
            scenario=record.name,
            version=record.version,
            model_id=stored.model_id,
        )
        for stored in stored_labels(catalog, record)
    ]
