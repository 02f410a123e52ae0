"""The library API that the CLI and the REST API are thin layers over.

A ``Workspace`` ties together one settings tree, the catalog database, the
active image-text embedder and its vector index. Heavy parts load lazily: listing
sources never loads a model.

>>> with Workspace.open(Settings(home=Path("vigil-data"))) as ws:  # doctest: +SKIP
...     source = ws.add_source("../shared/data/vtest.avi", name="walkway")
...     ws.index([source.id])
...     hits = ws.search("a person walking", limit=5)
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import numpy as np

from vigil.catalog.objects import ObjectVectors, frame_embedding_id, object_embedding_id
from vigil.catalog.vector_index import VectorIndex
from vigil.context import Context
from vigil.embedders.base import Embedder
from vigil.embedders.detector import CocoDetector
from vigil.errors import InvalidInputError, SourceError
from vigil.scale import RayIndexReport, Shard, index_on_ray
from vigil.scenarios.spec import ScenarioRecord, ScenarioSpec
from vigil.scenarios.types import AutolabelProgress, AutolabelReport, ReviewItem
from vigil.search.contact_sheet import write_contact_sheet
from vigil.search.filters import forget_removed
from vigil.search.matching import ObjectMatch, match_object
from vigil.search.text import decode_image, search_by_text, search_by_vector
from vigil.search.types import SearchFilters, SearchHit, Target
from vigil.settings import Settings
from vigil.sources.locations import STREAM_SCHEMES, parse_location
from vigil.sources.readers import detect_kind, probe
from vigil.sources.types import Source, SourceKind, SourceSpec
from vigil.structure.indexing import IndexProgress, IndexReport, index_source
from vigil.structure.objects import ObjectIndexReport, index_objects

if TYPE_CHECKING:  # runtime, model factory, segments/clusters/eval: all imported lazily
    from datetime import datetime

    from vigil.catalog.models_store import ModelRecord
    from vigil.distill.pipeline import DistillOutcome
    from vigil.evaluation.retrieval import RetrievalReport
    from vigil.runtime.runner import Runner
    from vigil.runtime.types import DeliveryRecord, EventRecord
    from vigil.search.clusters import ClusterReport
    from vigil.search.segments import Segment


class Workspace:
    """One Vigil workspace: the front door over a shared ``Context`` under ``settings.home``."""

    def __init__(self, settings: Settings, *, embedder: Embedder | None = None) -> None:
        self.context = Context(settings, embedder=embedder)
        self.settings = settings
        self.home = self.context.home
        self.catalog = self.context.catalog
        self.read_only = self.context.read_only

    @classmethod
    def open(
        cls, settings: Settings | None = None, *, embedder: Embedder | None = None
    ) -> Workspace:
        return cls(settings or Settings(), embedder=embedder)

    def __enter__(self) -> Workspace:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self.context.close()

    def require_writable(self, action: str) -> None:
        """Refuse ``action`` on a read-only workspace before any file (lock, thumbnail) is made."""
        self.context.require_writable(action)

    # -- models ---------------------------------------------------------------------------

    @property
    def embedder(self) -> Embedder:
        return self.context.embedder

    @property
    def vector_index(self) -> VectorIndex:
        """The index of the active embedder's space, reconciled with the catalog on first use."""
        return self.context.vector_index

    @property
    def object_index(self) -> VectorIndex:
        """The objects' own index (crop vectors), in the same space as the frames'."""
        return self.context.object_index

    @property
    def detector(self) -> CocoDetector:
        """The COCO detector: the default embedder's own copy, or a separate one."""
        return self.context.detector

    # -- sources --------------------------------------------------------------------------

    def add_source(
        self,
        location: str,
        *,
        name: str | None = None,
        kind: SourceKind | None = None,
        site: str | None = None,
        position: str | None = None,
        metadata: dict[str, Any] | None = None,
        check: bool = True,
    ) -> Source:
        """Register a video file, image folder or stream; ``check`` opens it first.

        ``location`` is a stream URL of a known scheme, a ``file://`` URL or a path
        (resolved here); any other scheme is refused (``parse_location``).
        """
        self.require_writable("add a source")
        parsed = parse_location(location)
        if parsed.url is not None:
            if kind not in (None, SourceKind.STREAM):
                raise InvalidInputError(
                    f"a {kind.value} source needs a local path, got URL {location!r} "
                    "(use kind 'stream' for network sources)"
                )
            kind, location = SourceKind.STREAM, parsed.url
        else:
            assert parsed.path is not None
            if kind == SourceKind.STREAM:
                raise InvalidInputError(
                    f"a stream source needs a URL with scheme in {sorted(STREAM_SCHEMES)}, "
                    f"got {location!r}"
                )
            try:
                location = str(parsed.path.expanduser().resolve())
                kind = kind or detect_kind(location)
            except OSError as error:  # unreadable parent, too many symlinks ...
                raise SourceError(
                    f"source location {location[:200]!r} cannot be used: {error.strerror}"
                ) from None
        spec = SourceSpec(
            name=name or _default_name(location),
            kind=kind,
            location=location,
            site=site,
            position=position,
            metadata=metadata or {},
        )
        if check:
            probe(spec)
        return self.catalog.add_source(spec)

    def list_sources(self) -> list[Source]:
        return self.catalog.list_sources()

    def get_source(self, id_or_name: int | str) -> Source:
        return self.catalog.get_source(id_or_name)

    def remove_source(self, id_or_name: int | str) -> Source:
        """Forget a source: its frames, vectors and thumbnails."""
        self.require_writable("remove a source")
        source = self.catalog.get_source(id_or_name)
        removed_objects = ObjectVectors(self.catalog).embedding_ids_of_source(source.id)
        removed_ids = self.catalog.remove_source(source.id)
        for index, removed in (
            (self.context.loaded_vector_index, removed_ids),
            (self.context.loaded_object_index, removed_objects),
        ):
            if index is not None and len(removed):
                index.remove(removed)
                index.save()
        shutil.rmtree(self.home / "thumbs" / str(source.id), ignore_errors=True)
        shutil.rmtree(self.home / "objects" / str(source.id), ignore_errors=True)
        forget_removed(self.catalog)  # cached filter columns still list the removed records
        return source

    # -- structure and search ---------------------------------------------------------------

    def index(
        self,
        sources: Sequence[int | str] | None = None,
        *,
        max_frames: int | None = None,
        max_seconds: float | None = None,
        on_progress: Callable[[IndexProgress], None] | None = None,
        objects: bool = False,
        lock_wait_s: float = 0.0,
    ) -> list[IndexReport]:
        """Index the given sources (all file and folder sources when None), resuming each.

        A source another process is indexing is waited for ``lock_wait_s`` seconds, then
        refused with ``SourceBusyError`` (which names that process).

        ``objects=True`` then runs the object pass (``index_objects``) on each source:
        its report lands in ``IndexReport.objects``.
        """
        self.require_writable("index")
        if sources:
            targets = [self.catalog.get_source(item) for item in sources]
        else:
            targets = [s for s in self.catalog.list_sources() if s.kind != SourceKind.STREAM]
        reports = [
            index_source(
                source,
                catalog=self.catalog,
                vector_index=self.vector_index,
                embedder=self.embedder,
                settings=self.settings,
                max_frames=max_frames,
                max_seconds=max_seconds,
                on_progress=on_progress,
                lock_wait_s=lock_wait_s,
            )
            for source in targets
        ]
        if objects:
            for report in reports:
                [report.objects] = self.index_objects([report.source.id], max_frames=max_frames)
        return reports

    def index_objects(
        self,
        sources: Sequence[int | str] | None = None,
        *,
        max_frames: int | None = None,
        on_progress: Callable[[int, int], None] | None = None,
    ) -> list[ObjectIndexReport]:
        """Detect, crop and embed the objects of indexed frames not scanned yet (resumable)."""
        if sources:
            targets = [self.catalog.get_source(item) for item in sources]
        else:
            targets = self.catalog.list_sources()
        return [
            index_objects(
                source,
                catalog=self.catalog,
                object_index=self.object_index,
                embedder=self.embedder,
                detector=self.detector,
                settings=self.settings.objects,
                home=self.home,
                max_frames=max_frames,
                on_progress=on_progress,
            )
            for source in targets
        ]

    def filters(
        self,
        *,
        sources: Sequence[int | str] | None = None,
        **restrictions: Any,
    ) -> SearchFilters:
        """Search filters with sources given by id or name (unknown ones are a clear error)."""
        source_ids = tuple(self.catalog.get_source(s).id for s in sources) if sources else None
        return SearchFilters(sources=source_ids, **restrictions)

    def search(
        self,
        query: str,
        *,
        limit: int = 10,
        offset: int = 0,
        sources: Sequence[int | str] | None = None,
        target: Target | str = Target.FRAMES,
        filters: SearchFilters | None = None,
    ) -> list[SearchHit]:
        """Natural-language search over indexed frames or objects, best first."""
        target = Target(target)
        return search_by_text(
            query,
            catalog=self.catalog,
            vector_index=self._index_for(target),
            embedder=self.embedder,
            target=target,
            filters=self._with_sources(filters, sources),
            limit=limit,
            offset=offset,
        )

    def search_image(
        self,
        image: np.ndarray | bytes,
        *,
        limit: int = 10,
        offset: int = 0,
        sources: Sequence[int | str] | None = None,
        target: Target | str = Target.FRAMES,
        filters: SearchFilters | None = None,
    ) -> list[SearchHit]:
        """Frames or objects that look like an image (RGB array, or encoded bytes)."""
        pixels = decode_image(image) if isinstance(image, bytes) else image
        vector = self.embedder.embed_images([pixels])[0]
        target = Target(target)
        return search_by_vector(
            vector,
            catalog=self.catalog,
            vector_index=self._index_for(target),
            model_id=self.embedder.model_id,
            target=target,
            filters=self._with_sources(filters, sources),
            limit=limit,
            offset=offset,
        )

    def more_like(
        self,
        *,
        frame_id: int | None = None,
        object_id: int | None = None,
        limit: int = 10,
        offset: int = 0,
        filters: SearchFilters | None = None,
    ) -> list[SearchHit]:
        """ "Find more like this": frames like a stored frame, or objects like a stored object."""
        if (frame_id is None) == (object_id is None):
            raise InvalidInputError("give exactly one of frame_id or object_id")
        model_id = self.embedder.model_id
        if frame_id is not None:
            target, own_id = Target.FRAMES, frame_embedding_id(self.catalog, frame_id, model_id)
            vector = self.catalog.get_vectors([own_id])[0]
        else:
            assert object_id is not None
            target, own_id = Target.OBJECTS, object_embedding_id(self.catalog, object_id, model_id)
            vector = ObjectVectors(self.catalog).get_vectors([own_id])[0]
        return search_by_vector(
            vector,
            catalog=self.catalog,
            vector_index=self._index_for(target),
            model_id=model_id,
            target=target,
            filters=filters,
            limit=limit,
            offset=offset,
            exclude=[own_id],
        )

    def match_object(
        self, object_id: int, *, limit: int = 10, filters: SearchFilters | None = None
    ) -> list[ObjectMatch]:
        """The same-looking object on other sources, ordered by time (a cross-camera track)."""
        return match_object(
            object_id,
            catalog=self.catalog,
            object_index=self.object_index,
            model_id=self.embedder.model_id,
            home=self.home,
            limit=limit,
            filters=filters,
        )

    def _index_for(self, target: Target) -> VectorIndex:
        return self.object_index if target == Target.OBJECTS else self.vector_index

    def _with_sources(
        self, filters: SearchFilters | None, sources: Sequence[int | str] | None
    ) -> SearchFilters:
        filters = filters or SearchFilters()
        if sources:
            ids = tuple(self.catalog.get_source(item).id for item in sources)
            filters = replace(filters, sources=ids)
        return filters

    def contact_sheet(self, hits: Sequence[SearchHit], path: Path, *, title: str = "") -> Path:
        return write_contact_sheet(hits, home=self.home, path=path, title=title)

    # -- scale (Ray) ----------------------------------------------------------------------

    def index_on_ray(
        self,
        sources: Sequence[int | str] | None = None,
        *,
        address: str = "auto",
        on_shard: Callable[[Shard, int], None] | None = None,
    ) -> RayIndexReport:
        """``index`` with the decoding and embedding spread over a Ray cluster (docs/ray.md)."""
        self.require_writable("index")
        if sources:
            targets = [self.catalog.get_source(item) for item in sources]
        else:
            targets = [s for s in self.catalog.list_sources() if s.kind != SourceKind.STREAM]
        return index_on_ray(
            targets,
            catalog=self.catalog,
            vector_index=self.vector_index,
            model_id=self.embedder.model_id,
            settings=self.settings,
            address=address,
            on_shard=on_shard,
        )

    # -- scenarios (long-tail scenarios: vigil.scenarios; functions imported lazily so that
    # -- opening a workspace does not import scikit-learn, SciPy or globox) ------------------

    def create_scenario(self, spec: ScenarioSpec, *, base: Path | None = None) -> ScenarioRecord:
        """Store a scenario, or a new version of it when the spec changed.

        Examples must exist: items in the catalog, image files that decode
        (relative image paths are taken from ``base``, e.g. the YAML's folder).
        """
        from vigil.scenarios.autolabel import validate_examples
        from vigil.scenarios.store import save_scenario

        return save_scenario(self.catalog, validate_examples(self.catalog, spec, base=base))

    def import_scenario(self, path: Path) -> ScenarioRecord:
        """Create or update a scenario from a YAML file."""
        from vigil.errors import NotFoundError
        from vigil.scenarios.spec import spec_from_yaml

        path = Path(path)
        if not path.is_file():
            raise NotFoundError(f"scenario file {path} does not exist")
        spec = spec_from_yaml(path.read_text(encoding="utf-8"))
        return self.create_scenario(spec, base=path.parent.resolve())

    def export_scenario(
        self, name: str, path: Path | None = None, *, version: int | None = None
    ) -> str:
        """A scenario version as YAML, also written to ``path`` when given."""
        from vigil.scenarios.spec import spec_to_yaml

        text = spec_to_yaml(self.get_scenario(name, version).spec)
        if path is not None:
            Path(path).write_text(text, encoding="utf-8")
        return text

    def get_scenario(self, name: str, version: int | None = None) -> ScenarioRecord:
        from vigil.scenarios.store import get_scenario

        return get_scenario(self.catalog, name, version)

    def list_scenarios(self) -> list[ScenarioRecord]:
        from vigil.scenarios.store import list_scenarios

        return list_scenarios(self.catalog)

    def autolabel(
        self,
        scenario: str,
        *,
        max_items: int | None = None,
        on_progress: Callable[[AutolabelProgress], None] | None = None,
        relabel: bool = False,
        ray: str | None = None,
    ) -> AutolabelReport:
        """Label every indexed item of the scenario's newest version from stored vectors.

        Resumable: items already labeled at this version are skipped; ``relabel``
        labels everything again (after answers, with the refitted classifier).
        ``ray`` (HOST:PORT, 'auto' or 'local') scores the batches on a Ray cluster.
        """
        from vigil.scenarios.autolabel import autolabel

        score = None
        if ray is not None:
            from vigil.scale.ray_autolabel import ray_scorer

            score = ray_scorer(ray, max_retries=self.settings.scale.max_task_retries)
        return autolabel(
            self.catalog,
            self.get_scenario(scenario),
            self.embedder,
            batch_size=self.settings.scenarios.autolabel_batch_size,
            max_items=max_items,
            on_progress=on_progress,
            relabel=relabel,
            score=score,
        )

    def review_queue(self, scenario: str, limit: int | None = None) -> list[ReviewItem]:
        """Unanswered items a person should label first (uncertain, or models disagree)."""
        from vigil.scenarios.review import review_queue

        return review_queue(
            self.catalog,
            self.get_scenario(scenario),
            self.embedder,
            limit=limit or self.settings.scenarios.review_limit,
        )

    def answer(self, scenario: str, item: str, label: str, *, annotator: str | None = None) -> None:
        """Store a person's label for 'frame:ID' or 'object:ID'; it overrides the machine."""
        from vigil.scenarios.review import answer

        answer(
            self.catalog,
            self.get_scenario(scenario),
            item,
            label,
            annotator=annotator or self.settings.scenarios.annotator,
        )

    def export_labels(
        self, scenario: str, format: str, path: Path, *, version: int | None = None
    ) -> Path:
        """Write a scenario's labels as csv, coco (JSON file) or yolo (folder)."""
        from vigil.scenarios.export import export_labels
        from vigil.scenarios.store import stored_labels

        record = self.get_scenario(scenario, version)
        labels = stored_labels(self.catalog, record)
        return export_labels(labels, record, format, Path(path), home=self.home)

    # -- runtime (models on live streams and archives: vigil.runtime; imported lazily so
    # -- that opening a workspace does not import onnxruntime or httpx) -----------------------

    def runner(
        self,
        models: Sequence[str],
        sources: Sequence[int | str],
        *,
        classes: Sequence[str] | None = None,
        realtime: bool = True,
        threads: int = 1,
    ) -> Runner:
        """A ``Runner`` of ``models`` (ONNX paths, 'scenario:NAME', registry ids) on sources.

        Call ``run(duration_s)`` on it, or ``start()`` / ``health()`` / ``stop()``.
        """
        from vigil.catalog.events_store import EventStore
        from vigil.runtime.alerts import AlertDispatcher
        from vigil.runtime.models import resolve_scorer
        from vigil.runtime.runner import Runner

        settings = self.settings.runtime
        scorers = [
            resolve_scorer(
                model,
                catalog=self.catalog,
                embedder=lambda: self.embedder,
                scenario=lambda name: self.get_scenario(name).spec,
                threads=threads,
            )
            for model in models
        ]
        store = EventStore(self.catalog.engine)
        return Runner(
            [self.get_source(source) for source in sources],
            scorers,
            store,
            settings,
            self.home,
            classes=classes,
            realtime=realtime,
            dispatcher=AlertDispatcher(store, settings, self.home),
            thumbnail_size=self.settings.thumbnail_size,
        )

    def list_events(
        self,
        *,
        source: int | str | None = None,
        scenario: str | None = None,
        class_name: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        status: str | None = None,
        limit: int = 100,
    ) -> list[EventRecord]:
        """Stored events, newest first, filtered by source, scenario, class and start time."""
        from vigil.catalog.events_store import EventStore

        return EventStore(self.catalog.engine).list_events(
            source_id=self.get_source(source).id if source is not None else None,
            scenario=scenario,
            class_name=class_name,
            since=since,
            until=until,
            status=status,
            limit=limit,
        )

    def get_event(self, event_id: int) -> EventRecord:
        from vigil.catalog.events_store import EventStore

        return EventStore(self.catalog.engine).get_event(event_id)

    def event_deliveries(self, event_id: int) -> list[DeliveryRecord]:
        """The alert outbox entries of one event (pending, delivered or failed)."""
        from vigil.catalog.events_store import EventStore

        store = EventStore(self.catalog.engine)
        store.get_event(event_id)  # NotFoundError for an unknown id
        return store.deliveries(event_id)

    # -- model factory (small models distilled per scenario: vigil.distill; imported lazily
    # -- so that opening a workspace does not import torch or onnxruntime) ------------------

    def distill(
        self,
        scenario: str,
        version: int | None = None,
        *,
        progress: bool = True,
        measure_teacher: bool = False,
    ) -> DistillOutcome:
        """Train, prune, quantize, register and report small models for a labeled scenario."""
        from vigil.distill.pipeline import distill_workspace

        return distill_workspace(
            self.context, scenario, version, progress=progress, measure_teacher=measure_teacher
        )

    def list_models(self, scenario: str | None = None) -> list[ModelRecord]:
        from vigil.catalog.models_store import list_models

        return list_models(self.catalog, scenario=scenario)

    def get_model(self, reference: int | str) -> ModelRecord:
        from vigil.catalog.models_store import get_model

        return get_model(self.catalog, reference)

    def export_model(self, reference: int | str, destination: Path) -> Path:
        """Copy a ready model's ONNX file out, checking its hash against the registry."""
        from vigil.distill.export import export_model

        return export_model(self.catalog, reference, Path(destination))

    # -- segments, clusters, retrieval evaluation (vigil.search.segments / .clusters,
    # -- vigil.evaluation.retrieval; imported lazily so opening a workspace skips scikit-learn)

    def search_segments(
        self,
        query: str,
        *,
        limit: int = 10,
        candidates: int = 200,
        gap_s: float | None = None,
        sources: Sequence[int | str] | None = None,
        target: Target | str = Target.FRAMES,
        filters: SearchFilters | None = None,
    ) -> list[Segment]:
        """Text search whose best ``candidates`` hits are merged into time segments (events).

        ``gap_s`` defaults to twice the sampling interval: one missed sample (a frame
        that scored lower or was deduplicated) does not split an event.
        """
        from vigil.search.segments import default_gap, merge_segments

        if limit < 1 or candidates < 1:
            raise InvalidInputError(f"limit and candidates must be >= 1, got {limit}, {candidates}")
        hits = self.search(query, limit=candidates, sources=sources, target=target, filters=filters)
        gap = default_gap(self.settings.sampling.interval_s) if gap_s is None else gap_s
        return merge_segments(hits, gap_s=gap, limit=limit)

    def clusters(
        self,
        target: Target | str = Target.FRAMES,
        *,
        sources: Sequence[int | str] | None = None,
        min_cluster_size: int = 5,
        min_samples: int | None = None,
        max_points: int = 5000,
        members: int = 8,
        seed: int = 0,
    ) -> ClusterReport:
        """Group stored frame or object vectors of the active model by similarity (HDBSCAN)."""
        from vigil.search.clusters import cluster_catalog

        source_ids = [self.catalog.get_source(s).id for s in sources] if sources else None
        return cluster_catalog(
            self.catalog,
            embedder=self.embedder,
            target=target,
            source_ids=source_ids,
            min_cluster_size=min_cluster_size,
            min_samples=min_samples,
            max_points=max_points,
            members_per_cluster=members,
            seed=seed,
        )

    def cluster_members(self, report: ClusterReport, label: int) -> list[SearchHit]:
        """The shown members of one cluster as hits (score = cosine to its centroid)."""
        from vigil.search.clusters import member_hits

        if not 0 <= label < len(report.clusters):
            raise InvalidInputError(
                f"cluster label must be in 0..{len(report.clusters) - 1}, got {label}"
            )
        return member_hits(self.catalog, report, report.clusters[label])

    def evaluate_retrieval(
        self, *, dataset: str = "fashion-mnist", per_class: int = 50, seed: int = 0
    ) -> RetrievalReport:
        """Recall@k / precision@k / mAP of the active model; image vectors cached in home/cache."""
        from vigil.evaluation.retrieval import evaluate_retrieval

        return evaluate_retrieval(
            self.embedder,
            dataset=dataset,
            per_class=per_class,
            seed=seed,
            cache_dir=self.home / "cache",
        )


def _default_name(location: str) -> str:
    stem = Path(location.rstrip("/")).stem if "://" not in location else location.split("://", 1)[1]
    return re.sub(r"[^A-Za-z0-9._-]+", "-", stem).strip("-") or "source"
