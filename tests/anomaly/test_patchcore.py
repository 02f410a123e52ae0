"""PatchCore on real ELPV cells: scores, threshold, bad input, persistence."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.anomaly.conftest import Cells
from vigil.anomaly.evaluate import auroc
from vigil.anomaly.features import PatchExtractor
from vigil.anomaly.patchcore import (
    MIN_NORMALS,
    AnomalyModel,
    check_normals,
    conformal_threshold,
    fit,
    greedy_coreset,
)
from vigil.errors import InvalidInputError


def test_defective_cells_score_higher_than_functional(
    model: AnomalyModel, cells: Cells, extractor: PatchExtractor
) -> None:
    normal = [item.score for item in model.score(cells.test_normal, extractor)]
    defective = [item.score for item in model.score(cells.test_defective, extractor)]
    labels = np.array([0] * len(normal) + [1] * len(defective))
    assert auroc(labels, np.array(normal + defective)) >= 0.75


def test_threshold_is_the_conformal_quantile_of_trusted_normals(model: AnomalyModel) -> None:
    assert model.normal_scores.shape == (8,)
    trusted = np.delete(model.normal_scores, model.suspects)
    # 8 normals cannot promise 5 %: the largest score, which promises 1 / (n + 1).
    assert model.threshold == pytest.approx(float(trusted.max()))
    assert model.false_alarm_rate == 0.05
    assert model.false_alarm_bound == pytest.approx(1 / (len(trusted) + 1))
    assert model.head is None


@pytest.mark.parametrize(
    ("count", "rate", "rank", "promised"),
    [
        (19, 0.05, 19, 0.05),  # the smallest n that reaches 5 %: the largest score
        (25, 0.05, 25, 0.05),
        (40, 0.05, 39, 0.05),  # ceil(41 * 0.95) = 39
        (100, 0.05, 96, 0.05),  # ceil(101 * 0.95) = 96
        (100, 0.1, 91, 0.1),
        (10, 0.05, 10, 1 / 11),  # too few: the largest, promising 1 / (n + 1)
    ],
)
def test_conformal_threshold_rank(count: int, rate: float, rank: int, promised: float) -> None:
    scores = np.random.default_rng(count).permutation(np.arange(1.0, count + 1.0))
    assert conformal_threshold(scores, rate) == (
        pytest.approx(float(rank)),
        pytest.approx(promised),
    )


@pytest.mark.parametrize("rate", [0.0, 1.0, -0.1])
def test_conformal_threshold_refuses_a_rate_outside_0_1(rate: float) -> None:
    with pytest.raises(InvalidInputError, match="false_alarm_rate"):
        conformal_threshold(np.arange(30.0), rate)


def test_each_item_has_an_anomaly_map_of_the_image_size(
    model: AnomalyModel, cells: Cells, extractor: PatchExtractor
) -> None:
    (item,) = model.score(cells.test_defective[:1], extractor)
    assert item.patch_map.shape == (model.config.grid, model.config.grid)
    top = np.sort(item.patch_map.ravel())[-model.top_k :]
    assert item.distance == pytest.approx(float(top.mean()), rel=1e-5)
    heat = item.heatmap(300, 300)
    assert heat.shape == (300, 300)
    assert heat.dtype == np.float32


def test_grey_rgb_and_a_different_size_are_handled(
    model: AnomalyModel, cells: Cells, extractor: PatchExtractor
) -> None:
    grey = cells.test_defective[0]
    rgb = np.repeat(grey[:, :, None], 3, axis=2)
    larger = cv2.resize(grey, (400, 400), interpolation=cv2.INTER_LINEAR)
    scores = [item.score for item in model.score([grey, rgb, larger], extractor)]
    assert scores[0] == pytest.approx(scores[1], rel=1e-6)
    assert scores[2] == pytest.approx(scores[0], rel=0.15)


@pytest.mark.parametrize(
    ("case", "shapes", "message"),
    [
        ("too few", [(300, 300)] * (MIN_NORMALS - 1), f"at least {MIN_NORMALS} normal"),
        ("mixed sizes", [(300, 300)] * 5 + [(300, 600)], r"normal examples \[5\].*600x300"),
    ],
)
def test_bad_normals_are_clear_errors(
    case: str, shapes: list[tuple[int, int]], message: str, cells: Cells
) -> None:
    images = [cv2.resize(cells.normals[0], (w, h)) for h, w in shapes]
    with pytest.raises(InvalidInputError, match=message):
        check_normals(images)


def test_a_defect_among_the_normals_is_flagged_by_its_own_score(
    cells: Cells, extractor: PatchExtractor, model: AnomalyModel
) -> None:
    worst = max(
        cells.test_defective,
        key=lambda image: model.score([image], extractor)[0].score,
    )
    flagged = fit([*cells.normals, worst], extractor)
    assert len(cells.normals) in flagged.suspects
    trusted = np.delete(flagged.normal_scores, flagged.suspects)
    assert flagged.threshold == pytest.approx(conformal_threshold(trusted, 0.05)[0])
    assert flagged.threshold < flagged.normal_scores[len(cells.normals)]


def test_labelled_defects_train_a_head_and_set_the_threshold(
    cells: Cells, extractor: PatchExtractor
) -> None:
    supervised = fit(cells.normals, extractor, defects=cells.defects)
    assert supervised.head is not None
    # The threshold is a quantile of the normals' cross-fitted head probabilities.
    assert 0.0 < supervised.threshold < 1.0
    trusted = len(cells.normals) - len(supervised.suspects)
    assert supervised.false_alarm_bound == pytest.approx(1 / (trusted + 1))
    normal = [item.score for item in supervised.score(cells.test_normal, extractor)]
    defective = [item.score for item in supervised.score(cells.test_defective, extractor)]
    assert all(0.0 <= value <= 1.0 for value in normal + defective)
    assert np.mean(defective) > np.mean(normal)


def test_saved_model_scores_the_same(
    model: AnomalyModel, cells: Cells, extractor: PatchExtractor, tmp_path: Path
) -> None:
    loaded = AnomalyModel.load(model.save(tmp_path / "bank"))
    assert loaded.config == model.config
    before = [item.score for item in model.score(cells.test_normal[:2], extractor)]
    after = [item.score for item in loaded.score(cells.test_normal[:2], extractor)]
    np.testing.assert_allclose(after, before, rtol=1e-6)


def test_greedy_coreset_covers_better_than_a_random_subset(
    cells: Cells, extractor: PatchExtractor
) -> None:
    patches = extractor(cells.normals[:2]).reshape(-1, 152)  # (2 * 784, 152)
    chosen = greedy_coreset(patches, 0.1, seed=0)
    assert len(chosen) == round(len(patches) * 0.1)
    random = np.random.default_rng(0).choice(len(patches), len(chosen), replace=False)

    def coverage(subset: np.ndarray) -> float:
        gaps = ((patches[:, None, :] - patches[subset][None, :, :]) ** 2).sum(axis=2)
        return float(np.sqrt(gaps.min(axis=1)).max())

    assert coverage(chosen) < coverage(random)
