"""Edge latency of an anomaly scorer: the exported ONNX features + FAISS bank, one image at a time.

Fits PatchCore on 25 normal ELPV monocrystalline cells (draw 0 of the
``vigil eval anomaly`` protocol), exports the edge bundle (checked against
torch), then scores ``--images`` test cells from the exported files with
onnxruntime (``--threads`` intra-op threads) + FAISS, as a device would.
Prints the median wall and CPU milliseconds per image (extract + score). On a
shared, loaded machine the wall time mostly measures waiting for a core; the
CPU time (all threads together) is what the work itself costs.

    .venv/bin/python bench/bench_anomaly.py --threads 2
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--images", type=int, default=30)
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
        size = sum(p.stat().st_size for p in bundle.folder.iterdir()) / 1e6
    print(
        f"edge bundle {size:.1f} MB (bank {model.bank.shape[0]} x {model.bank.shape[1]}), "
        f"onnxruntime vs torch max diff {bundle.max_feature_diff:.1e}; "
        f"{args.images} ELPV cells at 224 px, {args.threads} thread(s): "
        f"median {wall:.1f} ms wall, {cpu:.1f} ms CPU per image (extract + score)"
    )


if __name__ == "__main__":
    main()
