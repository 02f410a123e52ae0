"""Scenarios, auto-label jobs, review and answers, exports, run jobs and events through the
API (fake embedder over the real clip), including concurrent edits of one scenario."""

from __future__ import annotations

import csv
import io
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import supervision as sv
from fastapi.testclient import TestClient

from tests.api.conftest import wait_for_job

SPEC = {
    "name": "crowd",
    "classes": [
        {"name": "crowd", "prompts": ["many people walking together"]},
        {"name": "quiet", "prompts": ["an empty walkway"]},
    ],
    "alert_classes": ["crowd"],
}


@pytest.fixture(scope="module")
def scenario_client(indexed_fake_client: TestClient) -> TestClient:
    client = indexed_fake_client
    created = client.post("/api/v1/scenarios", json={"spec": SPEC})
    assert created.status_code == 201, created.text
    job = client.post("/api/v1/scenarios/crowd/autolabel", json={})
    assert job.status_code == 202
    done = wait_for_job(client, job.json()["id"])
    assert done["status"] == "succeeded", done
    assert done["result"]["labeled"] == 12
    # Why the labels may not be trusted travels with the result (a list, maybe empty).
    result = done["result"]
    assert isinstance(result["warnings"], list) and sum(result["predicted"].values()) == 12
    top = max(result["predicted"].values()) / 12
    assert (top >= 0.95) == any("one class" in text for text in result["warnings"])
    return client


def test_review_answer_and_export(scenario_client: TestClient) -> None:
    client = scenario_client
    queue = client.get("/api/v1/scenarios/crowd/review", params={"limit": 5}).json()
    assert queue["classes"] == ["crowd", "quiet"] and len(queue["items"]) == 5
    item = queue["items"][0]
    picture = client.get(item["thumbnail_url"])
    assert picture.status_code == 200 and picture.headers["content-type"] == "image/jpeg"
    answered = client.post(
        "/api/v1/scenarios/crowd/answers", json={"item": item["item"], "label": "quiet"}
    )
    assert answered.status_code == 201
    again = client.get("/api/v1/scenarios/crowd/review", params={"limit": 50}).json()
    assert item["item"] not in [i["item"] for i in again["items"]]
    exported = client.get("/api/v1/scenarios/crowd/export", params={"format": "csv"})
    assert exported.status_code == 200
    rows = {r["item"]: r for r in csv.DictReader(io.StringIO(exported.text))}
    assert rows[item["item"]]["human_label"] == "quiet" and rows[item["item"]]["origin"] == "human"
    assert "attachment" in exported.headers["content-disposition"]


def test_every_export_format_over_rest(scenario_client: TestClient, tmp_path: Path) -> None:
    """A frame scenario: classification as a zip that supervision loads; boxes refused."""
    response = scenario_client.get(
        "/api/v1/scenarios/crowd/export", params={"format": "classification"}
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        archive.extractall(tmp_path)
    dataset = sv.ClassificationDataset.from_folder_structure(str(tmp_path))
    assert sorted(dataset.classes) == ["crowd", "quiet"] and len(dataset) == 12
    for fmt in ("coco", "yolo"):
        refused = scenario_client.get("/api/v1/scenarios/crowd/export", params={"format": fmt})
        assert refused.status_code == 422 and "classification" in refused.text


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"item": "frame:1", "label": "nope"}, 422, "unknown class 'nope'"),
        ({"item": "frame:999999", "label": "crowd"}, 404, "no frame with id 999999"),
        ({"item": "../../etc/passwd", "label": "crowd"}, 422, "item"),
        ({"item": "frame:1"}, 422, "label"),
    ],
)
def test_bad_answers(
    scenario_client: TestClient, body: dict[str, str], status: int, message: str
) -> None:
    response = scenario_client.post("/api/v1/scenarios/crowd/answers", json=body)
    assert response.status_code == status, response.text
    assert message in response.json()["detail"]


def test_bad_scenarios_and_unknown_names(scenario_client: TestClient) -> None:
    client = scenario_client
    one_class = {"name": "x", "classes": [{"name": "a", "prompts": ["a"]}]}
    refused = client.post("/api/v1/scenarios", json={"spec": one_class})
    assert refused.status_code == 422 and "at least 2 classes" in refused.json()["detail"]
    bad_yaml = client.post("/api/v1/scenarios", json={"yaml": "name: [unclosed"})
    assert bad_yaml.status_code == 422 and "not valid YAML" in bad_yaml.json()["detail"]
    both = client.post("/api/v1/scenarios", json={"yaml": "a: 1", "spec": SPEC})
    assert both.status_code == 422 and "not both" in both.json()["detail"]
    outside = dict(SPEC, name="peek", alert_classes=[])
    outside["classes"] = [
        {"name": "a", "prompts": ["a"], "examples": ["/etc/hostname"]},
        {"name": "b", "prompts": ["b"]},
    ]
    escaped = client.post("/api/v1/scenarios", json={"spec": outside})
    assert escaped.status_code == 422 and "outside the workspace" in escaped.json()["detail"]
    assert client.get("/api/v1/scenarios/nothing").status_code == 404
    assert client.get("/api/v1/scenarios/nothing/review").status_code == 404
    assert client.post("/api/v1/scenarios/nothing/autolabel", json={}).status_code == 404
    assert [s["name"] for s in client.get("/api/v1/scenarios").json()] == ["crowd"]


def test_concurrent_edits_of_one_scenario_one_wins_the_other_gets_409(
    scenario_client: TestClient,
) -> None:
    client = scenario_client
    current = client.get("/api/v1/scenarios/crowd").json()
    base = current["version"]

    def edit(n: int) -> int:
        spec = dict(SPEC, description=f"edit {n}")
        response = client.put("/api/v1/scenarios/crowd", json={"spec": spec, "base_version": base})
        assert response.status_code in (200, 409), response.text
        if response.status_code == 409:
            assert f"made from version {base}" in response.json()["detail"]
        return int(response.status_code)

    with ThreadPoolExecutor(max_workers=6) as pool:
        statuses = sorted(pool.map(edit, range(6)))
    assert statuses == [200, 409, 409, 409, 409, 409]
    after = client.get("/api/v1/scenarios/crowd").json()
    assert after["version"] == base + 1 and after["versions"] == base + 1
    old = client.get("/api/v1/scenarios/crowd", params={"version": base}).json()
    assert old["spec"]["description"] == current["spec"]["description"]  # nothing lost
    renamed = client.put(
        "/api/v1/scenarios/crowd", json={"spec": dict(SPEC, name="other"), "base_version": 2}
    )
    assert renamed.status_code == 422 and "renaming is not an edit" in renamed.json()["detail"]


def test_run_job_raises_events_with_evidence(scenario_client: TestClient) -> None:
    client = scenario_client
    job = client.post(
        "/api/v1/jobs/run",
        json={"models": ["scenario:crowd"], "sources": ["walkway"], "duration_s": 20},
    )
    assert job.status_code == 202, job.text
    done = wait_for_job(client, job.json()["id"])
    assert done["status"] == "succeeded", done
    assert done["result"]["health"][0]["frames_processed"] > 0
    events = client.get("/api/v1/events", params={"scenario": "crowd"}).json()
    assert events, "the fake model scores every frame as crowd: one event at least"
    event = client.get(f"/api/v1/events/{events[0]['id']}").json()
    assert event["deliveries"] and event["class_name"] in ("crowd", "quiet")
    for url in (event["thumbnail_url"], event["strip_url"]):
        assert client.get(url).status_code == 200
    assert client.get("/api/v1/events/999999").status_code == 404
    bad_model = client.post(
        "/api/v1/jobs/run", json={"models": ["/etc/passwd"], "sources": ["walkway"]}
    )
    assert bad_model.status_code == 422 and "outside the workspace" in bad_model.json()["detail"]
    assert client.get("/api/v1/events", params={"status": "bogus"}).status_code == 422


def test_event_and_search_hit_feedback_over_rest(scenario_client: TestClient) -> None:
    client = scenario_client
    events = client.get("/api/v1/events", params={"scenario": "crowd"}).json()
    if not events:
        job = client.post(
            "/api/v1/jobs/run",
            json={"models": ["scenario:crowd"], "sources": ["walkway"], "duration_s": 20},
        )
        assert wait_for_job(client, job.json()["id"])["status"] == "succeeded"
        events = client.get("/api/v1/events", params={"scenario": "crowd"}).json()
    event = events[-1]
    url = f"/api/v1/events/{event['id']}/feedback"
    wrong = "quiet" if event["class_name"] == "crowd" else "crowd"
    if event["details"]["media_time_s"]["peak"] > 12 + 2.5:
        # Only the first 12 s are indexed: no frame near the peak to label, nothing stored.
        refused = client.post(url, json={"label": wrong})
        assert refused.status_code == 422 and "index it first" in refused.json()["detail"]
        source = client.get("/api/v1/sources").json()[0]["id"]
        job = client.post("/api/v1/jobs/index", json={"sources": [source], "max_frames": 80})
        assert wait_for_job(client, job.json()["id"])["status"] == "succeeded"
    given = client.post(url, json={"label": wrong, "annotator": "ops"})
    assert given.status_code == 201, given.text
    body = given.json()
    assert body["verdict"] == "corrected" and body["predicted"] == event["class_name"]
    assert body["event_id"] == event["id"] and body["origin"] == "event"
    shown = client.get(f"/api/v1/events/{event['id']}").json()
    assert shown["feedback"]["label"] == wrong
    again = client.post(url, json={"confirm": True})
    assert again.status_code == 422 and "replace" in again.json()["detail"]
    assert client.post(url, json={"label": "nope", "replace": True}).status_code == 422
    assert client.post(url, json={}).status_code == 422
    assert client.post(url, json={"label": "quiet", "extra": 1}).status_code == 422
    assert client.post("/api/v1/events/999999/feedback", json={"confirm": True}).status_code == 404
    replaced = client.post(url, json={"confirm": True, "replace": True})
    assert replaced.status_code == 201 and replaced.json()["verdict"] == "confirmed"
    hit = client.post(
        "/api/v1/scenarios/crowd/feedback", json={"item": "frame:2", "label": "quiet"}
    )
    assert hit.status_code == 201 and hit.json()["origin"] == "search", hit.text
    unknown = client.post(
        "/api/v1/scenarios/crowd/feedback", json={"item": "frame:999999", "label": "quiet"}
    )
    assert unknown.status_code == 404
