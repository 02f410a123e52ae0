"""Runner status, available models, and API key management."""

from __future__ import annotations

from fastapi import APIRouter, status

import vigil
from vigil.api.auth import create_key
from vigil.api.deps import Admin, Reader, ServicesDep
from vigil.api.schemas.common import ERROR_RESPONSES, IdPath
from vigil.api.schemas.system import ApiKeyIn, ApiKeyOut, ModelOut, NewApiKeyOut, StatusOut
from vigil.catalog.api_store import JobStatus
from vigil.embedders.base import embedder_entries

router = APIRouter(prefix="/api/v1", tags=["system"], responses=ERROR_RESPONSES)


@router.get("/status", response_model=StatusOut, summary="Catalog counts, running jobs, auth")
def get_status(svc: ServicesDep, who: Reader) -> StatusOut:
    stats = svc.workspace.catalog.stats()
    running = svc.store.list_jobs(limit=500, status=JobStatus.RUNNING)
    return StatusOut(
        version=vigil.__version__,
        schema_revision=stats.schema_revision,
        sources=stats.sources,
        frames=stats.frames,
        embeddings=stats.embeddings,
        jobs_running=len(running),
        auth_required=svc.auth_required(),
        role=who.role,
    )


@router.get(
    "/models",
    response_model=list[ModelOut],
    summary="Registered image-text models (test backends only with api.debug)",
)
def list_models(svc: ServicesDep, _: Reader) -> list[ModelOut]:
    active = svc.workspace.embedder.name
    debug = svc.settings.api.debug
    return [
        ModelOut(
            name=entry.name,
            available=entry.is_available(svc.settings.embedder),
            priority=entry.priority,
            summary=entry.summary,
            active=entry.name == active,
        )
        for entry in embedder_entries()
        # Test backends only in debug mode, or when one is what this server actually runs.
        if not entry.testing or debug or entry.name == active
    ]


@router.get("/keys", response_model=list[ApiKeyOut], summary="API keys (hashes never leave)")
def list_keys(svc: ServicesDep, _: Admin) -> list[ApiKeyOut]:
    return [ApiKeyOut.of(k) for k in svc.store.list_keys()]


@router.post(
    "/keys",
    response_model=NewApiKeyOut,
    status_code=status.HTTP_201_CREATED,
    summary="Create an API key; the token is shown only in this answer",
)
def add_key(body: ApiKeyIn, svc: ServicesDep, _: Admin) -> NewApiKeyOut:
    new = create_key(svc.store, name=body.name, role=body.role)
    return NewApiKeyOut(**ApiKeyOut.of(new.record).model_dump(), token=new.token)


@router.delete("/keys/{key_id}", response_model=ApiKeyOut, summary="Revoke an API key")
def revoke_key(key_id: IdPath, svc: ServicesDep, _: Admin) -> ApiKeyOut:
    record = svc.store.revoke_key(key_id)
    svc.keys.forget()
    return ApiKeyOut.of(record)
