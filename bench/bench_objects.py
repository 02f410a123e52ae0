"""Object structuring throughput: frame-only indexing vs frames + objects, same frames.

Indexes the first 30 s of the real clip (one frame a second, no dedup) twice into
fresh workspaces with the same embedder instance (loaded once, warmed up):
1. frame-only: decode -> sample -> embed -> thumbnails -> catalog -> index;
2. frames + objects: the same, then the object pass (decode again, SSD detection,
   crop thumbnails, crop embeddings in batches, catalog, objects index).
Prints frames/s of each, objects per frame, and the ratio objects / frame-only.

Usage: .venv/bin/python bench/bench_objects.py [--embedder auto] [--seconds 30] [--json out.json]
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
from vigil.settings import EmbedderSettings, SamplingSettings, Settings
from vigil.workspace import Workspace


def run_once(
    embedder: Embedder, video: Path, frames: int, home: Path, *, objects: bool
) -> tuple[int, int, float]:
    """Frames indexed, objects stored and wall seconds for one fresh workspace."""
    settings = Settings(
        home=home,
        embedder=EmbedderSettings(name=embedder.name),
        sampling=SamplingSettings(interval_s=1.0, dedup_threshold=0.0),
    )
    with Workspace.open(settings, embedder=embedder) as workspace:
        workspace.add_source(str(video), name="walkway")
        if objects:
            _ = workspace.detector  # load outside the timing, like the embedder
        started = time.perf_counter()
        [report] = workspace.index(max_frames=frames, objects=objects)
        seconds = time.perf_counter() - started
    stored = report.objects.objects_stored if report.objects is not None else 0
    return report.frames_written, stored, seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--embedder", default="auto")
    parser.add_argument("--video", type=Path, default=DEFAULT_VIDEO)
    parser.add_argument("--seconds", type=int, default=30, help="Media seconds (1 frame/s).")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)

    embedder = create_embedder(EmbedderSettings(name=args.embedder))
    embedder.embed_images([])  # nothing to embed: just make sure it is usable
    rows = []
    with tempfile.TemporaryDirectory(prefix="vigil-bench-objects-") as tmp:
        # Warm-up run (lazy init, OpenCV DNN first-call cost), not reported.
        run_once(embedder, args.video, 3, Path(tmp) / "warm", objects=True)
        for objects in (False, True):
            frames, stored, seconds = run_once(
                embedder, args.video, args.seconds, Path(tmp) / f"ws-{objects}", objects=objects
            )
            rows.append(
                {
                    "mode": "frames + objects" if objects else "frames only",
                    "frames": frames,
                    "objects": stored,
                    "seconds": round(seconds, 2),
                    "frames_per_s": round(frames / seconds, 2),
                }
            )
    ratio = rows[1]["frames_per_s"] / rows[0]["frames_per_s"]
    print(f"embedder: {embedder.describe()}; video: {args.video.name}, first {args.seconds} s")
    print(f"{'mode':<18} {'frames':>6} {'objects':>8} {'obj/frame':>9} {'s':>7} {'frames/s':>9}")
    for row in rows:
        per_frame = int(row["objects"]) / max(int(row["frames"]), 1)
        print(
            f"{row['mode']:<18} {row['frames']:>6} {row['objects']:>8} {per_frame:>9.1f} "
            f"{row['seconds']:>7.2f} {row['frames_per_s']:>9.2f}"
        )
    print(f"ratio (frames + objects) / (frames only): {ratio:.2f}")
    if args.json is not None:
        args.json.write_text(json.dumps({"rows": rows, "ratio": round(ratio, 3)}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
