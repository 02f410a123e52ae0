"""Group stored frames or objects by visual similarity: what does an archive contain?

Algorithm: scikit-learn's HDBSCAN on L2-normalised vectors. Euclidean distance
between unit vectors is a monotone function of cosine (``|a-b|^2 = 2 - 2 cos``),
so this clusters by cosine while HDBSCAN keeps its fast Euclidean path. HDBSCAN
was chosen over k-means and agglomerative clustering because an archive's number
of "kinds of scene" is unknown (no k to pick), groups differ in density (a busy
walkway vs. an empty one) and it labels outliers as noise instead of forcing
them into a group; ``min_cluster_size`` is the one knob and reads naturally ("a
group needs at least N frames").

HDBSCAN is quadratic in time and memory, so a large archive is clustered on a
seeded random sample of ``max_points`` vectors; every other vector is then
assigned to the cluster whose centroid is nearest, if it is at least as close as
the loosest sampled member of that cluster (otherwise it counts as noise). The
rest is read in chunks, so memory stays bounded by the sample.

>>> report = cluster_vectors(ids, fetch, min_cluster_size=5)  # doctest: +SKIP
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TypeVar

import numpy as np
from sklearn.cluster import HDBSCAN

from vigil.catalog.objects import ObjectVectors, objects_for_embeddings
from vigil.catalog.store import Catalog
from vigil.embedders.base import Embedder
from vigil.errors import InvalidInputError
from vigil.search.types import SearchHit

DEFAULT_MAX_POINTS = 5_000
MEMBERS_PER_CLUSTER = 8
DESCRIPTION_TERMS = 3
FETCH_CHUNK = 10_000

_T = TypeVar("_T")
Fetch = Callable[[np.ndarray], np.ndarray]  # embedding ids (B,) -> vectors (B, dim)


class ClusterTarget(StrEnum):
    """What is clustered: whole frames or detected objects (their crop vectors)."""

    FRAMES = "frames"
    OBJECTS = "objects"


@dataclass(frozen=True)
class Vocabulary:
    """Named text vectors in the embedder's space, used to put words on a cluster."""

    prompts: tuple[str, ...]
    vectors: np.ndarray  # (P, dim) float32

    def __post_init__(self) -> None:
        if self.vectors.ndim != 2 or self.vectors.shape[0] != len(self.prompts):
            raise InvalidInputError(
                f"expected ({len(self.prompts)}, dim) prompt vectors, got {self.vectors.shape}"
            )


@dataclass(frozen=True)
class VectorCluster:
    """One group of similar vectors, by embedding id (frame or object vector ids)."""

    label: int  # 0.. in order of decreasing size
    size: int  # members, including vectors assigned after sampling
    medoid_id: int  # the member most similar to all the others: the representative
    member_ids: tuple[int, ...]  # the medoid first, then the members closest to the centroid
    member_similarity: tuple[float, ...]  # cosine of each of member_ids to the centroid
    cohesion: float  # mean cosine of the sampled members to their centroid
    description: tuple[tuple[str, float], ...]  # nearest vocabulary prompts (cosine), if any


@dataclass(frozen=True)
class ClusterReport:
    """The clusters of one vector set, and how much was left over as noise."""

    target: str  # "frames" or "objects"
    model_id: str
    points: int  # vectors considered
    sampled: int  # vectors HDBSCAN actually saw
    noise: int  # vectors in no cluster
    min_cluster_size: int
    clusters: tuple[VectorCluster, ...]

    @property
    def noise_share(self) -> float:
        return self.noise / self.points if self.points else 0.0


def cluster_catalog(
    catalog: Catalog,
    *,
    embedder: Embedder,
    target: ClusterTarget | str = ClusterTarget.FRAMES,
    source_ids: Sequence[int] | None = None,
    min_cluster_size: int = 5,
    min_samples: int | None = None,
    max_points: int = DEFAULT_MAX_POINTS,
    members_per_cluster: int = MEMBERS_PER_CLUSTER,
    seed: int = 0,
) -> ClusterReport:
    """Cluster the stored frame or object vectors of ``embedder``'s model.

    Ids are frame embedding ids (``target="frames"``) or object embedding ids.
    """
    try:
        kind = ClusterTarget(target)
    except ValueError:
        raise InvalidInputError(f"target must be 'frames' or 'objects', got {target!r}") from None
    store = catalog if kind == ClusterTarget.FRAMES else ObjectVectors(catalog)
    ids = store.embedding_ids(embedder.model_id, source_ids=source_ids)
    report = cluster_vectors(
        ids,
        store.get_vectors,
        min_cluster_size=min_cluster_size,
        min_samples=min_samples,
        max_points=max_points,
        members_per_cluster=members_per_cluster,
        seed=seed,
        vocabulary=concept_vocabulary(embedder),
    )
    return ClusterReport(
        target=str(kind),
        model_id=embedder.model_id,
        points=report.points,
        sampled=report.sampled,
        noise=report.noise,
        min_cluster_size=report.min_cluster_size,
        clusters=report.clusters,
    )


def cluster_vectors(
    ids: np.ndarray,
    fetch: Fetch,
    *,
    min_cluster_size: int = 5,
    min_samples: int | None = None,
    max_points: int = DEFAULT_MAX_POINTS,
    members_per_cluster: int = MEMBERS_PER_CLUSTER,
    seed: int = 0,
    vocabulary: Vocabulary | None = None,
) -> ClusterReport:
    """Cluster the vectors of ``ids`` (read through ``fetch``, at most a sample at a time)."""
    if min_cluster_size < 2:
        raise InvalidInputError(f"min_cluster_size must be >= 2, got {min_cluster_size}")
    if min_samples is not None and min_samples < 1:
        raise InvalidInputError(f"min_samples must be >= 1, got {min_samples}")
    if max_points < min_cluster_size:
        raise InvalidInputError(
            f"max_points ({max_points}) must be >= min_cluster_size ({min_cluster_size})"
        )
    if members_per_cluster < 1:
        raise InvalidInputError(f"members_per_cluster must be >= 1, got {members_per_cluster}")
    ids = np.asarray(ids, dtype=np.int64)
    if ids.ndim != 1:
        raise InvalidInputError(f"ids must be one-dimensional, got shape {ids.shape}")
    total = int(ids.size)
    if total == 0:
        return ClusterReport("", "", 0, 0, 0, min_cluster_size, ())
    rng = np.random.default_rng(seed)
    sampled_ids = np.sort(rng.choice(ids, max_points, replace=False)) if total > max_points else ids
    units = _unit(fetch(sampled_ids))  # (S, dim)
    labels = _hdbscan(units, min_cluster_size, min_samples)
    found = sorted(set(labels.tolist()) - {-1})
    sizes = {c: int((labels == c).sum()) for c in found}
    noise = int((labels == -1).sum())
    centroids = (
        np.stack([_unit(units[labels == c].mean(axis=0)) for c in found])
        if found
        else np.empty((0, units.shape[1]), dtype=np.float32)
    )  # (C, dim)
    if total > sampled_ids.size:
        rest = np.setdiff1d(ids, sampled_ids, assume_unique=True)
        if not found:
            noise += int(rest.size)
        else:
            # The loosest sampled member of each cluster sets its admission threshold.
            floor = np.array(
                [float((units[labels == c] @ centroids[i]).min()) for i, c in enumerate(found)]
            )
            for start in range(0, rest.size, FETCH_CHUNK):
                sims = _unit(fetch(rest[start : start + FETCH_CHUNK])) @ centroids.T  # (B, C)
                nearest = sims.argmax(axis=1)
                admitted = sims[np.arange(nearest.size), nearest] >= floor[nearest]
                for position in nearest[admitted].tolist():
                    sizes[found[position]] += 1
                noise += int((~admitted).sum())
    clusters = [
        _cluster(
            ids=sampled_ids[labels == c],
            units=units[labels == c],
            centroid=centroids[i],
            size=sizes[c],
            members=members_per_cluster,
            vocabulary=vocabulary,
        )
        for i, c in enumerate(found)
    ]
    clusters.sort(key=lambda c: (-c.size, c.medoid_id))
    ranked = tuple(
        VectorCluster(
            label=i,
            size=c.size,
            medoid_id=c.medoid_id,
            member_ids=c.member_ids,
            member_similarity=c.member_similarity,
            cohesion=c.cohesion,
            description=c.description,
        )
        for i, c in enumerate(clusters)
    )
    return ClusterReport(
        target="",
        model_id="",
        points=total,
        sampled=int(sampled_ids.size),
        noise=noise,
        min_cluster_size=min_cluster_size,
        clusters=ranked,
    )


def concept_vocabulary(embedder: Embedder) -> Vocabulary | None:
    """The concept-bridge embedder's own concept prompts and their text vectors, else None.

    A concept-bridge vector is a weighted mean of exactly these prompt vectors, so
    a cluster centroid's nearest prompts are the concepts its members share. Other
    models have no fixed vocabulary worth embedding on every call.
    """
    from vigil.embedders.concept_bridge import ConceptBridgeEmbedder

    if not isinstance(embedder, ConceptBridgeEmbedder):
        return None
    # The concept table is internal to the embedder (no public accessor yet).
    prompts: list[str] = embedder._prompts
    vectors: np.ndarray = embedder._concept_vectors
    return Vocabulary(tuple(prompts), vectors)


def member_hits(catalog: Catalog, report: ClusterReport, cluster: VectorCluster) -> list[SearchHit]:
    """A cluster's shown members as search hits (score = cosine to the centroid).

    Hits are what contact sheets and the search output already know how to show.
    Members removed from the catalog since clustering are skipped.
    """
    ids = list(cluster.member_ids)
    similarity = dict(zip(cluster.member_ids, cluster.member_similarity, strict=True))
    hits: list[SearchHit] = []
    if report.target == ClusterTarget.OBJECTS:
        for embedding_id, (obj, frame, source) in _in_order(
            ids, objects_for_embeddings(catalog, ids)
        ):
            hits.append(
                SearchHit(len(hits) + 1, similarity[embedding_id], embedding_id, frame, source, obj)
            )
    else:
        for embedding_id, (frame, source) in _in_order(ids, catalog.frames_for_embeddings(ids)):
            hits.append(
                SearchHit(len(hits) + 1, similarity[embedding_id], embedding_id, frame, source)
            )
    return hits


def _in_order(ids: list[int], found: dict[int, _T]) -> list[tuple[int, _T]]:
    return [(i, found[i]) for i in ids if i in found]


def _cluster(
    *,
    ids: np.ndarray,
    units: np.ndarray,
    centroid: np.ndarray,
    size: int,
    members: int,
    vocabulary: Vocabulary | None,
) -> VectorCluster:
    """Medoid = member with the highest total cosine to the others (exact on the sample)."""
    to_centroid = units @ centroid  # (M,)
    medoid = int((units @ units.sum(axis=0)).argmax())  # sum_j cos(i, j) without an (M, M) matrix
    closest = [m for m in np.argsort(-to_centroid, kind="stable").tolist() if m != medoid]
    shown = [medoid, *closest[: members - 1]]
    return VectorCluster(
        label=0,
        size=size,
        medoid_id=int(ids[medoid]),
        member_ids=tuple(int(ids[m]) for m in shown),
        member_similarity=tuple(round(float(to_centroid[m]), 4) for m in shown),
        cohesion=float(to_centroid.mean()),
        description=_describe(centroid, vocabulary),
    )


def _hdbscan(units: np.ndarray, min_cluster_size: int, min_samples: int | None) -> np.ndarray:
    """HDBSCAN labels (-1 = noise); fewer points than a cluster needs are all noise."""
    if units.shape[0] < max(min_cluster_size, 2):
        return np.full(units.shape[0], -1, dtype=np.int64)
    model = HDBSCAN(
        min_cluster_size=min_cluster_size,
        min_samples=min(min_samples, units.shape[0]) if min_samples else None,
        metric="euclidean",
        copy=True,
    )
    with warnings.catch_warnings():
        # Identical vectors (a static camera) give zero core distances; HDBSCAN copes but
        # NumPy warns on the 0/0 inside its stability computation.
        warnings.simplefilter("ignore", RuntimeWarning)
        labels: np.ndarray = model.fit_predict(units.astype(np.float64))
    return labels.astype(np.int64)


def _unit(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    unit: np.ndarray = (vectors / np.maximum(norms, 1e-12)).astype(np.float32)
    return unit


def _describe(centroid: np.ndarray, vocabulary: Vocabulary | None) -> tuple[tuple[str, float], ...]:
    if vocabulary is None:
        return ()
    sims = _unit(vocabulary.vectors) @ centroid  # (P,)
    best = np.argsort(-sims, kind="stable")[:DESCRIPTION_TERMS]
    return tuple((vocabulary.prompts[i], round(float(sims[i]), 4)) for i in best)
