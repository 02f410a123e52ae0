"""Edge latency of an anomaly scorer: the exported ONNX features + FAISS bank, one image at a time.

Fits PatchCore on 25 normal ELPV monocrystalline cells (draw 0 of the
``vigil eval anomaly`` protocol), exports the edge bundle (checked against
torch), then scores ``--images`` test cells from the exported files with
onnxruntime (``--threads`` intra-op threads) + FAISS, as a device would.
Prints the median wall and CPU milliseconds per image (extract + score). On a
shared, loaded machine the wall time mostly measures waiting for a core; the
CPU time (all threads together) is what the work itself costs.

    .venv/bin/python bench/bench_anomaly.py --threads 1 --images 60 --profile
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np


def profile(folder: Path, cells: list[np.ndarray], threads: int) -> None:
    """Median wall / CPU milliseconds of each stage of ``score_with_files``, one image."""
    import json
    import os
    import time

    import faiss

    from vigil.anomaly.export import INPUT_NAME, OUTPUT_NAME, _session
    from vigil.anomaly.features import preprocess
    from vigil.anomaly.patchcore import smooth

    card = json.loads((folder / "card.json").read_text(encoding="utf-8"))
    index = faiss.read_index(str(folder / "bank.faiss"))
    for onnx_threads, faiss_threads in sorted({(threads, threads), (1, 1), (2, 2)}):
        session = _session(folder / "features.onnx", onnx_threads)
        faiss.omp_set_num_threads(faiss_threads)
        stages: dict[str, list[tuple[float, float]]] = {}
        for position, image in enumerate(cells):
            marks = [(time.perf_counter(), time.process_time())]
            x = preprocess([image], int(card["input_size"]))
            marks.append((time.perf_counter(), time.process_time()))
            maps = session.run([OUTPUT_NAME], {INPUT_NAME: x})[0]
            marks.append((time.perf_counter(), time.process_time()))
            patches = np.ascontiguousarray(maps[0].reshape(maps.shape[1], -1).T)
            squared, _ = index.search(patches, 1)
            marks.append((time.perf_counter(), time.process_time()))
            smooth(
                np.sqrt(np.maximum(squared[:, 0], 0.0))[None, :],
                int(card["grid"]),
                float(card["smoothing_sigma"]),
            ).max()
            marks.append((time.perf_counter(), time.process_time()))
            if position == 0:
                continue  # warm-up
            for name, before, after in zip(
                ("preprocess", "onnx features", "faiss search", "smooth + max"),
                marks,
                marks[1:],
                strict=False,
            ):
                stages.setdefault(name, []).append(
                    ((after[0] - before[0]) * 1e3, (after[1] - before[1]) * 1e3)
                )
        print(
            f"onnxruntime {onnx_threads} thread(s), faiss {faiss_threads} (load "
            f"{os.getloadavg()[0]:.1f}): "
            + "; ".join(
                f"{name} {np.median([w for w, _ in v]):.1f} wall / "
                f"{np.median([c for _, c in v]):.1f} CPU ms"
                for name, v in stages.items()
            )
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--images", type=int, default=30)
    parser.add_argument(
        "--profile", action="store_true", help="also time each stage of the edge path"
    )
    args = parser.parse_args()

    from vigil.anomaly.evaluate import load_elpv
    from vigil.anomaly.export import export_edge, score_with_files
    from vigil.anomaly.features import PatchExtractor
    from vigil.anomaly.patchcore import fit

    split = load_elpv("mono")
    normals = np.random.default_rng(1).permutation(split.normal_pool)[:25]
    extractor = PatchExtractor()
    model = fit([split.images[i] for i in normals], extractor)
    cells = [split.images[i] for i in split.test[: args.images]]
    with tempfile.TemporaryDirectory() as folder:
        bundle = export_edge(
            model, extractor, Path(folder) / "edge", cells[:4], threads=args.threads
        )
        _, wall, cpu = score_with_files(bundle.folder, cells, threads=args.threads)
        if args.profile:
            profile(bundle.folder, cells, args.threads)
        size = sum(p.stat().st_size for p in bundle.folder.iterdir()) / 1e6
    print(
        f"edge bundle {size:.1f} MB (bank {model.bank.shape[0]} x {model.bank.shape[1]}), "
        f"onnxruntime vs torch max diff {bundle.max_feature_diff:.1e}; "
        f"{args.images} ELPV cells at 224 px, {args.threads} thread(s): "
        f"median {wall:.1f} ms wall, {cpu:.1f} ms CPU per image (extract + score)"
    )


if __name__ == "__main__":
    main()
