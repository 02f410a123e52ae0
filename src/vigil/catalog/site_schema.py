"""ORM tables of zones and site plans: a source's drawn zones, a site's plan and cameras.

Created only by revision ``site_0001`` (``migrations/versions/site_0001_plans.py``);
keep both in step.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from vigil.catalog.base import Base, UTCDateTime, utcnow


class ZoneSetRow(Base):
    """The zones and lines drawn on one source (the YAML's content, as JSON)."""

    __tablename__ = "zone_sets"

    source_id: Mapped[int] = mapped_column(
        ForeignKey("sources.id", ondelete="CASCADE"), primary_key=True
    )
    spec_json: Mapped[dict[str, Any]] = mapped_column("spec", JSON)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SitePlanRow(Base):
    """A floor plan or map image of a site, stored under the workspace home."""

    __tablename__ = "site_plans"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    image_path: Mapped[str] = mapped_column(Text)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SitePlacementRow(Base):
    """Where a source's camera stands on a plan, in the plan's pixels, and where it looks."""

    __tablename__ = "site_placements"

    plan_id: Mapped[int] = mapped_column(
        ForeignKey("site_plans.id", ondelete="CASCADE"), primary_key=True
    )
    source_id: Mapped[int] = mapped_column(
        ForeignKey("sources.id", ondelete="CASCADE"), primary_key=True
    )
    x: Mapped[float] = mapped_column(Float)
    y: Mapped[float] = mapped_column(Float)
    direction_deg: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
