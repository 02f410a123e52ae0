"""PatchCore on FAISS: learn "normal" from a few normal images, score how far anything is from it.

The method (Roth et al., "Towards Total Recall in Industrial Anomaly
Detection", CVPR 2022; Anomalib is the reference implementation, which needs
torchvision and hub weights, so it is written here natively):

1. every patch vector of every normal image goes into one pool
   (``features.PatchExtractor``: 28x28 patches of 152-d for a 224-px image);
2. a greedy k-center *coreset* keeps about 10 % of them such that every pooled
   patch lies close to a kept one (the bank stays small, the coverage stays);
3. a patch's anomaly is the distance to its nearest bank patch (FAISS
   ``IndexFlatL2``: exact, no training, fine at a few thousand rows); the
   image's score is the mean of its 16 largest patch distances (PatchCore
   takes the single largest; see ``IMAGE_TOP_K``), and the patch distances,
   upsampled and blurred, are the anomaly map shown to a person.

Nearest-neighbour search over *all* bank patches, not the patch at the same
position, is what makes the score tolerant of shifts and rotations of the part.

The threshold comes from the normals alone, with a stated false-alarm rate
(``false_alarm_rate``, 5 % by default): each normal is scored against the bank
without its own patches (leave-one-out), and the threshold is the conformal
(1 - rate) quantile of those scores (``conformal_threshold``): a new normal
item exchangeable with them scores above it with probability at most the
rate. With few normals no quantile can promise that little (n normals promise
at best 1 / (n + 1): 9 % with 10), so the threshold is then their largest
score and the model says which rate it does promise (``false_alarm_bound``).
A normal whose own leave-one-out score stands far above the others' is
probably a defect filed among the normals; it is flagged by name and left out
of the quantile. When labelled defect examples exist, a small logistic head on
the score and the statistics of the most anomalous patches is fitted on the
leave-one-out normals against the defects; its probability becomes the score,
and the threshold is the same conformal quantile of the normals' head
probabilities, each from a head fitted without that normal (cross-fitted: a
head's probability on its own training normals would be optimistic).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from vigil.anomaly.features import FeatureConfig, PatchExtractor
from vigil.errors import InvalidInputError, VectorIndexError

#: Fewer normals than this cannot support a leave-one-out threshold.
MIN_NORMALS = 5
#: Normal images whose aspect ratios differ more than this are not the same part.
MAX_ASPECT_SPREAD = 0.15
#: Robust z-score (median / MAD) above which a normal's own score flags it as a likely defect.
SUSPECT_Z = 3.5
DEFAULT_CORESET_RATIO = 0.1
#: The share of normal items a threshold from examples aims to flag (false alarms).
FALSE_ALARM_RATE = 0.05


def conformal_threshold(scores: np.ndarray, rate: float) -> tuple[float, float]:
    """The split-conformal (1 - ``rate``) upper quantile of held-out normal ``scores``.

    Returns (threshold, promised rate). With n scores, the ceil((n + 1)(1 - rate))-th
    smallest: a new score exchangeable with them exceeds it with probability at most
    ``rate`` (Vovk et al. 2005; Angelopoulos & Bates 2021, sec. 1). When that rank
    passes n (n < 1 / rate - 1) the largest score is used, which promises 1 / (n + 1).

    >>> conformal_threshold(np.arange(1.0, 26.0), 0.05)
    (25.0, 0.05)
    >>> conformal_threshold(np.arange(1.0, 41.0), 0.1)
    (37.0, 0.1)
    """
    if not 0.0 < rate < 1.0:
        raise InvalidInputError(f"false_alarm_rate must be in (0, 1), got {rate}")
    ordered = np.sort(np.asarray(scores, dtype=np.float64))
    count = len(ordered)
    if count == 0:
        raise InvalidInputError("a threshold needs at least one held-out normal score")
    rank = int(np.ceil((count + 1) * (1.0 - rate)))
    if rank > count:
        return float(ordered[-1]), 1.0 / (count + 1)
    return float(ordered[rank - 1]), rate


def greedy_coreset(
    patches: np.ndarray, ratio: float, *, seed: int = 0, projection_dim: int = 128
) -> np.ndarray:
    """Indices of a greedy k-center coreset of ``patches`` (N, D), about ``ratio * N`` of them.

    Distances are computed on a random projection to ``projection_dim``
    dimensions (as PatchCore does: the ranking of distances survives it, the
    cost drops several-fold). The first centre is drawn with ``seed``.
    """
    count = len(patches)
    target = max(1, min(count, round(count * ratio)))
    if target >= count:
        return np.arange(count)
    rng = np.random.default_rng(seed)
    vectors = patches.astype(np.float32, copy=False)
    if vectors.shape[1] > projection_dim:
        projection = rng.standard_normal((vectors.shape[1], projection_dim)).astype(np.float32)
        vectors = vectors @ (projection / np.sqrt(projection_dim))
    squared = np.einsum("ij,ij->i", vectors, vectors)
    chosen = np.empty(target, dtype=np.int64)
    chosen[0] = int(rng.integers(count))
    # min squared distance from each point to the chosen set, updated one centre at a time
    nearest = squared + squared[chosen[0]] - 2.0 * vectors @ vectors[chosen[0]]
    for step in range(1, target):
        pick = int(np.argmax(nearest))
        chosen[step] = pick
        distance = squared + squared[pick] - 2.0 * vectors @ vectors[pick]
        np.minimum(nearest, distance, out=nearest)
    return np.sort(chosen)


def _flat_index(bank: np.ndarray) -> Any:
    import faiss

    index = faiss.IndexFlatL2(bank.shape[1])
    index.add(np.ascontiguousarray(bank, dtype=np.float32))
    return index


def _nearest(index: Any, patches: np.ndarray) -> np.ndarray:
    """(B, P, D) patches -> (B, P) distance to the nearest bank patch."""
    count, per_image, dim = patches.shape
    squared, _ = index.search(np.ascontiguousarray(patches.reshape(-1, dim)), 1)
    distances: np.ndarray = np.sqrt(np.maximum(np.asarray(squared)[:, 0], 0.0))
    return distances.reshape(count, per_image)


#: Gaussian smoothing of the patch-distance map before the image score, in patches (0: none).
#: Was 1.0 while the image score was the single largest patch (a lone noisy patch then
#: scored lower); with the top-k mean below, which already needs several patches to
#: agree, no smoothing did better on the validation split (bench/tune_anomaly.py).
SMOOTHING_SIGMA = 0.0
#: The image score: the mean of the k largest patch distances (PatchCore takes k = 1).
#: A crack or a dark finger lights a line or an area of patches; one stray patch less so.
#: Validation split of mono cells (never the test split), 25 normals, 3 draws: AUROC
#: 0.936 (max, smoothed) -> 0.942 (top 16, unsmoothed); detection at <= 5 % false alarms
#: 80 % -> 83 %.
IMAGE_TOP_K = 16


def image_scores(distances: np.ndarray, top_k: int) -> np.ndarray:
    """(B, P) patch distances -> (B,) image scores: the mean of the ``top_k`` largest."""
    k = max(1, min(top_k, distances.shape[1]))
    return np.asarray(np.sort(distances, axis=1)[:, -k:].mean(axis=1), dtype=np.float64)


def smooth(distances: np.ndarray, grid: int, sigma: float = SMOOTHING_SIGMA) -> np.ndarray:
    """(B, grid*grid) patch distances -> the same, Gaussian-smoothed on the patch grid."""
    if sigma <= 0:
        return distances
    maps = distances.reshape(-1, grid, grid).astype(np.float32)
    blurred = [cv2.GaussianBlur(one, (0, 0), sigma, borderType=cv2.BORDER_REFLECT) for one in maps]
    return np.stack(blurred).reshape(distances.shape).astype(np.float64)


def patch_statistics(distances: np.ndarray) -> np.ndarray:
    """(B, P) patch distances -> (B, 5) features for the supervised head.

    Max (the PatchCore score), mean of the top 1 % and top 5 % of patches (a
    long crack lights many patches, a speck one), the mean and the spread.
    """
    ordered = np.sort(distances, axis=1)[:, ::-1]
    patches = distances.shape[1]
    top1 = ordered[:, : max(1, patches // 100)].mean(axis=1)
    top5 = ordered[:, : max(1, patches // 20)].mean(axis=1)
    return np.stack(
        [ordered[:, 0], top1, top5, distances.mean(axis=1), distances.std(axis=1)], axis=1
    )


@dataclass(frozen=True)
class SupervisedHead:
    """Logistic regression on ``patch_statistics``, fitted on LOO normals vs defects."""

    mean: np.ndarray  # (5,) feature standardisation
    scale: np.ndarray  # (5,)
    coef: np.ndarray  # (5,)
    intercept: float

    def probability(self, statistics: np.ndarray) -> np.ndarray:
        logits = ((statistics - self.mean) / self.scale) @ self.coef + self.intercept
        return np.asarray(1.0 / (1.0 + np.exp(-logits)), dtype=np.float64)

    def to_json(self) -> dict[str, Any]:
        return {
            "mean": self.mean.tolist(),
            "scale": self.scale.tolist(),
            "coef": self.coef.tolist(),
            "intercept": self.intercept,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SupervisedHead:
        return cls(
            mean=np.asarray(data["mean"], dtype=np.float64),
            scale=np.asarray(data["scale"], dtype=np.float64),
            coef=np.asarray(data["coef"], dtype=np.float64),
            intercept=float(data["intercept"]),
        )


def fit_head(normal_stats: np.ndarray, defect_stats: np.ndarray) -> SupervisedHead:
    """A balanced, L2-regularised logistic regression: few defects must not swing it."""
    from sklearn.linear_model import LogisticRegression

    features = np.concatenate([normal_stats, defect_stats])
    labels = np.concatenate([np.zeros(len(normal_stats)), np.ones(len(defect_stats))])
    mean = features.mean(axis=0)
    scale = features.std(axis=0)
    scale[scale == 0] = 1.0
    model = LogisticRegression(C=1.0, class_weight="balanced", max_iter=1000)
    model.fit((features - mean) / scale, labels)
    return SupervisedHead(
        mean, scale, model.coef_[0].astype(np.float64), float(model.intercept_[0])
    )


@dataclass(frozen=True)
class ItemScore:
    """One scored item."""

    score: float  # the decision score: head probability when a head exists, else distance
    distance: float  # mean of the top-k patch distances to the normal bank (image score)
    anomalous: bool  # score >= the model's threshold
    patch_map: np.ndarray = field(repr=False)  # (grid, grid) patch distances

    def heatmap(self, height: int, width: int, *, sigma: float = 4.0) -> np.ndarray:
        """The anomaly map at (height, width): bilinear upsampling then a Gaussian blur."""
        resized = cv2.resize(
            self.patch_map.astype(np.float32), (width, height), interpolation=cv2.INTER_LINEAR
        )
        return np.asarray(cv2.GaussianBlur(resized, (0, 0), sigma), dtype=np.float32)


@dataclass
class AnomalyModel:
    """A fitted memory bank with its threshold, feature recipe and optional head."""

    config: FeatureConfig
    bank: np.ndarray  # (M, D) float32 coreset patches of the normals
    threshold: float
    normal_scores: np.ndarray  # leave-one-out scores of the normals (distance)
    suspects: list[int]  # positions of normals whose own score flags them
    aspect: float  # width / height of the normals
    head: SupervisedHead | None = None
    defects: int = 0
    false_alarm_rate: float = FALSE_ALARM_RATE  # what the threshold was asked for
    false_alarm_bound: float = FALSE_ALARM_RATE  # what the threshold promises (see above)
    top_k: int = IMAGE_TOP_K  # patches averaged into the image score
    sigma: float = SMOOTHING_SIGMA  # smoothing of the patch map before scoring
    _index: Any = field(default=None, repr=False)
    _loo: np.ndarray | None = field(default=None, repr=False)  # (N, P) from fitting, not saved

    @property
    def index(self) -> Any:
        if self._index is None:
            self._index = _flat_index(self.bank)
        return self._index

    def relative(self, scores: np.ndarray) -> np.ndarray:
        """Scores as a [0, 1] "probability of anomalous" that is 0.5 at the threshold.

        Distances: ``score / threshold / 2`` clipped. Head probabilities (already in
        [0, 1], threshold somewhere inside): linear on each side of the threshold.
        """
        values = np.asarray(scores, dtype=np.float64)
        threshold = max(self.threshold, 1e-9)
        if self.head is None:
            return np.clip(values / threshold / 2.0, 0.0, 1.0)
        upper = max(1.0 - threshold, 1e-9)
        return np.where(
            values <= threshold,
            0.5 * values / threshold,
            0.5 + 0.5 * np.clip((values - threshold) / upper, 0.0, 1.0),
        )

    def distances(self, patches: np.ndarray) -> np.ndarray:
        """(B, P, D) patch vectors -> (B, P) smoothed distances to the bank."""
        if patches.ndim != 3 or patches.shape[2] != self.bank.shape[1]:
            raise InvalidInputError(
                f"expected patches of shape (B, P, {self.bank.shape[1]}), got {patches.shape}"
            )
        return smooth(_nearest(self.index, patches), self.config.grid, self.sigma)

    def score_patches(self, patches: np.ndarray) -> list[ItemScore]:
        distances = self.distances(patches)
        grid = self.config.grid
        maxima = image_scores(distances, self.top_k)
        scores = (
            self.head.probability(patch_statistics(distances)) if self.head is not None else maxima
        )
        return [
            ItemScore(
                score=float(score),
                distance=float(distance),
                anomalous=bool(score >= self.threshold),
                patch_map=row.reshape(grid, grid),
            )
            for score, distance, row in zip(scores, maxima, distances, strict=True)
        ]

    def score(self, images: list[np.ndarray], extractor: PatchExtractor) -> list[ItemScore]:
        """Score images (any size; grey or RGB)."""
        if extractor.config != self.config:
            raise InvalidInputError(
                f"extractor recipe {extractor.config} differs from the bank's {self.config}"
            )
        return self.score_patches(extractor(images))

    # -- persistence: a folder with bank.npy and card.json -----------------------------

    def card(self) -> dict[str, Any]:
        """What a reader needs to use the bank without this code (the model card)."""
        return {
            "method": "patchcore",
            "backbone": self.config.backbone,
            "layers": list(self.config.layers),
            "input_size": self.config.input_size,
            "pool": self.config.pool,
            "grid": self.config.grid,
            "preprocessing": {
                "resize": [self.config.input_size, self.config.input_size],
                "grey": "repeated over 3 channels",
                "scale": "x / 255, then (x - 0.5) / 0.5",
                "layout": "NCHW RGB float32",
            },
            "bank_size": int(self.bank.shape[0]),
            "dim": int(self.bank.shape[1]),
            "threshold": self.threshold,
            "threshold_rule": "conformal (1 - rate) quantile of leave-one-out normal scores",
            "false_alarm_rate": self.false_alarm_rate,
            "false_alarm_bound": self.false_alarm_bound,
            "score": "supervised head probability"
            if self.head
            else "mean of the image_top_k largest patch L2 distances",
            "patch_distance": "L2 to the nearest bank row, then Gaussian blur on the patch grid",
            "smoothing_sigma": self.sigma,
            "image_top_k": self.top_k,
            "normal_scores": [float(value) for value in self.normal_scores],
            "suspects": self.suspects,
            "aspect": self.aspect,
            "defects": self.defects,
            "head": self.head.to_json() if self.head else None,
        }

    def save(self, folder: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        np.save(folder / "bank.npy", self.bank)
        (folder / "card.json").write_text(json.dumps(self.card(), indent=2), encoding="utf-8")
        return folder

    @classmethod
    def load(cls, folder: Path) -> AnomalyModel:
        try:
            card = json.loads((folder / "card.json").read_text(encoding="utf-8"))
            bank = np.load(folder / "bank.npy", allow_pickle=False)
        except (OSError, ValueError) as error:
            raise VectorIndexError(f"cannot read anomaly model in {folder}: {error}") from error
        config = FeatureConfig(
            backbone=card["backbone"],
            layers=tuple(card["layers"]),
            input_size=card["input_size"],
            pool=card["pool"],
        )
        if bank.ndim != 2 or bank.shape[1] != card["dim"]:
            raise VectorIndexError(
                f"bank in {folder} has shape {bank.shape}, the card says (*, {card['dim']})"
            )
        return cls(
            config=config,
            bank=bank.astype(np.float32),
            threshold=float(card["threshold"]),
            normal_scores=np.asarray(card["normal_scores"]),
            suspects=list(card["suspects"]),
            aspect=float(card["aspect"]),
            head=SupervisedHead.from_json(card["head"]) if card.get("head") else None,
            defects=int(card.get("defects", 0)),
            false_alarm_rate=float(card.get("false_alarm_rate", FALSE_ALARM_RATE)),
            false_alarm_bound=float(card.get("false_alarm_bound", FALSE_ALARM_RATE)),
            top_k=int(card.get("image_top_k", 1)),  # banks from before top-k scored the max
            sigma=float(card.get("smoothing_sigma", 1.0)),
        )


def check_normals(images: list[np.ndarray]) -> float:
    """Enough normals, of one shape: returns their mean aspect ratio (width / height)."""
    if len(images) < MIN_NORMALS:
        raise InvalidInputError(
            f"an anomaly model needs at least {MIN_NORMALS} normal examples "
            f"(the threshold is set by leaving each one out), got {len(images)}"
        )
    aspects = np.array([image.shape[1] / image.shape[0] for image in images])
    middle = float(np.median(aspects))
    off = [i for i, value in enumerate(aspects) if abs(value / middle - 1) > MAX_ASPECT_SPREAD]
    if off:
        sizes = sorted({f"{images[i].shape[1]}x{images[i].shape[0]}" for i in off})
        raise InvalidInputError(
            f"normal examples {off} have a different shape ({', '.join(sizes)}) from the others "
            f"(median aspect {middle:.2f}); crop every example to the same part first"
        )
    return middle


def leave_one_out(bank: np.ndarray, owners: np.ndarray, patches: np.ndarray) -> np.ndarray:
    """(N, P) distances of each normal's patches to the bank without that normal's patches."""
    rows = []
    for position in range(len(patches)):
        others = bank[owners != position]
        rows.append(_nearest(_flat_index(others), patches[position : position + 1])[0])
    return np.stack(rows)


def suspects_of(scores: np.ndarray) -> list[int]:
    """Normals whose leave-one-out score is an outlier (robust z above ``SUSPECT_Z``)."""
    median = float(np.median(scores))
    mad = float(np.median(np.abs(scores - median))) * 1.4826
    if mad <= 0:
        return []
    return [int(i) for i in np.flatnonzero((scores - median) / mad > SUSPECT_Z)]


def fit_patches(
    normal_patches: np.ndarray,
    config: FeatureConfig,
    *,
    defect_patches: np.ndarray | None = None,
    aspect: float = 1.0,
    coreset_ratio: float = DEFAULT_CORESET_RATIO,
    false_alarm_rate: float = FALSE_ALARM_RATE,
    seed: int = 0,
) -> AnomalyModel:
    """Fit on extracted patches: (N, P, D) normals and optional (K, P, D) defects."""
    count, per_image, dim = normal_patches.shape
    if count < MIN_NORMALS:
        raise InvalidInputError(
            f"an anomaly model needs at least {MIN_NORMALS} normal examples, got {count}"
        )
    pool = normal_patches.reshape(-1, dim)  # (N * P, D)
    owners_all = np.repeat(np.arange(count), per_image)
    keep = greedy_coreset(pool, coreset_ratio, seed=seed)
    bank = np.ascontiguousarray(pool[keep], dtype=np.float32)
    loo = smooth(leave_one_out(bank, owners_all[keep], normal_patches), config.grid)  # (N, P)
    loo_max = image_scores(loo, IMAGE_TOP_K)
    suspects = suspects_of(loo_max)
    trusted = np.delete(loo_max, suspects)
    threshold, bound = conformal_threshold(trusted, false_alarm_rate)
    model = AnomalyModel(
        config=config,
        bank=bank,
        threshold=threshold,
        normal_scores=loo_max,
        suspects=suspects,
        aspect=aspect,
        false_alarm_rate=false_alarm_rate,
        false_alarm_bound=bound,
        _loo=loo,
    )
    if defect_patches is not None and len(defect_patches):
        return with_head(model, defect_patches)
    return model


def with_head(model: AnomalyModel, defect_patches: np.ndarray) -> AnomalyModel:
    """The model with a supervised head fitted on its leave-one-out normals vs ``defect_patches``.

    The memory bank is shared, so the same normals cost one coreset, not two.
    """
    if model._loo is None:
        raise InvalidInputError("a head needs the leave-one-out scores of a freshly fitted model")
    normal_stats = np.delete(patch_statistics(model._loo), model.suspects, axis=0)
    defect_stats = patch_statistics(model.distances(defect_patches))
    head = fit_head(normal_stats, defect_stats)
    held_out = np.array(
        [
            fit_head(np.delete(normal_stats, j, axis=0), defect_stats).probability(
                normal_stats[j : j + 1]
            )[0]
            for j in range(len(normal_stats))
        ]
    )
    threshold, bound = conformal_threshold(held_out, model.false_alarm_rate)
    return replace(
        model,
        head=head,
        threshold=threshold,
        false_alarm_bound=bound,
        defects=len(defect_patches),
    )


def fit(
    normals: list[np.ndarray],
    extractor: PatchExtractor,
    *,
    defects: list[np.ndarray] | None = None,
    coreset_ratio: float = DEFAULT_CORESET_RATIO,
    false_alarm_rate: float = FALSE_ALARM_RATE,
    seed: int = 0,
) -> AnomalyModel:
    """Fit an anomaly model on normal images (and optional defect images).

    >>> model = fit(normal_cells, PatchExtractor())  # doctest: +SKIP
    >>> [item.anomalous for item in model.score(test_cells, extractor)]  # doctest: +SKIP
    """
    aspect = check_normals(normals)
    return fit_patches(
        extractor(normals),
        extractor.config,
        defect_patches=extractor(defects) if defects else None,
        aspect=aspect,
        coreset_ratio=coreset_ratio,
        false_alarm_rate=false_alarm_rate,
        seed=seed,
    )


__all__ = [
    "FALSE_ALARM_RATE",
    "MIN_NORMALS",
    "AnomalyModel",
    "ItemScore",
    "SupervisedHead",
    "check_normals",
    "conformal_threshold",
    "fit",
    "fit_patches",
    "greedy_coreset",
    "leave_one_out",
    "patch_statistics",
    "with_head",
]
