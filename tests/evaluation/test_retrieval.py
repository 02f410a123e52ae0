"""The retrieval harness: metric code on hand-checkable rankings, then real Fashion-MNIST.

The tiny rankings below are worked examples for the metric functions (each
expected value is computed by hand in the comment next to it), not results.
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
from vigil.evaluation.retrieval import (
    average_precision,
    class_query_vectors,
    evaluate_retrieval,
    mean_average_precision,
    precision_at_k,
    ranked_relevance,
    recall_at_k,
    score_tasks,
)
from vigil.settings import EmbedderSettings

# Query A: relevant at ranks 1 and 3 of 4. Query B: relevant only at rank 4.
RANKS = np.array([[True, False, True, False], [False, False, False, True]])


def test_recall_counts_queries_with_any_relevant_in_the_top_k() -> None:
    assert recall_at_k(RANKS, 1) == 0.5  # A yes, B no
    assert recall_at_k(RANKS, 3) == 0.5
    assert recall_at_k(RANKS, 4) == 1.0
    assert recall_at_k(RANKS, 10) == 1.0  # k beyond the ranking = the whole ranking


def test_precision_is_the_share_of_relevant_in_the_top_k() -> None:
    assert precision_at_k(RANKS, 1) == 0.5  # (1/1 + 0/1) / 2
    assert precision_at_k(RANKS, 2) == 0.25  # (1/2 + 0/2) / 2
    assert precision_at_k(RANKS, 4) == pytest.approx((2 / 4 + 1 / 4) / 2)


def test_average_precision_by_hand() -> None:
    # A: precision at its hits 1/1 and 2/3 -> (1 + 2/3) / 2 = 5/6. B: 1/4 at rank 4.
    assert average_precision(RANKS) == pytest.approx([5 / 6, 1 / 4])
    assert mean_average_precision(RANKS) == pytest.approx((5 / 6 + 1 / 4) / 2)
    # A query with nothing relevant scores 0 rather than dividing by zero.
    assert average_precision(np.zeros((1, 3), dtype=bool)).tolist() == [0.0]


def test_ranked_relevance_sorts_by_score_and_keeps_ties_in_gallery_order() -> None:
    scores = np.array([[0.1, 0.9, 0.5, 0.5]])
    relevant = ranked_relevance(scores, np.array([1]), np.array([1, 0, 0, 1]))
    # order: item1 (0.9, label 0), item2 (0.5, 0), item3 (0.5, 1), item0 (0.1, 1)
    assert relevant.tolist() == [[False, False, True, True]]


def test_image_to_image_never_retrieves_the_query_itself() -> None:
    # Three unit vectors: 0 and 1 are close (label 0), 2 is far (label 1).
    vectors = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0]], dtype=np.float32)
    labels = np.array([0, 0, 1])
    text, image = score_tasks(vectors, labels, np.array([[1.0, 0.0], [0.0, 1.0]]))
    assert image.gallery == 2 and image.queries == 3
    # 0 -> 1 (relevant); 1 -> 0 (relevant); 2 -> 1 or 0, never itself (both irrelevant).
    assert image.recall[1] == pytest.approx(2 / 3)
    assert image.map == pytest.approx(2 / 3)
    # Text: class 0's vector ranks 0, 1 then 2: both relevant first; class 1 ranks 2 first.
    assert text.recall[1] == 1.0 and text.map == 1.0


@pytest.mark.parametrize(
    ("array", "k"), [(np.zeros((0, 3), dtype=bool), 1), (RANKS, 0), (np.zeros(3, dtype=bool), 1)]
)
def test_bad_shapes_and_k_are_refused(array: np.ndarray, k: int) -> None:
    with pytest.raises(InvalidInputError):
        recall_at_k(array, k)


@pytest.fixture(scope="module")
def fake() -> Embedder:
    return create_embedder(EmbedderSettings(name="fake"))


def test_harness_runs_on_real_fashion_mnist_and_caches(fake: Embedder, tmp_path: Path) -> None:
    first = evaluate_retrieval(fake, per_class=4, seed=1, cache_dir=tmp_path)
    assert first.dataset == "fashion-mnist/test" and first.images == 40 and not first.cached
    assert [t.task for t in first.tasks] == ["text->image", "image->image"]
    assert [t.queries for t in first.tasks] == [10, 40]
    assert [path.suffix for path in tmp_path.iterdir()] == [".npz"]
    again = evaluate_retrieval(fake, per_class=4, seed=1, cache_dir=tmp_path)
    assert again.cached and again.embed_seconds == 0.0
    assert again.tasks == first.tasks
    for task in first.tasks:
        assert 0 <= task.map <= 1 and task.recall[1] <= task.recall[5] <= task.recall[10]
        assert task.published == {}  # nothing published for this model


def test_harness_refuses_bad_requests(fake: Embedder) -> None:
    with pytest.raises(InvalidInputError, match="dataset must be one of"):
        evaluate_retrieval(fake, dataset="imagenet")
    with pytest.raises(InvalidInputError, match="per_class must be >= 2"):
        evaluate_retrieval(fake, per_class=1)
    with pytest.raises(InvalidInputError, match="needs one"):
        class_query_vectors(fake, ["bag"], templates=["a bag"])


def test_cli_prints_a_table_and_json(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIGIL_HOME", str(tmp_path / "home"))
    runner = CliRunner()
    args = ["eval", "retrieval", "--model", "fake", "--per-class", "3"]
    table = runner.invoke(app, args)
    assert table.exit_code == 0, table.output
    assert "recall@10" in table.output and "mAP" in table.output
    assert "no verified figures" in table.output
    assert "embedding test images 30/30" in table.output  # progress, on stderr
    output = tmp_path / "report.json"
    as_json = runner.invoke(app, [*args, "--json", "--output", str(output)])
    assert as_json.exit_code == 0, as_json.output
    report = json.loads(as_json.stdout)
    assert report["images"] == 30 and report["cached"] is True
    assert json.loads(output.read_text()) == report
    bad = runner.invoke(app, ["eval", "retrieval", "--model", "fake", "--per-class", "1"])
    assert bad.exit_code == 1 and "per_class must be >= 2" in bad.output


def test_eval_scenario_is_registered() -> None:
    result = CliRunner().invoke(app, ["eval", "scenario", "--help"])
    assert result.exit_code == 0 and "--shots" in result.output


@pytest.fixture(scope="session")
def concept_bridge() -> Iterator[Embedder]:
    yield create_embedder(EmbedderSettings(name="concept-bridge"))


@pytest.mark.real_model
def test_real_model_beats_chance_on_real_images(concept_bridge: Embedder, tmp_path: Path) -> None:
    report = evaluate_retrieval(concept_bridge, per_class=8, seed=0, cache_dir=tmp_path)
    text, image = report.tasks
    # Chance: 8 relevant of 80 (7 of 79 for image queries), so precision@k and mAP ~ 0.1.
    # Text queries are only 10 (one per class) and coarse for 28x28 garments: a loose bound.
    assert text.precision[5] > 0.1
    assert image.precision[1] > 0.25 and image.map > 0.15
