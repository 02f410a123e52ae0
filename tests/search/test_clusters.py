"""Clusters: real images group by kind, sampling keeps counts exact, catalog and CLI paths.

Vectors are real: Fashion-MNIST test images (pixels as vectors; trousers and
bags look nothing alike), frames of the two cameras cut from vtest.avi (fake
embedder), and 30 s of vtest embedded by the real concept-bridge model.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from vigil.cli.main import app
from vigil.embedders.base import Embedder, create_embedder
from vigil.errors import InvalidInputError
from vigil.evaluation.datasets import FASHION_MNIST_CLASSES, load_fashion_mnist
from vigil.search.clusters import cluster_vectors
from vigil.settings import EmbedderSettings, SamplingSettings, Settings
from vigil.workspace import Workspace

TROUSER, BAG = FASHION_MNIST_CLASSES.index("trouser"), FASHION_MNIST_CLASSES.index("bag")
FIRST_ID = 100  # ids need not start at 0 (they are catalog ids)


@pytest.fixture(scope="module")
def garments() -> tuple[np.ndarray, np.ndarray]:
    """30 trousers and 30 bags from the real test split: (60, 784) pixels and labels."""
    data = load_fashion_mnist("test", per_class=30, seed=0)
    keep = np.isin(data.labels, [TROUSER, BAG])
    pixels = data.images[keep][..., 0].reshape(int(keep.sum()), -1).astype(np.float32)
    return pixels, data.labels[keep]


def _ids(n: int) -> np.ndarray:
    return np.arange(FIRST_ID, FIRST_ID + n, dtype=np.int64)


def test_real_garments_fall_into_two_pure_groups(garments: tuple[np.ndarray, np.ndarray]) -> None:
    pixels, labels = garments
    report = cluster_vectors(
        _ids(60), lambda ids: pixels[ids - FIRST_ID], min_cluster_size=5, members_per_cluster=60
    )
    assert report.points == report.sampled == 60
    assert len(report.clusters) == 2 and report.noise == 0
    kinds = set()
    for cluster in report.clusters:
        members = np.array(cluster.member_ids) - FIRST_ID
        assert cluster.size == len(members) == 30
        assert len(set(labels[members].tolist())) == 1  # pure: one garment kind
        kinds.add(int(labels[members][0]))
        assert cluster.member_ids[0] == cluster.medoid_id
        rest = cluster.member_similarity[1:]  # after the medoid: closest to the centroid first
        assert list(rest) == sorted(rest, reverse=True)
        assert 0.5 < cluster.cohesion <= 1.0 and cluster.description == ()
    assert kinds == {TROUSER, BAG}
    assert [c.label for c in report.clusters] == [0, 1]


def test_a_sample_clusters_and_the_rest_is_assigned(
    garments: tuple[np.ndarray, np.ndarray],
) -> None:
    pixels, labels = garments
    fetched: list[int] = []

    def fetch(ids: np.ndarray) -> np.ndarray:
        fetched.append(ids.size)
        return pixels[ids - FIRST_ID]

    report = cluster_vectors(_ids(60), fetch, min_cluster_size=5, max_points=30, seed=3)
    assert report.sampled == 30 and report.points == 60
    assert fetched[0] == 30 and sum(fetched) == 60  # the sample, then only the rest
    assert sum(c.size for c in report.clusters) + report.noise == 60
    assert len(report.clusters) == 2
    for cluster in report.clusters:
        members = np.array(cluster.member_ids) - FIRST_ID
        assert len(set(labels[members].tolist())) == 1
    same = cluster_vectors(_ids(60), fetch, min_cluster_size=5, max_points=30, seed=3)
    assert same == report  # seeded: the same sample, the same answer


def test_too_few_points_are_all_noise_and_nothing_is_empty(
    garments: tuple[np.ndarray, np.ndarray],
) -> None:
    pixels, _ = garments
    few = cluster_vectors(_ids(3), lambda ids: pixels[ids - FIRST_ID], min_cluster_size=5)
    assert few.clusters == () and few.noise == 3 and few.points == 3
    empty = cluster_vectors(np.empty(0, dtype=np.int64), lambda ids: pixels[:0])
    assert empty.points == 0 and empty.clusters == ()


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"min_cluster_size": 1}, "min_cluster_size must be >= 2"),
        ({"min_samples": 0}, "min_samples must be >= 1"),
        ({"max_points": 3, "min_cluster_size": 5}, "max_points"),
        ({"members_per_cluster": 0}, "members_per_cluster must be >= 1"),
    ],
)
def test_bad_arguments_are_refused(
    garments: tuple[np.ndarray, np.ndarray], arguments: dict[str, int], message: str
) -> None:
    pixels, _ = garments
    with pytest.raises(InvalidInputError, match=message):
        cluster_vectors(_ids(60), lambda ids: pixels[ids - FIRST_ID], **arguments)  # type: ignore[arg-type]


def test_workspace_clusters_frames_and_objects(cameras: Workspace) -> None:
    frames = cameras.clusters("frames", min_cluster_size=2)
    assert frames.target == "frames" and frames.points == 20
    assert sum(c.size for c in frames.clusters) + frames.noise == 20
    assert frames.clusters, "two cameras of the same walkway must share a look"
    hits = cameras.cluster_members(frames, 0)
    assert [h.embedding_id for h in hits] == list(frames.clusters[0].member_ids)
    assert all(h.object is None for h in hits)
    one = cameras.clusters("frames", sources=["gate"], min_cluster_size=2)
    assert one.points == 10
    objects = cameras.clusters("objects", min_cluster_size=2)
    assert objects.target == "objects" and objects.points > 0
    if objects.clusters:
        shown = cameras.cluster_members(objects, 0)
        assert all(h.object is not None for h in shown)
    with pytest.raises(InvalidInputError, match="target must be"):
        cameras.clusters("faces")
    with pytest.raises(InvalidInputError, match="cluster label"):
        cameras.cluster_members(frames, len(frames.clusters))


def test_cli_prints_groups_json_and_contact_sheets(cameras: Workspace, tmp_path: Path) -> None:
    runner = CliRunner()
    home = ["--home", str(cameras.home)]
    args = [*home, "--embedder", "fake", "clusters", "--min-cluster-size", "2"]
    table = runner.invoke(app, args)
    assert table.exit_code == 0, table.output
    assert "noise" in table.output
    sheets = tmp_path / "sheets"
    as_json = runner.invoke(app, [*args, "--json", "--sheets", str(sheets)])
    assert as_json.exit_code == 0, as_json.output
    report = json.loads(as_json.stdout)
    assert report["points"] == 20 and len(report["clusters"]) >= 1
    assert sorted(p.name for p in sheets.iterdir()) == sorted(
        f"cluster-{c['label']}.jpg" for c in report["clusters"]
    )
    bad = runner.invoke(app, [*args[:-1], "1"])
    assert bad.exit_code == 1 and "min_cluster_size must be >= 2" in bad.output


@pytest.fixture(scope="session")
def concept_bridge() -> Embedder:
    return create_embedder(EmbedderSettings(name="concept-bridge"))


@pytest.fixture(scope="module")
def walkway(
    tmp_path_factory: pytest.TempPathFactory, vtest_path: Path, concept_bridge: Embedder
) -> Iterator[Workspace]:
    settings = Settings(
        home=tmp_path_factory.mktemp("clusters") / "workspace",
        sampling=SamplingSettings(interval_s=1.0, dedup_threshold=0.0),
    )
    with Workspace.open(settings, embedder=concept_bridge) as workspace:
        workspace.add_source(str(vtest_path), name="walkway")
        workspace.index(max_frames=30)
        yield workspace


@pytest.mark.real_model
def test_real_model_groups_get_words_from_its_concepts(walkway: Workspace) -> None:
    report = walkway.clusters(min_cluster_size=3)
    assert report.points == 30 and report.clusters
    prompts = set(walkway.embedder._prompts)  # type: ignore[attr-defined]
    for cluster in report.clusters:
        assert len(cluster.description) == 3
        assert all(prompt in prompts and -1 <= cos <= 1 for prompt, cos in cluster.description)
