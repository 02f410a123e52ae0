"""``vigil eval anomaly`` on a CI-sized slice of ELPV (the full run is a CLI/bench run)."""

from __future__ import annotations

import numpy as np

from vigil.anomaly.evaluate import detection_at, evaluate_elpv, format_table


def test_detection_at_false_alarm_budget() -> None:
    labels = np.array([0] * 20 + [1] * 4)
    scores = np.concatenate([np.arange(20) / 20, [0.99, 0.98, 0.5, 0.1]])
    # at <= 5 % false alarms (one of 20 normals) the two top defects are found
    assert detection_at(labels, scores) == 0.5


def test_small_evaluation_runs_every_method() -> None:
    report = evaluate_elpv(normals=(5,), draws=1, defects=3, test_per_class=6)
    methods = {row.method for row in report.rows}
    assert methods == {"patchcore", "patchcore + head", "raw-pixel NN", "global-feature NN"}
    assert report.test_normal == report.test_defective == 6
    for row in report.rows:
        assert 0.0 <= row.auroc[0] <= 1.0
        assert 0.0 <= row.detection[0] <= 1.0
    table = format_table(report)
    assert "| patchcore | 5 | 0 |" in table
    assert "ms CPU per image" in table
