"""Distillation on real labeled data: teacher vs float vs pruned vs INT8 student, side by side.

Data: Fashion-MNIST (Zalando, MIT; Debian ``dataset-fashion-mnist``). The scenario's
items are ``--per-class`` images per class from the *train* split; a person's label
is kept on ``--human-fraction`` of them (the rest carry only the teacher's soft
labels), and the held-out test split is drawn from those human-labeled items.

Teacher = the big model: the default ``concept-bridge`` embedder plus the scenario
few-shot classifier (``vigil.scenarios.classify.fit_classifier``: prompts "a photo
of a <class>" and ``--shots`` labeled examples per class taken from the *test*
split, disjoint from the items). Teacher vectors are cached in an .npz, so only the
first run pays ~80 ms per image. Teacher latency is measured in the same run, at
batch 1, as the embedder's time per image (the classifier adds microseconds).

    .venv/bin/python bench/bench_distill.py --per-class 300
    .venv/bin/python bench/bench_distill.py --backbones   # Lite0 latency, student choice
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

CACHE = Path(os.environ.get("VIGIL_BENCH_CACHE", Path.home() / ".cache" / "vigil"))


def teacher_vectors(per_class: int, shots: int, seed: int) -> dict[str, np.ndarray]:
    """Concept-bridge vectors of the items and the few-shot examples (cached)."""
    from vigil.embedders import create_embedder
    from vigil.evaluation import load_fashion_mnist
    from vigil.settings import EmbedderSettings

    path = CACHE / f"bench_distill_fmnist_{per_class}_{shots}_{seed}.npz"
    items = load_fashion_mnist("train", per_class=per_class, seed=seed)
    shots_set = load_fashion_mnist("test", per_class=shots, seed=seed)
    if path.exists():
        cached = dict(np.load(path))
        return {**cached, "images": items.images, "labels": items.labels}
    embedder = create_embedder(EmbedderSettings(name="concept-bridge"))
    started = time.perf_counter()
    vectors = embedder.embed_images(list(items.images))
    shot_vectors = embedder.embed_images(list(shots_set.images))
    prompts = embedder.embed_texts([f"a photo of a {name}" for name in items.class_names])
    print(
        f"teacher vectors: {len(vectors) + len(shot_vectors)} images in "
        f"{time.perf_counter() - started:.0f} s"
    )
    CACHE.mkdir(parents=True, exist_ok=True)
    out = {
        "vectors": vectors,
        "shot_vectors": shot_vectors,
        "shot_labels": shots_set.labels,
        "prompts": prompts,
    }
    np.savez(path, **out)  # type: ignore[arg-type]
    return {**out, "images": items.images, "labels": items.labels}


def teacher_latency(repeats: int) -> object:
    from vigil.distill.report import measure_latency
    from vigil.embedders import create_embedder
    from vigil.evaluation import load_fashion_mnist
    from vigil.settings import EmbedderSettings

    embedder = create_embedder(EmbedderSettings(name="concept-bridge"))
    samples = load_fashion_mnist("test", per_class=2, seed=7).images

    def run(batch: np.ndarray) -> object:
        return embedder.embed_images(list(batch))

    return measure_latency(run, samples, repeats=repeats, warmup=3)


def teacher_size_mb() -> float:
    from vigil.embedders.bundled import locate_concept_bridge_files

    files = locate_concept_bridge_files()
    total = sum(p.stat().st_size for p in (files.classifier_weights, files.detector_graph)) + sum(
        p.stat().st_size for p in files.text_model_dir.rglob("*") if p.is_file()
    )
    return total / 1e6


def bench_backbones() -> None:
    """Why the student is not EfficientNet-Lite0: its CPU latency at small inputs."""
    import torch
    from efficientnet_lite_pytorch import EfficientNet

    from vigil.distill.student import StudentSpec, build_student

    torch.set_num_threads(2)
    models = {
        "efficientnet-lite0 (ImageNet)": EfficientNet.from_name("efficientnet-lite0"),
        "compact-cnn 32-64-128-128": build_student(StudentSpec(10)),
    }
    for name, model in models.items():
        model.eval()
        for size in (64, 96, 112):
            x = torch.randn(1, 3, size, size)
            with torch.inference_mode():
                for _ in range(5):
                    model(x)
                times = []
                for _ in range(30):
                    start = time.perf_counter()
                    model(x)
                    times.append(time.perf_counter() - start)
            print(
                f"{name:32s} {size:4d}px  p50 {np.median(times) * 1000:7.2f} ms (torch, 2 threads)"
            )


def pixel_run(args: argparse.Namespace) -> None:
    """Time training at scale with a cheap real teacher (no claims on the teacher's latency)."""
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_limits

    from vigil.catalog.store import Catalog
    from vigil.distill.data import NO_LABEL, DistillDataset
    from vigil.distill.pipeline import DistillOptions, distill
    from vigil.distill.report import markdown_table
    from vigil.distill.train import TrainConfig
    from vigil.evaluation import load_fashion_mnist

    items = load_fashion_mnist("train", per_class=args.per_class, seed=args.seed)
    shots = load_fashion_mnist("test", per_class=args.shots, seed=args.seed)

    def features(pixels: np.ndarray) -> np.ndarray:
        return pixels[:, ::2, ::2, 0].reshape(len(pixels), -1) / 255.0

    with threadpool_limits(1):
        probe = LogisticRegression(max_iter=200, C=0.5).fit(features(shots.images), shots.labels)
        probs = probe.predict_proba(features(items.images)).astype(np.float32)
    rng = np.random.default_rng(args.seed)
    human = items.labels.astype(np.int64).copy()
    human[rng.random(len(human)) >= args.human_fraction] = NO_LABEL
    dataset = DistillDataset(
        images=items.images,
        teacher_probs=probs,
        human_labels=human,
        class_names=items.class_names,
        item_ids=tuple(f"fmnist-train:{i}" for i in range(len(human))),
    )
    options = DistillOptions(
        train=TrainConfig(epochs=args.epochs, input_size=args.input_size, seed=args.seed),
        prune_amount=args.prune if args.prune > 0 else None,
        latency_repeats=args.latency_repeats,
    )
    with tempfile.TemporaryDirectory() as folder:
        catalog = Catalog.open(Path(folder) / "catalog.db")
        started = time.perf_counter()
        outcome = distill(
            catalog, Path(folder), dataset, scenario="fashion", scenario_version=1, options=options
        )
        total = time.perf_counter() - started
        catalog.close()
    print(f"items {len(dataset)} ({int((human >= 0).sum())} human-labeled); teacher = pixel LR")
    print(markdown_table(outcome.evals))
    print(
        f"stage seconds: { {k: round(v, 1) for k, v in outcome.seconds.items()} }; "
        f"total {total:.0f} s; load average {os.getloadavg()}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--per-class", type=int, default=300)
    parser.add_argument("--shots", type=int, default=20)
    parser.add_argument("--human-fraction", type=float, default=0.3)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--input-size", type=int, default=64)
    parser.add_argument("--prune", type=float, default=0.5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--latency-repeats", type=int, default=100)
    parser.add_argument("--backbones", action="store_true")
    parser.add_argument(
        "--teacher",
        choices=("concept-bridge", "pixel"),
        default="concept-bridge",
        help="pixel: a logistic regression on 14x14 pixels (cheap, for timing training at scale)",
    )
    parser.add_argument("--json", type=Path, help="also write the side-by-side rows here")
    args = parser.parse_args()
    if args.backbones:
        bench_backbones()
        return

    from vigil.catalog.store import Catalog
    from vigil.distill.data import NO_LABEL, DistillDataset
    from vigil.distill.pipeline import DistillOptions, distill
    from vigil.distill.report import markdown_table
    from vigil.distill.train import TrainConfig
    from vigil.embedders.base import l2_normalize
    from vigil.evaluation.datasets import FASHION_MNIST_CLASSES
    from vigil.scenarios.classify import fit_classifier

    if args.teacher == "pixel":
        pixel_run(args)
        return
    data = teacher_vectors(args.per_class, args.shots, args.seed)
    prompts = l2_normalize(data["prompts"].astype(np.float32))
    classifier = fit_classifier(
        prompts, FASHION_MNIST_CLASSES, data["shot_vectors"], data["shot_labels"], seed=args.seed
    )
    probs = classifier.predict_proba(data["vectors"]).astype(np.float32)
    rng = np.random.default_rng(args.seed)
    human = data["labels"].astype(np.int64).copy()
    human[rng.random(len(human)) >= args.human_fraction] = NO_LABEL
    dataset = DistillDataset(
        images=data["images"],
        teacher_probs=probs,
        human_labels=human,
        class_names=FASHION_MNIST_CLASSES,
        item_ids=tuple(f"fmnist-train:{i}" for i in range(len(human))),
    )
    print(
        f"items {len(dataset)} ({int((human >= 0).sum())} human-labeled); teacher = "
        f"concept-bridge + {classifier.description} on {args.shots} shots/class"
    )
    latency = teacher_latency(max(10, args.latency_repeats // 5))
    options = DistillOptions(
        train=TrainConfig(epochs=args.epochs, input_size=args.input_size, seed=args.seed),
        prune_amount=args.prune if args.prune > 0 else None,
        latency_repeats=args.latency_repeats,
    )
    with tempfile.TemporaryDirectory() as folder:
        home = Path(folder)
        catalog = Catalog.open(home / "catalog.db")
        started = time.perf_counter()
        outcome = distill(
            catalog,
            home,
            dataset,
            scenario="fashion",
            scenario_version=1,
            options=options,
            teacher_latency=latency,  # type: ignore[arg-type]
            teacher_size_mb=teacher_size_mb(),
        )
        total = time.perf_counter() - started
        catalog.close()
    evals = {e.name: e for e in outcome.evals}
    print()
    print(markdown_table(outcome.evals))
    print()
    t, f = evals["teacher"], evals["float"]
    print(
        f"stage seconds: { {k: round(v, 1) for k, v in outcome.seconds.items()} }; "
        f"total {total:.0f} s; load average {os.getloadavg()}"
    )
    assert t.latency is not None and f.latency is not None
    print(f"student/teacher accuracy: {f.accuracy / t.accuracy:.3f} (target >= 0.95)")
    print(
        f"teacher/student latency p50: {t.latency.p50_ms / f.latency.p50_ms:.0f}x (target >= 10x)"
    )
    if "int8" in evals:
        q = evals["int8"]
        assert q.latency is not None and q.size_mb and f.size_mb
        print(
            f"int8 vs float: accuracy {100 * (q.accuracy - f.accuracy):+.2f} points, "
            f"{f.latency.p50_ms / q.latency.p50_ms:.2f}x faster p50, "
            f"{q.latency.throughput_ips / f.latency.throughput_ips:.2f}x "
            f"throughput, {f.size_mb / q.size_mb:.2f}x smaller"
        )
    if args.json:
        args.json.write_text(json.dumps([e.row() for e in outcome.evals], indent=2))


if __name__ == "__main__":
    main()
