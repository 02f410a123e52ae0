"""The event state machine: flicker, hysteresis, quiet period; and on real model scores."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.runtime.helpers import decode_frames
from vigil.errors import InvalidInputError
from vigil.runtime.events import EventRule, Phase, Track, finish, step
from vigil.runtime.scorers import OnnxScorer

RULE = EventRule(on_threshold=0.6, off_threshold=0.4, min_duration_s=1.0, quiet_period_s=2.0)


def run(scores: list[float], rule: EventRule = RULE, dt: float = 0.5) -> list[tuple[str, float]]:
    """Feed scores at ``dt`` spacing; (kind, time) of every start and end."""
    track, changes = Track(), []
    for i, score in enumerate(scores):
        track, change = step(track, i * dt, score, rule)
        if change is not None and change.kind != "peak":
            when = change.ended_at if change.kind == "ended" else change.track.started_at
            assert when is not None
            changes.append((change.kind, when))
    last = finish(track)
    if last is not None:
        assert last.ended_at is not None
        changes.append(("ended", last.ended_at))
    return changes


@pytest.mark.parametrize(
    ("scores", "expected"),
    [
        # a single high frame is flicker: shorter than min_duration_s
        ([0.1, 0.9, 0.1, 0.1], []),
        # two frames 0.5 s apart are still shorter than 1 s; three reach it
        ([0.9, 0.9, 0.1], []),
        ([0.9, 0.9, 0.9, 0.1, 0.1, 0.1, 0.1, 0.1], [("started", 0.0), ("ended", 1.0)]),
        # a dip between off (0.4) and on (0.6) keeps the event open (hysteresis)
        ([0.9, 0.9, 0.9, 0.5, 0.45, 0.9, 0.1, 0.1, 0.1, 0.1], [("started", 0.0), ("ended", 2.5)]),
        # below off for less than the quiet period does not close it
        ([0.9, 0.9, 0.9, 0.1, 0.1, 0.9, 0.1, 0.1, 0.1, 0.1], [("started", 0.0), ("ended", 2.5)]),
        # a quiet period splits two events
        (
            [0.9, 0.9, 0.9, 0.1, 0.1, 0.1, 0.1, 0.1, 0.9, 0.9, 0.9],
            [("started", 0.0), ("ended", 1.0), ("started", 4.0), ("ended", 5.0)],
        ),
        # arming needs on_threshold throughout: 0.5 resets it
        ([0.9, 0.5, 0.9, 0.5, 0.9], []),
    ],
)
def test_hysteresis_min_duration_and_quiet_period(
    scores: list[float], expected: list[tuple[str, float]]
) -> None:
    assert run(scores) == expected


def test_peak_is_tracked_and_reported() -> None:
    track, kinds = Track(), []
    for i, score in enumerate([0.7, 0.8, 0.75, 0.95, 0.5]):
        track, change = step(track, float(i), score, RULE)
        kinds.append(change.kind if change else None)
    assert kinds == [None, "started", None, "peak", None]
    assert track.phase is Phase.OPEN
    assert (track.peak_score, track.peak_at, track.frames) == (0.95, 3.0, 5)


def test_zero_min_duration_starts_at_once() -> None:
    rule = EventRule(on_threshold=0.6, off_threshold=0.4, min_duration_s=0, quiet_period_s=0)
    assert run([0.1, 0.7, 0.3], rule) == [("started", 0.5), ("ended", 0.5)]


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ((0.0, 0.0, 1, 1), "on_threshold"),
        ((1.5, 0.4, 1, 1), "on_threshold"),
        ((0.5, 0.6, 1, 1), "off_threshold"),
        ((0.6, 0.4, -1, 1), "min_duration_s"),
        ((0.6, 0.4, 1, -2), "quiet_period_s"),
    ],
)
def test_bad_rules_are_refused(values: tuple[float, float, float, float], message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        EventRule(*values)


def test_events_on_real_scores_never_overlap_and_last_long_enough(
    vtest_path: Path, lite0_scorer: OnnxScorer
) -> None:
    """Real Lite0 scores of the clip every 0.5 s (every 5th frame) through the rule."""
    frames = decode_frames(vtest_path, every=5, limit=160)  # 80 s of the clip
    scores = lite0_scorer.score(frames)  # (160, 6)
    rule = EventRule(on_threshold=0.4, off_threshold=0.25, min_duration_s=1.0, quiet_period_s=1.5)
    total = 0
    for column, name in enumerate(lite0_scorer.class_names):
        changes = run([float(s) for s in scores[:, column]], rule)
        starts = [t for kind, t in changes if kind == "started"]
        ends = [t for kind, t in changes if kind == "ended"]
        assert len(starts) == len(ends), name
        for start, end, following in zip(
            starts, ends, [*starts[1:], None][: len(starts)], strict=True
        ):
            assert end - start >= rule.min_duration_s, name
            if following is not None:
                assert following - end > rule.quiet_period_s, name
        total += len(starts)
    raw_flickers = int((scores >= rule.on_threshold).sum())
    assert 0 < total < raw_flickers  # events exist, and are far fewer than raw hits
