"""Search latency, build time and recall of Vigil's vector index (FAISS HNSW).

The vectors are SYNTHETIC: standard-normal random vectors, normalised to unit
length, and the queries are independent random unit vectors. That is the hardest
case for an ANN graph (no cluster structure, near-equal distances), so recall on
real image embeddings is higher; latency depends on size and dim, not on content.

For each size it reports: build time (adding every vector to the index), single-
query latency p50/p95 at k=10 (one query per call, as the search API does), recall@10
against exact search (FAISS IndexFlatIP), and the same for a filtered search whose
allowed set is a random 10% of the ids (as when searching a few cameras).

    .venv/bin/python bench/bench_search.py --sizes 10000,100000,1000000 --json bench.json
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import faiss
import numpy as np

from vigil.catalog.vector_index import VectorIndex, set_threads
from vigil.settings import IndexSettings

CHUNK = 100_000  # vectors generated and added per step (bounded temporary memory)


@dataclass
class Row:
    size: int
    dim: int
    hnsw_m: int
    ef_construction: int
    ef_search: int
    build_s: float
    p50_ms: float
    p95_ms: float
    recall_at_10: float
    filtered_p50_ms: float
    filtered_p95_ms: float
    filtered_recall_at_10: float


def unit_vectors(
    rng: np.random.Generator, count: int, dim: int, centres: np.ndarray | None = None
) -> np.ndarray:
    """Random unit vectors; with ``centres``, each is a random centre plus noise."""
    vectors = rng.standard_normal((count, dim), dtype=np.float32)  # (N, D)
    if centres is not None:
        # noise of norm ~1 around a unit centre: cosine ~0.7 to the centre, ~0.5 within a
        # cluster, like many views of the same scene in image-embedding space.
        vectors *= 1.0 / np.sqrt(dim)
        vectors += centres[rng.integers(0, len(centres), count)]
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors


def percentile_ms(seconds: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(seconds) * 1000.0, q))


def recall(found: list[np.ndarray], truth: np.ndarray, k: int) -> float:
    hits = sum(
        len(set(f[:k].tolist()) & set(t[:k].tolist())) for f, t in zip(found, truth, strict=True)
    )
    return hits / (len(found) * k)


def bench_size(size: int, args: argparse.Namespace) -> list[Row]:
    rng = np.random.default_rng(size)
    centres = unit_vectors(rng, args.clusters, args.dim) if args.data == "clustered" else None
    settings = IndexSettings(
        hnsw_m=args.m, ef_construction=args.ef_construction, ef_search=args.ef_search[0]
    )
    index = VectorIndex.create(None, args.dim, settings)
    exact = faiss.IndexFlatIP(args.dim)  # ground truth
    build_s = 0.0
    for start in range(0, size, CHUNK):
        count = min(CHUNK, size - start)
        vectors = unit_vectors(rng, count, args.dim, centres)
        ids = np.arange(start + 1, start + count + 1, dtype=np.int64)  # catalog ids start at 1
        began = time.perf_counter()
        index.add(ids, vectors)
        build_s += time.perf_counter() - began
        exact.add(vectors)
        print(f"  {size:>9,}: added {start + count:,} ({build_s:.0f}s)", file=sys.stderr)
    queries = unit_vectors(rng, args.queries, args.dim, centres)
    _, truth_rows = exact.search(queries, args.k)
    truth = truth_rows + 1  # row -> id
    allowed = np.sort(rng.choice(size, size // 10, replace=False)).astype(np.int64) + 1
    subset = faiss.IndexFlatIP(args.dim)
    subset.add(_rows(exact, allowed - 1))
    _, subset_rows = subset.search(queries, args.k)
    filtered_truth = allowed[subset_rows]
    del exact, subset

    rows = []
    for ef_search in args.ef_search:
        index.settings = settings.model_copy(update={"ef_search": ef_search})
        index.search(queries[0], args.k)  # warm-up
        timings, found = [], []
        for query in queries:
            began = time.perf_counter()
            [(hit_ids, _)] = index.search(query, args.k)
            timings.append(time.perf_counter() - began)
            found.append(hit_ids)
        filtered_timings, filtered_found = [], []
        for query in queries:
            began = time.perf_counter()
            [(hit_ids, _)] = index.search(query, args.k, allowed_ids=allowed)
            filtered_timings.append(time.perf_counter() - began)
            filtered_found.append(hit_ids)
        rows.append(
            Row(
                size=size,
                dim=args.dim,
                hnsw_m=args.m,
                ef_construction=args.ef_construction,
                ef_search=ef_search,
                build_s=round(build_s, 2),
                p50_ms=round(percentile_ms(timings, 50), 3),
                p95_ms=round(percentile_ms(timings, 95), 3),
                recall_at_10=round(recall(found, truth, args.k), 4),
                filtered_p50_ms=round(percentile_ms(filtered_timings, 50), 3),
                filtered_p95_ms=round(percentile_ms(filtered_timings, 95), 3),
                filtered_recall_at_10=round(recall(filtered_found, filtered_truth, args.k), 4),
            )
        )
    return rows


def _rows(flat: faiss.IndexFlatIP, positions: np.ndarray) -> np.ndarray:
    """Stored vectors of a flat index at the given row positions, (A, D)."""
    data = faiss.rev_swig_ptr(flat.get_xb(), flat.ntotal * flat.d).reshape(flat.ntotal, flat.d)
    return np.ascontiguousarray(data[positions])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,100000,1000000", help="comma-separated")
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2, help="FAISS OpenMP threads")
    parser.add_argument("--m", type=int, default=IndexSettings().hnsw_m, help="HNSW degree")
    parser.add_argument("--ef-construction", type=int, default=IndexSettings().ef_construction)
    parser.add_argument(
        "--ef-search",
        default=str(IndexSettings().ef_search),
        help="comma-separated efSearch values to measure (the first is the default setting)",
    )
    parser.add_argument(
        "--data",
        choices=["random", "clustered"],
        default="random",
        help="random: isotropic normal (worst case for ANN recall); clustered: Gaussian "
        "blobs around --clusters random centres (closer to real embeddings)",
    )
    parser.add_argument("--clusters", type=int, default=1000)
    parser.add_argument("--json", type=Path, help="also write the rows here")
    args = parser.parse_args(argv)
    args.ef_search = [int(v) for v in args.ef_search.split(",")]
    sizes = [int(v) for v in args.sizes.split(",")]
    set_threads(args.threads)

    rows: list[Row] = []
    for size in sizes:
        rows.extend(bench_size(size, args))

    data = (
        "random-normal"
        if args.data == "random"
        else f"clustered ({args.clusters} random centres + noise)"
    )
    print(
        f"FAISS {faiss.__version__} IndexIDMap2(IndexHNSWFlat, inner product), "
        f"{args.threads} threads, {platform.processor() or platform.machine()}; "
        f"SYNTHETIC {data} unit vectors, dim {args.dim}; {args.queries} queries drawn "
        f"the same way, k={args.k}; filter = random 10% of ids"
    )
    header = (
        f"{'vectors':>9} {'M':>3} {'efC':>4} {'efS':>4} {'build s':>8} {'p50 ms':>7} "
        f"{'p95 ms':>7} {'recall':>7} {'filt p50':>8} {'filt p95':>8} {'filt rec':>8}"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        print(
            f"{r.size:>9,} {r.hnsw_m:>3} {r.ef_construction:>4} {r.ef_search:>4} "
            f"{r.build_s:>8.1f} {r.p50_ms:>7.2f} {r.p95_ms:>7.2f} {r.recall_at_10:>7.3f} "
            f"{r.filtered_p50_ms:>8.2f} {r.filtered_p95_ms:>8.2f} {r.filtered_recall_at_10:>8.3f}"
        )
    if args.json:
        payload = {
            "faiss": faiss.__version__,
            "threads": args.threads,
            "data": f"synthetic {data} vectors, unit-normalised",
            "rows": [asdict(r) for r in rows],
        }
        args.json.write_text(json.dumps(payload, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
