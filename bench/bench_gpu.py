"""CLIP/SigLIP image embedding throughput: Vigil's path vs the bare model, per model size.

For each model (randomly initialised from the configs of the real sizes: no weights
ship offline, and speed does not depend on weight values) and batch size, on real
frames of vtest.avi (768x576):

  * bare      ``get_image_features`` on ready (B, 3, 224, 224) tensors already on the
              device, in the model's dtype: the ceiling;
  * prep      preprocessing alone: pinned staging, upload, resize/crop/normalise on
              the device (``vigil.embedders.preprocess``), no model;
  * vigil     ``ClipEmbedder.embed_images`` on the list of ``--frames`` uint8 frames
              (batches pipelined inside the call), vectors back on the host; and on one
              batch per call, as single-process indexing calls it; on a CPU Vigil
              keeps the processor, so there these rows are the processor path;
  * processor the same embedder with the Hugging Face image processor (the old path),
              on fewer frames, since it is slow.

Then decoding (OpenCV, as the GPU issue measured): frames/s of one process and of N
processes, decoding every frame and, as a 1 frame/s sampler of a 10 fps camera does,
grabbing every frame and converting one in ten. The number of real-time 10 fps
streams sampled at 1 frame/s one machine keeps up with is the smaller of
(media frames/s decoded by N processes) / 10 and (images/s embedded) / 1.

    python bench/bench_gpu.py --device cuda --frames 512 --batches 128 512
    python bench/bench_gpu.py --device cpu --models b32 --frames 64 --batches 32
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from vigil.embedders.clip import ClipEmbedder
from vigil.embedders.preprocess import FrameStager, ImageRecipe, preprocess_on_device

DEFAULT_VIDEO = Path("/work/shared/data/vtest.avi")
STREAM_FPS = 10.0  # a camera's frame rate
SAMPLE_FPS = 1.0  # frames per second embedded per stream

# Vision towers of the real checkpoints (openai/clip-vit-base-patch32,
# google/siglip-base-patch16-224, openai/clip-vit-large-patch14); text towers as shipped.
MODELS: dict[str, dict[str, Any]] = {
    "b32": {
        "label": "CLIP ViT-B/32",
        "family": "clip",
        "vision": {"hidden_size": 768, "intermediate_size": 3072, "num_hidden_layers": 12,
                   "num_attention_heads": 12, "patch_size": 32, "image_size": 224},
        "text": {"hidden_size": 512, "intermediate_size": 2048, "num_hidden_layers": 12,
                 "num_attention_heads": 8},
        "projection_dim": 512,
    },
    "siglip-b16": {
        "label": "SigLIP B/16-224",
        "family": "siglip",
        "vision": {"hidden_size": 768, "intermediate_size": 3072, "num_hidden_layers": 12,
                   "num_attention_heads": 12, "patch_size": 16, "image_size": 224},
        "text": {"hidden_size": 768, "intermediate_size": 3072, "num_hidden_layers": 12,
                 "num_attention_heads": 12, "vocab_size": 32000, "pad_token_id": 1,
                 "bos_token_id": 0, "eos_token_id": 1},
    },
    "l14": {
        "label": "CLIP ViT-L/14",
        "family": "clip",
        "vision": {"hidden_size": 1024, "intermediate_size": 4096, "num_hidden_layers": 24,
                   "num_attention_heads": 16, "patch_size": 14, "image_size": 224},
        "text": {"hidden_size": 768, "intermediate_size": 3072, "num_hidden_layers": 12,
                 "num_attention_heads": 12},
        "projection_dim": 768,
    },
    # Two layers of ViT-B/32 width: for a quick dry run of this script on a CPU.
    "tiny": {
        "label": "tiny CLIP (2 layers)",
        "family": "clip",
        "vision": {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
                   "num_attention_heads": 4, "patch_size": 32, "image_size": 224},
        "text": {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1,
                 "num_attention_heads": 4},
        "projection_dim": 32,
    },
}  # fmt: skip


def read_frames(video: Path, count: int) -> list[np.ndarray]:
    """The first ``count`` RGB frames of the video (repeated from the start if it is shorter)."""
    frames: list[np.ndarray] = []
    capture = cv2.VideoCapture(str(video))
    while len(frames) < count:
        ok, bgr = capture.read()
        if not ok:
            if not frames:
                raise SystemExit(f"error: cannot decode {video}")
            capture.release()
            capture = cv2.VideoCapture(str(video))
            continue
        frames.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    capture.release()
    return frames


def build(name: str, device: str, precision: str, batch: int) -> ClipEmbedder:
    """A random model of the real size behind a ``ClipEmbedder``, with the real processor."""
    from transformers import (
        CLIPConfig,
        CLIPImageProcessor,
        CLIPModel,
        SiglipConfig,
        SiglipImageProcessor,
        SiglipModel,
    )

    spec = MODELS[name]
    torch.manual_seed(0)
    model: Any
    with torch.device(device):  # initialise where it runs: seconds instead of a minute
        if spec["family"] == "clip":
            config = CLIPConfig(
                text_config=spec["text"],
                vision_config=spec["vision"],
                projection_dim=spec["projection_dim"],
            )
            model = CLIPModel(config)
            processor: Any = CLIPImageProcessor(
                size={"shortest_edge": 224}, crop_size={"height": 224, "width": 224}
            )
        else:
            model = SiglipModel(
                SiglipConfig(text_config=spec["text"], vision_config=spec["vision"])
            )
            processor = SiglipImageProcessor(size={"height": 224, "width": 224})
    return ClipEmbedder.from_parts(
        model,
        processor,
        None,
        model_id=f"bench:{name}",
        device=device,
        batch_size=batch,
        precision=precision,
    )


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize(device)


def rate(images: int, repeats: int, device: str, run: Callable[[], object]) -> float:
    """Images per second of ``run`` (one warm-up call, then the median of ``repeats``)."""
    run()
    sync(device)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        sync(device)
        times.append(time.perf_counter() - started)
    return images / float(np.median(times))


def bench_model(
    name: str, frames: list[np.ndarray], batches: list[int], args: argparse.Namespace
) -> list[dict[str, Any]]:
    device = args.device
    embedder = build(name, device, args.precision, batches[0])
    model = embedder._model
    recipe = ImageRecipe.from_processor(embedder._image_processor)
    assert recipe is not None
    rows = []
    for batch in batches:
        embedder.batch_size = batch
        ready = torch.randn((batch, 3, 224, 224), device=device).to(embedder.dtype)
        stager = FrameStager(device)
        chunk = frames[:batch]

        def bare(ready: torch.Tensor = ready) -> None:
            with torch.inference_mode():
                model.get_image_features(pixel_values=ready)

        def prep(chunk: list[np.ndarray] = chunk, stager: FrameStager = stager) -> None:
            with torch.inference_mode():
                preprocess_on_device(stager.stage(chunk), recipe, dtype=embedder.dtype)

        row: dict[str, Any] = {"model": MODELS[name]["label"], "key": name, "batch": batch}
        row["bare"] = rate(batch, args.repeats, device, bare)
        row["prep"] = rate(len(chunk), args.repeats, device, prep)
        row["vigil"] = rate(
            len(frames), args.repeats, device, lambda: embedder.embed_images(frames)
        )
        row["ratio"] = row["vigil"] / row["bare"]
        # One call per batch, as single-process indexing calls it: nothing to overlap with.
        row["vigil_one_batch"] = rate(
            len(chunk), args.repeats, device, lambda chunk=chunk: embedder.embed_images(chunk)
        )
        stager.close()
        rows.append(row)
        print(
            f"  {row['model']:<20} batch {batch:>4}: bare {_rate(row['bare']):>9}  "
            f"prep {_rate(row['prep']):>8}  vigil {_rate(row['vigil']):>8} img/s  "
            f"ratio {row['ratio']:.1%}  one call per batch {_rate(row['vigil_one_batch']):>8}",
            flush=True,
        )
    few = frames[: args.processor_frames]
    if few and embedder.recipe is not None:
        embedder.recipe = None  # the Hugging Face processor on the CPU: the old path
        embedder.batch_size = min(batches[0], len(few))
        processor = rate(len(few), 1, device, lambda: embedder.embed_images(few))
        for row in rows:
            row["processor"] = processor
        print(f"  {MODELS[name]['label']:<20} HF processor path: {processor:.0f} img/s", flush=True)
    if device.startswith("cuda"):
        torch.cuda.empty_cache()
    return rows


# -- decoding -------------------------------------------------------------------------------


def _decode(job: tuple[str, int]) -> int:
    """Decode the whole video; convert every ``keep_every``-th frame to RGB. Frames decoded."""
    path, keep_every = job
    cv2.setNumThreads(1)
    capture = cv2.VideoCapture(path)
    decoded = 0
    while capture.grab():  # demux + decode, no colour conversion
        if decoded % keep_every == 0:
            ok, bgr = capture.retrieve()
            if ok:
                cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        decoded += 1
    capture.release()
    return decoded


def bench_decode(video: Path, processes: list[int], copies: int) -> list[dict[str, Any]]:
    """Media frames/s decoded by P processes, each decoding the file ``copies`` times."""
    rows = []
    # fork: the workers need cv2 alone, and this runs before CUDA is initialised.
    context = multiprocessing.get_context("fork")
    for keep_every, what in ((1, "every frame to RGB"), (int(STREAM_FPS / SAMPLE_FPS), "1 in 10")):
        for count in processes:
            jobs = [(str(video), keep_every)] * (count * copies)
            with context.Pool(count) as pool:
                pool.map(_decode, jobs[:count])  # start the workers, warm the file cache
                started = time.perf_counter()
                frames = sum(pool.map(_decode, jobs))
                seconds = time.perf_counter() - started
            row = {"processes": count, "convert": what, "frames_per_s": frames / seconds}
            rows.append(row)
            print(f"  decode {what:<18} {count:>2} process(es): {row['frames_per_s']:>8.0f} fps")
    return rows


def _rate(value: float) -> str:
    """Thousands separators on a GPU, one decimal at CPU rates."""
    return f"{value:,.0f}" if value >= 100 else f"{value:.1f}"


def _processor_cell(row: dict[str, Any]) -> str:
    return f"{row['processor']:,.0f}" if "processor" in row else "(is the Vigil path on a CPU)"


def report(
    model_rows: list[dict[str, Any]], decode_rows: list[dict[str, Any]], args: argparse.Namespace
) -> str:
    name = torch.cuda.get_device_name(args.device) if args.device.startswith("cuda") else "CPU"
    lines = [
        f"device: {name} ({args.device}, {args.precision}); torch {torch.__version__}; "
        f"{os.cpu_count()} CPU cores; {platform.platform()}",
        f"frames: {args.frames} real frames of {args.video.name} (768x576), repeats {args.repeats}",
        "",
        "| model | batch | bare forward img/s | preprocessing alone img/s | Vigil embed_images "
        "img/s | Vigil / bare | Vigil, one call per batch img/s | HF processor path img/s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in model_rows:
        lines.append(
            f"| {row['model']} | {row['batch']} | {_rate(row['bare'])} | {_rate(row['prep'])} | "
            f"{_rate(row['vigil'])} | {row['ratio']:.0%} | {_rate(row['vigil_one_batch'])} | "
            f"{_processor_cell(row)} |"
        )
    if decode_rows:
        lines += ["", "| decode (OpenCV) | processes | media frames/s |", "|---|---|---|"]
        for row in decode_rows:
            lines.append(f"| {row['convert']} | {row['processes']} | {row['frames_per_s']:,.0f} |")
        sampled = [r for r in decode_rows if r["convert"] != "every frame to RGB"]
        best_decode = max(r["frames_per_s"] for r in sampled)
        lines.append("")
        for row in model_rows:
            if row["batch"] != max(r["batch"] for r in model_rows if r["key"] == row["key"]):
                continue
            by_decode = best_decode / STREAM_FPS
            by_embed = row["vigil"] / SAMPLE_FPS
            lines.append(
                f"streams ({STREAM_FPS:.0f} fps, sampled at {SAMPLE_FPS:.0f}/s) with "
                f"{row['model']}: decode allows {by_decode:,.0f}, embedding allows "
                f"{by_embed:,.0f} -> {min(by_decode, by_embed):,.0f} real-time streams"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    parser.add_argument("--precision", default="auto", help="auto (fp16 on CUDA), fp32, fp16, bf16")
    parser.add_argument("--models", nargs="+", default=["b32", "siglip-b16", "l14"])
    parser.add_argument("--frames", type=int, default=512, help="real frames per Vigil call")
    parser.add_argument("--batches", type=int, nargs="+", default=[128, 512])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--processor-frames", type=int, default=64)
    parser.add_argument("--decode-processes", type=int, nargs="*", default=[1, 0])
    parser.add_argument("--decode-copies", type=int, default=1)
    parser.add_argument("--video", type=Path, default=DEFAULT_VIDEO)
    parser.add_argument("--json", type=Path, help="write every figure here too")
    args = parser.parse_args()
    if args.device == "auto":
        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    if not args.video.is_file():
        raise SystemExit(f"error: no video at {args.video}")
    if args.device == "cpu":
        torch.set_num_threads(os.cpu_count() or 1)
    processes = [p or (os.cpu_count() or 1) for p in args.decode_processes]
    decode_rows = bench_decode(args.video, sorted(set(processes)), args.decode_copies)
    frames = read_frames(args.video, args.frames)
    print(f"{len(frames)} frames of {args.video} on {args.device}", flush=True)
    model_rows: list[dict[str, Any]] = []
    for name in args.models:
        model_rows += bench_model(name, frames, [min(b, len(frames)) for b in args.batches], args)
    text = report(model_rows, decode_rows, args)
    print("\n" + text, flush=True)
    if args.json:
        args.json.write_text(json.dumps({"models": model_rows, "decode": decode_rows}, indent=2))


if __name__ == "__main__":
    main()
