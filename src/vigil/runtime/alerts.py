"""Alert delivery from the outbox: signed webhooks with retries, and a local JSON-lines log.

Every webhook is signed, by default, with the Standard Webhooks scheme
(standardwebhooks.com): headers ``webhook-id`` (the same on every retry, so a
receiver can drop duplicates: delivery is at least once), ``webhook-timestamp``
and ``webhook-signature`` (``v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">``),
so a receiver verifies with an existing library, e.g. Python's
``standardwebhooks.Webhook(secret).verify(body, headers)``. The secret is the
workspace's own (``whsec_...``), made on first use in ``home/webhook-secret``
(mode 0600) and shown by ``vigil webhook secret``; a configured
``webhook_secret`` that is itself a ``whsec_`` secret replaces it.

A configured ``webhook_secret`` also keeps the older Stripe-like header
``Vigil-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>." + body>`` for
receivers written against it. Signing the timestamp with the body lets a
receiver refuse replays older than a few minutes (``verify_signature``'s
``tolerance_s``). ``Vigil-Delivery`` carries the delivery id.

Failures back off exponentially with full jitter (AWS architecture blog,
"Exponential Backoff and Jitter"): delay = uniform(0, min(max, base * 2^n)), so
many alerts that failed together do not retry together.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import logging
import os
import random
import secrets
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from standardwebhooks import Webhook

from vigil.catalog.events_store import LOG_TARGET, EventStore
from vigil.errors import InvalidInputError, VigilError
from vigil.runtime.mqtt import MqttPublisher, broker_address
from vigil.runtime.types import DeliveryRecord
from vigil.settings import RuntimeSettings

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "Vigil-Signature"
DELIVERY_HEADER = "Vigil-Delivery"
EVENT_HEADER = "Vigil-Event"
ALERT_LOG = "alerts.jsonl"
SECRET_FILE = "webhook-secret"
SECRET_PREFIX = "whsec_"


def workspace_webhook_secret(home: Path) -> str:
    """The workspace's Standard Webhooks secret (``whsec_<base64>``), made on first use.

    Written owner-only (0600) and published with a hard link, which fails when the file
    exists: two processes making it at once end up with the same secret.
    """
    path = Path(home) / SECRET_FILE
    try:
        text = path.read_text().strip()
    except FileNotFoundError:
        secret = SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()
        temporary = path.with_name(f".{SECRET_FILE}.{os.getpid()}.tmp")
        try:
            handle = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(handle, "w") as stream:
                stream.write(secret + "\n")
            with contextlib.suppress(FileExistsError):  # another process made it first
                os.link(temporary, path)
            text = path.read_text().strip()
        except OSError as error:
            raise VigilError(f"cannot write the webhook secret {path}: {error}") from None
        finally:
            with contextlib.suppress(OSError):  # EROFS even when it was never made
                temporary.unlink(missing_ok=True)
    except OSError as error:
        raise VigilError(f"cannot read the webhook secret {path}: {error}") from None
    if not text.startswith(SECRET_PREFIX):
        raise VigilError(f"{path} does not hold a {SECRET_PREFIX}... webhook secret")
    return text


def standard_headers(secret: str, message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The Standard Webhooks headers that sign ``body`` as message ``message_id``."""
    signature = Webhook(secret).sign(
        message_id, datetime.fromtimestamp(timestamp, tz=UTC), body.decode()
    )
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature,
    }


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The ``Vigil-Signature`` header value for ``body`` sent at ``timestamp``."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify_signature(
    secret: str, header: str, body: bytes, *, tolerance_s: float = 300.0, now: float | None = None
) -> bool:
    """True when ``header`` signs ``body`` with ``secret`` and is at most ``tolerance_s`` old."""
    parts = dict(item.split("=", 1) for item in header.split(",") if "=" in item)
    try:
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs((time.time() if now is None else now) - timestamp) > tolerance_s:
        return False
    expected = sign(secret, timestamp, body).split("v1=", 1)[1]
    return hmac.compare_digest(expected, parts.get("v1", ""))


def with_evidence_urls(payload: dict[str, Any], public_url: str | None) -> dict[str, Any]:
    """The payload with its events' evidence paths made absolute under ``public_url``."""
    if not public_url:
        return payload
    base = public_url.rstrip("/")
    result = dict(payload)
    for key in ("event", "before"):
        event = result.get(key)
        if isinstance(event, dict) and isinstance(event.get("evidence"), dict):
            links = {
                name: base + path if isinstance(path, str) and path.startswith("/") else path
                for name, path in event["evidence"].items()
            }
            result[key] = {**event, "evidence": links}
    return result


def backoff_delay(attempt: int, base_s: float, max_s: float, rng: random.Random) -> float:
    """Full-jitter delay before retry number ``attempt`` (0 = first retry)."""
    return rng.uniform(0.0, min(max_s, base_s * 2.0**attempt))


class AlertDispatcher:
    """Deliver due outbox entries; runs in its own thread, woken when alerts are queued.

    Each delivery is attempted, then recorded (delivered, retry at a later time, or
    failed after ``max_attempts``) before the next one, so a killed process
    resumes from the outbox with at most one duplicate.
    """

    def __init__(
        self,
        store: EventStore,
        settings: RuntimeSettings,
        home: Path,
        *,
        client: httpx.Client | None = None,
        seed: int | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.log_path = Path(home) / ALERT_LOG
        self._client = client or httpx.Client(timeout=settings.webhook_timeout_s)
        self._owns_client = client is None
        self._rng = random.Random(seed)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._log_lock = threading.Lock()
        # Made only when webhooks go out, so a dispatcher that only logs writes no secret.
        self._secret: str | None = None
        if settings.webhooks:
            configured = settings.webhook_secret or ""
            self._secret = (
                configured
                if configured.startswith(SECRET_PREFIX)
                else workspace_webhook_secret(Path(home))
            )
        self._mqtt = MqttPublisher(settings.mqtt_topic, timeout_s=settings.webhook_timeout_s)
        self.delivered = 0
        self.failed_attempts = 0

    @staticmethod
    def targets(settings: RuntimeSettings) -> list[str]:
        """Where every event goes: the configured webhooks, plus the local log."""
        for url in settings.webhooks:
            if not url.startswith(("http://", "https://")):
                raise InvalidInputError(f"webhook must be an http(s) URL, got {url!r}")
        for broker in settings.mqtt_brokers:
            broker_address(broker)  # a malformed broker is refused before anything runs
        return [
            *settings.webhooks,
            *settings.mqtt_brokers,
            *([LOG_TARGET] if settings.alert_log else []),
        ]

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="vigil-alerts", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self, *, drain_s: float = 2.0) -> None:
        """Stop after a last pass; whatever is still pending stays in the outbox."""
        deadline = time.monotonic() + drain_s
        while time.monotonic() < deadline and self.store.due_deliveries(datetime.now(UTC), 1):
            self.wake()
            time.sleep(0.05)
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=self.settings.webhook_timeout_s + 5)
        if self._owns_client:
            self._client.close()
        self._mqtt.close()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_once()
                due = self.store.next_due()
            except Exception:  # a locked database must not kill delivery for good
                log.exception("alert dispatcher pass failed; retrying")
                due = None
            wait = 1.0
            if due is not None:
                wait = min(wait, max(0.0, (due - datetime.now(UTC)).total_seconds()))
            self._wake.wait(wait)
            self._wake.clear()

    def run_once(self) -> int:
        """Attempt every due delivery once; returns how many were delivered."""
        delivered = 0
        for delivery in self.store.due_deliveries(datetime.now(UTC)):
            if self._stop.is_set() and delivery.target != LOG_TARGET:
                break
            error = self._deliver(delivery)
            if error is None:
                delivered += 1
                self.store.record_attempt(delivery.id, delivered=True)
                continue
            self.failed_attempts += 1
            attempts = delivery.attempts + 1
            retry_at = None
            if attempts < self.settings.max_attempts:
                delay = backoff_delay(
                    attempts - 1,
                    self.settings.backoff_base_s,
                    self.settings.backoff_max_s,
                    self._rng,
                )
                retry_at = datetime.now(UTC) + timedelta(seconds=delay)
            log.warning(
                "alert %d to %s failed (attempt %d of %d): %s",
                delivery.id,
                delivery.target,
                attempts,
                self.settings.max_attempts,
                error,
            )
            self.store.record_attempt(
                delivery.id, delivered=False, error=error, next_attempt_at=retry_at
            )
        self.delivered += delivered
        return delivered

    def _deliver(self, delivery: DeliveryRecord) -> str | None:
        """Send one delivery; None on success, else the reason it failed."""
        payload = with_evidence_urls(delivery.payload, self.settings.public_url)
        if delivery.target.startswith("mqtt://"):
            return self._mqtt.publish(delivery.target, payload)
        body = json.dumps({**payload, "delivery_id": delivery.id}, sort_keys=True).encode()
        if delivery.target == LOG_TARGET:
            try:
                with self._log_lock, self.log_path.open("ab") as handle:
                    handle.write(body + b"\n")
            except OSError as error:
                return f"cannot append to {self.log_path}: {error}"
            return None
        headers = {
            "Content-Type": "application/json",
            DELIVERY_HEADER: str(delivery.id),
            EVENT_HEADER: delivery.kind,
        }
        now = int(time.time())
        secret = self._secret or workspace_webhook_secret(self.log_path.parent)
        headers.update(standard_headers(secret, f"msg_vigil_{delivery.id}", now, body))
        if self.settings.webhook_secret:  # the older header, for receivers written against it
            headers[SIGNATURE_HEADER] = sign(self.settings.webhook_secret, now, body)
        try:
            response = self._client.post(delivery.target, content=body, headers=headers)
        except httpx.HTTPError as error:
            return f"{type(error).__name__}: {error}"
        if 200 <= response.status_code < 300:
            return None
        return f"HTTP {response.status_code} from {delivery.target}"


__all__ = [
    "ALERT_LOG",
    "DELIVERY_HEADER",
    "EVENT_HEADER",
    "SECRET_FILE",
    "SIGNATURE_HEADER",
    "AlertDispatcher",
    "backoff_delay",
    "sign",
    "standard_headers",
    "verify_signature",
    "workspace_webhook_secret",
]
