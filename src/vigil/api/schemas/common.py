"""Bodies shared by every area."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path
from pydantic import BaseModel, ConfigDict, Field


class ErrorOut(BaseModel):
    """Every error answer: what went wrong, in one line, and the error's type."""

    detail: str
    error: str


class StrictIn(BaseModel):
    """Base of request bodies: unknown fields are refused, never silently dropped."""

    model_config = ConfigDict(extra="forbid")


ERROR_RESPONSES: dict[int | str, dict[str, object]] = {
    code: {"model": ErrorOut} for code in (400, 401, 403, 404, 409, 413, 415, 422, 429, 503)
}


# Database ids are signed 64-bit: larger numbers can name nothing, and are refused as
# input errors instead of overflowing the driver.
MAX_ID = 2**63 - 1
IdPath = Annotated[int, Path(ge=1, le=MAX_ID, description="A database id.")]
IdItem = Annotated[int, Field(ge=1, le=MAX_ID)]
NameItem = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]*$")]
MetaKey = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[^\x00-\x1f\x7f]*$")]
MetaText = Annotated[str, Field(max_length=2000, pattern=r"^[^\x00-\x1f\x7f]*$")]
# No control characters (NUL breaks file paths and PostgreSQL text; the rest breaks logs).
NO_CONTROL = r"^[^\x00-\x1f\x7f]*$"
