"""ORM tables of colour and brightness attributes (``structure.attributes``).

Created only by revision ``attributes_0001`` (``migrations/versions/attributes_0001_colours.py``);
keep both in step. One row per object and per frame, deleted with it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from vigil.catalog.base import Base, UTCDateTime, utcnow


class ObjectAttributeRow(Base):
    """Palette colours of one object crop: dominant names and shares per region."""

    __tablename__ = "object_attributes"

    object_id: Mapped[int] = mapped_column(
        ForeignKey("objects.id", ondelete="CASCADE"), primary_key=True
    )
    colour: Mapped[str | None] = mapped_column(String(16))  # dominant, whole crop
    upper_colour: Mapped[str | None] = mapped_column(String(16))
    lower_colour: Mapped[str | None] = mapped_column(String(16))
    shares: Mapped[dict[str, Any]] = mapped_column(JSON)  # {"whole"|"upper"|"lower": {name: share}}
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class FrameAttributeRow(Base):
    """Brightness and colour shares of one frame (from its thumbnail)."""

    __tablename__ = "frame_attributes"

    frame_id: Mapped[int] = mapped_column(
        ForeignKey("frames.id", ondelete="CASCADE"), primary_key=True
    )
    brightness: Mapped[float] = mapped_column(Float)  # mean HSV value, 0..1
    shares: Mapped[dict[str, Any]] = mapped_column(JSON)  # {name: share}
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


__all__ = ["FrameAttributeRow", "ObjectAttributeRow"]
