"""The front door that the CLI and the REST API are thin layers over.

A ``Workspace`` opens one shared ``Context`` (settings, catalog, the lazily loaded
embedder, detector and vector indexes) and wires one handle per area over it:

- ``sources``: register, list, look up and remove sources;
- ``archive``: index sources, then search, segment, cluster and evaluate;
- ``scenarios``: long-tail scenarios, auto-labels, review and label export;
- ``models``: distil small models, list and export them;
- ``runtime``: run models on sources; the events and alerts they stored;
- ``tracks``: follow objects through sources; search, match, zones and plots.

New code calls the handles (``ws.archive.search(...)``). The older flat names
(``ws.search(...)``, ``ws.add_source(...)``) are the same bound methods under
their first names, so existing callers keep working.

>>> with Workspace.open(Settings(home=Path("vigil-data"))) as ws:  # doctest: +SKIP
...     source = ws.sources.add(".cache/data/vtest.avi", name="walkway")
...     ws.archive.index([source.id])
...     hits = ws.archive.search("a person walking", limit=5)
"""

from __future__ import annotations

from types import TracebackType
from typing import Any

from vigil.areas.archive import Archive
from vigil.areas.models import Models
from vigil.areas.runtime import Runtime
from vigil.areas.scenarios import Scenarios
from vigil.areas.sources import Sources
from vigil.areas.tracks import Tracks
from vigil.catalog.types import EventQuery, EventRecord
from vigil.catalog.vector_index import VectorSearch
from vigil.context import Context
from vigil.embedders.base import Embedder
from vigil.embedders.detector import CocoDetector
from vigil.settings import Settings


class Workspace:
    """One Vigil workspace under ``settings.home``: the area handles over one ``Context``."""

    def __init__(self, settings: Settings, *, embedder: Embedder | None = None) -> None:
        self.context = Context(settings, embedder=embedder)
        self.settings = settings
        self.home = self.context.home
        self.catalog = self.context.catalog
        self.read_only = self.context.read_only
        self.require_writable = self.context.require_writable
        self.sources = Sources(self.context)
        self.archive = Archive(self.context)
        self.scenarios = Scenarios(self.context)
        self.models = Models(self.context)
        self.runtime = Runtime(self.context, scenario=lambda name: self.scenarios.get(name).spec)
        self.tracks = Tracks(self.context)

        # The first, flat names of the front door: the handles' own bound methods.
        self.add_source = self.sources.add
        self.list_sources = self.sources.all
        self.get_source = self.sources.get
        self.remove_source = self.sources.remove
        self.index = self.archive.index
        self.index_objects = self.archive.index_objects
        self.index_on_ray = self.archive.index_on_ray
        self.filters = self.archive.filters
        self.search = self.archive.search
        self.search_image = self.archive.search_image
        self.more_like = self.archive.more_like
        self.match_object = self.archive.match_object
        self.contact_sheet = self.archive.contact_sheet
        self.search_segments = self.archive.search_segments
        self.clusters = self.archive.clusters
        self.cluster_members = self.archive.cluster_members
        self.evaluate_retrieval = self.archive.evaluate_retrieval
        self.create_scenario = self.scenarios.create
        self.import_scenario = self.scenarios.import_yaml
        self.export_scenario = self.scenarios.export_yaml
        self.get_scenario = self.scenarios.get
        self.list_scenarios = self.scenarios.all
        self.autolabel = self.scenarios.autolabel
        self.review_queue = self.scenarios.review_queue
        self.answer = self.scenarios.answer
        self.export_labels = self.scenarios.export_labels
        self.distill = self.models.distill
        self.list_models = self.models.all
        self.get_model = self.models.get
        self.export_model = self.models.export
        self.runner = self.runtime.runner
        self.get_event = self.runtime.event
        self.event_deliveries = self.runtime.deliveries

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

    def list_events(self, query: EventQuery | None = None, **fields: Any) -> list[EventRecord]:
        """``runtime.events``, also with the query's fields as keywords (``source="gate"``)."""
        return self.runtime.events(query if query is not None else EventQuery(**fields))

    # -- the shared context's lazily loaded parts ---------------------------------------------

    @property
    def embedder(self) -> Embedder:
        return self.context.embedder

    @property
    def vector_index(self) -> VectorSearch:
        """The index of the active embedder's space, reconciled with the catalog on first use."""
        return self.context.vector_index

    @property
    def object_index(self) -> VectorSearch:
        """The objects' own index (crop vectors), in the same space as the frames'."""
        return self.context.object_index

    @property
    def detector(self) -> CocoDetector:
        """The COCO detector: the default embedder's own copy, or a separate one."""
        return self.context.detector
