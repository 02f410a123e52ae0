"""Events on MQTT in Frigate's shape, through a real Mosquitto broker started on loopback."""

from __future__ import annotations

import json
import queue
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from tests.runtime.test_alerts import new_event, settings, store  # noqa: F401  (fixture)
from vigil.catalog.events_store import EventStore
from vigil.errors import InvalidInputError
from vigil.runtime.alerts import AlertDispatcher
from vigil.runtime.mqtt import broker_address

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Broker:
    """Debian's mosquitto on a free loopback port, anonymous, nothing persisted."""

    def __init__(self, folder: Path, port: int | None = None) -> None:
        if not Path(MOSQUITTO).exists():
            pytest.fail("mosquitto not installed (scripts/setup installs Debian's mosquitto)")
        self.port = port or free_port()
        config = folder / f"mosquitto-{self.port}.conf"
        config.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
        )
        self.process = subprocess.Popen(
            [MOSQUITTO, "-c", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "mosquitto did not start listening"
                time.sleep(0.05)

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    running = Broker(tmp_path)
    try:
        yield running
    finally:
        running.close()


class Subscriber:
    """A plain paho client on the events topic: what Home Assistant or Node-RED would run."""

    def __init__(self, port: int, topic: str = "vigil/events") -> None:
        self.messages: queue.Queue[dict[str, Any]] = queue.Queue()
        subscribed = queue.Queue[int]()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2)
        self.client.on_message = lambda _c, _u, message: self.messages.put(
            json.loads(message.payload)
        )
        self.client.on_subscribe = lambda *_: subscribed.put(1)
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        self.client.subscribe(topic, qos=1)
        subscribed.get(timeout=10)

    def take(self, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        return [self.messages.get(timeout=timeout) for _ in range(count)]

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def test_events_reach_a_real_broker_in_frigates_shape(
    store: tuple[EventStore, int],  # noqa: F811
    tmp_path: Path,
    broker: Broker,
) -> None:
    events, source_id = store
    config = settings(mqtt_brokers=[broker.url], alert_log=False, public_url="http://vigil.test")
    targets = AlertDispatcher.targets(config)
    dispatcher = AlertDispatcher(events, config, tmp_path, seed=3)
    listener = Subscriber(broker.port)
    try:
        start = new_event(source_id)
        record = events.open_event(start, targets)
        events.update_event(
            record.id,
            last_seen_at=start.started_at + timedelta(seconds=2),
            peak_score=0.81,
            peak_at=start.started_at + timedelta(seconds=2),
            frames=5,
            thumbnail_path=f"events/{record.id}/best.jpg",
            media={"peak": 14.0},
            targets=targets,
        )
        events.close_event(
            record.id,
            ended_at=start.started_at + timedelta(seconds=4),
            peak_score=0.81,
            peak_at=start.started_at + timedelta(seconds=2),
            frames=7,
            thumbnail_path=f"events/{record.id}/best.jpg",
            strip_path=f"events/{record.id}/strip.jpg",
            targets=targets,
            media={"end": 16.0},
        )
        assert dispatcher.run_once() == 3
        new, update, end = listener.take(3)
    finally:
        listener.close()
        dispatcher.stop(drain_s=0)
    assert [new["type"], update["type"], end["type"]] == ["new", "update", "end"]
    assert new["before"] == new["after"]  # as Frigate sends a new event
    assert update["before"] == new["after"] and end["before"] == update["after"]
    after = end["after"]
    assert after["id"] == str(record.id) and after["camera"] == "walkway"
    assert after["label"] == "pole" and after["top_score"] == pytest.approx(0.81)
    assert after["start_time"] == pytest.approx(start.started_at.timestamp())
    assert after["end_time"] == pytest.approx(start.started_at.timestamp() + 4)
    assert new["after"]["end_time"] is None and after["has_snapshot"]
    assert update["after"]["vigil"]["media_time_s"] == {"peak": 14.0}
    assert after["vigil"]["media_time_s"] == {"peak": 14.0, "end": 16.0}
    assert (
        after["vigil"]["evidence"]["strip"] == f"http://vigil.test/api/v1/events/{record.id}/strip"
    )
    assert {d.status for d in events.deliveries(record.id)} == {"delivered"}


def test_a_broker_that_is_down_gets_the_event_later(
    store: tuple[EventStore, int],  # noqa: F811
    tmp_path: Path,
) -> None:
    events, source_id = store
    port = free_port()
    config = settings(mqtt_brokers=[f"mqtt://127.0.0.1:{port}"], alert_log=False)
    dispatcher = AlertDispatcher(events, config, tmp_path, seed=4)
    record = events.open_event(new_event(source_id), AlertDispatcher.targets(config))
    assert dispatcher.run_once() == 0
    [pending] = events.deliveries(record.id)
    assert pending.status == "pending" and "MQTT" in (pending.last_error or "")
    late = Broker(tmp_path, port)
    listener = Subscriber(port)
    try:
        deadline = time.monotonic() + 10
        while dispatcher.run_once() == 0:
            assert time.monotonic() < deadline, "never delivered"
            time.sleep(0.1)
        [message] = listener.take(1)
    finally:
        listener.close()
        dispatcher.stop(drain_s=0)
        late.close()
    assert message["type"] == "new" and message["after"]["id"] == str(record.id)


@pytest.mark.parametrize("bad", ["127.0.0.1:1883", "mqtt://", "mqtt://host:notaport"])
def test_a_malformed_broker_is_refused_before_anything_runs(bad: str) -> None:
    with pytest.raises(InvalidInputError, match="MQTT broker"):
        broker_address(bad)
    with pytest.raises(InvalidInputError, match="MQTT broker"):
        AlertDispatcher.targets(settings(mqtt_brokers=[bad]))
