"""The concept-bridge embedder with its real bundled models on real frames and photos.

The ranking cases are the hand-checked ones the defaults were tuned on (see
bench/bench_embedders.py); they guard the recipe against regressions, they are
not an accuracy estimate.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from vigil.embedders.base import create_embedder
from vigil.embedders.concept_bridge import MODEL_ID, ConceptBridgeEmbedder
from vigil.errors import InvalidInputError
from vigil.settings import EmbedderSettings

pytestmark = pytest.mark.real_model


@pytest.fixture(scope="module")
def bridge() -> ConceptBridgeEmbedder:
    embedder = create_embedder(EmbedderSettings(name="auto", device="cpu"))  # no clip_model set
    assert isinstance(embedder, ConceptBridgeEmbedder)
    return embedder


@pytest.fixture(scope="module")
def gallery(
    vtest_frames: list[np.ndarray], real_photos: dict[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """One surveillance frame among real photos of other things."""
    names = ("astronaut", "chelsea", "coffee", "rocket", "china", "flower")
    return {"vtest": vtest_frames[1], **{name: real_photos[name] for name in names}}


@pytest.fixture(scope="module")
def gallery_vectors(bridge: ConceptBridgeEmbedder, gallery: dict[str, np.ndarray]) -> np.ndarray:
    return bridge.embed_images(list(gallery.values()))


def test_auto_picks_concept_bridge(bridge: ConceptBridgeEmbedder) -> None:
    assert bridge.model_id == MODEL_ID
    assert bridge.dim == 384
    assert bridge.describe().startswith("concept-bridge (concept-bridge:")


def test_vectors_are_unit_and_deterministic(
    bridge: ConceptBridgeEmbedder, gallery: dict[str, np.ndarray], gallery_vectors: np.ndarray
) -> None:
    assert gallery_vectors.shape == (len(gallery), 384)
    assert gallery_vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(gallery_vectors, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(
        bridge.embed_images(list(gallery.values())), gallery_vectors, atol=1e-6
    )


def test_batching_does_not_change_vectors(
    bridge: ConceptBridgeEmbedder, vtest_frames: list[np.ndarray]
) -> None:
    together = bridge.embed_images(vtest_frames)
    one_by_one = np.concatenate([bridge.embed_images([frame]) for frame in vtest_frames])
    np.testing.assert_allclose(one_by_one, together, atol=1e-5)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("people walking on a street", "vtest"),
        ("pedestrians on a walkway", "vtest"),
        ("an astronaut", "astronaut"),
        ("a cat", "chelsea"),
        ("a cup of coffee", "coffee"),
        ("a rocket launch", "rocket"),
        ("a flower", "flower"),
        ("a temple", "china"),
    ],
)
def test_query_ranks_the_right_photo_first(
    bridge: ConceptBridgeEmbedder,
    gallery: dict[str, np.ndarray],
    gallery_vectors: np.ndarray,
    query: str,
    expected: str,
) -> None:
    scores = gallery_vectors @ bridge.embed_texts([query])[0]
    ranking = [list(gallery)[i] for i in np.argsort(-scores)]
    assert ranking[0] == expected, f"{query!r} ranked {ranking}"


def test_a_person_ranks_pictures_with_people_first(
    bridge: ConceptBridgeEmbedder, gallery: dict[str, np.ndarray], gallery_vectors: np.ndarray
) -> None:
    scores = gallery_vectors @ bridge.embed_texts(["a person"])[0]
    top_two = {list(gallery)[i] for i in np.argsort(-scores)[:2]}
    assert top_two == {"vtest", "astronaut"}


def test_detector_finds_pedestrians_in_vtest(
    bridge: ConceptBridgeEmbedder, vtest_frames: list[np.ndarray]
) -> None:
    for frame, detections in zip(vtest_frames, bridge.detect_batch(vtest_frames), strict=True):
        people = [d for d in detections if d.label == "person"]
        assert len(people) >= 2  # 1-8 pedestrians are on the walkway throughout the clip
        height, width = frame.shape[:2]
        for detection in detections:
            x1, y1, x2, y2 = detection.xyxy
            assert 0 <= x1 <= x2 <= width and 0 <= y1 <= y2 <= height
            assert detection.score >= bridge.min_detection_score
        assert [d.score for d in detections] == sorted((d.score for d in detections), reverse=True)


def test_crops_reuse_the_detector_label_and_stay_in_the_same_space(
    bridge: ConceptBridgeEmbedder, vtest_frames: list[np.ndarray]
) -> None:
    frame = vtest_frames[0]
    people = [d for d in bridge.detect(frame) if d.label == "person"]
    crops = [
        frame[round(d.xyxy[1]) : round(d.xyxy[3]), round(d.xyxy[0]) : round(d.xyxy[2])]
        for d in people
    ]
    vectors = bridge.embed_crops(crops, ["person"] * len(crops))
    assert vectors.shape == (len(crops), bridge.dim)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    prompts = bridge.embed_texts(["a photo of a person", "a photo of a cup of coffee"])
    scores = vectors @ prompts.T
    assert (scores[:, 0] > scores[:, 1]).all()
    with pytest.raises(InvalidInputError, match="not COCO class names"):
        bridge.embed_crops(crops[:1], ["unicorn"])
    with pytest.raises(InvalidInputError, match="1 crops but 2 labels"):
        bridge.embed_crops(crops[:1], ["person", "person"])


def test_detect_matches_detect_batch(
    bridge: ConceptBridgeEmbedder, vtest_frames: list[np.ndarray]
) -> None:
    batched = bridge.detect_batch(vtest_frames[:2])
    for frame, expected in zip(vtest_frames[:2], batched, strict=True):
        single = bridge.detect(frame)
        assert [d.label for d in single] == [d.label for d in expected]
        np.testing.assert_allclose(
            [d.score for d in single], [d.score for d in expected], atol=1e-4
        )


def test_detector_sees_the_cat(
    bridge: ConceptBridgeEmbedder, real_photos: dict[str, np.ndarray]
) -> None:
    labels = {d.label for d in bridge.detect(real_photos["chelsea"])}
    assert "cat" in labels


def test_explain_names_the_concepts(
    bridge: ConceptBridgeEmbedder,
    vtest_frames: list[np.ndarray],
    real_photos: dict[str, np.ndarray],
) -> None:
    crowd = bridge.explain(vtest_frames[1])
    assert crowd[0].prompt == "a photo of people" and crowd[0].source == "coco"
    coco_weight = sum(c.weight for c in crowd if c.source == "coco")
    assert coco_weight <= bridge.detector_weight + 1e-6  # busy scenes never outweigh the classifier
    cat = bridge.explain(real_photos["chelsea"])
    assert {"a photo of a cat", "a photo of an Egyptian cat"} <= {c.prompt for c in cat[:3]}
    assert bridge.top_classes(real_photos["coffee"], k=1)[0][0] == "espresso"


def test_bad_input_is_rejected(
    bridge: ConceptBridgeEmbedder, vtest_frames: list[np.ndarray]
) -> None:
    with pytest.raises(InvalidInputError, match="expected uint8"):
        bridge.embed_images([vtest_frames[0].astype(np.float32)])
    with pytest.raises(InvalidInputError, match="RGB array"):
        bridge.embed_images([vtest_frames[0][:, :, 0]])
    with pytest.raises(InvalidInputError, match="must not be empty"):
        bridge.embed_texts([" "])
    with pytest.raises(InvalidInputError, match="uint8 RGB"):
        bridge.detect(vtest_frames[0].astype(np.float32))
    with pytest.raises(InvalidInputError, match="top_k"):
        ConceptBridgeEmbedder(top_k=0)


def test_non_default_recipe_gets_its_own_model_id() -> None:
    other = ConceptBridgeEmbedder(top_k=3, device="cpu")
    assert other.model_id != MODEL_ID and other.model_id.startswith(MODEL_ID)


def test_text_queries_load_only_the_sentence_model(tmp_path: Path) -> None:
    """A CLI text search needs MiniLM alone; the image side loads on first image."""
    fresh = ConceptBridgeEmbedder(device="cpu", cache_dir=tmp_path)
    query = fresh.embed_texts(["a person riding a bicycle"])
    assert query.shape == (1, 384)
    assert fresh._classifier_model is None and fresh._detector is None
    assert fresh._concepts is None  # the 1,160 concept prompts were not embedded


def test_concept_vectors_are_cached_on_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fresh = ConceptBridgeEmbedder(device="cpu", cache_dir=tmp_path)
    encoded = fresh._stored_concepts(fresh._prompts)
    [stored] = tmp_path.glob("concepts-*.npy")
    assert encoded.shape == (len(fresh._prompts), 384)

    def no_encoding(texts: list[str]) -> np.ndarray:
        raise AssertionError("the cached concept vectors were encoded again")

    monkeypatch.setattr(fresh, "_encode", no_encoding)
    np.testing.assert_array_equal(fresh._stored_concepts(fresh._prompts), encoded)
    stored.write_bytes(b"damaged")  # a broken cache is only a slower start
    monkeypatch.undo()
    np.testing.assert_allclose(fresh._stored_concepts(fresh._prompts), encoded, atol=1e-6)
    other = fresh._stored_concepts(fresh._prompts[:10])  # another vocabulary, another file
    assert other.shape == (10, 384) and len(list(tmp_path.glob("concepts-*.npy"))) == 2
