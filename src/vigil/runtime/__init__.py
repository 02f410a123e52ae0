"""Runtime: run small models on live streams and archives; events, alerts and health.

``Runner`` (threads per source, bounded hand-over, reconnects), ``Scorer``s (ONNX
scenario models and the zero-shot big model), the event state machine
(``events.step``), the event store with its alert outbox, and ``AlertDispatcher``
(signed webhooks with retries, a local JSON-lines log).
"""

from vigil.catalog.events_store import EventStore
from vigil.runtime.alerts import AlertDispatcher, sign, verify_signature
from vigil.runtime.events import EventRule, Track, step
from vigil.runtime.models import resolve_scorer, zero_shot_from_spec
from vigil.runtime.runner import LatestFrameBuffer, Runner
from vigil.runtime.scorers import OnnxScorer, Scorer, ZeroShotScorer
from vigil.runtime.types import DeliveryRecord, EventRecord, SourceHealth

__all__ = [
    "AlertDispatcher",
    "DeliveryRecord",
    "EventRecord",
    "EventRule",
    "EventStore",
    "LatestFrameBuffer",
    "OnnxScorer",
    "Runner",
    "Scorer",
    "SourceHealth",
    "Track",
    "ZeroShotScorer",
    "resolve_scorer",
    "sign",
    "step",
    "verify_signature",
    "zero_shot_from_spec",
]
