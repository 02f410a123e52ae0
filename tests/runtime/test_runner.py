"""The runner on real parts: the real clip as a real-time HTTP stream on loopback (dropped
and restored mid-run), as an archive file and as an image folder, with the real Lite0 ONNX
model and a loopback webhook receiver."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import av
import cv2
import pytest
from typer.testing import CliRunner

from tests.runtime.conftest import runtime_settings
from tests.runtime.helpers import StreamServer, WebhookReceiver
from vigil.catalog.events_store import EventStore
from vigil.cli.main import app
from vigil.embedders.base import Embedder
from vigil.runtime.alerts import ALERT_LOG, SIGNATURE_HEADER, verify_signature
from vigil.runtime.runner import LatestFrameBuffer, Runner
from vigil.runtime.scorers import ZeroShotScorer
from vigil.sources.types import SourceKind
from vigil.workspace import Workspace


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def test_latest_frame_buffer_drops_the_oldest_when_live() -> None:
    import numpy as np

    from vigil.runtime.runner import _Item
    from vigil.sources.types import Frame

    image = np.zeros((2, 2, 3), dtype=np.uint8)
    items = [_Item(Frame(index=i, media_time=i, image=image), float(i), 0.0) for i in range(3)]
    live = LatestFrameBuffer()
    assert [live.put(item) for item in items] == [False, True, True]
    got = live.get(0.1)
    assert got is not None and got.frame.index == 2  # only the newest survives
    assert live.get(0.01) is None
    live.close()
    assert live.put(items[0]) is False and live.get(0.01) is None


def test_stream_drop_and_reconnect_with_events_and_signed_webhooks(
    tmp_path: Path, lite0_onnx: Path, stream_server: StreamServer, webhook: WebhookReceiver
) -> None:
    settings = runtime_settings(tmp_path / "ws", webhooks=[webhook.url])
    with Workspace.open(settings) as workspace:
        workspace.add_source(stream_server.url("clip.ts"), name="gate", check=False)
        runner = workspace.runner([str(lite0_onnx)], ["gate"])
        runner.start()
        try:
            wait_for(lambda: runner.health()[0].frames_processed >= 8, 20, "first frames")
            before = runner.health()[0]
            assert before.connected and before.reconnects == 0
            stream_server.cut(down_s=1.5)  # the camera goes away and refuses connections
            wait_for(lambda: not runner.health()[0].connected, 10, "the drop to be seen")
            wait_for(lambda: runner.health()[0].reconnects >= 1, 20, "a reconnect")
            processed = runner.health()[0].frames_processed
            wait_for(lambda: runner.health()[0].frames_processed >= processed + 8, 20, "frames")
            wait_for(lambda: len(webhook.received) >= 1, 30, "a webhook")
            during = runner.health()[0]
        finally:
            runner.stop()
        events = workspace.list_events(source="gate")
    assert during.connected and during.reconnects >= 1
    assert 1.2 <= during.fps_processed <= 2.6, during
    assert during.lag_s < 1.0, during  # Lite0 keeps up: frames are scored as they arrive
    assert during.last_error is not None  # the drop (or the 503 while down) is reported
    assert stream_server.requests >= 2
    # Events: stored, queryable, with evidence on disk; the run's end closed open ones.
    assert events and all(event.status == "closed" for event in events)
    for event in events:
        assert event.ended_at is not None and event.ended_at >= event.started_at
        assert (event.ended_at - event.started_at).total_seconds() >= 1.0  # min_duration_s
        assert 0.4 <= event.peak_score <= 1.0
        best = cv2.imread(str(settings.home / str(event.thumbnail_path)))
        strip = cv2.imread(str(settings.home / str(event.strip_path)))
        assert best is not None and best.shape[1] == 320
        assert strip is not None and strip.shape[0] == 120 and strip.shape[1] >= 160
    # Webhooks: signed, retried past the receiver's two failures, every one delivered.
    assert webhook.rejected == 2
    for got in webhook.received:
        assert verify_signature("s3cret", got.headers[SIGNATURE_HEADER], got.body)
    kinds = [json.loads(got.body)["type"] for got in webhook.received]
    assert "event.started" in kinds
    log_lines = (settings.home / ALERT_LOG).read_text().splitlines()
    kinds_logged = [json.loads(line)["type"] for line in log_lines]
    # started + ended for each event, plus 'event.updated' for better peaks along the way
    assert kinds_logged.count("event.started") == kinds_logged.count("event.ended") == len(events)
    assert set(kinds_logged) <= {"event.started", "event.updated", "event.ended"}


def test_archive_file_is_scored_at_the_rate_without_dropping(
    tmp_path: Path, lite0_onnx: Path, vtest_path: Path
) -> None:
    settings = runtime_settings(tmp_path / "ws")
    with Workspace.open(settings) as workspace:
        workspace.add_source(str(vtest_path), name="walkway")
        runner = workspace.runner([str(lite0_onnx)], ["walkway"], realtime=False)
        [health] = runner.run(duration_s=60)
        events = workspace.list_events(source="walkway", scenario="walkway-imagenet")
        poles = workspace.list_events(class_name="pole")
    # 795 frames at 10 fps = 79.5 s of media, scored at 2 frames per media second.
    assert health.finished and not health.connected
    assert health.frames_in == 795
    assert health.frames_processed == 159 and health.frames_dropped == 0
    assert events and {event.class_name for event in events} >= {"pole"}
    assert {e.id for e in poles} <= {e.id for e in events}
    assert all(e.class_name == "pole" for e in poles)
    times = [event.started_at for event in events]
    assert times == sorted(times, reverse=True)  # newest first
    for event in events:  # media time: where in the video to look, for every event
        media = event.details["media_time_s"]
        assert 0.0 <= media["start"] <= media["peak"] <= media["end"] <= 79.5, media
        assert event.to_dict()["evidence"]["thumbnail"] == f"/api/v1/events/{event.id}/thumbnail"


def test_unreadable_images_are_skipped_and_counted(
    tmp_path: Path, lite0_onnx: Path, vtest_path: Path
) -> None:
    folder = tmp_path / "stills"
    folder.mkdir()
    with av.open(str(vtest_path)) as container:
        for position, frame in enumerate(container.decode(video=0)):
            if position % 50 == 0:
                frame.to_image().save(folder / f"{position:04d}.jpg")
            if position >= 400:
                break
    data = (folder / "0100.jpg").read_bytes()
    (folder / "0100.jpg").write_bytes(data[: len(data) // 3])  # an interrupted copy
    (folder / "0150.jpg").write_bytes(b"")  # an empty file
    settings = runtime_settings(tmp_path / "ws", rate_fps=10.0)
    with Workspace.open(settings) as workspace:
        source = workspace.add_source(str(folder), name="stills")
        assert source.kind == SourceKind.IMAGES
        [health] = workspace.runner([str(lite0_onnx)], ["stills"], realtime=False).run(30)
    assert health.finished
    assert health.corrupt_frames >= 1
    assert health.frames_in + health.corrupt_frames == 9
    assert health.last_error is not None


def test_restart_closes_interrupted_events_and_resumes_alerts(
    tmp_path: Path, lite0_onnx: Path, stream_server: StreamServer, webhook: WebhookReceiver
) -> None:
    """A `vigil run` process killed with SIGKILL mid-event; the next run cleans up after it."""
    home = tmp_path / "ws"
    webhook.fail_first = 10_000  # the receiver is down during the first run
    settings = runtime_settings(home, webhooks=[webhook.url], quiet_period_s=30.0)
    with Workspace.open(settings) as workspace:
        workspace.add_source(stream_server.url("clip.ts"), name="gate", check=False)
    env = {
        **os.environ,
        "VIGIL_HOME": str(home),
        "VIGIL_EMBEDDER__NAME": "fake",
        **{
            f"VIGIL_RUNTIME__{key.upper()}": json.dumps(value)
            if not isinstance(value, str)
            else value
            for key, value in settings.runtime.model_dump().items()
            if value is not None
        },
    }
    log = tmp_path / "run.log"
    vigil = Path(sys.executable).parent / "vigil"  # the installed console script
    command = [str(vigil), "run", "--model", str(lite0_onnx)]
    with log.open("wb") as output:
        process = subprocess.Popen(
            [*command, "--source", "gate", "--health-every", "1"],
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        with Workspace.open(settings) as watcher:
            wait_for(
                lambda: bool(watcher.list_events(status="open")) and webhook.rejected >= 1,
                40,
                f"an open event with a failed delivery; log: {log.read_text()}",
            )
            [open_event] = watcher.list_events(status="open")[:1]
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
    webhook.fail_first = 0
    webhook.rejected = 0
    with Workspace.open(runtime_settings(home, webhooks=[webhook.url])) as workspace:
        runner = workspace.runner([str(lite0_onnx)], ["gate"])
        runner.start()
        try:
            wait_for(lambda: len(webhook.received) >= 1, 20, "the resumed delivery")
        finally:
            runner.stop()
        closed = workspace.get_event(open_event.id)
    assert open_event.id in runner.interrupted
    assert closed.status == "interrupted" and closed.ended_at == closed.last_seen_at
    resumed = [json.loads(got.body) for got in webhook.received]
    assert any(
        body["type"] == "event.started" and body["event"]["id"] == open_event.id for body in resumed
    )


def test_cli_run_and_events(tmp_path: Path, lite0_onnx: Path, vtest_path: Path) -> None:
    home = tmp_path / "ws"
    settings = runtime_settings(home)
    with Workspace.open(settings) as workspace:
        workspace.add_source(str(vtest_path), name="walkway")
    cli = CliRunner()
    env = {
        "VIGIL_EMBEDDER__NAME": "fake",
        "VIGIL_RUNTIME__ON_THRESHOLD": "0.4",
        "VIGIL_RUNTIME__OFF_THRESHOLD": "0.25",
    }
    result = cli.invoke(
        app,
        [
            "--home",
            str(home),
            "run",
            "--model",
            str(lite0_onnx),
            "--source",
            "walkway",
            "--archive",
            "--class",
            "pole",
            "--health-every",
            "1",
        ],
        env=env,
    )
    assert result.exit_code == 0, result.output
    assert "walkway" in result.output and "finished" in result.output
    listed = cli.invoke(app, ["--home", str(home), "events", "list", "--json"], env=env)
    assert listed.exit_code == 0, listed.output
    rows = [json.loads(line) for line in listed.output.splitlines()]
    assert rows and {row["class"] for row in rows} == {"pole"}
    shown = cli.invoke(app, ["--home", str(home), "events", "show", str(rows[0]["id"])], env=env)
    assert shown.exit_code == 0, shown.output
    detail = json.loads(shown.output)
    assert Path(detail["thumbnail_path"]).is_file()
    assert {d["target"] for d in detail["deliveries"]} == {"log"}
    missing = cli.invoke(app, ["--home", str(home), "events", "show", "999"], env=env)
    assert missing.exit_code == 1 and "no event with id 999" in missing.output
    bad = cli.invoke(
        app,
        [
            "--home",
            str(home),
            "run",
            "--model",
            str(lite0_onnx),
            "--source",
            "walkway",
            "--class",
            "giraffe",
        ],
        env=env,
    )
    assert bad.exit_code == 1 and "giraffe" in bad.output


@pytest.mark.real_model
def test_a_slow_model_drops_frames_and_reports_lag_instead_of_queueing(
    tmp_path: Path, concept_bridge: Embedder, stream_server: StreamServer
) -> None:
    """The big model (~85 ms/frame) asked for 3 x 6 frames/s on 2 cores cannot keep up."""
    scorer = ZeroShotScorer(
        concept_bridge, {"people": ["a photo of people"], "dog": ["a photo of a dog"]}
    )
    settings = runtime_settings(tmp_path / "ws", rate_fps=6.0)
    with Workspace.open(settings) as workspace:
        for i in range(3):
            workspace.add_source(stream_server.url("clip.ts"), name=f"cam{i}", check=False)
        sources = [workspace.get_source(f"cam{i}") for i in range(3)]
        runner = Runner(
            sources,
            [scorer],
            EventStore(workspace.catalog.engine),
            settings.runtime,
            settings.home,
        )
        runner.start()
        try:
            time.sleep(8)
            health = runner.health()
        finally:
            runner.stop()
    assert all(h.connected and h.frames_in >= 50 for h in health), health
    assert sum(h.frames_dropped for h in health) > 0
    assert sum(h.fps_processed for h in health) < 3 * 6.0
    # The buffer holds one frame, so lag stays about one scoring round, never seconds.
    assert max(h.lag_s for h in health) < 1.5, health
