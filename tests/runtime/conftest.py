"""Fixtures for the runtime: a real ONNX classifier, a real-time loopback stream, a webhook."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.runtime.helpers import StreamServer, WebhookReceiver, build_lite0_classifier, write_ts
from vigil.embedders.base import Embedder, create_embedder
from vigil.errors import ModelUnavailableError
from vigil.runtime.scorers import OnnxScorer
from vigil.settings import EmbedderSettings, RuntimeSettings, Settings


@pytest.fixture(scope="session")
def runtime_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("runtime")


@pytest.fixture(scope="session")
def lite0_onnx(runtime_dir: Path) -> Path:
    """EfficientNet-Lite0 (real ImageNet weights) as a Vigil ONNX classifier, 6 classes."""
    return build_lite0_classifier(runtime_dir / "walkway.onnx")


@pytest.fixture(scope="session")
def lite0_scorer(lite0_onnx: Path) -> OnnxScorer:
    return OnnxScorer(lite0_onnx)


@pytest.fixture(scope="session")
def clip_ts(vtest_path: Path, runtime_dir: Path) -> Path:
    """The real clip as MPEG-TS, the usual container of HTTP camera streams."""
    return write_ts(vtest_path, runtime_dir / "clip.ts")


@pytest.fixture(scope="session")
def concept_bridge() -> Embedder:
    """The real default big model, loaded once per test session."""
    try:
        return create_embedder(EmbedderSettings(name="concept-bridge"))
    except ModelUnavailableError as error:
        pytest.fail(f"bundled concept-bridge weights missing: {error}")


@pytest.fixture
def stream_server(clip_ts: Path) -> Iterator[StreamServer]:
    server = StreamServer(clip_ts.parent)
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def webhook() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver(fail_first=2)
    try:
        yield receiver
    finally:
        receiver.close()


def runtime_settings(home: Path, **runtime: object) -> Settings:
    """Fast timings: events after 1 s, closed after 1.5 s quiet; retries after ~0.1 s."""
    values: dict[str, object] = {
        "rate_fps": 2.0,
        "on_threshold": 0.4,
        "off_threshold": 0.25,
        "min_duration_s": 1.0,
        "quiet_period_s": 1.5,
        "backoff_base_s": 0.1,
        "backoff_max_s": 0.5,
        "reconnect_base_s": 0.2,
        "reconnect_max_s": 1.0,
        "webhook_secret": "s3cret",
    }
    values.update(runtime)
    return Settings(
        home=home,
        embedder=EmbedderSettings(name="fake"),
        runtime=RuntimeSettings.model_validate(values),
    )
