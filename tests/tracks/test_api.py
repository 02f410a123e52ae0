"""The tracks routes of the REST API, in-process, over the tracked real excerpt."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from vigil.api import create_app
from vigil.tracks import TrackBuildReport
from vigil.workspace import Workspace


@pytest.fixture
def client(tracked: tuple[Workspace, TrackBuildReport]) -> Iterator[TestClient]:
    workspace, _ = tracked
    with TestClient(create_app(workspace.settings)) as opened:
        yield opened


def test_tracks_routes(client: TestClient, tracked: tuple[Workspace, TrackBuildReport]) -> None:
    workspace, _ = tracked
    source = workspace.get_source("walkway")
    listed = client.get("/api/v1/tracks", params={"source": source.id})
    assert listed.status_code == 200, listed.text
    rows = listed.json()
    assert rows and rows[0]["frame_wh"] == [768, 576]
    one = client.get(f"/api/v1/tracks/{rows[0]['id']}").json()
    assert one == rows[0]
    crop = client.get(one["crop_url"])
    assert crop.status_code == 200 and crop.headers["content-type"] == "image/jpeg"
    hits = client.get("/api/v1/tracks/search", params={"q": "a person", "limit": 5}).json()
    assert len({h["track"]["id"] for h in hits}) == len(hits) == 5
    assert client.get(f"/api/v1/tracks/{rows[0]['id']}/matches").json() == []  # one camera


@pytest.mark.parametrize(
    ("path", "params", "status"),
    [
        ("/api/v1/tracks/999999", {}, 404),
        ("/api/v1/tracks", {"source": 999999}, 404),
        ("/api/v1/tracks", {}, 422),
        ("/api/v1/tracks/search", {"q": ""}, 422),
        ("/api/v1/tracks/search", {"q": " "}, 422),
        ("/api/v1/tracks/0", {}, 422),
        ("/api/v1/tracks/999999/matches", {}, 404),
    ],
)
def test_bad_requests_are_4xx(
    client: TestClient, path: str, params: dict[str, object], status: int
) -> None:
    response = client.get(path, params=params)
    assert response.status_code == status, response.text
