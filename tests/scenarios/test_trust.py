"""Labels you can trust: the detector's class in object scenarios, and few-shot models
that never hand back a one-class answer without saying so.

Features are scikit-learn's real handwritten digits, as in ``test_classify``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from sklearn.datasets import load_digits

from vigil.embedders.base import l2_normalize
from vigil.embedders.fake import FakeEmbedder
from vigil.errors import InvalidInputError
from vigil.scenarios.classify import (
    class_text_vectors,
    fit_classifier,
    one_class_warning,
    probabilities,
)
from vigil.scenarios.detector_evidence import (
    DETECTOR_WEIGHT,
    coco_classes_named,
    detector_evidence,
)
from vigil.scenarios.evaluate import draw_shots, pixel_features
from vigil.scenarios.spec import ItemKind, quick_spec, spec_from_dict
from vigil.workspace import Workspace


@pytest.mark.parametrize(
    ("prompt", "named"),
    [
        ("a person walking", {"person"}),
        ("a pedestrian", {"person"}),
        ("people on a walkway", {"person"}),
        ("a photo of a car", {"car"}),
        ("a parked van", {"car", "truck"}),
        ("a vehicle", {"car", "truck", "bus", "motorcycle"}),
        ("一个行人", {"person"}),
        ("停着的面包车", {"car", "truck"}),
        ("一辆自行车", {"bicycle"}),  # longest word: a bicycle, not a "车"
        ("空的人行道", set()),  # sidewalk, not a person
        ("a street with no people", set()),
        ("without a car", set()),
        ("没有人", set()),
        ("an advance notice", set()),  # "van" inside a word names nothing
        ("a traffic light", {"traffic light"}),
        ("smoke rising over the roof", set()),
    ],
)
def test_prompt_words_name_detector_classes(prompt: str, named: set[str]) -> None:
    assert coco_classes_named(prompt) == named


def object_spec(classes: list[dict[str, Any]]) -> Any:
    return spec_from_dict({"name": "s", "target": {"kind": "object"}, "classes": classes})


def test_detector_evidence_links_classes_and_says_why() -> None:
    spec = object_spec(
        [
            {"name": "person", "prompts": ["a person walking", "a pedestrian"]},
            {"name": "car", "prompts": ["a photo of a car", "a parked van"]},
        ]
    )
    evidence = detector_evidence(spec)
    assert evidence.links == {"person": (0,), "car": (1,), "truck": (1,)}
    assert not evidence.warnings
    assert any("'person'" in note and "'person'" in note for note in evidence.notes)
    # zero-shot said 0.4 / 0.6; the detector says person at 0.8
    probs, used = evidence.apply(
        np.array([[0.4, 0.6], [0.4, 0.6], [0.4, 0.6]]),
        [("person", 0.8), None, ("dog", 0.9)],
    )
    boost = np.exp(DETECTOR_WEIGHT * 0.8)
    assert probs[0, 0] == pytest.approx(0.4 * boost / (0.4 * boost + 0.6), rel=1e-5)
    assert probs[1].tolist() == pytest.approx([0.4, 0.6]) == probs[2].tolist()
    assert used == ["person", None, None]
    # A confident classifier is not overturned by a weak detection.
    sure, _ = evidence.apply(np.array([[0.01, 0.99]]), [("person", 0.4)])
    assert sure[0].argmax() == 1


@pytest.mark.parametrize(
    ("classes", "warning"),
    [
        (  # the same detector class on both sides: it cannot tell them apart
            [
                {"name": "walking", "prompts": ["a person walking"]},
                {"name": "standing", "prompts": ["a person standing still"]},
            ],
            "named by every class",
        ),
        (  # a class that says both "a car" and "not like a car"
            [
                {"name": "car", "prompts": ["a car"], "negative_prompts": ["a toy car"]},
                {"name": "other", "prompts": ["a tree"]},
            ],
            "contradiction",
        ),
    ],
)
def test_contradictory_class_words_are_reported_not_used(
    classes: list[dict[str, Any]], warning: str
) -> None:
    evidence = detector_evidence(object_spec(classes))
    assert not evidence.active
    assert any(warning in text for text in evidence.warnings), evidence.warnings
    probs = np.array([[0.3, 0.7]])
    np.testing.assert_allclose(evidence.apply(probs, [("person", 0.9)])[0], probs, rtol=1e-6)


def test_unknown_class_words_leave_the_vectors_alone() -> None:
    evidence = detector_evidence(
        object_spec(
            [{"name": "xyzzy", "prompts": ["a xyzzy"]}, {"name": "plugh", "prompts": ["?"]}]
        )
    )
    assert not evidence.active and not evidence.warnings
    assert "no class prompt names a detector class" in evidence.notes[0]
    # Frame scenarios never use the detector's class.
    frames = quick_spec("f", ["person", "car"])
    assert not detector_evidence(frames).active


@pytest.fixture(scope="module")
def two_digits() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Real digits 3 and 8 (vectors (N, 64), labels 0/1), and useless text vectors.

    The text vectors are both the same direction, so zero-shot gives every item one
    class: the constant classifier the issue found, made certain.
    """
    data = load_digits()
    keep = np.isin(data.target, (3, 8))
    vectors = l2_normalize(data.data[keep].astype(np.float32) - data.data.mean(axis=0))
    labels = (data.target[keep] == 8).astype(np.int64)
    text = class_text_vectors(quick_spec("d", ["three", "eight"]), FakeEmbedder(dim=64).embed_texts)
    text = np.stack([text[0], text[0] * 0.999 + text[1] * 0.001])
    return vectors, labels, l2_normalize(text)


@pytest.mark.parametrize("shots", [2, 4, 8])
def test_few_shot_never_returns_a_constant_classifier_silently(
    two_digits: tuple[np.ndarray, np.ndarray, np.ndarray], shots: int
) -> None:
    vectors, labels, text = two_digits
    for draw in range(3):
        picked = draw_shots(labels, shots, np.random.default_rng([shots, draw]))
        model = fit_classifier(text, ("three", "eight"), vectors[picked], labels[picked], seed=draw)
        predicted = model.predict_proba(vectors).argmax(axis=1)
        constant = len(np.unique(predicted)) == 1
        assert not constant or model.warnings, (shots, draw, model.description)
        assert model.method == "linear-probe" or not constant
        assert set(model.cv_recall) == {"three", "eight"}


def test_cross_validation_ties_go_to_the_probe(
    two_digits: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> None:
    vectors, labels, text = two_digits
    picked = draw_shots(labels, 8, np.random.default_rng(3))
    model = fit_classifier(text, ("three", "eight"), vectors[picked], labels[picked])
    assert model.cv_accuracy["linear-probe"] == model.cv_accuracy["tip-adapter"] == 1.0
    assert model.method == "linear-probe"
    # Clearly better (more than one standard error) still wins: 16/16 against 14/16.
    picked = draw_shots(labels, 8, np.random.default_rng(0))
    model = fit_classifier(text, ("three", "eight"), vectors[picked], labels[picked])
    assert model.cv_accuracy["tip-adapter"] == 1.0 > model.cv_accuracy["linear-probe"]
    assert model.method == "tip-adapter"


def test_noise_level_examples_are_a_warning(
    two_digits: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> None:
    vectors, _, text = two_digits
    rng = np.random.default_rng(0)
    noise = np.repeat([0, 1], 4)  # labels that have nothing to do with the pictures
    picked = rng.choice(len(vectors), 8, replace=False)
    model = fit_classifier(text, ("three", "eight"), vectors[picked], noise)
    assert any("chance" in text or "one class" in text for text in model.warnings)


def test_one_class_warning_needs_a_dominant_class() -> None:
    names = ("person", "car")
    assert one_class_warning(np.array([179, 0]), names, examples=0) is not None
    assert "prompts alone" in str(one_class_warning(np.array([179, 0]), names, examples=0))
    assert one_class_warning(np.array([171, 9]), names, examples=8) is not None
    assert one_class_warning(np.array([150, 29]), names, examples=8) is None
    assert one_class_warning(np.array([5, 0]), names, examples=0) is None  # too few to tell


def test_backbone_features_reach_only_the_probe(
    two_digits: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> None:
    vectors, labels, text = two_digits
    rows = np.hstack([vectors, vectors[:, ::-1]])  # (N, 64 + 64): a stand-in backbone part
    picked = draw_shots(labels, 8, np.random.default_rng(1))
    model = fit_classifier(
        text,
        ("three", "eight"),
        rows[picked],
        labels[picked],
        methods=("linear-probe",),
        backbone_dim=64,
    )
    assert model.backbone_dim == 64 and model.input_dim == 128
    assert "+backbone" in model.description
    assert model.predict_proba(rows).shape == (len(rows), 2)
    with pytest.raises(InvalidInputError, match=r"\(N, 128\)"):
        model.predict_proba(vectors)
    # The prompts read the concept part only.
    expected = probabilities(vectors @ text.T, model.zero_shot_temperature)
    np.testing.assert_allclose(model.zero_shot_proba(rows), expected, atol=1e-6)
    cache = fit_classifier(
        text,
        ("three", "eight"),
        rows[picked],
        labels[picked],
        methods=("tip-adapter",),
        backbone_dim=64,
    )
    assert cache.backbone_dim == 0 and cache.predict_proba(vectors).shape == (len(vectors), 2)


def test_autolabel_warns_when_every_frame_gets_one_class(workspace: Workspace) -> None:
    # Two classes with the same prompt: the prompts cannot tell them apart, so every
    # frame gets the first class, and the report must say so.
    same = ["a photo of a walkway"]
    spec = spec_from_dict(
        {
            "name": "same",
            "classes": [{"name": "a", "prompts": same}, {"name": "b", "prompts": same}],
        }
    )
    workspace.create_scenario(spec)
    report = workspace.autolabel("same")
    assert report.predicted == {"a": report.labeled, "b": 0} and report.labeled >= 10
    assert any("100% of" in w and "'a'" in w for w in report.warnings), report.warnings


def test_pixel_baseline_features() -> None:
    images = np.repeat(load_digits().images[:2, :, :, None], 3, axis=3).astype(np.uint8)
    pixels = pixel_features(images)
    assert pixels.shape == (2, 64 * 64) and pixels.min() >= 0.0 and pixels.max() <= 1.0


def test_unknown_detector_classes_are_a_clear_error(workspace: Workspace) -> None:
    spec = quick_spec("typo", ["a", "b"], kind=ItemKind.OBJECT, object_classes=["persn"])
    with pytest.raises(InvalidInputError, match="did you mean 'person'"):
        workspace.create_scenario(spec)
    fine = quick_spec("fine", ["a", "b"], kind=ItemKind.OBJECT, object_classes=["person", "car"])
    assert workspace.create_scenario(fine).version == 1
