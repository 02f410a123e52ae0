"""Runner status, models, API keys."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from vigil.api.schemas.common import NO_CONTROL, StrictIn
from vigil.catalog.api_store import ApiKeyRecord, Role


class StatusOut(BaseModel):
    version: str
    schema_revision: str | None
    sources: int
    frames: int
    embeddings: dict[str, int]
    jobs_running: int
    auth_required: bool
    role: Role = Field(description="The caller's role.")


class ModelOut(BaseModel):
    name: str
    available: bool
    priority: int
    summary: str
    active: bool


class ApiKeyIn(StrictIn):
    name: str = Field(min_length=1, max_length=200, pattern=NO_CONTROL)
    role: Role = Role.READ


class ApiKeyOut(BaseModel):
    id: int
    name: str
    role: Role
    prefix: str
    created_at: datetime
    revoked_at: datetime | None

    @classmethod
    def of(cls, record: ApiKeyRecord) -> ApiKeyOut:
        return cls(
            id=record.id,
            name=record.name,
            role=record.role,
            prefix=record.prefix,
            created_at=record.created_at,
            revoked_at=record.revoked_at,
        )


class NewApiKeyOut(ApiKeyOut):
    token: str = Field(description="Shown once; only its hash is stored.")
