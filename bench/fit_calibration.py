"""Fit the search confidence model of the default backend and store it in the package.

    .venv/bin/python bench/fit_calibration.py [--per-class 20]

Data (never the judged set's held-out queries, never Fashion-MNIST's test split):
* Fashion-MNIST TRAIN, ``--per-class`` images per class (seeded): the ten class
  prompts are relevant to their own class's images; twenty prompts for things
  the set does not hold ("a dog", "a car", ...) are relevant to none;
* the judged archive (bench/data/judged_queries.yaml) with its DEV queries only
  (present, paraphrase and absent kinds of v1 and v2), judged as in the file, each
  example weighted ``--dev-weight`` times a Fashion-MNIST one (the archive is what
  cameras and photos look like; Fashion-MNIST is not).
Image queries: Fashion-MNIST TRAIN (each image queries the others) plus the judged
set's DEV image queries (a query photo against the archive), weighted the same way.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_trust import item_ids, relevant_keys
from trust_archive import item_key, load_judged, open_archive, query_image
from vigil.evaluation.datasets import load_fashion_mnist
from vigil.search.calibration import (
    archive_image_examples,
    fit,
    image_examples,
    text_examples,
    write_calibration,
)
from vigil.search.query import parse_query

FASHION_PROMPTS = (
    "a t-shirt", "a pair of trousers", "a pullover", "a dress", "a coat", "a sandal",
    "a shirt", "a sneaker", "a bag", "an ankle boot",
)  # fmt: skip
ABSENT_FROM_FASHION = (
    "a dog", "a car", "a bicycle", "an elephant", "a pizza", "a street", "a tree", "a cat",
    "a bus", "a laptop", "a horse", "a building", "a boat", "a bird", "a clock", "a banana",
    "a football", "a chair", "a mountain", "a crowd of people",
)  # fmt: skip


DEV_WEIGHT = 3.0  # chosen on the dev split (bench_trust --split dev) among 1, 3 and 6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-class", type=int, default=20)
    parser.add_argument("--dev-weight", type=float, default=DEV_WEIGHT)
    parser.add_argument("--cache", type=Path, default=Path(".cache/trust"))
    args = parser.parse_args()

    judged = load_judged()
    workspace = open_archive(args.cache, judged)
    embedder = workspace.embedder

    cached = args.cache / f"fashion-train-{args.per_class}pc.npz"
    train = load_fashion_mnist("train", per_class=args.per_class, seed=1)
    if cached.exists():
        with np.load(cached) as stored:
            vectors = stored["vectors"]
    else:
        vectors = embedder.embed_images(list(train.images))
        np.savez(cached, vectors=vectors)
    labels = train.labels
    fashion_queries = list(FASHION_PROMPTS) + list(ABSENT_FROM_FASHION)
    fashion_relevant = [list(np.flatnonzero(labels == c)) for c in range(10)]
    fashion_relevant += [[] for _ in ABSENT_FROM_FASHION]
    examples = text_examples(embedder, vectors, fashion_queries, fashion_relevant)

    keys = item_ids(workspace, args.cache)
    order = sorted(keys)
    archive_vectors = workspace.vector_index.reconstruct([keys[k] for k in order])
    dev_queries, dev_relevant = [], []
    for query in judged["queries"] + judged.get("queries_v2", []):
        if query["split"] != "dev" or query["kind"] not in ("present", "paraphrase", "absent"):
            continue
        semantic = parse_query(query["query"]).semantic
        if not semantic:
            continue
        wanted = relevant_keys(query, judged, set(keys))
        dev_queries.append(semantic)
        dev_relevant.append([order.index(k) for k in wanted])
    dev = text_examples(embedder, archive_vectors, dev_queries, dev_relevant)
    weights, bias = fit(examples, dev, dev_weight=args.dev_weight)
    write_calibration(
        embedder,
        "text",
        weights,
        bias,
        f"Fashion-MNIST train ({args.per_class}/class, seed 1; 10 class and "
        f"{len(ABSENT_FROM_FASHION)} absent prompts) + judged-set dev queries "
        f"({len(dev_queries)}, weight {args.dev_weight:g})",
        int(examples.labels.size + dev.labels.size),
    )
    print("text", weights, bias)

    image = image_examples(embedder, vectors, labels)
    image_dev = archive_image_examples(
        embedder, archive_vectors, *dev_image_queries(judged, order, args.cache)
    )
    weights, bias = fit(image, image_dev, dev_weight=args.dev_weight)
    write_calibration(
        embedder,
        "image",
        weights,
        bias,
        f"Fashion-MNIST train ({args.per_class}/class, seed 1), image->image + judged-set "
        f"dev image queries ({image_dev.labels.size // 3}, weight {args.dev_weight:g})",
        int(image.labels.size + image_dev.labels.size),
    )
    print("image", weights, bias)
    workspace.close()


def dev_image_queries(
    judged: dict[str, Any], order: list[str], cache: Path
) -> tuple[list[np.ndarray], list[list[int]]]:
    """The DEV image queries' pixels and the archive positions (in ``order``) relevant to each."""
    images, relevant = [], []
    for query in judged.get("image_queries", []):
        if query["split"] != "dev":
            continue
        images.append(query_image(query["source"], cache))
        wanted = {item_key(k) for k in query.get("relevant", [])}
        relevant.append([order.index(k) for k in wanted])
    return images, relevant


if __name__ == "__main__":
    main()
