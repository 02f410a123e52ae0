"""Hot swap: keep running the scenario's promoted model without a restart.

A ``ModelFollower`` pairs one of the runner's model slots with a *resolver*, a
callable that answers "which registered model should run now?" (the scenario's
champion). The runner's watcher thread asks it every ``model_poll_s`` seconds;
when the answer changes, the follower loads the new ONNX file there, off the
scoring threads, checks that it speaks the same classes, and hands it back; the
runner then replaces the slot in one assignment. A frame is scored entirely by
the old or entirely by the new model (the scoring loop takes the list of models
once per frame), so nothing is lost or scored twice and every event names the
version that raised it.

A new model that cannot be loaded, or whose classes differ (the event tracks are
kept per class), is refused with a logged reason and the running one stays.

>>> follower = ModelFollower(resolver, loader, current=ref)  # doctest: +SKIP
>>> follower.check()  # None, or the new Scorer to put in the slot  # doctest: +SKIP
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from vigil.errors import VigilError
from vigil.runtime.scorers import Scorer

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelRef:
    """A registered model the runtime can load: registry id, name and file."""

    id: int
    name: str
    path: Path


Resolver = Callable[[], ModelRef | None]
Loader = Callable[[ModelRef], Scorer]


@dataclass(frozen=True)
class Swap:
    """A model slot changed: what ran before, what runs now."""

    slot: int
    before: str | None  # model version (registry name) or model id
    after: str
    scorer: Scorer

    @property
    def message(self) -> str:
        return f"model {self.after} now running (was {self.before})"


class ModelFollower:
    """Follows ``resolver`` for one model slot; loads what it names when it changes.

    ``current`` is the model the slot started with. The slot follows *changes* of
    the resolver's answer: a run started on an older model on purpose keeps it
    until someone promotes another one.
    """

    def __init__(self, resolver: Resolver, loader: Loader, *, current: ModelRef | None) -> None:
        self.resolver = resolver
        self.loader = loader
        self._last_answer = _safe(resolver)
        self.current = current
        self.last_error: str | None = None

    def check(self, running: Scorer) -> Scorer | None:
        """The scorer to swap in, or None (no change, or a change that was refused)."""
        answer = _safe(self.resolver)
        if answer is None or answer == self._last_answer:
            return None
        self._last_answer = answer
        if self.current is not None and answer.id == self.current.id:
            return None
        try:
            scorer = self.loader(answer)
        except VigilError as error:
            self.last_error = f"cannot load model {answer.name}: {error}"
            log.error("%s; keeping %s", self.last_error, running.model_version or running.model_id)
            return None
        if scorer.class_names != running.class_names:
            self.last_error = (
                f"model {answer.name} has classes {list(scorer.class_names)}, the running model "
                f"{list(running.class_names)}; not swapped (restart the run to change classes)"
            )
            log.error(self.last_error)
            return None
        self.current = answer
        self.last_error = None
        return scorer


def _safe(resolver: Resolver) -> ModelRef | None:
    try:
        return resolver()
    except VigilError as error:  # a catalog hiccup must not stop the run
        log.warning("cannot ask which model to run: %s", error)
        return None


__all__ = ["Loader", "ModelFollower", "ModelRef", "Resolver", "Swap"]
