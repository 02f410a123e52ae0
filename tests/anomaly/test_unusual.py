"""What is unusual here: real frames of vtest with real photos mixed into its history."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from vigil.anomaly.features import PatchExtractor
from vigil.anomaly.unusual import foreign_ranks, unusual_distances
from vigil.cli.main import app
from vigil.errors import InvalidInputError
from vigil.settings import EmbedderSettings, SamplingSettings, Settings
from vigil.workspace import Workspace


def _vtest_frames(path: Path, every_s: float = 2.0) -> tuple[list[np.ndarray], list[float]]:
    capture = cv2.VideoCapture(str(path))
    fps = capture.get(cv2.CAP_PROP_FPS) or 10.0
    frames, times, index = [], [], 0
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        if index % round(every_s * fps) == 0:
            frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
            times.append(index / fps)
        index += 1
    capture.release()
    return frames, times


def test_photos_mixed_into_the_walkway_rank_first(vtest_path: Path) -> None:
    from skimage import data

    frames, times = _vtest_frames(vtest_path)
    foreign = [data.coffee(), data.chelsea(), data.astronaut()]
    # Three frames of "another clip" 0.1 s apart, at 41 s: a short visit, as in life.
    images = frames + foreign
    stamps = np.array([*times, 41.0, 41.1, 41.2])
    mask = np.zeros(len(images), dtype=bool)
    mask[len(frames) :] = True
    extractor = PatchExtractor()
    vectors = extractor(images).mean(axis=1)  # (N, 152) global feature per frame
    ranks = foreign_ranks(vectors, stamps, mask, gap_s=5.0)
    assert sorted(ranks.tolist()) == [1, 2, 3]


def test_neighbours_closer_in_time_than_the_gap_are_ignored() -> None:
    vectors = np.array([[1.0, 0.0], [1.0, 0.01], [0.0, 1.0], [0.0, 1.0]], dtype=np.float32)
    times = np.array([0.0, 1.0, 100.0, 200.0])
    everything = np.ones(4, dtype=bool)
    near = unusual_distances(vectors, times, everything, everything, gap_s=0.0)
    far = unusual_distances(vectors, times, everything, everything, gap_s=10.0)
    assert near[0] == pytest.approx(0.01, abs=1e-3)
    assert far[0] == pytest.approx(np.sqrt(2.0), abs=1e-3)  # its twin is 1 s away
    assert far[2] == pytest.approx(0.0, abs=1e-6)
    with pytest.raises(InvalidInputError, match="gap"):
        unusual_distances(vectors, times, everything, everything, gap_s=-1)


def test_unusual_command(vtest_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    settings = Settings(
        home=home,
        embedder=EmbedderSettings(name="fake"),
        sampling=SamplingSettings(interval_s=4.0, dedup_threshold=0.0),
    )
    with Workspace.open(settings) as workspace:
        source = workspace.add_source(str(vtest_path), name="walkway")
        workspace.index([source.id])
    monkeypatch.setenv("VIGIL_HOME", str(home))
    monkeypatch.setenv("VIGIL_EMBEDDER__NAME", "fake")
    runner = CliRunner()
    result = runner.invoke(app, ["unusual", "walkway", "-n", "5", "--json"])
    assert result.exit_code == 0, result.output
    items = json.loads(result.stdout)
    assert [item["rank"] for item in items] == [1, 2, 3, 4, 5]
    distances = [item["distance"] for item in items]
    assert distances == sorted(distances, reverse=True)
    later = runner.invoke(app, ["unusual", "walkway", "--since", "40", "--json"])
    assert all(item["media_time"] >= 40 for item in json.loads(later.stdout))
    for args, message in [
        (["unusual", "nowhere"], "error:"),
        (["unusual", "walkway", "--since", "0"], "no history before"),
        (["unusual", "walkway", "-n", "0"], "limit must be"),
    ]:
        bad = runner.invoke(app, args)
        assert bad.exit_code == 1 and message in bad.output, bad.output
