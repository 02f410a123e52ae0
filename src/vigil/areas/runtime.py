"""The runtime area: run models on sources, and read the events and alerts they stored.

Imported lazily so that opening a workspace does not import onnxruntime or httpx.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from vigil.catalog.events_store import EventStore
from vigil.catalog.feedback_store import FeedbackRecord
from vigil.catalog.types import DeliveryRecord, EventQuery, EventRecord
from vigil.context import Context
from vigil.scenarios.spec import ScenarioSpec

if TYPE_CHECKING:
    from vigil.runtime.recording import ModelPolicy
    from vigil.runtime.runner import Runner
    from vigil.runtime.scorers import Scorer
    from vigil.runtime.swap import ModelFollower, ModelRef, Swap


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
        threshold: float | None = None,
        follow: bool = True,
        on_swap: Callable[[Swap], None] | None = None,
    ) -> Runner:
        """A ``Runner`` of ``models`` (ONNX paths, 'scenario:NAME', registry ids) on sources.

        Each model's scenario drives its events: the scenario's ``alert_threshold``
        and ``alert_classes`` are the defaults, ``threshold`` / ``classes`` override
        them. A registry model follows its scenario (``follow``): when another model
        of the scenario is promoted the runner swaps to it without a restart, and it
        carries a drift reference made from its training items.
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
        followers = {}
        for slot, scorer in enumerate(scorers):
            if scorer.registry_model_id is None:
                continue
            follower = self._prepare_registered(scorer, threads=threads)
            if follow:
                followers[slot] = follower
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
            policies=[
                self.policy(scorer, threshold=threshold, classes=classes) for scorer in scorers
            ],
            followers=followers,
            on_swap=on_swap,
        )

    def policy(
        self,
        scorer: Scorer,
        *,
        threshold: float | None = None,
        classes: Sequence[str] | None = None,
    ) -> ModelPolicy:
        """Thresholds and event classes of one model: flags, else its scenario, else settings.

        The scenario's ``alert_threshold`` becomes the on-threshold (the off-threshold
        keeps the settings' value, or the on-threshold when that is lower), its
        ``alert_classes`` the event classes when it names any.
        """
        from vigil.runtime.events import EventRule
        from vigil.runtime.recording import ModelPolicy

        settings = self.context.settings.runtime
        spec = self._scenario_of(scorer)
        on = settings.on_threshold
        chosen: Sequence[str] | None = None
        if spec is not None:
            on = spec.alert_threshold or on
            chosen = [name for name in spec.alert_classes if name in scorer.class_names] or None
        if threshold is not None:
            on = threshold
        if classes:
            chosen = classes
        rule = EventRule(
            on_threshold=on,
            off_threshold=min(settings.off_threshold, on),
            min_duration_s=settings.min_duration_s,
            quiet_period_s=settings.quiet_period_s,
        )
        return ModelPolicy(rule, frozenset(chosen) if chosen else None)

    def _scenario_of(self, scorer: Scorer) -> ScenarioSpec | None:
        """The stored scenario a model belongs to, if it is one of this workspace's."""
        from vigil.errors import NotFoundError

        if not scorer.scenario:
            return None
        try:
            spec = self._scenario(scorer.scenario)
        except NotFoundError:
            return None
        if spec.kind != "classes" or set(spec.class_names) != set(scorer.class_names):
            return None  # another workspace's scenario of the same name: its settings don't apply
        return spec

    def _prepare_registered(self, scorer: Scorer, *, threads: int) -> ModelFollower:
        """Give a registry model its drift reference; the follower of its scenario."""
        from vigil.catalog.models_store import get_model
        from vigil.runtime.models import (
            champion_resolver,
            model_ref,
            registry_scorer,
            training_reference,
        )
        from vigil.runtime.swap import ModelFollower

        context = self.context
        assert scorer.registry_model_id is not None
        record = get_model(context.catalog, scorer.registry_model_id)
        scorer.drift_reference = training_reference(context.catalog, context.home, record, scorer)

        def load(ref: ModelRef) -> Scorer:
            from vigil.catalog.models_store import ready_model

            fresh = registry_scorer(
                context.catalog, ready_model(context.catalog, ref.id), threads=threads
            )
            fresh.drift_reference = training_reference(
                context.catalog, context.home, get_model(context.catalog, ref.id), fresh
            )
            return fresh

        resolver = champion_resolver(context.catalog, record.scenario)
        return ModelFollower(resolver, load, current=model_ref(record))

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

    def feedback(
        self,
        event_id: int,
        *,
        label: str | None = None,
        annotator: str = "feedback",
        replace: bool = False,
    ) -> FeedbackRecord:
        """Confirm an event (no ``label``) or correct it; it becomes a scenario label."""
        from vigil.runtime.feedback import event_feedback
        from vigil.scenarios.store import get_scenario

        event = self._store().get_event(event_id)  # NotFoundError for an unknown id
        record = get_scenario(self.context.catalog, event.scenario)
        return event_feedback(
            self.context.catalog, event, record, label=label, annotator=annotator, replace=replace
        )

    def label_hit(
        self, scenario: str, item: str, label: str, *, annotator: str = "feedback"
    ) -> FeedbackRecord:
        """'Label this as ...' on a search hit: the item's label in ``scenario``."""
        from vigil.runtime.feedback import hit_feedback
        from vigil.scenarios.store import get_scenario

        record = get_scenario(self.context.catalog, scenario)
        return hit_feedback(self.context.catalog, record, item, label, annotator=annotator)

    def feedback_of(self, event_id: int) -> FeedbackRecord | None:
        from vigil.catalog.feedback_store import event_feedback

        self._store().get_event(event_id)
        return event_feedback(self.context.catalog, event_id)

    def _store(self) -> EventStore:
        return EventStore(self.context.catalog.engine)
