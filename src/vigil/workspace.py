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
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from vigil.catalog.store import Catalog
from vigil.catalog.sync import sync_with_catalog
from vigil.catalog.vector_index import VectorIndex
from vigil.embedders.base import Embedder, create_embedder
from vigil.scale import RayIndexReport, Shard, index_on_ray
from vigil.scenarios.spec import ScenarioRecord, ScenarioSpec
from vigil.scenarios.types import AutolabelProgress, AutolabelReport, ReviewItem
from vigil.search.contact_sheet import write_contact_sheet
from vigil.search.text import search_by_text
from vigil.search.types import SearchHit
from vigil.settings import Settings
from vigil.sources.readers import detect_kind, probe
from vigil.sources.types import Source, SourceKind, SourceSpec
from vigil.structure.indexing import IndexProgress, IndexReport, index_source

if TYPE_CHECKING:  # -- runtime (vigil.runtime is imported lazily) ---
    from datetime import datetime

    from vigil.runtime.runner import Runner
    from vigil.runtime.types import DeliveryRecord, EventRecord


class Workspace:
    """One Vigil workspace: catalog + embedder + vector index under ``settings.home``."""

    def __init__(self, settings: Settings, *, embedder: Embedder | None = None) -> None:
        self.settings = settings
        self.home = Path(settings.home)
        self.home.mkdir(parents=True, exist_ok=True)
        self.catalog = Catalog.open(settings.resolved_database_url)
        self._embedder = embedder
        self._vector_index: VectorIndex | None = None

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
        if self._vector_index is not None:
            self._vector_index.save()
        self.catalog.close()

    # -- models ---------------------------------------------------------------------------

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            self._embedder = create_embedder(self.settings.embedder)
        return self._embedder

    @property
    def vector_index(self) -> VectorIndex:
        """The index of the active embedder's space, reconciled with the catalog on first use."""
        if self._vector_index is None:
            embedder = self.embedder
            path = self.home / "index" / f"{_file_safe(embedder.model_id)}.faiss"
            index = VectorIndex.open(
                path, embedder.dim, self.settings.index, model_id=embedder.model_id
            )
            sync_with_catalog(index, self.catalog, embedder.model_id)
            self._vector_index = index
        return self._vector_index

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
        """Register a video file, image folder or stream; ``check`` opens it first."""
        kind = kind or detect_kind(location)
        if kind != SourceKind.STREAM:
            location = str(Path(location).expanduser().resolve())
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
        source = self.catalog.get_source(id_or_name)
        removed_ids = self.catalog.remove_source(source.id)
        if self._vector_index is not None and removed_ids:
            self._vector_index.remove(removed_ids)
            self._vector_index.save()
        shutil.rmtree(self.home / "thumbs" / str(source.id), ignore_errors=True)
        return source

    # -- structure and search ---------------------------------------------------------------

    def index(
        self,
        sources: Sequence[int | str] | None = None,
        *,
        max_frames: int | None = None,
        max_seconds: float | None = None,
        on_progress: Callable[[IndexProgress], None] | None = None,
    ) -> list[IndexReport]:
        """Index the given sources (all file and folder sources when None), resuming each."""
        if sources:
            targets = [self.catalog.get_source(item) for item in sources]
        else:
            targets = [s for s in self.catalog.list_sources() if s.kind != SourceKind.STREAM]
        return [
            index_source(
                source,
                catalog=self.catalog,
                vector_index=self.vector_index,
                embedder=self.embedder,
                settings=self.settings,
                max_frames=max_frames,
                max_seconds=max_seconds,
                on_progress=on_progress,
            )
            for source in targets
        ]

    def search(
        self, query: str, *, limit: int = 10, sources: Sequence[int | str] | None = None
    ) -> list[SearchHit]:
        """Natural-language search over indexed frames, best first."""
        source_ids = [self.catalog.get_source(item).id for item in sources] if sources else None
        return search_by_text(
            query,
            catalog=self.catalog,
            vector_index=self.vector_index,
            embedder=self.embedder,
            limit=limit,
            source_ids=source_ids,
        )

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
    ) -> AutolabelReport:
        """Label every indexed item of the scenario's newest version from stored vectors.

        Resumable: items already labeled at this version are skipped; ``relabel``
        labels everything again (after answers, with the refitted classifier).
        """
        from vigil.scenarios.autolabel import autolabel

        return autolabel(
            self.catalog,
            self.get_scenario(scenario),
            self.embedder,
            batch_size=self.settings.scenarios.autolabel_batch_size,
            max_items=max_items,
            on_progress=on_progress,
            relabel=relabel,
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
        from vigil.runtime.alerts import AlertDispatcher
        from vigil.runtime.models import resolve_scorer
        from vigil.runtime.runner import Runner
        from vigil.runtime.store import EventStore

        settings = self.settings.runtime
        production = self.settings.environment == "production"
        if settings.webhooks and not settings.webhook_secret and production:
            from vigil.errors import InvalidInputError

            raise InvalidInputError(
                "webhooks in production need a signing secret: set VIGIL_RUNTIME__WEBHOOK_SECRET"
            )
        scorers = [
            resolve_scorer(
                model,
                engine=self.catalog.engine,
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
        from vigil.runtime.store import EventStore

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
        from vigil.runtime.store import EventStore

        return EventStore(self.catalog.engine).get_event(event_id)

    def event_deliveries(self, event_id: int) -> list[DeliveryRecord]:
        """The alert outbox entries of one event (pending, delivered or failed)."""
        from vigil.runtime.store import EventStore

        store = EventStore(self.catalog.engine)
        store.get_event(event_id)  # NotFoundError for an unknown id
        return store.deliveries(event_id)


def _default_name(location: str) -> str:
    stem = Path(location.rstrip("/")).stem if "://" not in location else location.split("://", 1)[1]
    return re.sub(r"[^A-Za-z0-9._-]+", "-", stem).strip("-") or "source"


def _file_safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text)
