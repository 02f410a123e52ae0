"""Clusters and distilled-model routes over a real indexed clip (fake embedder)."""

from __future__ import annotations

from fastapi.testclient import TestClient


def test_clusters_group_the_indexed_frames(indexed_fake_client: TestClient) -> None:
    answer = indexed_fake_client.get(
        "/api/v1/clusters", params={"min_cluster_size": 2, "members": 3}
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["target"] == "frames" and body["points"] > 0
    assert body["noise"] + sum(c["size"] for c in body["clusters"]) == body["points"]
    for cluster in body["clusters"]:
        assert 1 <= len(cluster["members"]) <= 3
        thumb = indexed_fake_client.get(cluster["members"][0]["thumbnail_url"])
        assert thumb.status_code == 200


def test_cluster_parameters_are_checked(indexed_fake_client: TestClient) -> None:
    assert (
        indexed_fake_client.get("/api/v1/clusters", params={"min_cluster_size": 1}).status_code
        == 422
    )
    assert indexed_fake_client.get("/api/v1/clusters", params={"target": "cats"}).status_code == 422
    assert indexed_fake_client.get("/api/v1/clusters", params={"source": 999}).status_code == 404


def test_distilled_models_and_distill_jobs(indexed_fake_client: TestClient) -> None:
    assert indexed_fake_client.get("/api/v1/distilled").json() == []
    missing = indexed_fake_client.get("/api/v1/distilled/12345")
    assert missing.status_code == 404 and "12345" in missing.json()["detail"]
    unknown = indexed_fake_client.post("/api/v1/jobs/distill", json={"scenario": "no-such"})
    assert unknown.status_code == 404
    bad = indexed_fake_client.post("/api/v1/jobs/distill", json={"scenario": "", "extra": 1})
    assert bad.status_code == 422


def test_object_filters_on_a_frame_search_are_a_clear_error(
    indexed_fake_client: TestClient,
) -> None:
    answer = indexed_fake_client.get("/api/v1/search", params={"q": "people", "class": "person"})
    assert answer.status_code == 422
    assert "object searches" in answer.json()["detail"]
    objects = indexed_fake_client.get(
        "/api/v1/search", params={"q": "people", "class": "person", "target": "objects"}
    )
    assert objects.status_code == 200 and objects.json()["hits"] == []  # no object pass yet
