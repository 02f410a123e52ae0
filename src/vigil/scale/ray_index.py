"""Index sources on a Ray cluster: shards decoded and embedded by workers, written by the driver.

The pipeline (see ``vigil.scale.shards`` for why it equals the single-process run)::

    driver: plan shards per source ──► Ray tasks: scan_shard (decode, grid candidates, thumbs)
    driver: replay de-duplication over each source's candidates, in shard order
    driver: ──► Ray tasks: embed_shard (decode again, embed the kept frames)
    driver: write each shard's frames + vectors in ONE catalog transaction, in shard order,
            add the new vectors to the FAISS index, write the JPEG thumbnails

Why the driver writes: SQLite has one writer at a time, and a worker that dies after
writing half a shard would leave work to undo. Here a task has no side effects, so Ray
simply re-runs a task whose worker died (``max_retries``), and the writes are
idempotent (``Catalog.add_frames`` skips frames already stored, keyed by the unique
(source, frame index) and (frame, model) constraints), so a retried or re-run shard
never duplicates anything. Shards of a source are committed in order, so the catalog
always holds a prefix of each source: the single-process ``vigil index`` resumes
correctly after a Ray run was stopped, and a Ray re-run embeds only what is missing.

Why the vector index is updated on the driver rather than built per shard and merged:
HNSW graphs cannot be merged (FAISS merges flat and IVF indexes only); merging would
mean re-inserting every vector anyway, which is what adding them as they arrive does,
overlapped with the workers' embedding.

>>> with ray_session("auto"):  # doctest: +SKIP
...     report = index_on_ray(sources, catalog=catalog, vector_index=index, settings=settings)
"""

from __future__ import annotations

import collections
import contextlib
import logging
import math
import socket
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vigil.catalog.store import Catalog
from vigil.catalog.vector_index import VectorSearch
from vigil.errors import ClusterError, InvalidInputError, VigilError
from vigil.scale.shards import Shard, effective_sampling, plan_shards
from vigil.scale.work import (
    EmbedActor,
    ShardOutput,
    ShardScan,
    decode_shard,
    embed_shard,
    scan_shard,
)
from vigil.settings import Settings
from vigil.sources.readers import probe
from vigil.sources.types import Source
from vigil.structure.thumbnails import write_thumbnail

log = logging.getLogger(__name__)


@dataclass
class RayIndexReport:
    """What one sharded indexing run did, over all its sources."""

    model_id: str
    address: str
    cluster_cpus: int
    plan: str = ""  # how the embedding ran: EmbedPlan.describe()
    sources: list[Source] = field(default_factory=list)
    shards: int = 0
    shards_embedded: int = 0  # shards that had frames still missing from the catalog
    candidates: int = 0  # grid candidates seen by the scans (before de-duplication)
    frames_written: int = 0
    frames_already_indexed: int = 0
    seconds: float = 0.0
    scan_seconds: float = 0.0  # worker time spent scanning, summed over tasks
    embed_seconds: float = 0.0  # worker time spent decoding + embedding, summed over tasks
    workers: set[str] = field(default_factory=set)  # host:pid of the processes that embedded
    complete: dict[int, bool] = field(default_factory=dict)  # source id -> fully indexed
    errors: list[str] = field(default_factory=list)

    @property
    def frames_per_second(self) -> float:
        return self.frames_written / self.seconds if self.seconds > 0 else 0.0


# -- the cluster ---------------------------------------------------------------------------


@contextlib.contextmanager
def ray_session(address: str) -> Iterator[str]:
    """Connect this process to a Ray cluster for the duration of the block.

    ``address`` is ``HOST:PORT`` of the head's GCS, ``auto`` (the cluster started on
    this machine with ``ray start``, or ``$RAY_ADDRESS``) or ``local`` (start a private
    single-machine cluster for this process). A session already open is reused and
    left open. Yields the address of the cluster's GCS.
    """
    import ray

    if ray.is_initialized():
        yield str(ray.get_runtime_context().gcs_address)
        return
    if not address.strip():
        raise InvalidInputError("the Ray address must be HOST:PORT, 'auto' or 'local', got ''")
    _check_reachable(address)
    try:
        ray.init(
            address=None if address == "local" else address,
            namespace="vigil",
            logging_level=logging.WARNING,
            log_to_driver=False,  # worker logs stay in the cluster's log folder
            include_dashboard=False if address == "local" else None,
        )
    except (ConnectionError, RuntimeError, ValueError, TimeoutError) as error:
        raise ClusterError(
            f"cannot connect to the Ray cluster at {address!r} (expected HOST:PORT of a head "
            f"started with 'ray start --head', 'auto' or 'local'): {error}"
        ) from error
    try:
        yield str(ray.get_runtime_context().gcs_address)
    finally:
        ray.shutdown()


def _check_reachable(address: str, timeout_s: float = 5.0) -> None:
    """Fail in seconds on a dead HOST:PORT; ``ray.init`` itself retries for minutes."""
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        return  # 'auto', 'local', ray:// URLs: left to Ray
    try:
        with socket.create_connection((host, int(port)), timeout=timeout_s):
            pass
    except OSError as error:
        raise ClusterError(
            f"cannot connect to the Ray cluster at {address!r} (expected HOST:PORT of a head "
            f"started with 'ray start --head'): {error}"
        ) from error


def _cluster_resources() -> dict[str, float]:
    import ray

    resources: dict[str, float] = ray.cluster_resources()  # type: ignore[no-untyped-call]
    return resources


@dataclass(frozen=True)
class EmbedPlan:
    """Where the embedding runs: CPU tasks that decode and embed, or a pool of actors.

    ``tasks``: each shard is one CPU task that decodes and embeds (a model per worker
    process). ``actors``: CPU tasks decode, and ``actors`` long-lived processes, each
    holding one model on ``device``, embed what they decoded.
    """

    mode: str  # 'tasks' or 'actors'
    device: str  # 'cpu' or 'cuda' (inside an actor, Ray's CUDA_VISIBLE_DEVICES picks the GPU)
    actors: int = 0
    gpus_per_actor: float = 0.0
    cpus_per_actor: float = 1.0

    def describe(self) -> str:
        if self.mode == "tasks":
            return "CPU tasks (decode + embed)"
        return f"{self.actors} {self.device} embedding actor(s) fed by CPU decode tasks"


def plan_embedding(resources: Mapping[str, float], device: str, actor_pool: str) -> EmbedPlan:
    """Choose how to embed on a cluster offering ``resources`` (``ray.cluster_resources()``).

    GPUs present and the device setting not 'cpu': one actor per GPU. No GPU: CPU
    tasks, or with ``actor_pool='always'`` one CPU actor per two CPUs (the other
    half decode). Asking for CUDA on a cluster without GPUs is an error, never a
    silent CPU run.

    >>> plan_embedding({"CPU": 32.0, "GPU": 2.0}, "auto", "auto").describe()
    '2 cuda embedding actor(s) fed by CPU decode tasks'
    """
    gpus = int(resources.get("GPU", 0))
    cpus = int(resources.get("CPU", 0))
    if device.startswith("cuda") and gpus < 1:
        raise ClusterError(
            f"device {device!r} asked for, but the Ray cluster offers no GPUs "
            f"(resources: {dict(resources)}); use device 'auto' or 'cpu'"
        )
    if gpus >= 1 and device != "cpu":
        return EmbedPlan("actors", "cuda", actors=gpus, gpus_per_actor=1.0, cpus_per_actor=1.0)
    if actor_pool == "always":
        return EmbedPlan("actors", "cpu", actors=max(1, cpus // 2), cpus_per_actor=1.0)
    return EmbedPlan("tasks", "cpu")


def _write_output(
    output: ShardOutput, catalog: Catalog, vector_index: VectorSearch, home: Path
) -> tuple[int, int]:
    """Thumbnails first (deterministic paths), then ONE catalog transaction, then the index."""
    for frame, image in zip(output.frames, output.previews, strict=True):
        write_thumbnail(home, frame.thumbnail_path, image, max(image.shape[:2]))
    inserted = catalog.add_frames(
        output.shard.source.id, output.model_id, list(output.frames), output.vectors
    )
    if len(inserted) == len(output.frames):
        vector_index.add(inserted, output.vectors)
    elif inserted:  # a retried or re-run shard: only some rows were new
        vector_index.add(inserted, catalog.get_vectors(inserted))
    return len(inserted), len(output.frames) - len(inserted)


# -- de-duplication replay -------------------------------------------------------------------


class _Dedup:
    """The de-duplication rule of ``vigil.sources.sampling``, replayed over scanned thumbnails."""

    def __init__(self, threshold: float) -> None:
        self.threshold = threshold
        self.last_kept: np.ndarray | None = None

    def keep(self, scan: ShardScan) -> list[int]:
        if self.threshold <= 0:
            return list(scan.frame_indexes)
        kept = []
        for index, thumb in zip(scan.frame_indexes, scan.thumbs, strict=True):
            last = self.last_kept
            if last is not None and float(np.abs(thumb - last).mean()) < self.threshold:
                continue
            self.last_kept = thumb
            kept.append(index)
        return kept


@dataclass
class _SourceRun:
    """Driver-side state of one source: its shards and how far decisions and writes got."""

    source: Source
    shards: list[Shard]
    dedup: _Dedup
    existing: set[int]
    scans: dict[int, ShardScan] = field(default_factory=dict)
    outputs: dict[int, ShardOutput | None] = field(default_factory=dict)  # None: nothing to do
    decided: int = 0  # shards whose kept frames are known
    committed: int = 0  # shards written to the catalog
    failed: bool = False
    errors: list[str] = field(default_factory=list)  # damage reported by the readers


# -- the driver ------------------------------------------------------------------------------


def index_on_ray(
    sources: Sequence[Source],
    *,
    catalog: Catalog,
    vector_index: VectorSearch,
    model_id: str,
    settings: Settings,
    address: str = "auto",
    on_shard: Callable[[Shard, int], None] | None = None,
) -> RayIndexReport:
    """Index file and folder sources on the Ray cluster at ``address``; resumable and idempotent.

    ``model_id`` is that of ``settings.embedder`` (workers load the model themselves).
    ``on_shard(shard, frames_written)`` is called after each shard is committed.
    Sources must be readable at the same path (or URL) on every node.

    The steps: plan each source's shards; submit the scans; then, as results come
    back, replay de-duplication, submit embeds (a bounded number in flight) and commit
    shards in order; finally record each source's progress.
    """
    started = time.perf_counter()
    with ray_session(address) as gcs_address:
        resources = _cluster_resources()
        cpus = int(resources.get("CPU", 0))
        if cpus < 1:
            raise ClusterError(f"the Ray cluster at {gcs_address} offers no CPUs to run tasks")
        plan = plan_embedding(
            resources, settings.embedder.device or settings.device, settings.scale.actor_pool
        )
        report = RayIndexReport(model_id, gcs_address, cpus, plan.describe(), sources=list(sources))
        driver = _Driver(catalog, vector_index, model_id, settings, report, on_shard, plan)
        driver.plan(sources)
        driver.submit_scans()
        try:
            driver.collect()
        finally:
            driver.cancel_pending()
            vector_index.save()
        driver.record_progress()
    report.seconds = time.perf_counter() - started
    return report


class _Driver:
    """One ``index_on_ray`` call on the driver: tasks in flight and each source's state."""

    def __init__(
        self,
        catalog: Catalog,
        vector_index: VectorSearch,
        model_id: str,
        settings: Settings,
        report: RayIndexReport,
        on_shard: Callable[[Shard, int], None] | None,
        embed_plan: EmbedPlan | None = None,
    ) -> None:
        import ray

        self.catalog = catalog
        self.vector_index = vector_index
        self.model_id = model_id
        self.settings = settings
        self.report = report
        self.on_shard = on_shard
        scale = settings.scale
        options: dict[str, Any] = {"num_cpus": 1, "max_retries": scale.max_task_retries}
        self.scan_task = ray.remote(**options)(scan_shard)
        self.embed_task = ray.remote(**options)(embed_shard)
        self.decode_task = ray.remote(**options)(decode_shard)
        self.embed_plan = embed_plan or EmbedPlan("tasks", "cpu")
        self.actors: list[Any] = []
        self.actor_load: list[int] = []  # embeds in flight per actor
        self.actor_of: dict[Any, int] = {}  # ref -> actor number
        if self.embed_plan.mode == "actors":
            actor_class = ray.remote(
                num_cpus=self.embed_plan.cpus_per_actor,
                num_gpus=self.embed_plan.gpus_per_actor,
                max_restarts=scale.max_task_retries,
                max_task_retries=scale.max_task_retries,
            )(EmbedActor)
            # The actor's model runs on the plan's device; 'cuda' inside an actor is the
            # GPU Ray gave it (CUDA_VISIBLE_DEVICES), so the number is always dropped.
            actor_settings = settings.embedder.model_copy(update={"device": self.embed_plan.device})
            self.actors = [
                actor_class.remote(actor_settings.model_dump_json())
                for _ in range(self.embed_plan.actors)
            ]
            self.actor_load = [0] * len(self.actors)
        self.runs: list[_SourceRun] = []
        self.pending: dict[Any, tuple[str, int, int]] = {}  # ref -> (kind, run, shard number)
        # Embeds waiting for a slot: (run number, shard number, frame indexes or None: all).
        self.waiting_embeds: collections.deque[tuple[int, int, tuple[int, ...] | None]] = (
            collections.deque()
        )
        self.in_flight_limit = max(2, scale.tasks_per_cpu * report.cluster_cpus)

    def fail(self, run: _SourceRun, message: str) -> None:
        run.failed = True
        self.report.errors.append(f"{run.source.name}: {message}")
        self.catalog.set_progress(run.source.id, self.model_id, status="failed", error=message)

    def plan(self, sources: Sequence[Source]) -> None:
        """Step 1: each source's shards, and the frames the catalog already holds."""
        settings = self.settings
        for source in sources:
            sampling = effective_sampling(source, settings.sampling)
            run = _SourceRun(source, [], _Dedup(sampling.dedup_threshold), set())
            self.runs.append(run)
            self.catalog.set_progress(source.id, self.model_id, status="running", settings=sampling)
            try:  # the driver must see the source too: it plans shards from its duration
                run.shards = plan_shards(
                    source,
                    duration=probe(source).duration,
                    interval_s=sampling.interval_s,
                    shard_seconds=settings.scale.shard_seconds,
                )
            except VigilError as error:
                self.fail(run, str(error))
                continue
            run.existing = self.catalog.indexed_frame_indexes(source.id, self.model_id)
            self.report.shards += len(run.shards)

    def submit_scans(self) -> None:
        """Step 2: scan every shard that needs de-duplication or resumption; queue the rest."""
        for run_number, run in enumerate(self.runs):
            needs_scan = run.dedup.threshold > 0 or bool(run.existing)
            for shard in run.shards:
                if needs_scan:
                    ref = self.scan_task.remote(shard)
                    self.pending[ref] = ("scan", run_number, shard.number)
                else:
                    self.waiting_embeds.append((run_number, shard.number, None))
        self.submit_embeds()

    def submit_embeds(self) -> None:
        """Start waiting embeds while fewer than ``in_flight_limit`` are running."""
        while self.waiting_embeds and self._embeds_in_flight() < self.in_flight_limit:
            run_number, number, wanted = self.waiting_embeds.popleft()
            shard = self.runs[run_number].shards[number]
            if self.actors:
                # Decode on a CPU task; the actor starts once the decoded frames exist.
                decoded = self.decode_task.remote(shard, wanted, self.settings.thumbnail_size)
                actor = self.actor_load.index(min(self.actor_load))
                ref = self.actors[actor].embed.remote(decoded)
                self.actor_load[actor] += 1
                self.actor_of[ref] = actor
            else:
                ref = self.embed_task.remote(
                    shard, wanted, self.settings.embedder, self.settings.thumbnail_size
                )
            self.pending[ref] = ("embed", run_number, number)

    def _embeds_in_flight(self) -> int:
        return sum(1 for kind, _, _ in self.pending.values() if kind == "embed")

    def collect(self) -> None:
        """Step 3: take each finished task, then decide and commit what it unblocked."""
        import ray

        retries = self.settings.scale.max_task_retries
        while self.pending:
            ready, _ = ray.wait(list(self.pending), num_returns=1)
            kind, run_number, number = self.pending.pop(ready[0])
            if ready[0] in self.actor_of:
                self.actor_load[self.actor_of.pop(ready[0])] -= 1
            run = self.runs[run_number]
            try:
                result = ray.get(ready[0])
            except VigilError as error:  # raised in the task: bad media, missing model
                if not run.failed:
                    self.fail(run, f"shard {run.shards[number]}: {error}")
                continue
            except ray.exceptions.RayError as error:
                raise ClusterError(
                    f"shard {run.shards[number]} failed after {retries} "
                    f"retries: {_first_line(error)}"
                ) from error
            if run.failed:
                continue
            if kind == "scan":
                assert isinstance(result, ShardScan)
                self.report.scan_seconds += result.seconds
                run.scans[number] = result
            else:
                assert isinstance(result, ShardOutput)
                self.report.embed_seconds += result.seconds
                self.report.workers.add(result.worker)
                run.outputs[number] = result
            self.advance(run_number)
            self.submit_embeds()

    def advance(self, run_number: int) -> None:
        """Replay de-duplication over scans in shard order; commit outputs in shard order."""
        run, report = self.runs[run_number], self.report
        while run.decided < len(run.shards) and run.decided in run.scans:
            scan = run.scans.pop(run.decided)
            report.candidates += len(scan.frame_indexes)
            kept = run.dedup.keep(scan)
            missing = tuple(i for i in kept if i not in run.existing)
            report.frames_already_indexed += len(kept) - len(missing)
            if missing:
                self.waiting_embeds.append((run_number, run.decided, missing))
            else:
                run.outputs[run.decided] = None
            run.decided += 1
        while not run.failed and run.committed in run.outputs:
            output = run.outputs.pop(run.committed)
            written = 0
            if output is not None:
                written, existing = _write_output(
                    output, self.catalog, self.vector_index, Path(self.settings.home)
                )
                report.frames_written += written
                report.frames_already_indexed += existing
                report.shards_embedded += 1
                run.errors.extend(f"{output.shard}: {e}" for e in output.errors)
                report.errors.extend(run.errors[-len(output.errors) :] if output.errors else [])
            if self.on_shard is not None:
                self.on_shard(run.shards[run.committed], written)
            run.committed += 1

    def cancel_pending(self) -> None:
        import ray

        for ref in self.pending:
            if ref not in self.actor_of:
                ray.cancel(ref)
        for actor in self.actors:  # their queued calls end with them
            ray.kill(actor)

    def record_progress(self) -> None:
        """Step 4: each source complete, partial (reader damage) or failed, in the catalog."""
        for run in self.runs:
            done = not run.failed and run.committed == len(run.shards)
            self.report.complete[run.source.id] = done
            if not run.failed:
                self.catalog.set_progress(
                    run.source.id,
                    self.model_id,
                    status="complete" if done and not run.errors else "partial",
                    error="; ".join(run.errors) or None,
                )


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def projected_workers(cameras: int, frames_per_camera_s: float, per_worker_fps: float) -> int:
    """Workers needed to keep up with ``cameras`` live, from a measured per-worker rate."""
    if per_worker_fps <= 0:
        raise InvalidInputError(f"per_worker_fps must be > 0, got {per_worker_fps}")
    return max(1, math.ceil(cameras * frames_per_camera_s / per_worker_fps))


__all__ = [
    "ClusterError",
    "EmbedPlan",
    "RayIndexReport",
    "index_on_ray",
    "plan_embedding",
    "projected_workers",
    "ray_session",
]
