"""Index tiers side by side: recall@10 against exact, p95 latency, RAM, build time.

Data (SYNTHETIC, stated with every figure): ``--clusters`` Gaussian clusters (default
10,000) of unit vectors in 384-d (the offline model's dim), numpy seed 0: a random
unit centre per cluster plus isotropic noise of norm ~1, normalised (cosine ~0.7 to
the centre, ~0.5 within a cluster). Queries are drawn the same way (not in the data).
Ground truth: exact inner product (FAISS IndexFlatIP) over all vectors.

Tiers, all through ``vigil.catalog.vector_index.VectorIndex`` (so the numbers are
Vigil's, re-rank and thread setting included):

- flat: exact, float32 in RAM.
- hnsw: Vigil's default (M=32, efC=64, efS=128); building it on 2 loaded cores is
  slow, so it is built on ``--hnsw-size`` vectors and its build rate is extrapolated.
- ivfpq: IVF (nlist by size) + PQ codes of 48 bytes, nprobe 64, re-rank of 10 x k
  candidates with the stored vectors read from a memory-mapped file (the catalog's
  role): float32 (as the catalog stores them now) and float16 (half the bytes), and
  without re-rank (PQ scores only), to show what each costs in recall.

Latency: single queries with ``--gap-ms`` idle before each (as a user sends them),
one FAISS thread. RAM: the index's own bytes (FAISS serialised size, which is what it
holds in memory), per vector and in total; the re-rank vectors stay on disk.

    timeout 1200 .venv/bin/python bench/bench_index_tiers.py --size 1000000
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from vigil.catalog.vector_index import VectorIndex, set_threads
from vigil.settings import IndexSettings

CHUNK = 100_000
MONTH_FRAMES = 246_000_000  # 100 cameras x 30 days at the default sampling (issue 19)


@dataclass
class Row:
    tier: str
    vectors: int
    build_s: float
    index_bytes_per_vector: float
    index_gb: float
    recall_at_10: float
    p50_ms: float
    p95_ms: float
    note: str = ""


def clustered(rng: np.random.Generator, centres: np.ndarray, count: int) -> np.ndarray:
    """``count`` unit vectors: a random centre each plus noise of norm ~1, (count, D)."""
    dim = centres.shape[1]
    vectors = rng.standard_normal((count, dim), dtype=np.float32) / np.sqrt(dim)
    vectors += centres[rng.integers(0, len(centres), count)]
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors


def index_bytes(index: VectorIndex) -> int:
    return int(faiss.serialize_index(index._index).size)


def timed_queries(
    index: VectorIndex, queries: np.ndarray, k: int, gap_ms: float
) -> tuple[list[np.ndarray], list[float]]:
    found, seconds = [], []
    index.search(queries[0], k)  # warm-up
    for query in queries:
        time.sleep(gap_ms / 1000.0)
        began = time.perf_counter()
        [(ids, _)] = index.search(query, k)
        seconds.append(time.perf_counter() - began)
        found.append(ids)
    return found, seconds


def recall(found: list[np.ndarray], truth: np.ndarray) -> float:
    hits = sum(len(set(f.tolist()) & set(t.tolist())) for f, t in zip(found, truth, strict=True))
    return hits / truth.size


def row(
    tier: str,
    index: VectorIndex,
    build_s: float,
    found: list[np.ndarray],
    seconds: list[float],
    truth: np.ndarray,
    note: str = "",
) -> Row:
    size = index_bytes(index)
    ms = np.asarray(seconds) * 1000.0
    result = Row(
        tier=tier,
        vectors=len(index),
        build_s=round(build_s, 1),
        index_bytes_per_vector=round(size / max(len(index), 1), 1),
        index_gb=round(size / 1e9, 3),
        recall_at_10=round(recall(found, truth), 4),
        p50_ms=round(float(np.percentile(ms, 50)), 2),
        p95_ms=round(float(np.percentile(ms, 95)), 2),
        note=note,
    )
    print(f"  {result}", file=sys.stderr, flush=True)
    return result


def bench_ivfpq(
    args: argparse.Namespace,
    batches: Any,
    f32: np.ndarray,
    f16: np.ndarray,
    queries: np.ndarray,
    truth: np.ndarray,
) -> list[Row]:
    """IVF-PQ: re-rank from float32 and float16 stored vectors, per factor, and PQ alone."""

    def source(stored: np.ndarray) -> Any:
        return lambda wanted: np.asarray(stored[wanted - 1], dtype=np.float32)

    settings = IndexSettings(kind="ivfpq")
    ivf = VectorIndex.create(None, args.dim, settings, vector_source=source(f32))
    began = time.perf_counter()
    ivf.rebuild(batches(args.size), expected=args.size)
    build = time.perf_counter() - began
    lists = faiss.extract_index_ivf(ivf._index).nlist
    rows = []
    for factor in (int(v) for v in args.rerank.split(",")):
        ivf.settings = settings.model_copy(update={"rerank": factor})
        for name, stored in (("f32", f32), ("f16", f16)):
            ivf.vector_source = source(stored)
            found, seconds = timed_queries(ivf, queries, args.k, args.gap_ms)
            note = (
                f"nlist {lists}, nprobe {settings.ivf_nprobe}, PQ48; "
                f"re-rank {factor * args.k} from {name} file"
            )
            tier = f"ivfpq re-rank {factor}xk {name}"
            rows.append(row(tier, ivf, build, found, seconds, truth, note))
    ivf.vector_source = source(f32)
    for nprobe in (int(v) for v in args.nprobe.split(",") if v):
        ivf.settings = settings.model_copy(update={"ivf_nprobe": nprobe})
        found, seconds = timed_queries(ivf, queries, args.k, args.gap_ms)
        note = f"nlist {lists}, nprobe {nprobe}, PQ48; re-rank {settings.rerank * args.k} f32"
        rows.append(row(f"ivfpq nprobe {nprobe}", ivf, build, found, seconds, truth, note))
    ivf.settings = settings.model_copy(update={"rerank": 1})
    found, seconds = timed_queries(ivf, queries, args.k, args.gap_ms)
    rows.append(row("ivfpq, PQ scores only", ivf, build, found, seconds, truth, "no re-rank"))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--hnsw-size", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--clusters", type=int, default=10_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--gap-ms", type=float, default=5.0)
    parser.add_argument("--threads", type=int, default=2, help="FAISS threads for building")
    parser.add_argument("--json", type=Path)
    parser.add_argument(
        "--tiers", default="flat,ivfpq,hnsw", help="comma-separated: flat, ivfpq, hnsw"
    )
    parser.add_argument(
        "--rerank", default="10,30", help="ivfpq re-rank factors to measure (candidates = x k)"
    )
    parser.add_argument(
        "--nprobe", default="", help="also: ivfpq lists probed to measure (float32, rerank 10)"
    )
    args = parser.parse_args(argv)
    set_threads(args.threads)
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((args.clusters, args.dim), dtype=np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    queries = clustered(rng, centres, args.queries)  # (Q, D)
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="vigil-tiers-") as tmp:
        # The catalog's stored vectors, as float32 and float16 files on disk.
        f32 = np.lib.format.open_memmap(
            os.path.join(tmp, "f32.npy"), "w+", np.float32, (args.size, args.dim)
        )
        began = time.perf_counter()
        for start in range(0, args.size, CHUNK):
            f32[start : start + CHUNK] = clustered(rng, centres, min(CHUNK, args.size - start))
        f16 = np.lib.format.open_memmap(
            os.path.join(tmp, "f16.npy"), "w+", np.float16, (args.size, args.dim)
        )
        for start in range(0, args.size, CHUNK):
            f16[start : start + CHUNK] = f32[start : start + CHUNK]
        print(f"generated {args.size:,} in {time.perf_counter() - began:.0f}s", file=sys.stderr)
        ids = np.arange(1, args.size + 1, dtype=np.int64)  # catalog ids start at 1

        def batches(count: int) -> object:
            return (
                (ids[s : min(s + CHUNK, count)], np.asarray(f32[s : min(s + CHUNK, count)]))
                for s in range(0, count, CHUNK)
            )

        def truth_for(count: int) -> np.ndarray:
            exact = faiss.IndexFlatIP(args.dim)
            scores = np.full((args.queries, 0), -np.inf, np.float32)
            best = np.empty((args.queries, 0), np.int64)
            for start in range(0, count, CHUNK):
                exact.reset()
                exact.add(np.asarray(f32[start : min(start + CHUNK, count)]))
                s, i = exact.search(queries, args.k)
                scores = np.concatenate([scores, s], axis=1)
                best = np.concatenate([best, i + start + 1], axis=1)
                order = np.argsort(-scores, axis=1)[:, : args.k]
                scores = np.take_along_axis(scores, order, 1)
                best = np.take_along_axis(best, order, 1)
            return best

        truth = truth_for(args.size)

        tiers = set(args.tiers.split(","))
        # flat: exact by construction (recall 1), latency and RAM measured.
        if "flat" in tiers:
            flat = VectorIndex.create(None, args.dim, IndexSettings(kind="flat"))
            began = time.perf_counter()
            flat.rebuild(batches(args.size))  # type: ignore[arg-type]
            build = time.perf_counter() - began
            found, seconds = timed_queries(flat, queries[:50], args.k, args.gap_ms)
            rows.append(row("flat (exact)", flat, build, found, seconds, truth[:50], "50 queries"))
            del flat

        # ivfpq with re-rank from float32 / float16 stored vectors, and without.
        def source(stored: np.ndarray) -> object:
            return lambda wanted: np.asarray(stored[wanted - 1], dtype=np.float32)

        if "ivfpq" in tiers:
            rows.extend(bench_ivfpq(args, batches, f32, f16, queries, truth))

        # hnsw on a prefix (its build is the slow part), build time extrapolated.
        if "hnsw" in tiers:
            small = min(args.hnsw_size, args.size)
            hnsw = VectorIndex.create(None, args.dim, IndexSettings(kind="hnsw"))
            began = time.perf_counter()
            hnsw.rebuild(batches(small))  # type: ignore[arg-type]
            build = time.perf_counter() - began
            found, seconds = timed_queries(hnsw, queries, args.k, args.gap_ms)
            minutes = build * args.size / small / 60
            rows.append(
                row(
                    "hnsw (M32 efS128)",
                    hnsw,
                    build,
                    found,
                    seconds,
                    truth_for(small),
                    f"built on {small:,}; at {args.size:,} ~{minutes:.0f} min",
                )
            )

    header = (
        f"{'tier':<24} {'vectors':>10} {'build s':>8} {'B/vector':>9} {'index GB':>9} "
        f"{'recall@10':>9} {'p50 ms':>7} {'p95 ms':>7} {'month GB':>9}  note"
    )
    print(
        f"FAISS {faiss.__version__}, {platform.machine()}, {os.cpu_count()} CPUs (shared, "
        f"loaded); SYNTHETIC clustered unit vectors: {args.clusters:,} Gaussian clusters, "
        f"dim {args.dim}, seed 0; {args.queries} queries drawn the same way, k={args.k}; "
        f"single queries with {args.gap_ms:g} ms idle before each, 1 FAISS thread; "
        f"'month GB' = index bytes/vector x {MONTH_FRAMES:,} frames (100 cameras x 30 days)"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        month = r.index_bytes_per_vector * MONTH_FRAMES / 1e9
        print(
            f"{r.tier:<24} {r.vectors:>10,} {r.build_s:>8.1f} {r.index_bytes_per_vector:>9.1f} "
            f"{r.index_gb:>9.3f} {r.recall_at_10:>9.3f} {r.p50_ms:>7.2f} {r.p95_ms:>7.2f} "
            f"{month:>9,.0f}  {r.note}"
        )
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in rows], indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
