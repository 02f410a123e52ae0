"""Auto-label throughput (items/s) from stored embeddings, on 2 CPU cores.

Two measurements, both in throw-away workspaces:

1. real: the real clip indexed once with the real default embedder (concept-bridge)
   at one frame per ``--interval`` s, then a 3-class scenario auto-labeled from the
   stored vectors. The image model does not run again: labeling costs the prompt
   embeddings, one matrix product per batch and the label writes.
2. synthetic (scale only, not quality): ``--synthetic`` random unit vectors stored
   as frames of one fake source, labeled by the same code path with the fake
   embedder's prompt vectors. It measures the catalog reads and label writes at
   archive scale.

    .venv/bin/python bench/bench_autolabel.py --interval 0.5 --synthetic 100000
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from vigil.sources.sample_data import sample_video

REPO = Path(__file__).resolve().parents[1]
VTEST = sample_video()
SPEC = {
    "name": "walkway-crowding",
    "classes": [
        {"name": "crowd", "prompts": ["a photo of people", "a crowd of pedestrians"]},
        {"name": "few people", "prompts": ["a photo of a person walking alone"]},
        {"name": "vehicle", "prompts": ["a photo of a van", "a parked car"]},
    ],
}


def bench_real(home: Path, interval_s: float) -> None:
    from vigil.scenarios.spec import spec_from_dict
    from vigil.settings import EmbedderSettings, SamplingSettings, Settings
    from vigil.workspace import Workspace

    settings = Settings(
        home=home,
        embedder=EmbedderSettings(name="concept-bridge"),
        sampling=SamplingSettings(interval_s=interval_s, dedup_threshold=0.0),
    )
    with Workspace.open(settings) as workspace:
        source = workspace.add_source(str(VTEST), name="walkway")
        started = time.perf_counter()
        workspace.index([source.id])
        index_s = time.perf_counter() - started
        frames = workspace.catalog.stats().frames
        print(f"real: indexed {frames} frames of vtest.avi in {index_s:.1f} s (image model, once)")
        workspace.create_scenario(spec_from_dict(SPEC))
        started = time.perf_counter()
        report = workspace.autolabel(SPEC["name"])
        total_s = time.perf_counter() - started
        print(
            f"real: auto-labeled {report.labeled} frames, 3 classes, {report.method}: "
            f"{report.items_per_s:,.0f} items/s in the labeling loop, "
            f"{report.labeled / total_s:,.0f} items/s including prompt embedding "
            f"({total_s * 1000:.0f} ms in all)"
        )


def bench_synthetic(home: Path, count: int, batch: int) -> None:
    from vigil.catalog.types import NewFrame
    from vigil.embedders.fake import FakeEmbedder
    from vigil.scenarios.autolabel import autolabel, build_classifier
    from vigil.scenarios.spec import spec_from_dict
    from vigil.scenarios.store import save_scenario
    from vigil.settings import Settings
    from vigil.sources.types import SourceKind, SourceSpec
    from vigil.workspace import Workspace

    dim = 384  # concept-bridge's dimension
    embedder = FakeEmbedder(dim=dim)
    rng = np.random.default_rng(0)
    with Workspace.open(Settings(home=home), embedder=embedder) as workspace:
        catalog = workspace.catalog
        source = catalog.add_source(SourceSpec("synthetic", SourceKind.VIDEO, "/synthetic"))
        started = time.perf_counter()
        for start in range(0, count, 10_000):
            size = min(10_000, count - start)
            frames = [
                NewFrame(
                    start + i, (start + i) / 10.0, 768, 576, f"thumbs/synthetic/{start + i}.jpg"
                )
                for i in range(size)
            ]
            vectors = rng.standard_normal((size, dim)).astype(np.float32)
            vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
            catalog.add_frames(source.id, embedder.model_id, frames, vectors)
        stored_s = time.perf_counter() - started
        print(f"synthetic: stored {count:,} random {dim}-d vectors in {stored_s:.1f} s")
        record = save_scenario(catalog, spec_from_dict(SPEC))
        classifier = build_classifier(catalog, record, embedder)
        report = autolabel(catalog, record, embedder, batch_size=batch, classifier=classifier)
        print(
            f"synthetic: auto-labeled {report.labeled:,} items in {report.seconds:.1f} s = "
            f"{report.items_per_s:,.0f} items/s (batch {batch}; SQLite; synthetic vectors)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--interval", type=float, default=0.5, help="seconds between frames")
    parser.add_argument("--synthetic", type=int, default=100_000, help="0 skips it")
    parser.add_argument("--batch", type=int, default=4096)
    parser.add_argument("--skip-real", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="vigil-bench-autolabel-") as folder:
        if not args.skip_real:
            bench_real(Path(folder) / "real", args.interval)
        if args.synthetic:
            bench_synthetic(Path(folder) / "synthetic", args.synthetic, args.batch)


if __name__ == "__main__":
    main()
