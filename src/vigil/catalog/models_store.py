"""Model registry: each produced model file, versioned with its scenario, data and metrics.

The catalog owns the ``models`` table; distillation writes rows through these
functions and the runtime and ``vigil model export`` read a file only through
``ready_model``, which checks status, presence and hash in one place.

A row is created with status ``training`` before any work starts, and becomes
``ready`` only once its ONNX file is complete, self-checked and hashed; an error
or an interruption marks it ``failed`` (with the reason). A complete model that
fails the quality gates (``vigil.distill.gates``: no better than always answering
the majority class, or a class it never recognises) is ``rejected`` with the
reason in ``error``. The runtime serves only ``ready`` rows, so a half-written or
degenerate model is never used.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, update

from vigil.catalog.db import guard
from vigil.catalog.models_schema import ModelRow
from vigil.catalog.schema import utcnow
from vigil.catalog.store import Catalog
from vigil.errors import InvalidInputError, NotFoundError, VigilError
from vigil.names import did_you_mean


class ModelKind(StrEnum):
    FLOAT = "float"
    PRUNED = "pruned"
    INT8 = "int8"


class ModelStatus(StrEnum):
    TRAINING = "training"
    READY = "ready"
    FAILED = "failed"
    REJECTED = "rejected"  # complete, but failed a quality gate (the reason is in ``error``)


@dataclass(frozen=True)
class ModelRecord:
    """A registered model as the CLI and API show it."""

    id: int
    name: str
    scenario: str
    scenario_version: int
    kind: ModelKind
    parent_id: int | None
    architecture: str
    status: ModelStatus
    path: Path | None
    sha256: str | None
    size_bytes: int | None
    metrics: dict[str, Any]
    snapshot: dict[str, Any]
    error: str | None
    created_at: datetime
    updated_at: datetime

    def summary(self) -> dict[str, Any]:
        """The record without the (long) list of training item ids."""
        snapshot = {k: v for k, v in self.snapshot.items() if k != "item_ids"}
        return {
            "id": self.id,
            "name": self.name,
            "scenario": self.scenario,
            "scenario_version": self.scenario_version,
            "kind": str(self.kind),
            "parent_id": self.parent_id,
            "architecture": self.architecture,
            "status": str(self.status),
            "path": str(self.path) if self.path else None,
            "sha256": self.sha256,
            "size_bytes": self.size_bytes,
            "metrics": self.metrics,
            "snapshot": snapshot,
            "error": self.error,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
        }


def sha256_file(path: Path) -> str:
    """The hex SHA-256 of a file, read in 1 MiB blocks (model files can be large)."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _record(row: ModelRow) -> ModelRecord:
    return ModelRecord(
        id=row.id,
        name=row.name,
        scenario=row.scenario,
        scenario_version=row.scenario_version,
        kind=ModelKind(row.kind),
        parent_id=row.parent_id,
        architecture=row.architecture,
        status=ModelStatus(row.status),
        path=Path(row.path) if row.path else None,
        sha256=row.sha256,
        size_bytes=row.size_bytes,
        metrics=dict(row.metrics),
        snapshot=dict(row.snapshot),
        error=row.error,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def next_run_name(catalog: Catalog, scenario: str, version: int) -> str:
    """``SCENARIO-vVERSION-rRUN``: run numbers count up per scenario version."""
    with guard("count registered models"), catalog.reads() as session:
        runs = session.scalar(
            select(func.count(ModelRow.id)).where(
                ModelRow.scenario == scenario,
                ModelRow.scenario_version == version,
                ModelRow.kind == ModelKind.FLOAT.value,
            )
        )
    return f"{scenario}-v{version}-r{int(runs or 0) + 1}"


def start_model(
    catalog: Catalog,
    *,
    name: str,
    scenario: str,
    scenario_version: int,
    kind: ModelKind,
    architecture: str,
    snapshot: dict[str, Any],
    parent_id: int | None = None,
) -> ModelRecord:
    """Register a model that is about to be produced (status ``training``)."""
    with guard("register the model"), catalog.writes.begin() as session:
        if session.scalar(select(ModelRow.id).where(ModelRow.name == name)) is not None:
            raise InvalidInputError(f"a model named {name!r} is already registered")
        now = utcnow()
        row = ModelRow(
            name=name,
            scenario=scenario,
            scenario_version=scenario_version,
            kind=kind.value,
            parent_id=parent_id,
            architecture=architecture,
            status=ModelStatus.TRAINING.value,
            metrics={},
            snapshot=snapshot,
            created_at=now,
            updated_at=now,
        )
        session.add(row)
        session.flush()
        return _record(row)


def finish_model(
    catalog: Catalog,
    model_id: int,
    path: Path,
    metrics: dict[str, Any],
    architecture: str,
    *,
    ready: bool = True,
) -> ModelRecord:
    """Record a model's file (self-checked, hashed now); mark it ``ready`` unless ``ready=False``.

    A model made as part of a set (``vigil distill``) is recorded with ``ready=False`` and
    published with the rest of its set by ``publish_models`` once metrics and report exist.
    """
    if not path.is_file():
        raise InvalidInputError(f"cannot mark model {model_id} ready: no file at {path}")
    digest, size = sha256_file(path), path.stat().st_size
    with guard("mark the model ready"), catalog.writes.begin() as session:
        row = session.get(ModelRow, model_id)
        if row is None:
            raise NotFoundError(f"no registered model with id {model_id}")
        if ready:
            row.status = ModelStatus.READY.value
        row.path = str(path.resolve())
        row.sha256 = digest
        row.size_bytes = size
        row.metrics = metrics
        row.architecture = architecture
        row.error = None
        row.updated_at = utcnow()
        return _record(row)


def publish_models(
    catalog: Catalog, model_ids: list[int], rejected: dict[int, str] | None = None
) -> None:
    """Mark a complete set of models ``ready`` together, after checking each one again.

    Each must still be ``training`` (no concurrent run failed it), have its file with the
    hash recorded at export, an evaluation in its metrics and its report on disk; else
    nothing is published and the set is failed by the caller. A model named in
    ``rejected`` (id -> the gate's reason) becomes ``rejected`` instead of ``ready``.
    """
    rejected = rejected or {}
    with guard("publish the models"), catalog.writes.begin() as session:
        rows = [session.get(ModelRow, model_id) for model_id in model_ids]
        for model_id, row in zip(model_ids, rows, strict=True):
            if row is None:
                raise NotFoundError(f"no registered model with id {model_id}")
            problem = None
            if row.status != ModelStatus.TRAINING.value:
                problem = f"its status is {row.status!r}"
            elif row.path is None or not Path(row.path).is_file():
                problem = "its file is missing"
            elif sha256_file(Path(row.path)) != row.sha256:
                problem = "its file changed since it was exported"
            elif "eval" not in row.metrics or not Path(str(row.metrics.get("report"))).is_file():
                problem = "its evaluation or report is missing"
            if problem is not None:
                raise VigilError(f"model {row.name!r} cannot be published: {problem}")
        now = utcnow()
        for row in rows:
            assert row is not None
            reason = rejected.get(row.id)
            if reason is None:
                row.status = ModelStatus.READY.value
            else:
                row.status = ModelStatus.REJECTED.value
                row.error = reason[:2000]
            row.updated_at = now


def update_metrics(catalog: Catalog, model_id: int, metrics: dict[str, Any]) -> None:
    with guard("store model metrics"), catalog.writes.begin() as session:
        row = session.get(ModelRow, model_id)
        if row is None:
            raise NotFoundError(f"no registered model with id {model_id}")
        row.metrics = metrics
        row.updated_at = utcnow()


def fail_model(catalog: Catalog, model_id: int, error: str) -> None:
    """Mark a model ``failed`` (never served); its partial file, if any, is not referenced."""
    with guard("mark the model failed"), catalog.writes.begin() as session:
        session.execute(
            update(ModelRow)
            .where(ModelRow.id == model_id, ModelRow.status != ModelStatus.READY.value)
            .values(status=ModelStatus.FAILED.value, error=error[:2000], updated_at=utcnow())
        )


def fail_abandoned(catalog: Catalog, scenario: str, version: int) -> int:
    """Mark rows left ``training`` by a killed run of this scenario version as failed."""
    with guard("clean up abandoned models"), catalog.writes.begin() as session:
        result = session.execute(
            update(ModelRow)
            .where(
                ModelRow.scenario == scenario,
                ModelRow.scenario_version == version,
                ModelRow.status == ModelStatus.TRAINING.value,
            )
            .values(
                status=ModelStatus.FAILED.value,
                error="interrupted: the run that produced it stopped before finishing",
                updated_at=utcnow(),
            )
        )
        return int(getattr(result, "rowcount", 0) or 0)


def list_models(
    catalog: Catalog, *, scenario: str | None = None, status: ModelStatus | None = None
) -> list[ModelRecord]:
    query = select(ModelRow).order_by(ModelRow.id)
    if scenario is not None:
        query = query.where(ModelRow.scenario == scenario)
    if status is not None:
        query = query.where(ModelRow.status == status.value)
    with guard("list models"), catalog.reads() as session:
        return [_record(row) for row in session.scalars(query)]


def get_model(catalog: Catalog, reference: int | str) -> ModelRecord:
    """A model by numeric id or by name."""
    with guard("read the model"), catalog.reads() as session:
        if isinstance(reference, int) or str(reference).isdigit():
            row = session.get(ModelRow, int(reference))
        else:
            row = session.scalars(select(ModelRow).where(ModelRow.name == reference)).first()
        if row is None:
            known = session.scalars(select(ModelRow.name)).all()
            raise NotFoundError(
                f"no registered model {reference!r}{did_you_mean(reference, known)} "
                "(see `vigil model list`)"
            )
        return _record(row)


def ready_model(catalog: Catalog, reference: int | str, *, verify: bool = True) -> ModelRecord:
    """A ``ready`` model whose file is present and still has the registered SHA-256.

    The one check before a registered file is served or handed out: a model in any
    other status, a missing file, or a file changed on disk since it was registered
    is refused rather than used. ``verify=False`` leaves the hash to a caller that
    checks a copy instead (``export_model``), so the file is read once.
    """
    record = get_model(catalog, reference)
    if record.status is not ModelStatus.READY or record.path is None:
        why = f" ({record.error})" if record.error else ""
        raise InvalidInputError(
            f"model {record.name!r} has status {record.status.value!r}, expected 'ready'{why}"
        )
    if not record.path.is_file():
        raise NotFoundError(f"model {record.name!r}: its file {record.path} is missing")
    if verify:
        check_digest(record, record.path)
    return record


def check_digest(record: ModelRecord, path: Path) -> None:
    """Refuse ``path`` unless its SHA-256 equals the one registered for ``record``."""
    digest = sha256_file(path)
    if digest != record.sha256:
        raise InvalidInputError(
            f"model {record.name!r}: file {record.path} has SHA-256 {digest}, expected "
            f"{record.sha256} from the registry (changed since it was registered)"
        )


__all__ = [
    "ModelKind",
    "ModelRecord",
    "ModelStatus",
    "check_digest",
    "fail_abandoned",
    "fail_model",
    "finish_model",
    "get_model",
    "list_models",
    "next_run_name",
    "ready_model",
    "sha256_file",
    "start_model",
    "update_metrics",
]
