"""Zones drawn on a source, and site plans with the cameras placed on them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from vigil.catalog.db import guard
from vigil.catalog.schema import SourceRow, utcnow
from vigil.catalog.site_schema import SitePlacementRow, SitePlanRow, ZoneSetRow
from vigil.catalog.store import Catalog
from vigil.errors import NotFoundError


@dataclass(frozen=True)
class StoredZones:
    source_id: int
    spec: dict[str, Any]
    updated_at: datetime


@dataclass(frozen=True)
class Placement:
    """A camera on a plan: position in the plan's pixels, view direction (0 = right, 90 = down)."""

    source_id: int
    x: float
    y: float
    direction_deg: float


@dataclass(frozen=True)
class SitePlan:
    id: int
    name: str
    image_path: str
    width: int
    height: int
    placements: list[Placement]
    updated_at: datetime


def save_zone_set(catalog: Catalog, source_id: int, spec: dict[str, Any]) -> StoredZones:
    """Replace the zones of a source (the caller has checked them)."""
    now = utcnow()
    with guard("store zones"), catalog.writes.begin() as session:
        if session.get(SourceRow, int(source_id)) is None:
            raise NotFoundError(f"no source with id {source_id}")
        row = session.get(ZoneSetRow, int(source_id))
        if row is None:
            row = ZoneSetRow(source_id=int(source_id))
            session.add(row)
        row.spec_json = dict(spec)
        row.updated_at = now
    return StoredZones(int(source_id), dict(spec), now)


def get_zone_set(catalog: Catalog, source_id: int) -> StoredZones | None:
    with guard("read zones"), catalog.reads() as session:
        row = session.get(ZoneSetRow, int(source_id))
        return (
            None if row is None else StoredZones(row.source_id, dict(row.spec_json), row.updated_at)
        )


def delete_zone_set(catalog: Catalog, source_id: int) -> bool:
    with guard("delete zones"), catalog.writes.begin() as session:
        row = session.get(ZoneSetRow, int(source_id))
        if row is None:
            return False
        session.delete(row)
        return True


def save_site_plan(
    catalog: Catalog, name: str, image_path: str, width: int, height: int
) -> SitePlan:
    """Create or replace the plan image of a site; placements are kept."""
    with guard("store the site plan"), catalog.writes.begin() as session:
        row = session.scalar(select(SitePlanRow).where(SitePlanRow.name == name))
        if row is None:
            row = SitePlanRow(name=name)
            session.add(row)
        row.image_path, row.width, row.height = image_path, int(width), int(height)
        row.updated_at = utcnow()
        session.flush()
        plan_id = int(row.id)
    return get_site_plan(catalog, plan_id)


def place_source(
    catalog: Catalog, plan_id: int, source_id: int, x: float, y: float, direction_deg: float
) -> Placement:
    with guard("place a camera on the site plan"), catalog.writes.begin() as session:
        if session.get(SitePlanRow, int(plan_id)) is None:
            raise NotFoundError(f"no site plan with id {plan_id}")
        if session.get(SourceRow, int(source_id)) is None:
            raise NotFoundError(f"no source with id {source_id}")
        row = session.get(SitePlacementRow, (int(plan_id), int(source_id)))
        if row is None:
            row = SitePlacementRow(plan_id=int(plan_id), source_id=int(source_id))
            session.add(row)
        row.x, row.y, row.direction_deg = float(x), float(y), float(direction_deg) % 360.0
        row.updated_at = utcnow()
    return Placement(int(source_id), float(x), float(y), float(direction_deg) % 360.0)


def remove_placement(catalog: Catalog, plan_id: int, source_id: int) -> bool:
    with guard("remove a camera from the site plan"), catalog.writes.begin() as session:
        row = session.get(SitePlacementRow, (int(plan_id), int(source_id)))
        if row is None:
            return False
        session.delete(row)
        return True


def get_site_plan(catalog: Catalog, plan: int | str) -> SitePlan:
    """A plan by id or name, with its placements."""
    with guard("read the site plan"), catalog.reads() as session:
        if isinstance(plan, int) or (isinstance(plan, str) and plan.isdigit()):
            row = session.get(SitePlanRow, int(plan))
        else:
            row = session.scalar(select(SitePlanRow).where(SitePlanRow.name == plan))
        if row is None:
            raise NotFoundError(f"no site plan {plan!r} ('vigil site plan IMAGE' first)")
        placements = session.scalars(
            select(SitePlacementRow)
            .where(SitePlacementRow.plan_id == row.id)
            .order_by(SitePlacementRow.source_id)
        ).all()
        return SitePlan(
            id=row.id,
            name=row.name,
            image_path=row.image_path,
            width=row.width,
            height=row.height,
            placements=[Placement(p.source_id, p.x, p.y, p.direction_deg) for p in placements],
            updated_at=row.updated_at,
        )


def list_site_plans(catalog: Catalog) -> list[str]:
    with guard("list site plans"), catalog.reads() as session:
        return list(session.scalars(select(SitePlanRow.name).order_by(SitePlanRow.id)).all())
