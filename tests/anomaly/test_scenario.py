"""``kind: anomaly`` scenarios end to end from the shell, on an image folder of real ELPV cells."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path

import cv2
import pytest
from typer.testing import CliRunner

from vigil.cli.main import app
from vigil.settings import EmbedderSettings, SamplingSettings, Settings
from vigil.workspace import Workspace

Run = Callable[..., str]


@pytest.fixture
def run(tmp_path: Path, line: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> Run:
    home = tmp_path / "home"
    settings = Settings(
        home=home,
        embedder=EmbedderSettings(name="fake"),
        sampling=SamplingSettings(interval_s=1.0, dedup_threshold=0.0),
    )
    with Workspace.open(settings) as workspace:
        source = workspace.add_source(str(line["folder"]), name="line")
        workspace.index([source.id])
    monkeypatch.setenv("VIGIL_HOME", str(home))
    monkeypatch.setenv("VIGIL_EMBEDDER__NAME", "fake")
    runner = CliRunner()

    def invoke(*args: str, code: int = 0) -> str:
        result = runner.invoke(app, list(args))
        assert result.exit_code == code, result.output
        return result.stdout if "--json" in args else result.output

    return invoke


def test_anomaly_scenario_labels_and_exports_scores_with_file_paths(
    run: Run, tmp_path: Path, line: dict[str, Path]
) -> None:
    spec = tmp_path / "cells.yaml"
    spec.write_text("name: cells\nkind: anomaly\nnormal_examples: [normals/]\n")
    assert "cells" in run("scenario", "import", str(spec))
    out = run("scenario", "label", "cells")
    assert "scored 6 item(s) of 6" in out
    assert "8 normal and 0 defect example(s)" in out
    csv_path = tmp_path / "scores.csv"
    run("scenario", "export-labels", "cells", "-o", str(csv_path))
    with csv_path.open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 6
    assert {"score", "file_path", "heatmap", "label"} <= set(rows[0])
    files = {Path(row["file_path"]).name: float(row["score"]) for row in rows}
    assert set(files) == {name for name in line if name.endswith(".png")}
    bad = [score for name, score in files.items() if "bad" in name]
    good = [score for name, score in files.items() if "ok" in name]
    assert sum(bad) / 3 > sum(good) / 3
    assert all((tmp_path / "home" / row["heatmap"]).is_file() for row in rows)
    assert {row["label"] for row in rows} <= {"normal", "anomalous"}
    edge = run("scenario", "export-edge", "cells", "-o", str(tmp_path / "edge"))
    assert "features.onnx" in edge and "ms CPU per image" in edge


def test_review_answers_become_examples(run: Run, tmp_path: Path) -> None:
    spec = tmp_path / "cells.yaml"
    spec.write_text("name: cells\nkind: anomaly\nnormal_examples: [normals/]\n")
    run("scenario", "import", str(spec))
    run("scenario", "label", "cells")
    queue = json.loads(run("scenario", "review", "cells", "--json"))
    assert len(queue) == 6
    assert {item["label"] for item in queue} <= {"normal", "anomalous"}
    run("scenario", "export-labels", "cells", "-o", str(tmp_path / "s.csv"))
    with (tmp_path / "s.csv").open() as handle:
        top = next(csv.DictReader(handle))  # highest score first
    run("scenario", "answer", "cells", top["item"], "anomalous")
    out = run("scenario", "label", "cells", "--relabel")
    assert "8 normal and 1 defect example(s)" in out
    answered = json.loads(run("scenario", "review", "cells", "--json"))
    assert top["item"] not in {item["item"] for item in answered}


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("name: c\nkind: anomaly\nnormal_examples: [few/]\n", "needs at least 5"),
        (
            "name: c\nkind: anomaly\nnormal_examples: [normals/]\n"
            "target: {region: {source: line, polygon: [[0, 0], [10, 10], [20, 20]]}}\n",
            "region polygon is empty",
        ),
        ("name: c\nkind: anomaly\n", "needs normal_examples"),
        ("name: c\nkind: anomaly\nnormal_examples: [missing/]\n", "does not exist"),
    ],
)
def test_bad_anomaly_specs_are_one_error_line(
    run: Run, tmp_path: Path, spec: str, message: str
) -> None:
    del run  # the fixture provides the indexed workspace and the environment
    path = tmp_path / "bad.yaml"
    path.write_text(spec)
    # A bad spec fails on import; a short folder of normals fails when the model is fitted.
    result = CliRunner().invoke(app, ["scenario", "import", str(path)])
    if result.exit_code == 0:
        result = CliRunner().invoke(app, ["scenario", "label", "c"])
    assert result.exit_code == 1, result.output
    assert result.output.startswith("error:") and message in result.output
    assert "Traceback" not in result.output


def test_region_of_interest_is_cut_from_the_thumbnail(vtest_path: Path) -> None:
    from vigil.anomaly.scenario import _region_crop
    from vigil.errors import InvalidInputError
    from vigil.scenarios.spec import RegionSpec

    capture = cv2.VideoCapture(str(vtest_path))
    ok, frame = capture.read()
    capture.release()
    assert ok
    thumbnail = cv2.resize(frame, (320, 240))  # the stored thumbnail of a 768x576 frame
    triangle = RegionSpec(source="walkway", polygon=[(0, 0), (384, 0), (0, 288)])
    crop = _region_crop(thumbnail, triangle, (768, 576))
    assert crop.shape[:2] == (120, 160)  # the polygon's box at thumbnail scale
    assert (crop[-1, -1] == 128).all()  # outside the polygon is flat grey
    assert (crop[2, 2] == thumbnail[2, 2]).all()
    outside = RegionSpec(source="walkway", polygon=[(900, 700), (1000, 700), (1000, 800)])
    with pytest.raises(InvalidInputError, match="lies outside"):
        _region_crop(thumbnail, outside, (768, 576))
