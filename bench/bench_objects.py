"""Object structuring throughput: frame-only indexing vs frames + objects, same frames.

Indexes the first 30 s of the real clip (one frame a second, no dedup) into fresh
workspaces with the same embedder instance (loaded once, warmed up), in three modes:
1. frames only: decode -> sample -> embed -> thumbnails -> catalog -> index;
2. frames + objects: the same, with the object stage inside the frame pass (the
   decoded frame is cropped, and the detections the embedder made are reused);
3. two passes (the path before): frames only, then ``index_objects`` (decode again,
   SSD again, crop, embed, store).
The modes run interleaved, ``--rounds`` times in rotated order, so the shared
machine's load hits them alike; medians, the load average of every round, and the
ratio objects / frames only (median of the per-round ratios).

Usage: .venv/bin/python bench/bench_objects.py [--embedder auto] [--seconds 30] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from bench_decode import DEFAULT_VIDEO
from vigil.embedders import create_embedder
from vigil.embedders.base import Embedder
from vigil.settings import EmbedderSettings, SamplingSettings, Settings
from vigil.workspace import Workspace


def run_once(
    embedder: Embedder, video: Path, frames: int, home: Path, *, mode: str
) -> tuple[int, int, float]:
    """Frames indexed, objects stored and wall seconds for one fresh workspace."""
    settings = Settings(
        home=home,
        embedder=EmbedderSettings(name=embedder.name),
        sampling=SamplingSettings(interval_s=1.0, dedup_threshold=0.0),
    )
    with Workspace.open(settings, embedder=embedder) as workspace:
        workspace.add_source(str(video), name="walkway")
        if mode != FRAMES_ONLY:
            _ = workspace.detector  # load outside the timing, like the embedder
        started = time.perf_counter()
        [report] = workspace.index(max_frames=frames, objects=mode == INLINE)
        if mode == TWO_PASSES:
            [report.objects] = workspace.index_objects(max_frames=frames)
        seconds = time.perf_counter() - started
    stored = report.objects.objects_stored if report.objects is not None else 0
    return report.frames_written, stored, seconds


FRAMES_ONLY = "frames only"
INLINE = "frames + objects"
TWO_PASSES = "two passes (before)"
MODES = (FRAMES_ONLY, INLINE, TWO_PASSES)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--embedder", default="auto")
    parser.add_argument("--video", type=Path, default=DEFAULT_VIDEO)
    parser.add_argument("--seconds", type=int, default=30, help="Media seconds (1 frame/s).")
    parser.add_argument("--rounds", type=int, default=3, help="Interleaved rounds.")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)

    embedder = create_embedder(EmbedderSettings(name=args.embedder))
    embedder.embed_images([])  # nothing to embed: just make sure it is usable
    per_round: list[dict[str, float]] = []
    counts: dict[str, tuple[int, int]] = {}
    with tempfile.TemporaryDirectory(prefix="vigil-bench-objects-") as tmp:
        # Warm-up run (lazy init, first-call costs), not reported.
        run_once(embedder, args.video, 3, Path(tmp) / "warm", mode=INLINE)
        for number in range(args.rounds):
            shift = number % len(MODES)
            row: dict[str, float] = {"load": os.getloadavg()[0]}
            for mode in MODES[shift:] + MODES[:shift]:
                home = Path(tmp) / f"ws-{number}-{MODES.index(mode)}"
                frames, stored, seconds = run_once(
                    embedder, args.video, args.seconds, home, mode=mode
                )
                row[mode] = frames / seconds
                counts[mode] = (frames, stored)
            per_round.append(row)
            print(
                f"round {number + 1}: load {row['load']:.1f}  "
                + "  ".join(f"{mode} {row[mode]:.2f}" for mode in MODES),
                flush=True,
            )
    loads = [row["load"] for row in per_round]
    print(
        f"embedder: {embedder.describe()}; video: {args.video.name}, first {args.seconds} s; "
        f"{args.rounds} interleaved rounds, load average {min(loads):.1f}-{max(loads):.1f}"
    )
    print("| mode | frames | objects | frames/s (median) | ratio to frames only (median) |")
    print("|---|---|---|---|---|")
    rows = []
    for mode in MODES:
        values = [row[mode] for row in per_round]
        ratio = float(np.median([row[mode] / row[FRAMES_ONLY] for row in per_round]))
        frames, stored = counts[mode]
        rows.append(
            {
                "mode": mode,
                "frames": frames,
                "objects": stored,
                "frames_per_s": round(float(np.median(values)), 2),
                "ratio": round(ratio, 3),
            }
        )
        print(f"| {mode} | {frames} | {stored} | {np.median(values):.2f} | {ratio:.2f} |")
    if args.json is not None:
        args.json.write_text(
            json.dumps({"rows": rows, "per_round": per_round, "load": loads}, indent=2)
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
