"""Events on MQTT, shaped like Frigate's ``frigate/events`` so its consumers need no adapter.

Home Assistant automations, Node-RED flows and Frigate's own integrations read
``{"type": "new" | "update" | "end", "before": {...}, "after": {...}}`` from one topic;
Vigil publishes the same shape to ``vigil/events`` (``runtime.mqtt_topic``). ``after``
is the event now, ``before`` as the previous message described it (equal to ``after``
in a "new" message, as in Frigate). The Frigate keys (``id``, ``camera``, ``label``,
``top_score``, ``start_time``, ``end_time`` in Unix seconds, ``has_snapshot``...) come
first; Vigil's own (scenario, model, media time, evidence paths) sit beside them.

Messages leave through the alert outbox like webhooks: each one is published with
QoS 1 and counted as delivered only once the broker acknowledges it, so a broker that
is down gets it on a later attempt (at least once, never lost).
"""

from __future__ import annotations

import json
import threading
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from vigil.errors import InvalidInputError

FRIGATE_TYPES = {"event.started": "new", "event.updated": "update", "event.ended": "end"}
DEFAULT_PORT = 1883


def broker_address(target: str) -> tuple[str, int]:
    """``mqtt://host[:port]`` -> (host, port); anything else is a clear error."""
    parts = urlsplit(target)
    if parts.scheme != "mqtt" or not parts.hostname:
        raise InvalidInputError(f"MQTT broker must be mqtt://HOST[:PORT], got {target!r}")
    try:
        port = parts.port or DEFAULT_PORT
    except ValueError as error:
        raise InvalidInputError(f"MQTT broker {target!r}: {error}") from None
    return parts.hostname, port


def _epoch(value: str | None) -> float | None:
    return datetime.fromisoformat(value).timestamp() if value else None


def frigate_event(event: dict[str, Any]) -> dict[str, Any]:
    """One Vigil event (``EventRecord.to_dict``) in Frigate's event vocabulary."""
    evidence = event.get("evidence") or {}
    return {
        "id": str(event["id"]),
        "camera": event["source"],
        "label": event["class"],
        "sub_label": event["scenario"],
        "score": event["peak_score"],
        "top_score": event["peak_score"],
        "start_time": _epoch(event["started_at"]),
        "end_time": _epoch(event.get("ended_at")),
        "has_snapshot": bool(evidence.get("thumbnail")),
        "has_clip": False,
        "false_positive": False,
        "vigil": {
            "scenario": event["scenario"],
            "model_id": event["model_id"],
            "status": event["status"],
            "frames": event["frames"],
            "media_time_s": event.get("media_time_s", {}),
            "evidence": evidence,
        },
    }


def frigate_message(payload: dict[str, Any]) -> dict[str, Any]:
    """An outbox payload (``type``, ``event``, ``before``) as a Frigate events message."""
    kind = payload["type"]
    if kind not in FRIGATE_TYPES:
        raise InvalidInputError(f"not an event alert: {kind!r}")
    after = frigate_event(payload["event"])
    before_event = payload.get("before")
    before = frigate_event(before_event) if isinstance(before_event, dict) else after
    return {"type": FRIGATE_TYPES[kind], "before": before, "after": after}


class MqttPublisher:
    """One connected paho client per broker, reused across messages; thread-safe."""

    def __init__(self, topic: str, *, timeout_s: float = 5.0) -> None:
        if not topic or any(c in topic for c in "#+"):
            raise InvalidInputError(f"MQTT topic must be a plain topic name, got {topic!r}")
        self.topic = topic
        self.timeout_s = timeout_s
        self._clients: dict[tuple[str, int], Any] = {}
        self._lock = threading.Lock()

    def publish(self, target: str, payload: dict[str, Any]) -> str | None:
        """Publish one alert; None once the broker acknowledged it, else why not."""
        body = json.dumps(frigate_message(payload), sort_keys=True)
        with self._lock:
            try:
                client = self._client(broker_address(target))
                info = client.publish(self.topic, body, qos=1)
                info.wait_for_publish(timeout=self.timeout_s)
            except (OSError, RuntimeError, ValueError) as error:
                self._drop(target)
                return f"MQTT {target}: {type(error).__name__}: {error}"
            if not info.is_published():
                self._drop(target)
                return f"MQTT {target}: no acknowledgement within {self.timeout_s:g}s"
        return None

    def _client(self, address: tuple[str, int]) -> Any:
        client = self._clients.get(address)
        if client is None:
            import paho.mqtt.client as mqtt
            from paho.mqtt.enums import CallbackAPIVersion

            client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="", protocol=mqtt.MQTTv311)
            client.connect(address[0], address[1], keepalive=30)
            client.loop_start()
            self._clients[address] = client
        return client

    def _drop(self, target: str) -> None:
        try:
            address = broker_address(target)
        except InvalidInputError:
            return
        client = self._clients.pop(address, None)
        if client is not None:
            client.loop_stop()
            client.disconnect()

    def close(self) -> None:
        with self._lock:
            for client in self._clients.values():
                client.disconnect()
                client.loop_stop()
            self._clients.clear()


__all__ = ["MqttPublisher", "broker_address", "frigate_event", "frigate_message"]
