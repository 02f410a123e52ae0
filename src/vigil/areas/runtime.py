"""The runtime area: run models on sources, and read the events and alerts they stored.

Imported lazily so that opening a workspace does not import onnxruntime or httpx.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from vigil.catalog.events_store import EventStore
from vigil.catalog.types import DeliveryRecord, EventQuery, EventRecord
from vigil.context import Context
from vigil.scenarios.spec import ScenarioSpec

if TYPE_CHECKING:
    from vigil.runtime.runner import Runner


class Runtime:
    """``workspace.runtime``: runners over sources, and the events they leave behind."""

    def __init__(self, context: Context, *, scenario: Callable[[str], ScenarioSpec]) -> None:
        self.context = context
        self._scenario = scenario  # a scenario's newest spec, for 'scenario:NAME' models

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

        context = self.context
        settings = context.settings.runtime
        scorers = [
            resolve_scorer(
                model,
                catalog=context.catalog,
                embedder=lambda: context.embedder,
                scenario=self._scenario,
                threads=threads,
            )
            for model in models
        ]
        store = EventStore(context.catalog.engine)
        return Runner(
            [context.catalog.get_source(source) for source in sources],
            scorers,
            store,
            settings,
            context.home,
            classes=classes,
            realtime=realtime,
            dispatcher=AlertDispatcher(store, settings, context.home),
            thumbnail_size=context.settings.thumbnail_size,
        )

    def events(self, query: EventQuery | None = None) -> list[EventRecord]:
        """Stored events, newest first, filtered by source, scenario, class and start time."""
        query = query or EventQuery()
        if query.source is not None:  # a name, or an id that must exist: NotFoundError if not
            query = replace(query, source=self.context.catalog.get_source(query.source).id)
        return self._store().list_events(query)

    def event(self, event_id: int) -> EventRecord:
        return self._store().get_event(event_id)

    def deliveries(self, event_id: int) -> list[DeliveryRecord]:
        """The alert outbox entries of one event (pending, delivered or failed)."""
        store = self._store()
        store.get_event(event_id)  # NotFoundError for an unknown id
        return store.deliveries(event_id)

    def _store(self) -> EventStore:
        return EventStore(self.context.catalog.engine)
