"""The runtime runs a fitted anomaly bank like any model: (normal, anomalous) per frame."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.anomaly.conftest import Cells
from vigil.anomaly.patchcore import AnomalyModel
from vigil.errors import InvalidInputError
from vigil.runtime.models import resolve_scorer
from vigil.scenarios.spec import spec_from_yaml


def _no_embedder() -> object:
    raise AssertionError("an anomaly folder must not load the image-text model")


def _no_scenario(name: str) -> object:
    raise AssertionError(f"a bank folder is not a scenario reference ({name})")


def test_a_bank_folder_is_a_runtime_model(
    model: AnomalyModel, cells: Cells, tmp_path: Path
) -> None:
    folder = model.save(tmp_path / "bank")
    scorer = resolve_scorer(
        str(folder),
        catalog=None,  # type: ignore[arg-type]
        embedder=_no_embedder,  # type: ignore[arg-type]
        scenario=_no_scenario,  # type: ignore[arg-type]
    )
    assert scorer.class_names == ("normal", "anomalous")
    rgb = [np.repeat(c[:, :, None], 3, axis=2) for c in cells.test_defective[:2]]
    probabilities = scorer.score(rgb)
    assert probabilities.shape == (2, 2)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-6)
    distances = [item.score for item in model.score(cells.test_defective[:2], scorer.extractor)]  # type: ignore[attr-defined]
    expected = np.clip(np.array(distances) / model.threshold / 2, 0, 1)
    np.testing.assert_allclose(probabilities[:, 1], expected, rtol=1e-5)


def test_scenario_reference_to_an_anomaly_scenario_says_what_to_pass() -> None:
    spec = spec_from_yaml("name: cells\nkind: anomaly\nnormal_examples: [a/]\n")
    with pytest.raises(InvalidInputError, match="model folder"):
        resolve_scorer(
            "scenario:cells",
            catalog=None,  # type: ignore[arg-type]
            embedder=_no_embedder,  # type: ignore[arg-type]
            scenario=lambda name: spec,
        )


def test_a_folder_run_stores_the_heatmap_as_event_evidence(
    model: AnomalyModel, cells: Cells, tmp_path: Path
) -> None:
    """An inspection line as an image folder, one cell a second: 3 good, then 4 cracked.

    The anomalous event carries the peak frame's anomaly heatmap beside its best frame,
    on disk, named in the event's details, served over REST and linked in alerts.
    """
    import os

    import cv2
    from fastapi.testclient import TestClient

    from tests.runtime.conftest import runtime_settings
    from vigil.api import create_app
    from vigil.workspace import Workspace

    folder = tmp_path / "line"
    folder.mkdir()
    start = 1_700_000_000.0
    for number, cell in enumerate(cells.test_normal[:3] + cells.test_defective[:4]):
        path = folder / f"{number:02d}.png"
        cv2.imwrite(str(path), cell)
        os.utime(path, (start + number, start + number))  # the camera's capture times
    bank = model.save(tmp_path / "bank")
    settings = runtime_settings(tmp_path / "ws", on_threshold=0.5, off_threshold=0.45)
    with Workspace.open(settings) as workspace:
        workspace.add_source(str(folder), name="line")
        runner = workspace.runtime.runner(
            [str(bank)], ["line"], classes=["anomalous"], realtime=False
        )
        [health] = runner.run(duration_s=120)
        events = workspace.list_events(source="line")
    assert health.finished and health.frames_processed == 7, health
    assert events, "the cracked cells raised no event"
    for event in events:
        assert event.class_name == "anomalous"
        relpath = event.details["evidence"]["heatmap"]
        assert relpath == f"events/{event.id}/heatmap.jpg"
        heat = cv2.imread(str(settings.home / relpath))
        best = cv2.imread(str(settings.home / str(event.thumbnail_path)))
        assert heat is not None and best is not None and heat.shape == best.shape
        # The overlay is coloured; the electroluminescence frame itself is grey.
        assert float(np.abs(best[..., 0].astype(int) - best[..., 2]).mean()) < 2.0
        assert float(np.abs(heat[..., 0].astype(int) - heat[..., 2]).mean()) > 10.0
        assert event.to_dict()["evidence"]["heatmap"] == f"/api/v1/events/{event.id}/heatmap"
    with TestClient(create_app(settings)) as client:
        listed = client.get("/api/v1/events").json()
        assert listed[0]["heatmap_url"] == f"/api/v1/events/{listed[0]['id']}/heatmap"
        served = client.get(listed[0]["heatmap_url"])
        assert served.status_code == 200 and served.headers["content-type"] == "image/jpeg"
        assert client.get("/api/v1/events/999/heatmap").status_code == 404
