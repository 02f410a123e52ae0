"""Alerts: signed webhooks with retries and backoff, a local log, and an outbox that keeps them."""

from __future__ import annotations

import base64
import json
import os
import random
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from tests.runtime.helpers import WebhookReceiver
from vigil.catalog.events_store import EventStore, NewEvent
from vigil.catalog.store import Catalog
from vigil.runtime.alerts import (
    ALERT_LOG,
    SECRET_FILE,
    SIGNATURE_HEADER,
    AlertDispatcher,
    backoff_delay,
    sign,
    verify_signature,
)
from vigil.settings import RuntimeSettings
from vigil.sources.types import SourceKind, SourceSpec


@pytest.fixture
def store(tmp_path: Path, vtest_path: Path) -> Iterator[tuple[EventStore, int]]:
    with Catalog.open(tmp_path / "catalog.db") as catalog:
        source = catalog.add_source(
            SourceSpec(name="walkway", kind=SourceKind.VIDEO, location=str(vtest_path))
        )
        yield EventStore(catalog.engine), source.id


def new_event(source_id: int) -> NewEvent:
    start = datetime(2024, 5, 1, 12, 0, 3, tzinfo=UTC)
    return NewEvent(
        source_id=source_id,
        model_id="onnx:walkway:abc",
        scenario="walkway-imagenet",
        class_name="pole",
        started_at=start,
        last_seen_at=start + timedelta(seconds=1),
        peak_score=0.57,
        peak_at=start + timedelta(seconds=1),
        frames=3,
        details={},
    )


def settings(**values: object) -> RuntimeSettings:
    base: dict[str, object] = {"backoff_base_s": 0.05, "backoff_max_s": 0.2, "max_attempts": 4}
    base.update(values)
    return RuntimeSettings.model_validate(base)


def test_signature_round_trip_and_tampering() -> None:
    body = b'{"type": "event.started"}'
    now = int(time.time())
    header = sign("s3cret", now, body)
    assert header.startswith(f"t={now},v1=")
    assert verify_signature("s3cret", header, body)
    assert not verify_signature("other", header, body)
    assert not verify_signature("s3cret", header, body + b" ")
    assert not verify_signature("s3cret", header, body, now=now + 301)  # replayed too late
    assert not verify_signature("s3cret", "garbage", body)


def test_backoff_grows_and_is_capped_with_full_jitter() -> None:
    rng = random.Random(0)
    delays = [[backoff_delay(n, 1.0, 30.0, rng) for _ in range(200)] for n in range(8)]
    for n, draws in enumerate(delays):
        assert min(draws) >= 0 and max(draws) <= min(30.0, 2.0**n)
    assert max(delays[7]) > 20  # capped at 30, not 128
    assert sum(delays[3]) / 200 > sum(delays[0]) / 200 * 4


def wait_for(condition: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_webhook_retries_until_delivered_with_a_valid_signature(
    store: tuple[EventStore, int], tmp_path: Path, webhook: WebhookReceiver
) -> None:
    events, source_id = store
    config = settings(webhooks=[webhook.url], webhook_secret="s3cret")
    dispatcher = AlertDispatcher(events, config, tmp_path, seed=1)
    record = events.open_event(new_event(source_id), AlertDispatcher.targets(config))
    dispatcher.start()
    try:
        wait_for(lambda: webhook.received)
    finally:
        dispatcher.stop()
    assert webhook.rejected == 2  # the receiver failed twice, the third attempt got through
    [got] = webhook.received
    assert verify_signature("s3cret", got.headers[SIGNATURE_HEADER], got.body)
    payload = json.loads(got.body)
    assert payload["type"] == "event.started"
    assert payload["event"]["id"] == record.id and payload["event"]["class"] == "pole"
    by_target = {d.target: d for d in events.deliveries(record.id)}
    assert by_target[webhook.url].status == "delivered" and by_target[webhook.url].attempts == 3
    assert by_target["log"].status == "delivered" and by_target["log"].attempts == 1
    [line] = (tmp_path / ALERT_LOG).read_text().splitlines()
    assert json.loads(line)["event"]["id"] == record.id


def test_a_dead_webhook_never_loses_the_event(
    store: tuple[EventStore, int], tmp_path: Path
) -> None:
    events, source_id = store
    dead = "http://127.0.0.1:9/hook"  # discard port: nothing listens
    config = settings(webhooks=[dead], alert_log=False, max_attempts=3)
    dispatcher = AlertDispatcher(events, config, tmp_path, seed=2)
    record = events.open_event(new_event(source_id), AlertDispatcher.targets(config))
    for _ in range(40):
        dispatcher.run_once()
        [delivery] = events.deliveries(record.id)
        if delivery.status != "pending":
            break
        time.sleep(0.05)
    assert delivery.status == "failed" and delivery.attempts == 3
    assert "ConnectError" in (delivery.last_error or "")
    assert events.get_event(record.id).class_name == "pole"  # the event itself is kept


def test_pending_alerts_resume_after_a_restart(
    store: tuple[EventStore, int], tmp_path: Path, webhook: WebhookReceiver
) -> None:
    """Alerts queued while no dispatcher ran (a killed process) go out when one starts."""
    events, source_id = store
    webhook.fail_first = 0
    config = settings(webhooks=[webhook.url], webhook_secret="s3cret", alert_log=False)
    record = events.open_event(new_event(source_id), AlertDispatcher.targets(config))
    events.open_event(new_event(source_id), AlertDispatcher.targets(config))
    assert [d.status for d in events.deliveries()] == ["pending", "pending"]
    # A second process: a new store on the same database, a new dispatcher.
    dispatcher = AlertDispatcher(events, config, tmp_path)
    assert dispatcher.run_once() == 2
    assert [d.status for d in events.deliveries()] == ["delivered", "delivered"]
    assert {json.loads(r.body)["event"]["id"] for r in webhook.received} == {
        record.id,
        record.id + 1,
    }


def test_webhooks_are_signed_by_default_and_verify_with_standardwebhooks(
    store: tuple[EventStore, int], tmp_path: Path, webhook: WebhookReceiver
) -> None:
    """Before: with no VIGIL_RUNTIME__WEBHOOK_SECRET every webhook went out unsigned."""
    events, source_id = store
    webhook.fail_first = 1  # the retry is signed afresh
    config = settings(webhooks=[webhook.url], alert_log=False)
    dispatcher = AlertDispatcher(events, config, tmp_path, seed=3)
    events.open_event(new_event(source_id), AlertDispatcher.targets(config))
    dispatcher.start()
    try:
        wait_for(lambda: webhook.received)
    finally:
        dispatcher.stop()
    [got] = webhook.received
    secret_file = tmp_path / SECRET_FILE
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    secret = secret_file.read_text().strip()
    assert secret.startswith("whsec_")
    payload = Webhook(secret).verify(got.body, got.headers)  # a receiver's own library
    assert payload["type"] == "event.started"
    assert SIGNATURE_HEADER not in got.headers  # no legacy secret configured: no legacy header
    forged = Webhook("whsec_" + base64.b64encode(b"x" * 32).decode())
    with pytest.raises(WebhookVerificationError):
        forged.verify(got.body, got.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(got.body + b" ", got.headers)
    # The CLI shows the same secret, and does not make a new one.
    shown = subprocess.run(
        [sys.executable, "-m", "vigil.cli.main", "webhook", "secret"],
        env={**os.environ, "VIGIL_HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        check=True,
    )
    assert shown.stdout.strip() == secret


def test_a_configured_secret_keeps_the_older_header_and_a_whsec_secret_replaces_the_workspaces(
    store: tuple[EventStore, int], tmp_path: Path, webhook: WebhookReceiver
) -> None:
    events, source_id = store
    webhook.fail_first = 0
    configured = "whsec_" + base64.b64encode(b"vigil-test-secret-32-bytes-long!").decode()
    for secret, home in (("s3cret", tmp_path / "a"), (configured, tmp_path / "b")):
        home.mkdir()
        config = settings(webhooks=[webhook.url], webhook_secret=secret, alert_log=False)
        events.open_event(new_event(source_id), AlertDispatcher.targets(config))
        assert AlertDispatcher(events, config, home).run_once() == 1
    old_style, new_style = webhook.received
    assert verify_signature("s3cret", old_style.headers[SIGNATURE_HEADER], old_style.body)
    Webhook((tmp_path / "a" / SECRET_FILE).read_text().strip()).verify(
        old_style.body, old_style.headers
    )
    Webhook(configured).verify(new_style.body, new_style.headers)
    assert not (tmp_path / "b" / SECRET_FILE).exists()
    assert new_style.headers["webhook-id"] != old_style.headers["webhook-id"]
