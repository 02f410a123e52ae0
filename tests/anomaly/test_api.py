"""Anomaly scenarios and "unusual" over REST, in-process against a real SQLite workspace."""

from __future__ import annotations

import time
from pathlib import Path

from fastapi.testclient import TestClient

from vigil.api import create_app
from vigil.settings import ApiSettings, EmbedderSettings, Settings


def _wait(client: TestClient, job_id: int, timeout_s: float = 900.0) -> dict[str, object]:
    deadline = time.monotonic() + timeout_s
    while True:
        job = client.get(f"/api/v1/jobs/{job_id}").json()
        if job["status"] not in ("queued", "running"):
            return dict(job)
        assert time.monotonic() < deadline, f"job {job_id} still {job['status']}"
        time.sleep(0.2)


def test_anomaly_scores_heatmaps_review_and_unusual(tmp_path: Path, line: dict[str, Path]) -> None:
    settings = Settings(
        home=tmp_path / "home",
        embedder=EmbedderSettings(name="fake"),
        api=ApiSettings(media_roots=[tmp_path]),
    )
    with TestClient(create_app(settings)) as client:
        source = client.post("/api/v1/sources", json={"location": str(line["folder"])})
        assert source.status_code == 201, source.text
        source_id = source.json()["id"]
        job = client.post("/api/v1/jobs/index", json={"sources": [source_id]})
        assert _wait(client, job.json()["id"])["status"] == "succeeded"

        hostile = "name: c\nkind: anomaly\nnormal_examples: [/etc/]\n"
        refused = client.post("/api/v1/scenarios", json={"yaml": hostile})
        assert refused.status_code == 422 and "outside" in refused.json()["detail"]

        spec = f"name: cells\nkind: anomaly\nnormal_examples: [{tmp_path / 'normals'}]\n"
        created = client.post("/api/v1/scenarios", json={"yaml": spec})
        assert created.status_code == 201, created.text
        job = client.post("/api/v1/scenarios/cells/autolabel", json={})
        done = _wait(client, job.json()["id"])
        assert done["status"] == "succeeded", done

        scores = client.get("/api/v1/scenarios/cells/anomaly-scores").json()
        assert len(scores) == 6
        assert [s["score"] for s in scores] == sorted((s["score"] for s in scores), reverse=True)
        heat = client.get(scores[0]["heatmap"])
        assert heat.status_code == 200 and heat.headers["content-type"] == "image/jpeg"
        review = client.get("/api/v1/scenarios/cells/review").json()
        assert review["classes"] == ["normal", "anomalous"]
        assert all(item["heatmap_url"] for item in review["items"])

        unusual = client.get(f"/api/v1/sources/{source_id}/unusual", params={"gap": 0, "limit": 3})
        assert unusual.status_code == 200, unusual.text
        assert [item["rank"] for item in unusual.json()] == [1, 2, 3]
        assert client.get("/api/v1/sources/999/unusual").status_code == 404
        assert client.get("/api/v1/scenarios/cells/heatmaps/frame/999").status_code == 404
