"""Champion and challengers: which registered model a scenario's runtime should serve.

Every promotion and rollback is a row of ``model_promotions`` (append-only), so the
champion is always the model of the newest row and a rollback walks back through
earlier champions without losing anything. A ready model of the scenario that is
not the champion is a challenger.

Changes are serialised: each one runs in one write transaction (SQLite takes the
write lock when it begins; elsewhere the ``(scenario, seq)`` unique key makes the
loser of a race fail with ``PromotionError`` rather than overwrite the winner).

The runtime asks ``current_champion(catalog, scenario)`` which model to serve.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from vigil.catalog.db import guard
from vigil.catalog.models_schema import ModelPromotionRow, ModelRow
from vigil.catalog.models_store import ModelRecord, ModelStatus, get_model, ready_model
from vigil.catalog.schema import utcnow
from vigil.catalog.store import Catalog
from vigil.errors import PromotionError


class ModelRole(StrEnum):
    CHAMPION = "champion"  # the scenario's promoted model: the one the runtime serves
    CHALLENGER = "challenger"  # any other ready model of the scenario


class PromotionAction(StrEnum):
    PROMOTE = "promote"
    ROLLBACK = "rollback"


@dataclass(frozen=True)
class Promotion:
    """One change of a scenario's champion."""

    scenario: str
    seq: int
    model_id: int
    action: PromotionAction
    reason: str
    created_at: datetime
    previous_id: int | None  # the champion before this change

    def summary(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario,
            "seq": self.seq,
            "model_id": self.model_id,
            "action": str(self.action),
            "reason": self.reason,
            "created_at": self.created_at.isoformat(),
            "previous_id": self.previous_id,
        }


class _HasCatalog(Protocol):
    @property
    def catalog(self) -> Catalog: ...


def _catalog(catalog_or_context: Catalog | _HasCatalog) -> Catalog:
    return (
        catalog_or_context
        if isinstance(catalog_or_context, Catalog)
        else catalog_or_context.catalog
    )


def _rows(session: Session, scenario: str) -> list[ModelPromotionRow]:
    query = (
        select(ModelPromotionRow)
        .where(ModelPromotionRow.scenario == scenario)
        .order_by(ModelPromotionRow.seq)
    )
    return list(session.scalars(query))


def _stack(rows: list[ModelPromotionRow]) -> list[int]:
    """Champions in order, replayed: a promotion pushes, a rollback pops back to the last one."""
    stack: list[int] = []
    for row in rows:
        if row.action == PromotionAction.ROLLBACK.value:
            stack.pop()
        else:
            stack.append(row.model_id)
    return stack


def champion_stack(catalog: Catalog, scenario: str) -> list[int]:
    """Model ids of the scenario's champions, oldest first; the last one is the champion."""
    with guard("read the champion history"), catalog.reads() as session:
        return _stack(_rows(session, scenario))


def current_champion(
    catalog_or_context: Catalog | _HasCatalog, scenario: str
) -> ModelRecord | None:
    """The scenario's champion (the model its runtime should serve), or None before any.

    Takes the catalog or anything with a ``catalog`` attribute (a ``Context``). The
    record returned is the registry's current one: check it with ``ready_model``
    before loading its file, as for any registered model.

    >>> current_champion(catalog, "walkway-traffic")  # doctest: +SKIP
    ModelRecord(id=3, name='walkway-traffic-v1-r1-int8', ...)
    """
    catalog = _catalog(catalog_or_context)
    stack = champion_stack(catalog, scenario)
    return get_model(catalog, stack[-1]) if stack else None


def promotion_log(catalog: Catalog, scenario: str) -> list[Promotion]:
    """Every promotion and rollback of the scenario, oldest first."""
    with guard("read the champion history"), catalog.reads() as session:
        rows = _rows(session, scenario)
    log: list[Promotion] = []
    for done, row in enumerate(rows):
        before = _stack(rows[:done])
        log.append(_promotion(row, before[-1] if before else None))
    return log


def model_roles(catalog: Catalog, records: list[ModelRecord]) -> dict[int, ModelRole]:
    """Role of each ready model among ``records``: champion or challenger (others: none)."""
    champions: dict[str, int | None] = {}
    roles: dict[int, ModelRole] = {}
    for record in records:
        if record.status is not ModelStatus.READY:
            continue
        if record.scenario not in champions:
            stack = champion_stack(catalog, record.scenario)
            champions[record.scenario] = stack[-1] if stack else None
        is_champion = champions[record.scenario] == record.id
        roles[record.id] = ModelRole.CHAMPION if is_champion else ModelRole.CHALLENGER
    return roles


def _append(
    session: Session, scenario: str, model_id: int, action: PromotionAction, reason: str
) -> ModelPromotionRow:
    rows = _rows(session, scenario)
    row = ModelPromotionRow(
        scenario=scenario,
        seq=(rows[-1].seq if rows else 0) + 1,
        model_id=model_id,
        action=action.value,
        reason=reason,
        created_at=utcnow(),
    )
    session.add(row)
    session.flush()
    return row


def _raced(scenario: str) -> PromotionError:
    return PromotionError(
        f"another promotion or rollback of scenario {scenario!r} happened at the same time; "
        "nothing was changed: check `vigil model list` and try again"
    )


def promote_model(catalog: Catalog, reference: int | str, *, reason: str = "by hand") -> Promotion:
    """Make a ready model its scenario's champion (recorded, so it can be rolled back).

    Refused with ``PromotionError`` for a model that is not ``ready`` (a rejected one
    says why it was rejected) or is already the champion; ``NotFoundError`` for an
    unknown model; ``InvalidInputError`` for a file changed since registration.
    """
    record = get_model(catalog, reference)
    if record.status is not ModelStatus.READY:
        why = f": {record.error}" if record.error else ""
        raise PromotionError(
            f"model {record.name!r} is {record.status.value}, only a ready model can be "
            f"promoted{why}"
        )
    ready_model(catalog, record.id)  # file present, hash as registered
    try:
        with guard("promote the model"), catalog.writes.begin() as session:
            row = session.get(ModelRow, record.id)
            if row is None or row.status != ModelStatus.READY.value:
                raise PromotionError(f"model {record.name!r} stopped being ready; not promoted")
            stack = _stack(_rows(session, record.scenario))
            previous = stack[-1] if stack else None
            if previous == record.id:
                raise PromotionError(
                    f"model {record.name!r} is already the champion of {record.scenario!r}"
                )
            added = _append(session, record.scenario, record.id, PromotionAction.PROMOTE, reason)
            return _promotion(added, previous)
    except IntegrityError as error:  # pragma: no cover - only without a database write lock
        raise _raced(record.scenario) from error


def rollback_champion(catalog: Catalog, scenario: str, *, reason: str = "by hand") -> Promotion:
    """Make the previous champion the champion again; ``PromotionError`` if there is none.

    The previous champion must still be ready (a file removed since is refused).
    """
    try:
        with guard("roll back the champion"), catalog.writes.begin() as session:
            stack = _stack(_rows(session, scenario))
            if len(stack) < 2:
                what = "has no champion" if not stack else "has no earlier champion"
                raise PromotionError(
                    f"scenario {scenario!r} {what} to roll back to"
                    + (f" (its only champion is model {stack[-1]})" if stack else "")
                )
            back_to = session.get(ModelRow, stack[-2])
            if back_to is None or back_to.status != ModelStatus.READY.value:
                raise PromotionError(
                    f"the previous champion of {scenario!r} (model {stack[-2]}) is no longer "
                    "ready; promote a ready model instead"
                )
            added = _append(session, scenario, stack[-2], PromotionAction.ROLLBACK, reason)
            return _promotion(added, stack[-1])
    except IntegrityError as error:  # pragma: no cover - only without a database write lock
        raise _raced(scenario) from error


def _promotion(row: ModelPromotionRow, previous: int | None) -> Promotion:
    return Promotion(
        scenario=row.scenario,
        seq=row.seq,
        model_id=row.model_id,
        action=PromotionAction(row.action),
        reason=row.reason,
        created_at=row.created_at,
        previous_id=previous,
    )


__all__ = [
    "ModelRole",
    "Promotion",
    "PromotionAction",
    "champion_stack",
    "current_champion",
    "model_roles",
    "promote_model",
    "promotion_log",
    "rollback_champion",
]
