"""How many real-time camera streams one machine sustains, and frame -> webhook latency.

Real parts only: N copies of the real clip (vtest.avi, 768x576, 10 fps, re-encoded to
MPEG-TS) are played in real time by a loopback HTTP server; ``vigil.runtime.Runner``
reads every stream (one reader + one scorer thread each), scores 2 frames/s per
stream and stores events; a loopback webhook receiver records the alerts.

Models, side by side:
  * small: EfficientNet-Lite0 (real ImageNet weights) exported to ONNX at 160x160,
    statically quantised to INT8 (QDQ, per-channel) on 16 real frames of the clip;
    the stand-in for a distilled scenario model until the registry holds one;
  * big: the concept-bridge image-text model, zero-shot over three class prompts.

A stream count is sustained when every stream is scored at >= 1.9 frames/s over the
measurement window and the p95 lag (frame decoded -> scores ready) stays under 1 s.
N doubles until it is not, then the largest sustained N is reported.

Latency: one stream per model with min_duration 0 and quiet period 0 so that events
start often; latency = webhook receipt time - the trigger frame's receipt time.

    python bench/bench_runtime.py [--window 8] [--json bench-runtime.json]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))  # the real-part builders live beside the tests

from tests.runtime.helpers import (  # noqa: E402
    StreamServer,
    WebhookReceiver,
    build_lite0_classifier,
    decode_frames,
    quantize_int8,
    write_ts,
)

from vigil.catalog.events_store import EventStore  # noqa: E402
from vigil.embedders.base import create_embedder  # noqa: E402
from vigil.runtime.runner import Runner  # noqa: E402
from vigil.runtime.scorers import OnnxScorer, Scorer, ZeroShotScorer  # noqa: E402
from vigil.settings import EmbedderSettings, RuntimeSettings, Settings  # noqa: E402
from vigil.sources.sample_data import sample_video  # noqa: E402
from vigil.workspace import Workspace  # noqa: E402

DEFAULT_VIDEO = sample_video()
RATE = 2.0
WARMUP_S = 3.0
MIN_FPS = 1.9
MAX_P95_LAG_S = 1.0


def run_streams(
    scorer: Scorer,
    server: StreamServer,
    n: int,
    window_s: float,
    home: Path,
    runtime: RuntimeSettings,
) -> dict[str, Any]:
    """Run ``n`` streams for warm-up + window; per-stream processed fps and lag."""
    settings = Settings(home=home, embedder=EmbedderSettings(name="fake"), runtime=runtime)
    with Workspace.open(settings) as workspace:
        names = [f"cam{i}" for i in range(n)]
        for name in names:
            workspace.add_source(server.url("clip.ts"), name=name, check=False)
        sources = [workspace.get_source(name) for name in names]
        runner = Runner(sources, [scorer], EventStore(workspace.catalog.engine), runtime, home)
        runner.start()
        try:
            time.sleep(WARMUP_S)
            start = {h.source: h.frames_processed for h in runner.health()}
            dropped0 = {h.source: h.frames_dropped for h in runner.health()}
            lags: list[float] = []
            t0 = time.monotonic()
            while time.monotonic() - t0 < window_s:
                time.sleep(0.25)
                lags.extend(h.lag_s for h in runner.health() if h.frames_processed)
            elapsed = time.monotonic() - t0
            end = runner.health()
        finally:
            runner.stop(drain_s=0.5)
    fps = [(h.frames_processed - start[h.source]) / elapsed for h in end]
    dropped = sum(h.frames_dropped - dropped0[h.source] for h in end)
    p95_lag = float(np.percentile(lags, 95)) if lags else float("nan")
    return {
        "streams": n,
        "min_fps": min(fps),
        "mean_fps": float(np.mean(fps)),
        "p95_lag_s": p95_lag,
        "dropped": dropped,
        "sustained": min(fps) >= MIN_FPS and p95_lag < MAX_P95_LAG_S,
    }


def max_streams(
    label: str,
    scorer: Scorer,
    server: StreamServer,
    counts: list[int],
    window_s: float,
    root: Path,
) -> list[dict[str, Any]]:
    rows = []
    runtime = RuntimeSettings(rate_fps=RATE, alert_log=False, on_threshold=0.99, off_threshold=0.9)
    for n in counts:
        row = run_streams(scorer, server, n, window_s, root / f"{label}-{n}", runtime)
        row["model"] = label
        rows.append(row)
        print(
            f"  {label:<6} N={n:<3} min fps {row['min_fps']:.2f}  mean {row['mean_fps']:.2f}  "
            f"p95 lag {row['p95_lag_s']:.2f}s  dropped {row['dropped']}  "
            f"{'ok' if row['sustained'] else 'NOT sustained'}",
            flush=True,
        )
        if not row["sustained"]:
            break
    return rows


def latency(
    label: str,
    scorer: Scorer,
    server: StreamServer,
    seconds: float,
    root: Path,
    threshold: float,
) -> dict[str, Any]:
    """Frame receipt -> webhook receipt, for events started on one live stream."""
    receiver = WebhookReceiver()
    runtime = RuntimeSettings(
        rate_fps=RATE,
        on_threshold=threshold,
        off_threshold=threshold,
        min_duration_s=0.0,
        quiet_period_s=0.0,
        webhooks=[receiver.url],
        webhook_secret="bench",
        alert_log=False,
    )
    home = root / f"latency-{label}"
    settings = Settings(home=home, embedder=EmbedderSettings(name="fake"), runtime=runtime)
    from vigil.runtime.alerts import AlertDispatcher

    try:
        with Workspace.open(settings) as workspace:
            workspace.add_source(server.url("clip.ts"), name="cam", check=False)
            store = EventStore(workspace.catalog.engine)
            runner = Runner(
                [workspace.get_source("cam")],
                [scorer],
                store,
                runtime,
                home,
                dispatcher=AlertDispatcher(store, runtime, home),
            )
            runner.run(duration_s=seconds)
    finally:
        receiver.close()
    from datetime import datetime

    delays = []
    for got in receiver.received:
        body = json.loads(got.body)
        if body["type"] != "event.started":
            continue
        trigger = datetime.fromisoformat(body["event"]["details"]["trigger_frame_time"])
        delays.append((got.at - trigger.timestamp()) * 1000)
    return {
        "model": label,
        "alerts": len(delays),
        "p50_ms": float(np.percentile(delays, 50)) if delays else float("nan"),
        "p95_ms": float(np.percentile(delays, 95)) if delays else float("nan"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--video", type=Path, default=DEFAULT_VIDEO)
    parser.add_argument("--window", type=float, default=6.0, help="Measured seconds per N.")
    parser.add_argument("--small-counts", default="8,16,32,48,64,96")
    parser.add_argument("--big-counts", default="1,2,3,4,6")
    parser.add_argument("--latency-seconds", type=float, default=20.0)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    begun = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="vigil-bench-runtime-") as folder:
        root = Path(folder)
        print("preparing: Lite0 ONNX 160px -> INT8, MPEG-TS clip, concept-bridge ...", flush=True)
        fp32 = build_lite0_classifier(root / "lite0-160.onnx", input_size=160)
        calibration = decode_frames(args.video, every=50, limit=16)
        int8 = quantize_int8(fp32, root / "lite0-160-int8.onnx", calibration)
        write_ts(args.video, root / "clip.ts")
        small = OnnxScorer(int8, threads=1)
        big = ZeroShotScorer(
            create_embedder(EmbedderSettings(name="concept-bridge")),
            {
                "people": ["a photo of people"],
                "dog": ["a photo of a dog"],
                "boat": ["a photo of a boat"],
            },
            scenario="walkway",
        )
        frames = decode_frames(args.video, every=20, limit=40)
        per_frame = {}
        for label, scorer in (("int8", small), ("big", big)):
            scorer.score(frames[:1])
            t0 = time.perf_counter()
            for frame in frames[:10]:
                scorer.score([frame])
            per_frame[label] = (time.perf_counter() - t0) / 10 * 1000
        print(
            f"  one frame, one thread: int8 {per_frame['int8']:.1f} ms, "
            f"big {per_frame['big']:.1f} ms",
            flush=True,
        )
        server = StreamServer(root)
        try:
            print("max real-time streams at 2 processed frames/s each:", flush=True)
            rows = max_streams(
                "int8",
                small,
                server,
                [int(n) for n in args.small_counts.split(",") if n],
                args.window,
                root,
            )
            rows += max_streams(
                "big",
                big,
                server,
                [int(n) for n in args.big_counts.split(",") if n],
                args.window,
                root,
            )
            print("frame -> webhook latency (one stream):", flush=True)
            # Threshold at the median score of the first class over the frames the stream
            # will show (2 per second), so the score crosses it often and many events
            # start, each one alert.
            shown = decode_frames(args.video, every=5, limit=int(args.latency_seconds * 2))
            latencies = [
                latency(
                    label,
                    scorer,
                    server,
                    args.latency_seconds,
                    root,
                    float(np.median(scorer.score(shown)[:, 0])),
                )
                for label, scorer in (("int8", small), ("big", big))
            ]
        finally:
            server.close()
    best = {
        label: max(
            (r["streams"] for r in rows if r["model"] == label and r["sustained"]), default=0
        )
        for label in ("int8", "big")
    }
    print()
    print(f"{'model':<8}{'ms/frame':>10}{'max streams @2fps':>20}{'p50 ms':>10}{'p95 ms':>10}")
    for entry in latencies:
        label = entry["model"]
        print(
            f"{label:<8}{per_frame[label]:>10.1f}{best[label]:>20}"
            f"{entry['p50_ms']:>10.0f}{entry['p95_ms']:>10.0f}"
        )
    print(
        f"\n{os.cpu_count()} CPUs ({platform.processor() or platform.machine()}); "
        f"total {time.monotonic() - begun:.0f} s"
    )
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "per_frame_ms": per_frame,
                    "runs": rows,
                    "max_streams": best,
                    "latency": latencies,
                },
                indent=2,
            )
        )


if __name__ == "__main__":
    main()
