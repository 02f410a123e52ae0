"""Tracking pass throughput next to frame-only indexing, on the same media seconds.

Indexes the first N seconds of the real clip (one frame a second, no dedup) into a
fresh workspace, then tracks the same seconds at the tracking rate; a third run
tracks after ``index --objects`` so the object pass's detections are reused.
Prints media seconds per wall second of each, SSD runs, crops embedded and tracks.

Usage: .venv/bin/python bench/bench_tracks.py [--embedder auto] [--seconds 10] [--rate 5]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from bench_decode import DEFAULT_VIDEO
from vigil.embedders import create_embedder
from vigil.embedders.base import Embedder
from vigil.settings import EmbedderSettings, SamplingSettings, Settings, TrackSettings
from vigil.tracks import build_tracks
from vigil.workspace import Workspace


def run_once(
    embedder: Embedder, video: Path, seconds: float, rate: float, home: Path, *, objects: bool
) -> dict[str, object]:
    settings = Settings(
        home=home,
        embedder=EmbedderSettings(name=embedder.name),
        sampling=SamplingSettings(interval_s=1.0, dedup_threshold=0.0),
        tracks=TrackSettings(rate_fps=rate),
    )
    with Workspace.open(settings, embedder=embedder) as workspace:
        source = workspace.add_source(str(video), name="walkway")
        _ = workspace.detector
        started = time.perf_counter()
        workspace.index(max_frames=int(seconds), objects=objects)
        index_s = time.perf_counter() - started
        report = build_tracks(
            source,
            catalog=workspace.catalog,
            detector=workspace.detector,
            embedder=embedder,
            settings=settings.tracks,
            home=workspace.home,
            max_seconds=seconds,
        )
    return {
        "index_mode": "frames + objects" if objects else "frames only",
        "index_media_s_per_s": round(seconds / index_s, 3),
        "tracks_media_s_per_s": round(report.realtime_factor, 3),
        "frames_tracked": report.frames_tracked,
        "frames_detected": report.frames_detected,
        "frames_reused": report.frames_reused,
        "tracks": report.tracks_stored,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--embedder", default="auto")
    parser.add_argument("--video", type=Path, default=DEFAULT_VIDEO)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=5.0, help="Tracking frames per second.")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    embedder = create_embedder(EmbedderSettings(name=args.embedder))
    embedder.embed_images([])
    with tempfile.TemporaryDirectory(prefix="vigil-bench-tracks-") as tmp:
        run_once(embedder, args.video, 2, args.rate, Path(tmp) / "warm", objects=False)
        rows = [
            run_once(embedder, args.video, args.seconds, args.rate, Path(tmp) / f"ws{k}", objects=k)
            for k in (False, True)
        ]
    print(
        f"embedder: {embedder.describe()}; {args.video.name}, first {args.seconds:g} s, "
        f"tracking at {args.rate:g} fps"
    )
    for row in rows:
        print(json.dumps(row))
    if args.json is not None:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
