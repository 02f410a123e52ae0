"""Indexing throughput vs the bare model, and memory while indexing a one-hour video.

Prints two tables:
1. frames/s of the whole pipeline (decode -> sample -> embed -> thumbnails -> catalog ->
   vector index) on the real clip vs the bare model embedding the very same frames
   already decoded in memory, in the same run; overhead = 1 - pipeline / bare.
2. resident memory at 10 %, 50 % and 100 % of a one-hour video (the real clip remuxed
   end to end), indexed with the same pipeline: it must not grow with length.

Usage: .venv/bin/python bench/bench_index.py [--embedder auto] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from bench_decode import DEFAULT_VIDEO, build_long_video, rss_mib
from vigil.embedders import create_embedder
from vigil.settings import EmbedderSettings, SamplingSettings, Settings
from vigil.sources import SourceKind, SourceSpec, open_frames, sample_frames
from vigil.structure.indexing import IndexProgress
from vigil.workspace import Workspace


def bare_model_fps(embedder: Any, video: Path, sampling: SamplingSettings) -> tuple[int, float]:
    """Embed exactly the frames the pipeline keeps, already decoded, in model batches."""
    spec = SourceSpec(name="bench", kind=SourceKind.VIDEO, location=str(video))
    with open_frames(spec) as reader:
        images = [frame.image for frame in sample_frames(reader, sampling)]
    embedder.embed_images(images[: embedder.batch_size])  # warm-up: lazy init, caches
    started = time.perf_counter()
    embedder.embed_images(images)
    return len(images), len(images) / (time.perf_counter() - started)


def pipeline_fps(
    embedder: Any, video: Path, sampling: SamplingSettings, home: Path
) -> tuple[int, float]:
    settings = Settings(home=home, sampling=sampling)
    with Workspace.open(settings, embedder=embedder) as workspace:
        workspace.add_source(str(video), name="bench")
        [report] = workspace.index()
    return report.frames_written, report.frames_per_second


def hour_memory(embedder: Any, video: Path, interval: float, home: Path) -> dict[str, Any]:
    long_video = home / "one-hour.mkv"
    copies, duration = build_long_video(video, long_video, 3600.0)
    marks: dict[str, Any] = {"start": {"rss_mib": round(rss_mib()[0], 1)}}

    def record(progress: IndexProgress) -> None:
        for fraction in (0.1, 0.5, 1.0):
            key = f"{int(fraction * 100)}%"
            if key not in marks and progress.media_time >= fraction * duration - interval:
                current, peak = rss_mib()
                marks[key] = {
                    "media_time_s": round(progress.media_time, 1),
                    "frames": progress.frames_written,
                    "rss_mib": round(current, 1),
                    "peak_rss_mib": round(peak, 1),
                }

    settings = Settings(
        home=home / "workspace", sampling=SamplingSettings(interval_s=interval, dedup_threshold=0.0)
    )
    with Workspace.open(settings, embedder=embedder) as workspace:
        workspace.add_source(str(long_video), name="hour")
        [report] = workspace.index(on_progress=record)
    return {
        "copies": copies,
        "duration_s": round(duration, 1),
        "interval_s": interval,
        "frames": report.frames_written,
        "seconds": round(report.seconds, 1),
        "rss": marks,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--video", type=Path, default=DEFAULT_VIDEO)
    parser.add_argument("--embedder", default="auto")
    parser.add_argument("--interval", type=float, default=1.0, help="sampling interval, s")
    parser.add_argument(
        "--hour-interval", type=float, default=10.0, help="interval for the 1 h run"
    )
    parser.add_argument("--skip-hour", action="store_true")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    embedder = create_embedder(EmbedderSettings(name=args.embedder))
    sampling = SamplingSettings(interval_s=args.interval, dedup_threshold=0.0)
    results: dict[str, Any] = {"embedder": embedder.describe(), "cpu_count": os.cpu_count()}
    with tempfile.TemporaryDirectory() as scratch:
        frames, bare = bare_model_fps(embedder, args.video, sampling)
        written, pipeline = pipeline_fps(embedder, args.video, sampling, Path(scratch) / "ws")
        results["throughput"] = {
            "frames": frames,
            "bare_model_fps": round(bare, 2),
            "pipeline_fps": round(pipeline, 2),
            "pipeline_frames": written,
            "overhead_pct": round(100 * (1 - pipeline / bare), 1),
        }
        if not args.skip_hour:
            results["hour"] = hour_memory(embedder, args.video, args.hour_interval, Path(scratch))

    print(f"embedder: {results['embedder']}   cores: {results['cpu_count']}")
    t = results["throughput"]
    print("\n| frames | bare model frames/s | pipeline frames/s | overhead |")
    print("|---:|---:|---:|---:|")
    print(
        f"| {t['frames']} | {t['bare_model_fps']} | {t['pipeline_fps']} | {t['overhead_pct']} % |"
    )
    if "hour" in results:
        hour = results["hour"]
        print(
            f"\none-hour video ({hour['copies']} x vtest.avi remuxed, {hour['duration_s']} s), "
            f"interval {hour['interval_s']} s: {hour['frames']} frames in {hour['seconds']} s"
        )
        print("| point | media time s | frames | RSS MiB | peak RSS MiB |")
        print("|---|---:|---:|---:|---:|")
        for key, mark in hour["rss"].items():
            print(
                f"| {key} | {mark.get('media_time_s', '')} | {mark.get('frames', '')} | "
                f"{mark['rss_mib']} | {mark.get('peak_rss_mib', '')} |"
            )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
