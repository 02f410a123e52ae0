"""Text search end to end with the real bundled model on real frames and photos.

The workspace holds the real surveillance clip (sampled every 8 s) and a folder of
real photographs shipped in scikit-image / scikit-learn. A query for what is visibly
in one of them must rank that one first.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vigil.settings import EmbedderSettings, SamplingSettings, Settings
from vigil.workspace import Workspace

pytestmark = pytest.mark.real_model

PHOTOS = ("astronaut", "chelsea", "coffee", "rocket")


@pytest.fixture(scope="module")
def indexed(tmp_path_factory: pytest.TempPathFactory, vtest_path: Path) -> Iterator[Workspace]:
    skimage_data = pytest.importorskip("skimage.data")
    root = tmp_path_factory.mktemp("real-search")
    photos = root / "photos"
    photos.mkdir()
    for name in PHOTOS:
        image: np.ndarray = getattr(skimage_data, name)()
        Image.fromarray(image).convert("RGB").save(photos / f"{name}.png")
    settings = Settings(
        home=root / "workspace",
        embedder=EmbedderSettings(name="auto"),
        sampling=SamplingSettings(interval_s=8.0, dedup_threshold=0.0),
    )
    with Workspace.open(settings) as workspace:
        workspace.add_source(str(vtest_path), name="walkway")
        workspace.add_source(str(photos), name="photos")
        reports = workspace.index()
        assert [report.frames_written for report in reports] == [10, len(PHOTOS)]
        yield workspace


def test_auto_uses_the_offline_concept_bridge(indexed: Workspace) -> None:
    assert indexed.embedder.name == "concept-bridge"


@pytest.mark.parametrize(
    ("query", "source", "photo"),
    [
        ("people walking on a street", "walkway", None),
        ("a crowd of people", "walkway", None),
        ("a parked van", "walkway", None),
        ("a man in a space suit", "photos", "astronaut"),
        ("a cat", "photos", "chelsea"),
        ("a cup of coffee", "photos", "coffee"),
        ("a space rocket", "photos", "rocket"),
    ],
)
def test_query_for_what_is_visible_ranks_it_first(
    indexed: Workspace, query: str, source: str, photo: str | None
) -> None:
    [best, *_] = indexed.search(query, limit=5)
    assert best.source.name == source
    if photo is not None:
        assert best.frame.frame_index == sorted(PHOTOS).index(photo)


def test_source_filter_and_contact_sheet(indexed: Workspace, tmp_path: Path) -> None:
    hits = indexed.search("a cat", limit=5, sources=["walkway"])
    assert hits and {hit.source.name for hit in hits} == {"walkway"}
    sheet = indexed.contact_sheet(hits, tmp_path / "sheet.png", title="a cat")
    with Image.open(sheet) as opened:
        assert opened.width == 4 * 320 and opened.height > 200


def test_trusted_search_abstains_on_an_absent_thing(indexed: Workspace) -> None:
    result = indexed.archive.search_trusted("an elephant", limit=3)
    assert result.calibration.startswith("fitted on Fashion-MNIST train")
    assert not result.confident
    assert result.headline().startswith("no confident match for 'an elephant'; nearest: ")
    assert len(result.hits) == 3  # the nearest are still there to look at


def test_trusted_search_names_words_outside_the_vocabulary(indexed: Workspace) -> None:
    result = indexed.archive.search_trusted("a person loitering", limit=3)
    assert result.unknown_words == ["loitering"]
    [note] = [n for n in result.notes if n.startswith("'loitering'")]
    assert "not in the concept-bridge model's vocabulary" in note and "nearest concepts: " in note
    why = result.hits[0].why
    assert why.concepts and all(isinstance(weight, float) for _, weight in why.concepts)
