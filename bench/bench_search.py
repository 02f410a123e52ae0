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

``--gap-ms G`` measures instead single queries as a user sends them: each after G ms
idle (so OpenMP's worker threads have gone to sleep), interleaved in one run between
the old way (every FAISS thread, ``single_query_threads=0``) and the new (one thread
for a single query, the default), unfiltered and filtered:

    .venv/bin/python bench/bench_search.py --sizes 200000 --gap-ms 20 --data clustered

``--catalog-filter N`` measures instead the whole filtered query the search API runs
at N records: an SQLite catalog of N frames (100 cameras at 10 sites, one frame a
second each, SYNTHETIC random vectors) and its HNSW index; each query turns a
``SearchFilters`` into allowed ids in SQL, searches the index with them and reads
the hits back (``search_by_vector``). p50/p95 per filter kind, SQL share apart:

    .venv/bin/python bench/bench_search.py --catalog-filter 1000000 --dim 384
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import faiss
import numpy as np

from vigil.catalog.schema import EmbeddingRow, FrameRow
from vigil.catalog.store import Catalog
from vigil.catalog.vector_index import VectorIndex, set_threads
from vigil.search.filters import allowed_ids
from vigil.search.text import search_by_vector
from vigil.search.types import SearchFilters, Target
from vigil.settings import IndexSettings
from vigil.sources.types import SourceKind, SourceSpec

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


def bench_size(size: int, args: argparse.Namespace) -> list[Row] | list[IsolatedRow]:
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

    if args.gap_ms > 0:
        return [bench_isolated(index, queries, allowed, build_s, args)]
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


@dataclass
class IsolatedRow:
    size: int
    dim: int
    threads: int
    gap_ms: float
    build_s: float
    before_p50_ms: float  # every FAISS thread for one query (single_query_threads=0)
    before_p95_ms: float
    after_p50_ms: float  # one thread for one query (the default)
    after_p95_ms: float
    filtered_before_p50_ms: float
    filtered_before_p95_ms: float
    filtered_after_p50_ms: float
    filtered_after_p95_ms: float


def bench_isolated(
    index: VectorIndex,
    queries: np.ndarray,
    allowed: np.ndarray,
    build_s: float,
    args: argparse.Namespace,
) -> IsolatedRow:
    """Each query after ``gap_ms`` idle, old and new thread setting interleaved (ABBA order)."""
    modes = {"before": 0, "after": IndexSettings().single_query_threads}
    base = index.settings
    timings: dict[str, list[float]] = {f"{f}{m}": [] for m in modes for f in ("", "filtered_")}
    for threads in modes.values():  # warm-up, each mode once
        index.settings = base.model_copy(update={"single_query_threads": threads})
        index.search(queries[0], args.k)
    for n, query in enumerate(queries):
        order = list(modes.items()) if n % 2 == 0 else list(modes.items())[::-1]
        for filtered in (False, True):
            for mode, threads in order:
                index.settings = base.model_copy(update={"single_query_threads": threads})
                time.sleep(args.gap_ms / 1000.0)
                began = time.perf_counter()
                index.search(query, args.k, allowed_ids=allowed if filtered else None)
                elapsed = time.perf_counter() - began
                timings[f"{'filtered_' if filtered else ''}{mode}"].append(elapsed)
    index.settings = base

    def p(key: str, q: float) -> float:
        return round(percentile_ms(timings[key], q), 3)

    return IsolatedRow(
        size=len(index),
        dim=index.dim,
        threads=args.threads,
        gap_ms=args.gap_ms,
        build_s=round(build_s, 2),
        before_p50_ms=p("before", 50),
        before_p95_ms=p("before", 95),
        after_p50_ms=p("after", 50),
        after_p95_ms=p("after", 95),
        filtered_before_p50_ms=p("filtered_before", 50),
        filtered_before_p95_ms=p("filtered_before", 95),
        filtered_after_p50_ms=p("filtered_after", 50),
        filtered_after_p95_ms=p("filtered_after", 95),
    )


def print_isolated(rows: list[IsolatedRow], args: argparse.Namespace) -> None:
    print(
        f"isolated single queries, {args.gap_ms:g} ms idle before each; before = all "
        f"{args.threads} FAISS threads per query, after = {IndexSettings().single_query_threads} "
        "(single_query_threads); interleaved ABBA in one run; filter = random 10% of ids"
    )
    header = (
        f"{'vectors':>9} {'p50 before':>10} {'p50 after':>9} {'p95 before':>10} "
        f"{'p95 after':>9} {'filt p50 b':>10} {'filt p50 a':>10} {'filt p95 b':>10} "
        f"{'filt p95 a':>10}"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        print(
            f"{r.size:>9,} {r.before_p50_ms:>10.2f} {r.after_p50_ms:>9.2f} "
            f"{r.before_p95_ms:>10.2f} {r.after_p95_ms:>9.2f} "
            f"{r.filtered_before_p50_ms:>10.2f} {r.filtered_after_p50_ms:>10.2f} "
            f"{r.filtered_before_p95_ms:>10.2f} {r.filtered_after_p95_ms:>10.2f}"
        )


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
    parser.add_argument(
        "--gap-ms",
        type=float,
        default=0.0,
        help="instead: isolated single queries with this idle gap, old vs new threads",
    )
    parser.add_argument(
        "--catalog-filter",
        type=int,
        default=0,
        metavar="N",
        help="instead: end-to-end filtered queries (SQL filter + index + hydrate) at N records",
    )
    parser.add_argument(
        "--build-threads", type=int, default=0, help="FAISS threads while building (0: same)"
    )
    args = parser.parse_args(argv)
    args.ef_search = [int(v) for v in args.ef_search.split(",")]
    sizes = [int(v) for v in args.sizes.split(",")]
    set_threads(args.threads)
    if args.catalog_filter:
        return bench_catalog_filter(args)

    if args.gap_ms > 0:
        isolated: list[IsolatedRow] = []
        for size in sizes:
            isolated.extend(bench_size(size, args))  # type: ignore[arg-type]
        print_isolated(isolated, args)
        if args.json:
            payload = {"faiss": faiss.__version__, "rows": [asdict(r) for r in isolated]}
            args.json.write_text(json.dumps(payload, indent=2) + "\n")
        return 0
    rows: list[Row] = []
    for size in sizes:
        rows.extend(bench_size(size, args))  # type: ignore[arg-type]

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


CAMERAS = 100
SITES = 10
START = datetime(2026, 11, 1, tzinfo=UTC)


def build_catalog(folder: Path, size: int, dim: int, rng: np.random.Generator) -> tuple:
    """SQLite catalog + HNSW index of ``size`` frames: 100 cameras, each 1 frame/s from START."""
    catalog = Catalog.open(f"sqlite:///{folder / 'catalog.db'}")
    for camera in range(CAMERAS):
        catalog.add_source(
            SourceSpec(
                name=f"cam-{camera:03d}",
                kind=SourceKind.VIDEO,
                location=f"/videos/cam-{camera:03d}.mp4",
                site=f"site-{camera % SITES}",
            )
        )
    index = VectorIndex.create(None, dim, IndexSettings())
    per_camera = size // CAMERAS
    frames, embeddings = FrameRow.__table__, EmbeddingRow.__table__
    frame_id = 0
    began = time.perf_counter()
    for camera in range(CAMERAS):
        vectors = unit_vectors(rng, per_camera, dim)
        ids = np.arange(frame_id + 1, frame_id + per_camera + 1, dtype=np.int64)
        with catalog.writes.begin() as session:
            session.execute(
                frames.insert(),
                [
                    {
                        "id": int(i),
                        "source_id": camera + 1,
                        "frame_index": n * 10,
                        "media_time": float(n),
                        "captured_at": START + timedelta(seconds=n),
                        "width": 1280,
                        "height": 720,
                        "thumbnail_path": f"thumbs/{camera + 1}/{n:012d}.jpg",
                    }
                    for n, i in enumerate(ids)
                ],
            )
            session.execute(
                embeddings.insert(),
                [
                    {
                        "id": int(i),
                        "frame_id": int(i),
                        "model_id": "bench",
                        "dim": dim,
                        "vector": vector.astype("<f4").tobytes(),
                    }
                    for i, vector in zip(ids, vectors, strict=True)
                ],
            )
        index.add(ids, vectors)
        frame_id += per_camera
        if camera % 10 == 9:
            print(
                f"  catalog: {frame_id:,} frames ({time.perf_counter() - began:.0f}s)",
                file=sys.stderr,
            )
    return catalog, index, per_camera


def bench_catalog_filter(args: argparse.Namespace) -> int:
    """p50/p95 of whole filtered queries (SQL filter + filtered HNSW + hydrate) at N frames."""
    rng = np.random.default_rng(7)
    if args.build_threads:
        set_threads(args.build_threads)
    with tempfile.TemporaryDirectory(prefix="vigil-bench-search-") as tmp:
        catalog, index, per_camera = build_catalog(Path(tmp), args.catalog_filter, args.dim, rng)
        set_threads(args.threads)
        hour = START + timedelta(seconds=per_camera // 2)
        cases = {
            "none (all)": SearchFilters(),
            "1 camera (1%)": SearchFilters(sources=(17,)),
            "10 cameras (10%)": SearchFilters(sources=tuple(range(1, 101, 10))),
            "1 site (10%)": SearchFilters(sites=("site-3",)),
            "1 h window (all cams)": SearchFilters(since=hour, until=hour + timedelta(hours=1)),
            "site + 1 h window": SearchFilters(
                sites=("site-3",), since=hour, until=hour + timedelta(hours=1)
            ),
            "media 0-600 s": SearchFilters(media_start_s=0.0, media_end_s=600.0),
        }
        queries = unit_vectors(rng, args.queries, args.dim)
        print(
            f"end-to-end filtered search_by_vector, SQLite catalog + FAISS HNSW, "
            f"{args.catalog_filter:,} frames ({CAMERAS} cameras, {SITES} sites), dim {args.dim}, "
            f"{args.threads} threads, k={args.k}, {args.queries} queries; SYNTHETIC vectors"
        )
        header = f"{'filter':<24} {'allowed':>9} {'sql p50':>8} {'p50 ms':>8} {'p95 ms':>8}"
        print(header)
        print("-" * len(header))
        rows = []
        for name, filters in cases.items():
            allowed = allowed_ids(catalog, "bench", Target.FRAMES, filters)
            sql, total = [], []
            for query in queries:
                began = time.perf_counter()
                allowed_ids(catalog, "bench", Target.FRAMES, filters)
                sql.append(time.perf_counter() - began)
                began = time.perf_counter()
                hits = search_by_vector(
                    query,
                    catalog=catalog,
                    vector_index=index,
                    model_id="bench",
                    filters=filters,
                    limit=args.k,
                )
                total.append(time.perf_counter() - began)
                assert len(hits) == args.k
            row = {
                "filter": name,
                "allowed": int(allowed.size) if allowed is not None else len(index),
                "sql_p50_ms": round(percentile_ms(sql, 50), 2),
                "p50_ms": round(percentile_ms(total, 50), 2),
                "p95_ms": round(percentile_ms(total, 95), 2),
            }
            rows.append(row)
            print(
                f"{name:<24} {row['allowed']:>9,} {row['sql_p50_ms']:>8.2f} "
                f"{row['p50_ms']:>8.2f} {row['p95_ms']:>8.2f}"
            )
        catalog.close()
    if args.json:
        args.json.write_text(json.dumps({"catalog_filter": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
