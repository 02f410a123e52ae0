"""Long work (indexing, later auto-labelling and distillation) runs as jobs, never in a request.

A job is a row in the catalog (``jobs``) plus a task on a small thread pool. The row
is the truth: the API reads status and progress from it, so a restarted server still
lists old jobs, and jobs it finds queued or running at start are marked
``interrupted`` (their threads died with the old process).

Each job kind is a plain function ``run(workspace, job) -> result dict`` registered here
with ``register_job`` under its pydantic input model; ``job.inputs`` is that model
(stored as the job's ``params``), and ``job.report(fraction, message)`` records progress
and raises ``JobCancelled`` once a cancel was asked for, which stops the work between
batches (whatever the library wrote so far is kept, as after a kill).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from vigil.api.schemas.events import RunJobIn
from vigil.api.schemas.jobs import AutolabelJobIn, DistillJobIn, IndexJobIn
from vigil.catalog.api_store import ApiStore, JobRecord, JobStatus
from vigil.catalog.schema import utcnow
from vigil.errors import InvalidInputError, VigilError
from vigil.structure.indexing import IndexProgress, recover_interrupted
from vigil.workspace import Workspace

log = logging.getLogger(__name__)

Report = Callable[[float, str], None]
In = TypeVar("In", bound=BaseModel)
PROGRESS_EVERY_S = 0.5  # at most two progress writes a second per job


class JobCancelled(Exception):
    """Raised inside a job's progress callback once a cancel was requested (a signal)."""


@dataclass(frozen=True)
class Job(Generic[In]):
    """One running job as its function sees it: its id, its typed input, its progress hook."""

    id: int
    inputs: In
    report: Report


JobFunction = Callable[[Workspace, Job[Any]], dict[str, Any]]


@dataclass(frozen=True)
class JobKind:
    name: str
    run: JobFunction
    summary: str
    inputs: type[BaseModel]


_KINDS: dict[str, JobKind] = {}


def register_job(
    name: str, summary: str, inputs: type[In]
) -> Callable[[Callable[[Workspace, Job[In]], dict[str, Any]]], Callable[..., dict[str, Any]]]:
    """Register a job kind: ``function(workspace, job)`` runs it, ``inputs`` types its input."""

    def decorate(
        function: Callable[[Workspace, Job[In]], dict[str, Any]],
    ) -> Callable[..., dict[str, Any]]:
        _KINDS[name] = JobKind(name, function, summary, inputs)
        return function

    return decorate


def job_kinds() -> dict[str, JobKind]:
    return dict(_KINDS)


@register_job("index", "Sample, embed and store frames of sources (resumes).", IndexJobIn)
def run_index(workspace: Workspace, job: Job[IndexJobIn]) -> dict[str, Any]:
    sources = job.inputs.sources or None
    targets = (
        [workspace.get_source(s) for s in sources]
        if sources
        else [s for s in workspace.list_sources() if str(s.kind) != "stream"]
    )
    done: dict[int, float] = {}

    def on_progress(progress: IndexProgress) -> None:
        fraction = min(1.0, progress.media_time / progress.duration) if progress.duration else 0.0
        done[progress.source.id] = fraction
        overall = sum(done.values()) / max(1, len(targets))
        job.report(
            overall,
            f"{progress.source.name}: {progress.media_time:.0f}"
            f"/{progress.duration or 0:.0f} s, {progress.frames_written} frames",
        )

    reports = workspace.index(
        [s.id for s in targets],
        max_frames=job.inputs.max_frames,
        max_seconds=job.inputs.max_seconds,
        on_progress=on_progress,
    )
    return {
        "sources": [
            {
                "source_id": r.source.id,
                "source": r.source.name,
                "frames_written": r.frames_written,
                "frames_already_indexed": r.frames_already_indexed,
                "seconds": round(r.seconds, 2),
                "complete": r.complete,
                "errors": list(r.errors),
            }
            for r in reports
        ]
    }


class JobManager:
    """Queues jobs on worker threads and keeps their rows up to date."""

    def __init__(self, workspace: Workspace, store: ApiStore, *, workers: int = 1) -> None:
        self.workspace = workspace
        self.store = store
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="vigil-job")
        self._cancel: dict[int, threading.Event] = {}
        self._lock = threading.Lock()
        self.recovered = 0
        self.recovered_sources: list[int] = []
        if not workspace.read_only:  # a read-only archive is served as it is
            self.recovered = store.interrupt_unfinished()
            # Indexing health a dead process left ``running`` (a killed server or CLI run).
            self.recovered_sources = recover_interrupted(workspace.catalog, workspace.home)

    def submit(self, kind: str, inputs: BaseModel) -> JobRecord:
        """Queue a job of ``kind`` with its input model (stored as the job's ``params``)."""
        entry = _KINDS.get(kind)
        if entry is None:
            raise InvalidInputError(f"unknown job kind {kind!r}; expected one of {sorted(_KINDS)}")
        if not isinstance(inputs, entry.inputs):
            raise InvalidInputError(
                f"job {kind!r} takes {entry.inputs.__name__}, got {type(inputs).__name__}"
            )
        record = self.store.add_job(kind, inputs.model_dump(mode="json"))
        with self._lock:
            self._cancel[record.id] = threading.Event()
        self._pool.submit(self._run, record.id, entry, inputs)
        return record

    def cancel(self, job_id: int) -> JobRecord:
        record = self.store.get_job(job_id)
        if record.status not in (JobStatus.QUEUED, JobStatus.RUNNING):
            raise InvalidInputError(
                f"job {job_id} is {record.status}; only queued or running jobs can be cancelled"
            )
        with self._lock:
            event = self._cancel.get(job_id)
        if event is not None:
            event.set()
        if record.status == JobStatus.QUEUED:
            return self.store.update_job(
                job_id, status=JobStatus.CANCELLED, finished_at=utcnow(), message="cancelled"
            )
        return self.store.update_job(job_id, message="cancel requested")

    def wait(self, job_id: int, timeout_s: float = 60.0) -> JobRecord:
        """Block until a job finishes (tests and the CLI); raises TimeoutError."""
        deadline = time.monotonic() + timeout_s
        while True:
            record = self.store.get_job(job_id)
            if record.status not in (JobStatus.QUEUED, JobStatus.RUNNING):
                return record
            if time.monotonic() > deadline:
                raise TimeoutError(f"job {job_id} still {record.status} after {timeout_s} s")
            time.sleep(0.05)

    def shutdown(self) -> None:
        with self._lock:
            for event in self._cancel.values():
                event.set()
        self._pool.shutdown(wait=True, cancel_futures=True)
        if not self.workspace.read_only:
            self.store.interrupt_unfinished()

    def _run(self, job_id: int, entry: JobKind, inputs: BaseModel) -> None:
        with self._lock:
            cancel = self._cancel.setdefault(job_id, threading.Event())
        if cancel.is_set():
            return
        self.store.update_job(job_id, status=JobStatus.RUNNING, started_at=utcnow())
        last_write = 0.0

        def report(fraction: float, message: str) -> None:
            nonlocal last_write
            if cancel.is_set():
                raise JobCancelled()
            now = time.monotonic()
            if now - last_write >= PROGRESS_EVERY_S:
                last_write = now
                self.store.update_job(
                    job_id, progress=max(0.0, min(1.0, fraction)), message=message
                )

        try:
            result = entry.run(self.workspace, Job(job_id, inputs, report))
        except JobCancelled:
            self.store.update_job(
                job_id, status=JobStatus.CANCELLED, finished_at=utcnow(), message="cancelled"
            )
        except VigilError as error:
            self.store.update_job(
                job_id, status=JobStatus.FAILED, finished_at=utcnow(), error=str(error)
            )
        except Exception as error:  # a bug must not kill the worker thread silently
            log.exception("job %s (%s) crashed", job_id, entry.name)
            self.store.update_job(
                job_id,
                status=JobStatus.FAILED,
                finished_at=utcnow(),
                error=f"internal error: {type(error).__name__}: {error}",
            )
        else:
            self.store.update_job(
                job_id,
                status=JobStatus.SUCCEEDED,
                progress=1.0,
                finished_at=utcnow(),
                result=result,
                message="done",
            )
        finally:
            with self._lock:
                self._cancel.pop(job_id, None)


@register_job("autolabel", "Label every indexed item of a scenario (resumes).", AutolabelJobIn)
def run_autolabel(workspace: Workspace, job: Job[AutolabelJobIn]) -> dict[str, Any]:
    from vigil.scenarios.types import AutolabelProgress

    if workspace.scenarios.get(job.inputs.scenario).spec.kind == "anomaly":
        scored = workspace.scenarios.label_anomaly(
            job.inputs.scenario,
            max_items=job.inputs.max_items,
            relabel=job.inputs.relabel,
            on_progress=lambda done, total: job.report(
                done / total if total else 1.0, f"{done}/{total} items scored"
            ),
        )
        return {
            "scenario": scored.scenario,
            "version": scored.version,
            "total": scored.total,
            "labeled": scored.labeled,
            "anomalous": scored.anomalous,
            "threshold": scored.threshold,
            "seconds": round(scored.seconds, 2),
            "warnings": scored.warnings,
        }

    def on_progress(progress: AutolabelProgress) -> None:
        fraction = progress.done / progress.total if progress.total else 1.0
        job.report(fraction, f"{progress.done}/{progress.total} items labeled")

    result = workspace.scenarios.autolabel(
        job.inputs.scenario,
        max_items=job.inputs.max_items,
        relabel=job.inputs.relabel,
        on_progress=on_progress,
    )
    return {
        "scenario": result.scenario,
        "version": result.version,
        "model_id": result.model_id,
        "method": result.method,
        "examples": result.examples,
        "total": result.total,
        "labeled": result.labeled,
        "skipped": result.skipped,
        "seconds": round(result.seconds, 2),
        "cv_accuracy": result.cv_accuracy,
        "ece": result.ece,
        "predicted": result.predicted,
        "cv_recall": result.cv_recall,
        "warnings": list(result.warnings),
        "notes": list(result.notes),
    }


# Health of runners started as jobs by this process, by job id (read by GET /api/v1/runner).
LIVE_RUNNERS: dict[int, list[dict[str, Any]]] = {}
_runners_lock = threading.Lock()


def runner_health() -> dict[int, list[dict[str, Any]]]:
    with _runners_lock:
        return {job: list(health) for job, health in LIVE_RUNNERS.items()}


@register_job("run", "Run models on sources, storing events (bounded by duration_s).", RunJobIn)
def run_models(workspace: Workspace, job: Job[RunJobIn]) -> dict[str, Any]:
    from dataclasses import asdict

    job_id = job.id
    duration = job.inputs.duration_s
    runner = workspace.runtime.runner(
        list(job.inputs.models),
        list(job.inputs.sources),
        classes=job.inputs.classes or None,
        realtime=job.inputs.realtime,
        threshold=job.inputs.threshold,
    )
    started = time.monotonic()

    def on_health(health: list[Any]) -> None:
        with _runners_lock:
            LIVE_RUNNERS[job_id] = [asdict(h) for h in health]
        elapsed = time.monotonic() - started
        fraction = min(1.0, elapsed / duration) if duration else 0.0
        processed = sum(h.frames_processed for h in health)
        job.report(fraction, f"{processed} frames scored, {elapsed:.0f} s")

    try:
        final = runner.run(duration, on_health=on_health, health_every_s=1.0)
    finally:
        with _runners_lock:
            LIVE_RUNNERS.pop(job_id, None)
    return {"health": [asdict(h) for h in final], "interrupted_events": runner.interrupted}


@register_job(
    "distill", "Distil a labelled scenario into small ONNX models, with a report.", DistillJobIn
)
def run_distill(workspace: Workspace, job: Job[DistillJobIn]) -> dict[str, Any]:
    job.report(0.0, f"training students for {job.inputs.scenario}")
    outcome = workspace.models.distill(job.inputs.scenario, job.inputs.version, progress=False)
    return {
        "models": [{"id": m.id, "name": m.name, "kind": str(m.kind)} for m in outcome.models],
        "seconds": {stage: round(value, 1) for stage, value in outcome.seconds.items()},
    }
