"""The REST API in-process over a real SQLite catalog and the real clip (fake embedder).

Covers the happy paths of every area that exists, and bad input: malformed JSON,
wrong types, unknown ids, unsafe paths, huge and non-image uploads, with the status
and message each should give, and nothing stored lost.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import api_settings, index_vtest, wait_for_job
from vigil.api import ServeRefusedError, create_app
from vigil.catalog.api_store import ApiStore, JobStatus
from vigil.catalog.store import Catalog


def test_loopback_without_keys_lets_local_requests_in(fake_client: TestClient) -> None:
    status = fake_client.get("/api/v1/status")
    assert status.status_code == 200
    assert status.json()["auth_required"] is False
    assert status.json()["role"] == "admin"
    assert status.json()["schema_revision"] and "api_0001" in status.json()["schema_revision"]


def test_index_job_then_search_thumbnails_and_more_like_this(
    indexed_fake_client: TestClient,
) -> None:
    client = indexed_fake_client
    sources = client.get("/api/v1/sources").json()
    assert [s["name"] for s in sources] == ["walkway"]
    assert sources[0]["health"][0]["frames_done"] == 12
    job = client.get("/api/v1/jobs").json()[0]
    assert job["status"] == "succeeded" and job["progress"] == 1.0
    assert job["result"]["sources"][0]["frames_written"] == 12

    answer = client.get("/api/v1/search", params={"q": "people walking", "limit": 5}).json()
    assert len(answer["hits"]) == 5
    assert [h["rank"] for h in answer["hits"]] == [1, 2, 3, 4, 5]
    first = answer["hits"][0]
    thumb = client.get(first["thumbnail_url"])
    assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/jpeg"
    image = cv2.imdecode(np.frombuffer(thumb.content, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None and max(image.shape[:2]) == 320

    similar = client.get(f"/api/v1/search/similar/{first['frame_id']}", params={"limit": 3})
    assert similar.status_code == 200
    similar_ids = [hit["frame_id"] for hit in similar.json()["hits"]]
    assert len(similar_ids) == 3 and first["frame_id"] not in similar_ids  # never itself

    # Searching with the thumbnail as a picture finds that frame first.
    by_image = client.post(
        "/api/v1/search/image",
        params={"limit": 3},
        files={"file": ("frame.jpg", thumb.content, "image/jpeg")},
    )
    assert by_image.status_code == 200, by_image.text
    assert by_image.json()["hits"][0]["frame_id"] == first["frame_id"]

    filtered = client.get(
        "/api/v1/search", params={"q": "people", "source": sources[0]["id"], "limit": 2}
    )
    assert len(filtered.json()["hits"]) == 2
    frame = client.get(f"/api/v1/frames/{first['frame_id']}").json()

    # Trust fields: a top-level answer, a calibrated confidence and a "why" per hit.
    assert isinstance(answer["confident"], bool) and answer["message"]
    assert all(0 <= hit["confidence"] <= 1 and "concepts" in hit["why"] for hit in answer["hits"])
    assert isinstance(by_image.json()["confident"], bool)
    nobody = client.get("/api/v1/search", params={"q": "no people", "limit": 3}).json()
    assert nobody["confident"] is False and nobody["predicates"] == [
        "no people -> count(person) = 0"
    ]
    clash = client.get("/api/v1/search", params={"q": "no people in a crowd"})
    assert clash.status_code == 200 and clash.json()["hits"] == []
    assert "contradictory query" in clash.json()["notes"][0]
    assert (frame["width"], frame["height"]) == (768, 576)


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status", "message"),
    [
        ("get", "/api/v1/sources/999", {}, 404, "999"),
        ("get", "/api/v1/frames/999999", {}, 404, "no frame with id 999999"),
        ("get", "/api/v1/frames/999999/thumbnail", {}, 404, "999999"),
        ("get", "/api/v1/search/similar/999999", {}, 404, "999999"),
        ("get", "/api/v1/jobs/4242", {}, 404, "no job with id 4242"),
        ("delete", "/api/v1/sources/999", {}, 404, "999"),
        ("get", "/api/v1/search", {"params": {"q": ""}}, 422, "q"),
        ("get", "/api/v1/search", {"params": {"q": "x", "limit": 0}}, 422, "limit"),
        ("get", "/api/v1/search", {"params": {"q": "x", "limit": "many"}}, 422, "limit"),
        ("get", "/api/v1/search", {"params": {"q": "x", "source": 999}}, 404, "999"),
        ("get", "/api/v1/sources/abc", {}, 422, "source_id"),
        (
            "post",
            "/api/v1/sources",
            {"content": b'{"location": ', "headers": {"content-type": "application/json"}},
            400,
            "not valid JSON",
        ),
        ("post", "/api/v1/sources", {"json": {"location": 42}}, 422, "location"),
        ("post", "/api/v1/sources", {"json": {"location": "x", "bogus": 1}}, 422, "bogus"),
        ("post", "/api/v1/sources", {"json": ["a"]}, 422, "body"),
        (
            "post",
            "/api/v1/sources",
            {"json": {"location": "/etc/passwd"}},
            422,
            "outside the workspace home",
        ),
        (
            "post",
            "/api/v1/sources",
            {"json": {"location": "../../../../etc"}},
            422,
            "outside the workspace home",
        ),
        ("post", "/api/v1/jobs/index", {"json": {"sources": ["nowhere"]}}, 404, "nowhere"),
        ("post", "/api/v1/jobs/index", {"json": {"max_frames": -1}}, 422, "max_frames"),
        ("post", "/api/v1/jobs/4242/cancel", {}, 404, "4242"),
        ("get", "/api/v1/nothing-here", {}, 404, "Not Found"),
    ],
)
def test_bad_requests_get_a_clear_status_and_message(
    indexed_fake_client: TestClient,
    method: str,
    path: str,
    kwargs: dict[str, object],
    status: int,
    message: str,
) -> None:
    before = indexed_fake_client.get("/api/v1/status").json()
    response = getattr(indexed_fake_client, method)(path, **kwargs)
    assert response.status_code == status, response.text
    body = response.json()
    assert message in body["detail"] and body["error"]
    after = indexed_fake_client.get("/api/v1/status").json()
    assert (after["sources"], after["frames"]) == (before["sources"], before["frames"])


def test_uploads_that_are_not_images_empty_or_too_big(indexed_fake_client: TestClient) -> None:
    client = indexed_fake_client
    not_image = client.post(
        "/api/v1/search/image", files={"file": ("notes.txt", b"hello " * 100, "text/plain")}
    )
    assert not_image.status_code == 415
    assert "not an image" in not_image.json()["detail"]
    empty = client.post("/api/v1/search/image", files={"file": ("e.jpg", b"", "image/jpeg")})
    assert empty.status_code == 422 and "empty" in empty.json()["detail"]
    missing = client.post("/api/v1/search/image")
    assert missing.status_code == 422 and "file" in missing.json()["detail"]
    huge = client.post(
        "/api/v1/search/image",
        files={"file": ("big.jpg", b"\xff" * (11 * 1024 * 1024), "image/jpeg")},
    )
    assert huge.status_code == 413 and "limit is 10485760 bytes" in huge.json()["detail"]

    def chunks() -> object:  # no Content-Length: the limit is counted as the body streams
        for _ in range(12):
            yield b"\x00" * (1024 * 1024)

    streamed = client.post(
        "/api/v1/search/image",
        content=chunks(),  # type: ignore[arg-type]
        headers={"content-type": "multipart/form-data; boundary=x"},
    )
    assert streamed.status_code == 413
    assert client.get("/api/v1/status").status_code == 200  # the server is still fine


def test_keys_roles_revocation_and_cookie_only_for_reads(fake_client: TestClient) -> None:
    client = fake_client
    admin = client.post("/api/v1/keys", json={"name": "ops", "role": "admin"})
    assert admin.status_code == 201
    admin_token = admin.json()["token"]
    assert admin_token.startswith("vgl_") and "key_hash" not in admin.json()

    # A key exists now: nothing is open any more.
    refused = client.get("/api/v1/sources")
    assert refused.status_code == 401 and "API key is required" in refused.json()["detail"]
    wrong = client.get("/api/v1/sources", headers={"X-API-Key": admin_token[:-2] + "xx"})
    assert wrong.status_code == 401 and "unknown, malformed or revoked" in wrong.json()["detail"]
    assert client.get("/api/v1/sources", headers={"X-API-Key": "garbage"}).status_code == 401

    as_admin = {"X-API-Key": admin_token}
    reader = client.post("/api/v1/keys", json={"name": "viewer"}, headers=as_admin).json()
    as_reader = {"Authorization": f"Bearer {reader['token']}"}
    assert client.get("/api/v1/sources", headers=as_reader).status_code == 200
    assert client.get("/api/v1/status", headers=as_reader).json()["role"] == "read"
    forbidden = client.post("/api/v1/sources", json={"location": "x"}, headers=as_reader)
    assert forbidden.status_code == 403 and "admin" in forbidden.json()["detail"]
    assert client.get("/api/v1/keys", headers=as_reader).status_code == 403

    client.cookies.set("vigil_key", reader["token"])
    assert client.get("/api/v1/sources").status_code == 200  # reads: cookie is enough
    client.cookies.set("vigil_key", admin_token)
    assert client.post("/api/v1/jobs/index", json={}).status_code == 401  # writes: never
    client.cookies.clear()

    listed = client.get("/api/v1/keys", headers=as_admin).json()
    assert [k["name"] for k in listed] == ["ops", "viewer"]
    assert all("token" not in k and "key_hash" not in k for k in listed)
    assert client.delete(f"/api/v1/keys/{reader['id']}", headers=as_admin).status_code == 200
    assert client.get("/api/v1/sources", headers=as_reader).status_code == 401


def test_refuses_to_serve_beyond_loopback_without_a_key(tmp_path: Path, vtest_path: Path) -> None:
    settings = api_settings(tmp_path / "home", vtest_path.parent, host="0.0.0.0")
    with pytest.raises(ServeRefusedError, match="not a loopback address and no API key exists"):
        create_app(settings)
    from vigil.api.auth import create_key

    with Catalog.open(tmp_path / "home" / "catalog.db") as catalog:
        token = create_key(ApiStore(catalog), name="lan", role="read").token
    with TestClient(create_app(settings)) as client:
        assert client.get("/api/v1/status").status_code == 401
        assert client.get("/api/v1/status", headers={"X-API-Key": token}).status_code == 200


def test_jobs_left_running_by_a_dead_server_show_as_interrupted(
    tmp_path: Path, vtest_path: Path
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    with Catalog.open(home / "catalog.db") as catalog:
        store = ApiStore(catalog)
        job = store.add_job("index", {"sources": []})
        store.update_job(job.id, status=JobStatus.RUNNING, progress=0.4)
    with TestClient(create_app(api_settings(home, vtest_path.parent))) as client:
        again = client.get(f"/api/v1/jobs/{job.id}").json()
    assert again["status"] == "interrupted" and again["progress"] == 0.4
    assert "server stopped" in again["error"]


def test_cancel_a_running_index_job_keeps_what_was_written(
    fake_client: TestClient, vtest_path: Path
) -> None:
    source = fake_client.post("/api/v1/sources", json={"location": str(vtest_path)}).json()
    job = fake_client.post("/api/v1/jobs/index", json={"sources": [source["name"]]}).json()
    assert job["params"]["sources"] == [source["id"]]
    cancelled = fake_client.post(f"/api/v1/jobs/{job['id']}/cancel")
    assert cancelled.status_code == 200
    final = wait_for_job(fake_client, job["id"])
    assert final["status"] in ("cancelled", "succeeded")  # it may have finished first
    again = fake_client.post(f"/api/v1/jobs/{job['id']}/cancel")
    assert again.status_code == 422 and "only queued or running" in again.json()["detail"]
    # Whatever was indexed stays searchable.
    frames = fake_client.get("/api/v1/status").json()["frames"]
    if frames:
        assert fake_client.get("/api/v1/search", params={"q": "x"}).json()["hits"]


def test_source_removal_and_duplicate_names(fake_client: TestClient, vtest_path: Path) -> None:
    index_vtest(fake_client, vtest_path, 3)
    duplicate = fake_client.post(
        "/api/v1/sources", json={"location": str(vtest_path), "name": "walkway"}
    )
    assert duplicate.status_code == 422 and "already exists" in duplicate.json()["detail"]
    source_id = fake_client.get("/api/v1/sources").json()[0]["id"]
    assert fake_client.delete(f"/api/v1/sources/{source_id}").status_code == 200
    assert fake_client.get("/api/v1/search", params={"q": "people"}).json()["hits"] == []


def test_console_is_served_and_openapi_is_published(fake_client: TestClient) -> None:
    root = fake_client.get("/", follow_redirects=False)
    assert root.status_code in (302, 307) and root.headers["location"] == "/console/"
    page = fake_client.get("/console/")
    assert page.status_code == 200 and "search.js" in page.text
    assert page.headers["x-content-type-options"] == "nosniff"
    spec = fake_client.get("/openapi.json").json()
    assert {"/api/v1/search", "/api/v1/search/image", "/api/v1/jobs/index"} <= set(spec["paths"])
    assert fake_client.get("/console/../catalog.db").status_code == 404


def test_indexing_a_live_stream_needs_a_bound(fake_client: TestClient) -> None:
    stream = fake_client.post(
        "/api/v1/sources",
        json={"location": "rtsp://127.0.0.1:9/cam", "kind": "stream", "check": False},
    )
    assert stream.status_code == 201, stream.text
    refused = fake_client.post("/api/v1/jobs/index", json={"sources": [stream.json()["id"]]})
    assert refused.status_code == 422 and "never end" in refused.json()["detail"]
    assert fake_client.get("/api/v1/jobs").json() == []
