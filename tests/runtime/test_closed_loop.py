"""Point 7 of issue 16: the loop closed end to end on real data, measured and printed.

``bench/closed_loop.py`` does it (``make demo`` runs it): a still camera uploads real
Fashion-MNIST test images (sneakers and ankle boots) one a second; v1 is distilled
from 28 answers, runs over the stills, its 'sneaker' alerts are confirmed or
corrected from the dataset's labels as an operator would, the review queue is
answered, v2 is distilled from labels plus feedback, compared with v1 on the
scenario's frozen evaluation set, promoted if it wins, and both are scored on the
task's own frozen items (every third second: never answered, never trained on).
The test checks the loop's plumbing and that the figures are measured where they
should be; it prints them rather than asserting that v2 wins, which with 30-50
labels and a compact CNN is a measurement, not a guarantee.
"""

from __future__ import annotations

from pathlib import Path

from bench.closed_loop import fashion_task, run_loop


def test_the_loop_closes_on_real_data(tmp_path: Path) -> None:
    task = fashion_task(tmp_path / "stills")
    said: list[str] = []
    result = run_loop(tmp_path / "workspace", task, epochs=15, say=said.append)
    print("\n".join(said))
    assert result.v2 is not None, "\n".join(said)  # v1 passed the gates and ran
    assert result.v1.endswith("-r1-float") and result.v2.endswith("-r2-float")
    assert result.events_v1 >= 1 and result.feedback["corrected"] >= 1
    # v2 could learn from everything people said after v1: the first pass, the verdicts
    # on v1's events and the queue's answers; never from one of the frozen items.
    given = sum(result.feedback.values())
    least = len(task.first) + result.queue_answers
    assert least <= result.v2_human_labels <= least + given
    assert result.frozen_in_training == 0
    assert set(result.scores) == {result.v1, result.v2}
    for row in result.scores.values():
        recalls = [v for k, v in row.items() if k.startswith("recall ")]
        assert len(recalls) == 2
        assert row["balanced_accuracy"] == sum(recalls) / 2
    assert any(line.startswith("  v2 - v1:") for line in said)
    assert any("frozen evaluation set" in line for line in said)  # the gates' comparison
