"""Tune the anomaly method on a VALIDATION split of ELPV mono cells, never the test split.

The protocol's test split (``load_elpv("mono")``: 100 + 100 cells, seed 0) is
left alone. From the cells outside it this script draws (seed 1000) a
validation test set of 100 functional + 100 defective cells and, from what
remains, 3 draws of 25 normals and 8 labelled defects: the protocol's shape on
disjoint cells. Lite0's block outputs are extracted once per cell (cached
under ``--cache``), then feature recipes and scoring rules are compared on
them. What this chose is written in ``vigil.anomaly.patchcore`` and
``vigil.anomaly.features`` with the validation figures beside each choice.

    .venv/bin/python bench/tune_anomaly.py --cache /tmp/anomaly-tune
"""

from __future__ import annotations

import argparse
import itertools
import time
from pathlib import Path
from typing import Any

import numpy as np

BLOCKS = (2, 4, 7, 10)  # stride 4 (24 ch), 8 (40), 16 (80), 16 (112)


def validation_split(seed: int = 1000) -> dict[str, np.ndarray]:
    from vigil.anomaly.evaluate import load_elpv

    split = load_elpv("mono")
    rng = np.random.default_rng(seed)
    normal = rng.permutation(split.normal_pool)
    bad = rng.permutation(split.defect_pool)
    assert not set(normal) & set(split.test) and not set(bad) & set(split.test)
    return {
        "images": split.images,
        "test": np.concatenate([normal[:100], bad[:100]]),
        "labels": np.concatenate([np.zeros(100, bool), np.ones(100, bool)]),
        "normals": normal[100:],
        "defects": bad[100:],
    }


def extract_blocks(images: list[np.ndarray], size: int) -> dict[int, np.ndarray]:
    """Raw outputs of BLOCKS for each image: {block: (N, C, h, w) float16}."""
    import torch

    from vigil.anomaly.features import FeatureConfig, _patch_net, preprocess

    net = _patch_net(FeatureConfig(layers=(4, 10)))
    out: dict[int, list[np.ndarray]] = {b: [] for b in BLOCKS}
    for start in range(0, len(images), 16):
        x = torch.from_numpy(preprocess(images[start : start + 16], size))
        with torch.inference_mode():
            x = net.stem(x)
            for index, block in enumerate(net.blocks):
                x = block(x)
                if index in BLOCKS:
                    out[index].append(x.numpy().astype(np.float16))
    return {b: np.concatenate(v) for b, v in out.items()}


def compose(blocks: dict[int, np.ndarray], layers: tuple[int, ...], pool: int) -> np.ndarray:
    """(N, P, D) patch vectors on the stride-8 grid from the chosen blocks."""
    import torch
    import torch.nn.functional as functional

    maps = []
    grid = blocks[4].shape[-1]
    for layer in layers:
        x = torch.from_numpy(blocks[layer].astype(np.float32))
        if pool > 1:
            x = functional.avg_pool2d(x, pool, stride=1, padding=pool // 2, count_include_pad=False)
        if x.shape[-1] > grid:
            x = functional.adaptive_avg_pool2d(x, grid)
        elif x.shape[-1] < grid:
            x = functional.interpolate(x, size=(grid, grid), mode="bilinear", align_corners=False)
        maps.append(x)
    cat = torch.cat(maps, dim=1).numpy()  # (N, D, g, g)
    return np.ascontiguousarray(cat.transpose(0, 2, 3, 1).reshape(len(cat), -1, cat.shape[1]))


def reweighted(model: Any, patches: np.ndarray, raw: np.ndarray, k: int = 9) -> np.ndarray:
    """PatchCore's image score re-weighting (Roth et al. 2022, eq. 7; as in Anomalib).

    The most anomalous patch's score is scaled by 1 - softmax over its distances to
    its nearest bank patch's ``k`` nearest bank neighbours: a patch that lands in a
    sparse part of the bank scores higher than one in a dense part.
    """
    import faiss

    index = model.index
    top = raw.argmax(axis=1)  # (B,)
    queries = np.ascontiguousarray(patches[np.arange(len(patches)), top])  # (B, D)
    _, nearest = index.search(queries, 1)
    anchors = model.bank[nearest[:, 0]]
    _, support = index.search(np.ascontiguousarray(anchors), k)  # (B, k)
    diffs = queries[:, None, :] - model.bank[support]  # (B, k, D)
    distances = np.sqrt((diffs**2).sum(axis=2))
    shifted = distances - distances.max(axis=1, keepdims=True)
    weights = 1.0 - np.exp(shifted[:, 0]) / np.exp(shifted).sum(axis=1)
    del faiss
    return weights * raw.max(axis=1)


def score_variants(features, rows, val, draws_n, draws_d, holdout, ratios=(0.1, 0.25)) -> None:  # type: ignore[no-untyped-def]
    from vigil.anomaly import patchcore
    from vigil.anomaly.evaluate import auroc, detection_at
    from vigil.anomaly.features import FeatureConfig

    labels = val["labels"]
    grid = int(np.sqrt(features.shape[1]))
    config = FeatureConfig(input_size=grid * 8)
    test = features[rows(val["test"])]
    for ratio in ratios:
        res: dict[str, list[float]] = {}
        for d in range(len(draws_n)):
            model = patchcore.fit_patches(
                features[rows(draws_n[d])], config, coreset_ratio=ratio, seed=d
            )
            raw = patchcore._nearest(model.index, test)
            variants = {}
            for sigma in (0.0, 1.0, 2.0):
                sm = patchcore.smooth(raw, grid, sigma)
                variants[f"max s{sigma}"] = sm.max(axis=1)
                for k in (4, 16):
                    variants[f"top{k} s{sigma}"] = np.sort(sm, axis=1)[:, -k:].mean(axis=1)
            variants["reweight s1"] = reweighted(model, test, patchcore.smooth(raw, grid, 1.0))
            variants["reweight s0"] = reweighted(model, test, raw)
            # The head on LOO normals vs the 8 labelled defects, and the false alarms of
            # both conformal thresholds on held-out normals (outside the draw and val test).
            normal_stats = np.delete(patchcore.patch_statistics(model._loo), model.suspects, axis=0)
            defect_patches = features[rows(draws_d[d])]
            defect_raw = model.distances(defect_patches)
            test_sm = patchcore.smooth(raw, grid, 1.0)
            head = patchcore.fit_head(normal_stats, patchcore.patch_statistics(defect_raw))
            variants["head"] = head.probability(patchcore.patch_statistics(test_sm))
            hthr, _ = patchcore.conformal_threshold(
                np.array(
                    [
                        patchcore.fit_head(
                            np.delete(normal_stats, j, axis=0),
                            patchcore.patch_statistics(defect_raw),
                        ).probability(normal_stats[j : j + 1])[0]
                        for j in range(len(normal_stats))
                    ]
                ),
                0.05,
            )
            held = features[rows(holdout[d])]
            held_sm = patchcore.smooth(patchcore._nearest(model.index, held), grid, 1.0)
            held_p = head.probability(patchcore.patch_statistics(held_sm))
            res.setdefault("head conformal FA on held-out normals", []).append(
                float((held_p >= hthr).mean())
            )
            res.setdefault("distance conformal FA on held-out normals", []).append(
                float((held_sm.max(axis=1) >= model.threshold).mean())
            )
            for name, scores in variants.items():
                res.setdefault(name + " auroc", []).append(auroc(labels, scores))
                res.setdefault(name + " det", []).append(detection_at(labels, scores))
        print(f"ratio={ratio}")
        for name, values in res.items():
            print(f"  {name}: {np.mean(values):.3f} ({np.min(values):.3f}-{np.max(values):.3f})")


def defect_bank_variants(features, rows, val, draws_n, draws_d) -> None:  # type: ignore[no-untyped-def]
    """The 8 labelled defects' far-from-normal patches as a second bank (issue 20).

    Defect patches farther from the normal bank than the 99th / 99.9th percentile of
    the normals' own leave-one-out patch distances form a defect bank; a test image
    scores its top-16 normal distance minus lambda times a distance to that bank, or a
    2-feature logistic head (normals leave-one-out, each defect against the bank
    without its own patches). Compared with top-k (k = 4..32) and a 3-NN distance.
    """
    from sklearn.linear_model import LogisticRegression

    from vigil.anomaly import patchcore
    from vigil.anomaly.evaluate import auroc, detection_at
    from vigil.anomaly.features import FeatureConfig

    labels = val["labels"]
    grid = int(np.sqrt(features.shape[1]))
    config = FeatureConfig(input_size=grid * 8)
    test = features[rows(val["test"])]
    res: dict[str, list[float]] = {}

    def add(name: str, scores: np.ndarray) -> None:
        res.setdefault(name + " auroc", []).append(auroc(labels, scores))
        res.setdefault(name + " det", []).append(detection_at(labels, scores))

    def top(d: np.ndarray, k: int = 16) -> np.ndarray:
        return np.sort(d, axis=1)[:, -k:].mean(axis=1)

    def bottom(d: np.ndarray, k: int = 16) -> np.ndarray:
        return np.sort(d, axis=1)[:, :k].mean(axis=1)

    for d in range(len(draws_n)):
        normals = features[rows(draws_n[d])]
        model = patchcore.fit_patches(normals, config, seed=d)
        dn = patchcore._nearest(model.index, test)
        for k in (4, 8, 16, 32):
            add(f"top{k}", top(dn, k))
        squared, _ = model.index.search(np.ascontiguousarray(test.reshape(-1, test.shape[2])), 3)
        add("knn3 top16", top(np.sqrt(np.maximum(squared, 0)).mean(axis=1).reshape(dn.shape)))
        defects = features[rows(draws_d[d])]
        to_normal = patchcore._nearest(model.index, defects)
        for pct in (99.0, 99.9):
            far = to_normal > np.percentile(model._loo, pct)
            bank = patchcore._flat_index(defects[far])
            dd = patchcore._nearest(bank, test)
            add(f"p{pct} ratio top16", top(dn / (dn + dd + 1e-9)))
            add(f"p{pct} -min dd", -dd.min(axis=1))
            for lam in (0.25, 0.5, 1.0):
                add(f"p{pct} top16(dn-{lam}dd)", top(dn - lam * dd))
                add(f"p{pct} top16dn-{lam}*bot16dd", top(dn) - lam * bottom(dd))
            if pct == 99.0:
                xn = np.c_[top(model._loo), bottom(patchcore._nearest(bank, normals))]
                xd = []
                for j in range(len(defects)):
                    others = far.copy()
                    others[j] = False
                    own = patchcore._nearest(
                        patchcore._flat_index(defects[others]), defects[j : j + 1]
                    )
                    xd.append([top(to_normal[j : j + 1])[0], bottom(own)[0]])
                x = np.log(np.r_[xn, np.array(xd)])
                y = np.r_[np.zeros(len(xn)), np.ones(len(xd))]
                xt = np.log(np.c_[top(dn), bottom(dd)])
                for c in (0.1, 1.0, 10.0):
                    head = LogisticRegression(C=c, class_weight="balanced", max_iter=1000)
                    add(f"p99 logit C{c}", head.fit(x, y).decision_function(xt))
    print("mean over draws (min-max)")
    for name, values in res.items():
        print(f"  {name}: {np.mean(values):.3f} ({np.min(values):.3f}-{np.max(values):.3f})")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cache", type=Path, default=Path("/tmp/anomaly-tune"))
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--draws", type=int, default=3)
    parser.add_argument("--mode", choices=("recipes", "scoring", "defect-bank"), default="recipes")
    args = parser.parse_args()

    from vigil.anomaly import patchcore
    from vigil.anomaly.evaluate import auroc, detection_at
    from vigil.anomaly.features import FeatureConfig

    val = validation_split()
    draws_n = [
        np.random.default_rng(1 + d).permutation(val["normals"])[:25] for d in range(args.draws)
    ]
    draws_d = [
        np.random.default_rng(1 + d).permutation(val["defects"])[:8] for d in range(args.draws)
    ]
    holdout = [np.setdiff1d(val["normals"], dn)[:100] for dn in draws_n]
    needed = np.unique(np.concatenate([val["test"], *draws_n, *draws_d, *holdout]))
    args.cache.mkdir(parents=True, exist_ok=True)
    cache = args.cache / f"blocks-{args.size}.npz"
    if cache.exists():
        loaded = np.load(cache)
        blocks = {b: loaded[str(b)] for b in BLOCKS}
        assert np.array_equal(loaded["ids"], needed)
    else:
        started = time.perf_counter()
        blocks = extract_blocks([val["images"][i] for i in needed], args.size)
        print(f"extracted {len(needed)} cells in {time.perf_counter() - started:.0f} s")
        np.savez(cache, ids=needed, **{str(b): v for b, v in blocks.items()})
    position = {int(c): i for i, c in enumerate(needed)}
    labels = val["labels"]

    def rows(ids: np.ndarray) -> np.ndarray:
        return np.array([position[int(i)] for i in ids])

    if args.mode == "scoring":
        ratios = (0.1, 0.25) if args.size == 224 else (0.1,)
        score_variants(compose(blocks, (4, 10), 3), rows, val, draws_n, draws_d, holdout, ratios)
        return
    if args.mode == "defect-bank":
        defect_bank_variants(compose(blocks, (4, 10), 3), rows, val, draws_n, draws_d)
        return
    recipes = [((4, 10), 3), ((4, 7), 3), ((2, 4, 10), 3), ((4, 7, 10), 3), ((4, 10), 5)]
    for layers, pool in recipes:
        features = compose(blocks, layers, pool)
        config = FeatureConfig(layers=(4, 10), input_size=args.size, pool=pool)
        for ratio, sigma in itertools.product((0.1,), (1.0,)):
            patchcore.SMOOTHING_SIGMA = sigma
            res: dict[str, list[float]] = {}
            for d in range(args.draws):
                model = patchcore.fit_patches(
                    features[rows(draws_n[d])], config, coreset_ratio=ratio, seed=d
                )
                dist = model.distances(features[rows(val["test"])])
                scores = dist.max(axis=1)
                res.setdefault("auroc", []).append(auroc(labels, scores))
                res.setdefault("det", []).append(detection_at(labels, scores))
                held = model.distances(features[rows(holdout[d])]).max(axis=1)
                res.setdefault("fa_max", []).append(float((held >= model.threshold).mean()))
                head = patchcore.with_head(model, features[rows(draws_d[d])])
                hs = head.head.probability(patchcore.patch_statistics(dist))  # type: ignore[union-attr]
                res.setdefault("h_auroc", []).append(auroc(labels, hs))
                res.setdefault("h_det", []).append(detection_at(labels, hs))
            print(
                f"layers={layers} pool={pool} ratio={ratio} sigma={sigma}: "
                + " ".join(f"{k}={np.mean(v):.3f}" for k, v in res.items()),
                flush=True,
            )


if __name__ == "__main__":
    main()
