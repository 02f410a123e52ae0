"""Storage of each scenario's frozen evaluation split (``model_eval_items``).

Which person-labelled item is held out is decided by ``vigil.distill.evalset``;
this module only keeps the decisions, append-only: an item, once placed, keeps
its split for good, so every model version is judged on the same held-out items
and none of them was ever trained on.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from vigil.catalog.db import guard
from vigil.catalog.models_schema import ModelEvalItemRow
from vigil.catalog.schema import utcnow
from vigil.catalog.store import Catalog
from vigil.errors import InvalidInputError

SPLITS = ("eval", "train")


@dataclass(frozen=True)
class EvalAssignment:
    item: str  # "frame:12" / "object:3"
    class_name: str  # the person's answer when the item was placed
    split: str  # "eval" (held out) / "train"


def eval_assignments(catalog: Catalog, scenario: str) -> dict[str, EvalAssignment]:
    """Every placed item of the scenario, by item reference."""
    query = (
        select(ModelEvalItemRow)
        .where(ModelEvalItemRow.scenario == scenario)
        .order_by(ModelEvalItemRow.id)
    )
    with guard("read the evaluation split"), catalog.reads() as session:
        return {
            row.item: EvalAssignment(row.item, row.class_name, row.split)
            for row in session.scalars(query)
        }


def add_eval_assignments(
    catalog: Catalog, scenario: str, assignments: list[EvalAssignment]
) -> dict[str, EvalAssignment]:
    """Store new placements; an item already placed keeps its first one (returned as is)."""
    for assignment in assignments:
        if assignment.split not in SPLITS:
            raise InvalidInputError(f"split must be one of {SPLITS}, got {assignment.split!r}")
    with guard("store the evaluation split"), catalog.writes.begin() as session:
        placed = set(
            session.scalars(
                select(ModelEvalItemRow.item).where(ModelEvalItemRow.scenario == scenario)
            )
        )
        now = utcnow()
        for assignment in assignments:
            if assignment.item in placed:
                continue
            placed.add(assignment.item)
            session.add(
                ModelEvalItemRow(
                    scenario=scenario,
                    item=assignment.item,
                    class_name=assignment.class_name,
                    split=assignment.split,
                    created_at=now,
                )
            )
    return eval_assignments(catalog, scenario)


__all__ = ["SPLITS", "EvalAssignment", "add_eval_assignments", "eval_assignments"]
