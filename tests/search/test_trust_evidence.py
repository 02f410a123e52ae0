"""Detector evidence, colour neighbours and concept expansion in trusted search."""

from __future__ import annotations

import numpy as np
import pytest

from vigil.embedders.base import create_embedder
from vigil.search.query import parse_query
from vigil.search.trust import (
    DETECTED,
    ConceptSpace,
    _soft_share,
    expand_query,
    named_classes,
)
from vigil.settings import EmbedderSettings
from vigil.workspace import Workspace


@pytest.mark.parametrize(
    ("query", "named", "share"),
    [
        ("a car", ("car",), 1.0),
        ("two people", ("person",), 1.0),
        ("a crowd", ("person",), 1.0),
        ("people walking on a footpath", ("person",), 1 / 3),
        ("a person riding a motorcycle", ("person", "motorcycle"), 2 / 3),
        ("no people", (), 0.0),  # negated: the detector cannot vouch for an absence
        ("a tall tower with many roofs", (), 0.0),
    ],
)
def test_named_classes_and_their_share_of_the_query(
    query: str, named: tuple[str, ...], share: float
) -> None:
    found, found_share = named_classes(parse_query(query))
    assert found == named
    assert found_share == pytest.approx(share)


def test_detected_classes_raise_the_confidence_of_the_frames_that_hold_them(
    cameras: Workspace,
) -> None:
    result = cameras.archive.search_trusted("people", limit=5)
    for found in result.hits:
        assert found.why.detected.get("person", 0) >= 1  # walkway frames hold people
        assert found.why.detector_evidence == pytest.approx(DETECTED)
        assert found.confidence >= DETECTED - 1e-6
        assert found.why.to_dict()["detector_evidence"] == pytest.approx(DETECTED)
    assert result.confident
    # A class no frame holds gets no such evidence.
    elephants = cameras.archive.search_trusted("an elephant", limit=3)
    assert all(h.why.detector_evidence == 0.0 for h in elephants.hits)


def test_colour_neighbours_rank_a_red_that_the_rules_call_orange_above_green() -> None:
    # The shares the fixed HSV rules measured on opencv-doc's apple.jpg (a red apple).
    apple = {"orange": 0.562, "yellow": 0.052, "brown": 0.375}
    red, green = _soft_share("red", apple), _soft_share("green", apple)
    assert green < red < 0.15  # nearer red than green, but red still does not "hold"
    assert _soft_share("orange", apple) == pytest.approx(0.562)  # held shares are exact


def test_concept_expansion_moves_a_description_toward_its_nearest_concept() -> None:
    embedder = create_embedder(EmbedderSettings(name="fake"))
    prompts = ("a photo of a thatch", "a photo of a car", "a photo of a dog")
    space = ConceptSpace(prompts, embedder.embed_texts(list(prompts)), frozenset(), "fake")
    query = embedder.embed_texts(["a house with a roof made of straw"])[0]
    moved = expand_query(query, space, weight=0.5)
    assert np.linalg.norm(moved) == pytest.approx(1.0, abs=1e-5)
    nearest = int(np.argmax(space.vectors @ query))
    assert space.vectors[nearest] @ moved > space.vectors[nearest] @ query
    assert np.array_equal(expand_query(query, space, weight=0.0), query)
    open_vocabulary = ConceptSpace(prompts, space.vectors, None, "clip")
    assert np.array_equal(expand_query(query, open_vocabulary, weight=0.5), query)
