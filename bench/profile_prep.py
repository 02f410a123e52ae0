"""Where the GPU path's preprocessing time goes: host copy, upload, on-device resize.

Per batch of real vtest frames: ``np.stack`` on one thread, the threaded copy into a
pinned buffer, the pinned and the per-frame (pageable) upload, ``FrameStager.stage``
(copy + upload together), and ``preprocess_on_device`` alone on frames already on
the device. Results of a run on an H200: bench/results/profile_prep_h200_run4.txt.

    python bench/profile_prep.py --device cuda --batches 128 512
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from bench_gpu import DEFAULT_VIDEO, read_frames
from vigil.embedders.preprocess import FrameStager, ImageRecipe, preprocess_on_device


def seconds(device: str, run: Callable[[], object], repeats: int = 5) -> float:
    """Median wall time of ``run`` after one warm-up, waiting for the device each time."""
    times = []
    for attempt in range(repeats + 1):
        started = time.perf_counter()
        run()
        if device != "cpu":
            torch.cuda.synchronize(device)
        if attempt:
            times.append(time.perf_counter() - started)
    return float(np.median(times))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--batches", type=int, nargs="+", default=[128, 512])
    parser.add_argument("--video", type=Path, default=DEFAULT_VIDEO)
    args = parser.parse_args()
    device = args.device
    frames = read_frames(args.video, max(args.batches))
    from transformers import CLIPImageProcessor

    processor = CLIPImageProcessor(
        size={"shortest_edge": 224}, crop_size={"height": 224, "width": 224}
    )
    recipe = ImageRecipe.from_processor(processor)
    assert recipe is not None
    for batch in args.batches:
        profile_batch(frames[:batch], device, recipe)


def profile_batch(chunk: list[np.ndarray], device: str, recipe: ImageRecipe) -> None:
    batch = len(chunk)
    gigabytes = batch * chunk[0].nbytes / 1e9
    host = torch.empty((batch, *chunk[0].shape), dtype=torch.uint8)
    if device != "cpu":
        host = host.pin_memory()
    print(f"--- batch {batch} ({gigabytes * 1e3:.0f} MB uint8)")
    stack = seconds(device, lambda: np.stack(chunk))
    print(f"np.stack (1 thread): {gigabytes / stack:.1f} GB/s")
    for threads in (8, 16):
        stager = FrameStager(device, threads=threads)
        copy = seconds(device, lambda s=stager: s._copy_into(host.numpy(), chunk))
        print(f"copy into pinned, {threads:>2} threads: {gigabytes / copy:.1f} GB/s")
        stager.close()
    if device == "cpu":
        return
    pinned = seconds(device, lambda: host.to(device, non_blocking=True))
    pageable = seconds(device, lambda: [torch.from_numpy(f).to(device) for f in chunk])
    print(
        f"H2D pinned: {gigabytes / pinned:.1f} GB/s; "
        f"pageable, per frame: {gigabytes / pageable:.1f}"
    )
    stager = FrameStager(device)
    staged = seconds(device, lambda: stager.stage(chunk))
    print(f"stage() (copy + upload): {batch / staged:.0f} img/s")
    ready = host.to(device)
    prep = seconds(device, lambda: preprocess_on_device(ready, recipe, torch.float16))
    print(f"preprocess_on_device (GPU only): {batch / prep:.0f} img/s")
    stager.close()


if __name__ == "__main__":
    main()
