"""Throughput of the offline concept-bridge embedder, and what its vocabulary can see.

Measures, on real frames of vtest.avi (every 10th frame, 768x576):
  * whole image embedding (classifier + detector + mixing) at batch sizes 1/8/16,
  * its parts alone: EfficientNet-Lite0 classifier, SSD MobileNet v2 COCO detector,
  * text embedding, one prompt per call and 64 per call.
Then a small vocabulary check on real photos (scikit-image / scikit-learn samples
plus one vtest frame): for every prompt, which image ranks first, and for every
image, which prompt ranks first.

    python bench/bench_embedders.py --json bench-embedders.json

``--compare-backends`` instead times the old path (EfficientNet in torch, the SSD in
OpenCV DNN) against the new one (both in onnxruntime, 1 and 2 intra-op threads),
interleaved: every round runs each variant once on the same frames, in rotated
order, so load on the shared machine hits all of them alike; medians over rounds,
the load average beside every round, and the cosine between the paths' vectors.

    python bench/bench_embedders.py --compare-backends --frames 32 --rounds 5
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import platform
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from vigil.embedders.concept_bridge import ConceptBridgeEmbedder
from vigil.sources.sample_data import sample_video

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_VIDEO = sample_video()

# One prompt per gallery image (what is visibly there), then prompts for things that are
# absent or outside the vocabulary (actions, attributes, time of day).
PROMPTS = {
    "people walking on a street": "vtest",
    "pedestrians on a walkway": "vtest",
    "a parked van": "vtest",
    "an astronaut": "astronaut",
    "a woman smiling": "astronaut",
    "a cat": "chelsea",
    "a cup of coffee": "coffee",
    "a rocket launch": "rocket",
    "a space shuttle": "rocket",
    "a temple": "china",
    "a flower": "flower",
    "a dog": None,
    "a person running": None,
    "a red car": None,
    "a street at night": None,
}


def decode_frames(path: Path, count: int, step: int = 10) -> list[np.ndarray]:
    frames: list[np.ndarray] = []
    with av.open(str(path)) as container:
        for position, frame in enumerate(container.decode(video=0)):
            if position % step == 0:
                frames.append(frame.to_ndarray(format="rgb24"))
            if len(frames) == count:
                break
    return frames


def real_gallery(vtest_frame: np.ndarray) -> dict[str, np.ndarray]:
    import skimage.data
    from sklearn.datasets import load_sample_images

    gallery = {"vtest": vtest_frame}
    for name in ("astronaut", "chelsea", "coffee", "rocket"):
        gallery[name] = getattr(skimage.data, name)()
    china, flower = load_sample_images().images
    gallery["china"], gallery["flower"] = china, flower
    return gallery


def timed(run: Callable[[], object], repeats: int) -> float:
    """Best wall time of ``repeats`` runs, in seconds (best-of damps scheduler noise)."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return best


def batches(items: list[np.ndarray], size: int) -> list[list[np.ndarray]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def run_all(call: Callable[[list[np.ndarray]], object], chunks: list[list[np.ndarray]]) -> None:
    for chunk in chunks:
        call(chunk)


def bench_images(
    bridge: ConceptBridgeEmbedder, frames: list[np.ndarray], sizes: list[int], repeats: int
) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    parts: dict[str, Callable[[list[np.ndarray]], object]] = {
        "concept-bridge (whole)": bridge.embed_images,
        "  classifier effnet-lite0": bridge.classify,
        "  detector ssd-mnv2-coco": bridge.detect_batch,
    }
    for size in sizes:
        bridge.batch_size = size
        for part, call in parts.items():
            chunks = batches(frames, size)
            call(chunks[0])  # warm-up: first call allocates
            seconds = timed(functools.partial(run_all, call, chunks), repeats)
            rows.append(
                {
                    "part": part.strip(),
                    "label": part,
                    "batch_size": size,
                    "images": len(frames),
                    "images_per_s": len(frames) / seconds,
                    "ms_per_image": 1000 * seconds / len(frames),
                    "ms_per_batch": 1000 * seconds / len(chunks),
                }
            )
    return rows


def bench_texts(bridge: ConceptBridgeEmbedder, repeats: int) -> list[dict[str, object]]:
    prompts = list(PROMPTS) * 5  # 75 real queries
    bridge.embed_texts(prompts[:8])
    one = timed(lambda: [bridge.embed_texts([p]) for p in prompts], repeats)
    bridge.batch_size = 64
    many = timed(lambda: bridge.embed_texts(prompts), repeats)
    return [
        {"mode": "1 prompt per call", "ms_per_prompt": 1000 * one / len(prompts)},
        {"mode": "64 prompts per call", "ms_per_prompt": 1000 * many / len(prompts)},
    ]


def vocabulary_check(
    bridge: ConceptBridgeEmbedder, gallery: dict[str, np.ndarray]
) -> dict[str, object]:
    names = list(gallery)
    images = bridge.embed_images(list(gallery.values()))
    texts = bridge.embed_texts(list(PROMPTS))
    scores = texts @ images.T  # (prompts, images) cosine
    by_prompt = []
    for prompt, row in zip(PROMPTS, scores, strict=True):
        order = np.argsort(-row)
        expected = PROMPTS[prompt]
        by_prompt.append(
            {
                "prompt": prompt,
                "expected": expected,
                "first": names[order[0]],
                "score": float(row[order[0]]),
                "second": names[order[1]],
                "margin": float(row[order[0]] - row[order[1]]),
                "hit": None if expected is None else names[order[0]] == expected,
            }
        )
    by_image = []
    for column, name in enumerate(names):
        best = int(np.argmax(scores[:, column]))
        concepts = bridge.explain(gallery[name])[:3]
        by_image.append(
            {
                "image": name,
                "best_prompt": list(PROMPTS)[best],
                "score": float(scores[best, column]),
                "top_concepts": [
                    f"{c.prompt[len('a photo of ') :]} {c.weight:.2f}" for c in concepts
                ],
            }
        )
    return {"by_prompt": by_prompt, "by_image": by_image}


def print_report(report: dict[str, object]) -> None:
    print(f"\n{report['model_id']}  ({report['machine']})")
    print(f"load (models + 1160 concept prompts): {report['load_s']:.1f} s\n")
    print(f"{'part':28s} {'batch':>5s} {'images/s':>9s} {'ms/image':>9s} {'ms/batch':>9s}")
    for row in report["images"]:  # type: ignore[attr-defined]
        print(
            f"{row['label']:28s} {row['batch_size']:5d} {row['images_per_s']:9.1f} "
            f"{row['ms_per_image']:9.1f} {row['ms_per_batch']:9.1f}"
        )
    print()
    for row in report["texts"]:  # type: ignore[attr-defined]
        print(f"text embedding, {row['mode']:22s} {row['ms_per_prompt']:6.2f} ms/prompt")
    check = report["vocabulary"]
    print("\nprompt -> image ranked first (gallery: " + ", ".join(report["gallery"]) + ")")  # type: ignore[arg-type]
    print(f"{'prompt':30s} {'expected':10s} {'first':10s} {'cos':>6s} {'2nd':10s} {'margin':>7s}")
    for row in check["by_prompt"]:  # type: ignore[index]
        mark = {True: "ok", False: "MISS", None: "-"}[row["hit"]]
        print(
            f"{row['prompt']:30s} {row['expected'] or '(absent)':10s} {row['first']:10s} "
            f"{row['score']:6.3f} {row['second']:10s} {row['margin']:7.3f}  {mark}"
        )
    print("\nimage -> prompt ranked first, and its three heaviest concepts")
    for row in check["by_image"]:  # type: ignore[index]
        print(
            f"{row['image']:10s} {row['best_prompt']:30s} {row['score']:6.3f}  "
            + "; ".join(row["top_concepts"])
        )


@dataclass
class Variant:
    """One way to run the concept bridge, as the comparison table names it."""

    name: str
    backend: str  # classifier: "torch" or "onnx"
    detector_backend: str  # "opencv" or "onnx"
    onnx_threads: int = 1
    torch_threads: int | None = None  # None: torch's and OpenCV's defaults (the old path)


VARIANTS = (
    Variant("old: torch + cv2.dnn", "torch", "opencv"),
    Variant("old, 1 thread each", "torch", "opencv", torch_threads=1),
    Variant("new: onnx x1 thread", "onnx", "auto", 1),
    Variant("new: onnx x2 threads", "onnx", "auto", 2),
)


@contextlib.contextmanager
def threads(count: int | None) -> Iterator[None]:
    """torch's and OpenCV's thread counts set to ``count`` for a block (both are global)."""
    import cv2
    import torch

    if count is None:
        yield
        return
    saved = torch.get_num_threads(), cv2.getNumThreads()
    torch.set_num_threads(count)
    cv2.setNumThreads(count)
    try:
        yield
    finally:
        torch.set_num_threads(saved[0])
        cv2.setNumThreads(saved[1])


def compare_backends(frames: list[np.ndarray], rounds: int, batch: int) -> dict[str, object]:
    """Frames/s of each variant, interleaved round by round; medians and load averages."""
    import torch

    bridges: dict[str, ConceptBridgeEmbedder] = {}
    variants = {variant.name: variant for variant in VARIANTS}
    for variant in VARIANTS:
        os.environ["VIGIL_ONNX_THREADS"] = str(variant.onnx_threads)  # read at session start
        bridge = ConceptBridgeEmbedder(
            backend=variant.backend, detector_backend=variant.detector_backend
        )
        bridge.embed_images(frames[:2])  # load both networks, export on first use
        bridges[variant.name] = bridge
    os.environ.pop("VIGIL_ONNX_THREADS", None)
    chunks = batches(frames, batch)
    per_round: list[dict[str, float]] = []
    for round_number in range(rounds):
        names = list(bridges)
        shift = round_number % len(names)
        order = names[shift:] + names[:shift]
        row: dict[str, float] = {"load": os.getloadavg()[0]}
        for name in order:
            with threads(variants[name].torch_threads):
                started = time.perf_counter()
                run_all(bridges[name].embed_images, chunks)
                row[name] = len(frames) / (time.perf_counter() - started)
        per_round.append(row)
        print(
            f"round {round_number + 1}: load {row['load']:.1f}  "
            + "  ".join(f"{name} {row[name]:.2f}" for name in names),
            flush=True,
        )
    old_name = VARIANTS[0].name
    old_vectors = bridges[old_name].embed_images(frames)
    rows = []
    for name, bridge in bridges.items():
        values = [r[name] for r in per_round]
        ratios = [r[name] / r[old_name] for r in per_round]
        vectors = bridge.embed_images(frames)
        rows.append(
            {
                "variant": name,
                "classifier": bridge.backend,
                "detector": bridge.detector.backend,
                "frames_per_s_median": float(np.median(values)),
                "frames_per_s_min": float(np.min(values)),
                "frames_per_s_max": float(np.max(values)),
                "ratio_to_old_median": float(np.median(ratios)),
                "min_cosine_to_old": float(np.min(np.sum(vectors * old_vectors, axis=1))),
            }
        )
    loads = [r["load"] for r in per_round]
    return {
        "machine": f"{os.cpu_count()} CPUs, torch {torch.__version__} "
        f"({torch.get_num_threads()} threads), shared",
        "data": f"{len(frames)} vtest frames (every 10th, 768x576), batch {batch}",
        "rounds": rounds,
        "load_average": {"min": min(loads), "median": float(np.median(loads)), "max": max(loads)},
        "per_round": per_round,
        "rows": rows,
    }


def print_comparison(result: dict[str, object]) -> None:
    load = result["load_average"]
    assert isinstance(load, dict)
    print(f"\n{result['data']}; {result['machine']}; {result['rounds']} interleaved rounds")
    print(
        f"load average (1 min) during rounds: {load['min']:.1f}-{load['max']:.1f}, "
        f"median {load['median']:.1f}"
    )
    print(
        "| path | classifier | detector | frames/s (median) | min-max | x old (median "
        "of per-round ratios) | min cosine to old |"
    )
    print("|---|---|---|---|---|---|---|")
    rows = result["rows"]
    assert isinstance(rows, list)
    for row in rows:
        print(
            f"| {row['variant']} | {row['classifier']} | {row['detector']} | "
            f"{row['frames_per_s_median']:.2f} | {row['frames_per_s_min']:.2f}-"
            f"{row['frames_per_s_max']:.2f} | {row['ratio_to_old_median']:.2f} | "
            f"{row['min_cosine_to_old']:.7f} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--video", type=Path, default=DEFAULT_VIDEO)
    parser.add_argument("--frames", type=int, default=32, help="vtest frames to embed")
    parser.add_argument("--batch-sizes", default="1,8,16")
    parser.add_argument("--repeats", type=int, default=2, help="best of this many runs")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument(
        "--compare-backends",
        action="store_true",
        help="time the old path (torch + cv2.dnn) against onnxruntime, interleaved",
    )
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds to compare")
    args = parser.parse_args()
    if args.compare_backends:
        comparison = compare_backends(decode_frames(args.video, args.frames), args.rounds, 16)
        print_comparison(comparison)
        if args.json:
            args.json.write_text(json.dumps(comparison, indent=2))
        return

    import torch

    frames = decode_frames(args.video, args.frames)
    start = time.perf_counter()
    bridge = ConceptBridgeEmbedder(device=args.device)
    load_s = time.perf_counter() - start
    sizes = [int(size) for size in args.batch_sizes.split(",")]
    gallery = real_gallery(frames[10 % len(frames)])
    report: dict[str, object] = {
        "model_id": bridge.model_id,
        "machine": (
            f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
            f"torch {torch.__version__} with {torch.get_num_threads()} threads, "
            f"device {bridge.device}, load average {os.getloadavg()[0]:.1f} at start"
        ),
        "data": f"{args.video.name}: {len(frames)} frames (every 10th), "
        f"{frames[0].shape[1]}x{frames[0].shape[0]}",
        "load_s": load_s,
        "images": bench_images(bridge, frames, sizes, args.repeats),
        "texts": bench_texts(bridge, args.repeats),
        "gallery": list(gallery),
        "vocabulary": vocabulary_check(bridge, gallery),
    }
    print_report(report)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
        print(f"\nwrote {args.json}")


if __name__ == "__main__":
    main()
