"""The API over the real bundled model and ~25 s of the real walkway clip."""

from __future__ import annotations

import cv2
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

pytestmark = pytest.mark.real_model


def test_people_walking_outranks_things_absent_from_the_clip(real_app: FastAPI) -> None:
    client = TestClient(real_app)
    status = client.get("/api/v1/status").json()
    assert 20 <= status["frames"] <= 25
    best = {}
    for query in ("person", "a person", "a boat on the sea", "a plate of food"):
        answer = client.get("/api/v1/search", params={"q": query, "limit": 5})
        assert answer.status_code == 200, answer.text
        assert answer.json()["model_id"].startswith("concept-bridge")
        best[query] = answer.json()["hits"][0]["score"]
    assert min(best["person"], best["a person"]) > max(
        best["a boat on the sea"], best["a plate of food"]
    ), best


def test_image_query_with_a_real_frame_scores_above_an_unrelated_photo(real_app: FastAPI) -> None:
    """A frame of the clip looks more like the clip than a real photo of coffee does."""
    skimage_data = pytest.importorskip("skimage.data")
    client = TestClient(real_app)
    hit = client.get("/api/v1/search", params={"q": "person", "limit": 1}).json()["hits"][0]
    frame_jpeg = client.get(hit["thumbnail_url"]).content
    ok, coffee_png = cv2.imencode(".png", cv2.cvtColor(skimage_data.coffee(), cv2.COLOR_RGB2BGR))
    assert ok
    best = {}
    for name, data in (("frame", frame_jpeg), ("coffee", coffee_png.tobytes())):
        answer = client.post("/api/v1/search/image", files={"file": (name, data, "image/*")})
        assert answer.status_code == 200, answer.text
        best[name] = answer.json()["hits"][0]["score"]
    assert best["frame"] > 0.9 > best["coffee"], best
