"""A frame looked at closely over REST: its record with the detected objects, the original
pixels decoded again, and a WebM clip around it read back with PyAV; bad ids and sources
with nothing to cut get 404/422 (real clip, real detector, fake embedder)."""

from __future__ import annotations

from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient
from skimage import data

from tests.api.conftest import wait_for_job
from vigil.sources.clips import CLIP_FPS, MAX_CLIP_SIDE, ClipCache, ClipWindow
from vigil.sources.types import SourceKind, SourceSpec


@pytest.fixture(scope="module")
def frame_ids(indexed_fake_client: TestClient) -> list[int]:
    answer = indexed_fake_client.get("/api/v1/search", params={"q": "people", "limit": 12})
    return sorted(hit["frame_id"] for hit in answer.json()["hits"])


def test_view_lists_the_frames_objects_with_boxes_in_frame_pixels(
    indexed_fake_client: TestClient, frame_ids: list[int]
) -> None:
    client = indexed_fake_client
    workspace = client.app.state.services.workspace  # type: ignore[attr-defined]
    workspace.index_objects(max_frames=3)  # the real COCO detector on the first frames
    views = [client.get(f"/api/v1/frames/{i}/view").json() for i in frame_ids[:3]]
    assert all(v["source"] == "walkway" and v["kind"] == "video" for v in views)
    assert all((v["width"], v["height"]) == (768, 576) and v["scanned"] for v in views)
    assert not client.get(f"/api/v1/frames/{frame_ids[-1]}/view").json()["scanned"]
    boxes = [o for v in views for o in v["objects"]]
    assert boxes, "vtest's first seconds show walking people: the detector finds some"
    for obj in boxes:
        x1, y1, x2, y2 = obj["box"]
        assert 0 <= x1 < x2 <= 768 and 0 <= y1 < y2 <= 576
    scores = [o["score"] for o in views[0]["objects"]]
    assert scores == sorted(scores, reverse=True)
    assert views[0]["clip_url"] == f"/api/v1/frames/{frame_ids[0]}/clip"
    chosen = boxes[-1]
    seen = client.get(f"/api/v1/objects/{chosen['id']}/view").json()
    assert seen["objects"][0] == chosen  # the object first, then the rest of its frame
    classes = client.get("/api/v1/objects/classes").json()
    assert sum(c["count"] for c in classes) == len(boxes)
    assert {c["name"] for c in classes} == {o["label"] for o in boxes}


def test_full_resolution_image_is_the_original_frame(
    indexed_fake_client: TestClient, frame_ids: list[int]
) -> None:
    client = indexed_fake_client
    full = client.get(f"/api/v1/frames/{frame_ids[1]}/image")
    assert full.status_code == 200 and full.headers["content-type"] == "image/jpeg"
    image = cv2.imdecode(np.frombuffer(full.content, np.uint8), cv2.IMREAD_COLOR)
    assert image.shape == (576, 768, 3)
    thumb = client.get(f"/api/v1/frames/{frame_ids[1]}/thumbnail").content
    small = cv2.imdecode(np.frombuffer(thumb, np.uint8), cv2.IMREAD_COLOR)
    shrunk = cv2.resize(image, (small.shape[1], small.shape[0]), interpolation=cv2.INTER_AREA)
    # The same picture: the thumbnail is this frame shrunk (JPEG twice: a few levels off).
    assert float(np.abs(shrunk.astype(float) - small.astype(float)).mean()) < 6.0


def test_clip_around_a_frame_is_a_playable_webm(
    indexed_fake_client: TestClient, frame_ids: list[int]
) -> None:
    client = indexed_fake_client
    target = frame_ids[5]
    clip = client.get(f"/api/v1/frames/{target}/clip", params={"before_s": 1, "after_s": 1})
    assert clip.status_code == 200, clip.text
    assert clip.headers["content-type"] == "video/webm"
    home = client.app.state.services.clips.folder  # type: ignore[attr-defined]
    [cached] = list(Path(home).glob(f"frame-{target}-*.webm"))
    with av.open(str(cached)) as container:
        stream = container.streams.video[0]
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(stream)]
    assert stream.codec_context.name == "vp8"
    assert max(frames[0].shape[:2]) == MAX_CLIP_SIDE
    # vtest runs at 10 fps, under the clip's CLIP_FPS: every source frame of the 2 s is kept.
    assert 20 <= len(frames) <= 2 * CLIP_FPS + 1
    again = client.get(f"/api/v1/frames/{target}/clip", params={"before_s": 1, "after_s": 1})
    assert again.content == clip.content  # served from the cache
    # Browsers seek in a video with range requests.
    part = client.get(
        f"/api/v1/frames/{target}/clip",
        params={"before_s": 1, "after_s": 1},
        headers={"Range": "bytes=0-99"},
    )
    assert part.status_code == 206 and part.content == clip.content[:100]


@pytest.mark.parametrize(
    ("path", "params", "status"),
    [
        ("/api/v1/frames/999999/clip", {}, 404),
        ("/api/v1/frames/999999/view", {}, 404),
        ("/api/v1/frames/999999/image", {}, 404),
        ("/api/v1/frames/0/clip", {}, 422),
        ("/api/v1/frames/{first}/clip", {"before_s": 8, "after_s": 8}, 422),
        ("/api/v1/frames/{first}/clip", {"before_s": 0, "after_s": 0}, 422),
        ("/api/v1/frames/{first}/clip", {"before_s": -1}, 422),
    ],
)
def test_bad_clip_requests(
    indexed_fake_client: TestClient,
    frame_ids: list[int],
    path: str,
    params: dict[str, float],
    status: int,
) -> None:
    answer = indexed_fake_client.get(path.format(first=frame_ids[0]), params=params)
    assert answer.status_code == status, answer.text
    assert answer.json()["detail"]


def test_image_folder_frames_have_no_clip(fake_client: TestClient) -> None:
    folder = Path(fake_client.app.state.services.home) / "photos"  # type: ignore[attr-defined]
    folder.mkdir(parents=True)
    for name in ("astronaut", "coffee"):
        cv2.imwrite(str(folder / f"{name}.png"), getattr(data, name)()[:, :, ::-1])
    source = fake_client.post("/api/v1/sources", json={"location": str(folder), "name": "stills"})
    assert source.status_code == 201, source.text
    job = fake_client.post("/api/v1/jobs/index", json={"sources": [source.json()["id"]]})
    assert wait_for_job(fake_client, job.json()["id"])["status"] == "succeeded"
    hit = fake_client.get("/api/v1/search", params={"q": "a cup"}).json()["hits"][0]
    view = fake_client.get(f"/api/v1/frames/{hit['frame_id']}/view").json()
    assert view["kind"] == "images" and view["clip_url"] is None
    clip = fake_client.get(f"/api/v1/frames/{hit['frame_id']}/clip")
    assert clip.status_code == 422 and "video files" in clip.json()["detail"]
    full = fake_client.get(view["image_url"])
    image = cv2.imdecode(np.frombuffer(full.content, np.uint8), cv2.IMREAD_COLOR)
    assert image.shape == (view["height"], view["width"], 3)
    assert image.shape in ((512, 512, 3), (400, 600, 3))  # astronaut, coffee: not thumbnails


def test_clip_cache_keeps_under_its_size_and_refuses_odd_keys(
    tmp_path: Path, vtest_path: Path
) -> None:
    spec = SourceSpec(name="walkway", kind=SourceKind.VIDEO, location=str(vtest_path))
    cache = ClipCache(tmp_path / "clips", max_bytes=1)  # smaller than any clip
    window = ClipWindow(before_s=0.5, after_s=0.5)
    first = cache.clip(spec, key="frame-1", media_time=3.0, window=window)
    second = cache.clip(spec, key="frame-2", media_time=6.0, window=window)
    assert not first.exists() and second.exists()  # the newest is kept, older ones go
    with pytest.raises(ValueError, match="plain file name"):
        cache.path_for("../x", window)
