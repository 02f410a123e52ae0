"""Zero-shot, calibration and few-shot selection on real labeled data.

Features are scikit-learn's real handwritten digits (8x8 scans, 10 classes, labeled
by people), unit-normalised as an embedder's vectors would be; class "text"
vectors come from the fake embedder, so zero-shot knows nothing and everything
the few-shot methods gain is learned from the shots.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_digits

from vigil.embedders.base import l2_normalize
from vigil.embedders.fake import FakeEmbedder
from vigil.errors import InvalidInputError
from vigil.scenarios.classify import (
    FALLBACK_TEMPERATURE,
    cached_class_text_vectors,
    class_text_vectors,
    expected_calibration_error,
    fit_classifier,
    fit_temperature,
    probabilities,
)
from vigil.scenarios.evaluate import draw_shots
from vigil.scenarios.spec import quick_spec, spec_from_dict

NAMES = tuple(str(d) for d in range(10))


@pytest.fixture(scope="module")
def digits() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(vectors (1797, 64), labels, text vectors (10, 64))."""
    data = load_digits()
    vectors = l2_normalize(data.data.astype(np.float32) - data.data.mean(axis=0))
    fake = FakeEmbedder(dim=64)
    text = class_text_vectors(quick_spec("digits", list(NAMES)), fake.embed_texts)
    return vectors, data.target.astype(np.int64), text


def split(labels: np.ndarray, shots: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Shot indices and the disjoint rest."""
    picked = draw_shots(labels, shots, np.random.default_rng(seed))
    rest = np.setdiff1d(np.arange(len(labels)), picked)
    return picked, rest


def test_negative_prompts_push_the_class_vector_away() -> None:
    fake = FakeEmbedder()
    plain = spec_from_dict(
        {
            "name": "s",
            "classes": [{"name": "a", "prompts": ["fire"]}, {"name": "b", "prompts": ["x"]}],
        }
    )
    negative = spec_from_dict(
        {
            "name": "s",
            "classes": [
                {"name": "a", "prompts": ["fire"], "negative_prompts": ["sunset"]},
                {"name": "b", "prompts": ["x"]},
            ],
        }
    )
    sunset = fake.embed_texts(["sunset"])
    before = float((sunset @ class_text_vectors(plain, fake.embed_texts).T)[0, 0])
    after = float((sunset @ class_text_vectors(negative, fake.embed_texts).T)[0, 0])
    assert after < before
    vectors = class_text_vectors(negative, fake.embed_texts)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_no_examples_gives_zero_shot_with_the_default_temperature(digits) -> None:  # type: ignore[no-untyped-def]
    vectors, _, text = digits
    model = fit_classifier(text, NAMES, default_t=0.05)
    assert (model.method, model.temperature, model.ece) == ("zero-shot", 0.05, None)
    probs = model.predict_proba(vectors[:5])
    assert probs.shape == (5, 10) and np.allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    assert fit_classifier(text, NAMES).temperature == FALLBACK_TEMPERATURE


@pytest.mark.parametrize(
    ("methods", "expected"), [(None, "linear-probe"), (("tip-adapter",), "tip-adapter")]
)
def test_one_shot_fits_the_probe_or_the_cache_model(  # type: ignore[no-untyped-def]
    digits, methods, expected
) -> None:
    vectors, labels, text = digits
    picked, rest = split(labels, 1, seed=0)
    model = fit_classifier(text, NAMES, vectors[picked], labels[picked], methods=methods)
    assert model.method == expected and model.examples == 10
    assert (model.predict_proba(vectors[picked]).argmax(axis=1) == labels[picked]).all()
    zero = fit_classifier(text, NAMES, default_t=model.zero_shot_temperature)
    accuracy = (model.predict_proba(vectors[rest]).argmax(axis=1) == labels[rest]).mean()
    zero_accuracy = (zero.predict_proba(vectors[rest]).argmax(axis=1) == labels[rest]).mean()
    assert accuracy > zero_accuracy


def test_eight_shots_choose_by_cross_validation_and_beat_zero_shot(digits) -> None:  # type: ignore[no-untyped-def]
    vectors, labels, text = digits
    picked, rest = split(labels, 8, seed=1)
    zero = fit_classifier(text, NAMES, default_t=0.05)
    model = fit_classifier(text, NAMES, vectors[picked], labels[picked])
    assert set(model.cv_accuracy) == {"zero-shot", "tip-adapter", "linear-probe"}
    assert model.method in {"tip-adapter", "linear-probe"}
    assert model.cv_accuracy[model.method] == max(model.cv_accuracy.values())
    assert model.ece is not None and 0.0 <= model.ece < 0.3
    zero_acc = (zero.predict_proba(vectors[rest]).argmax(axis=1) == labels[rest]).mean()
    few_acc = (model.predict_proba(vectors[rest]).argmax(axis=1) == labels[rest]).mean()
    assert zero_acc < 0.3 < 0.85 < few_acc
    forced = fit_classifier(text, NAMES, vectors[picked], labels[picked], methods=("linear-probe",))
    assert forced.method == "linear-probe"


def test_temperature_scaling_calibrates_overconfident_scores(digits) -> None:  # type: ignore[no-untyped-def]
    vectors, labels, _ = digits
    picked, rest = split(labels, 8, seed=2)
    prototypes = l2_normalize(
        np.stack([vectors[picked][labels[picked] == c].mean(0) for c in range(10)])
    )
    logits = vectors[rest] @ prototypes.T
    sharp = probabilities(logits, 0.001)  # far too confident
    fitted = fit_temperature(logits, labels[rest])
    assert 0.001 < fitted < 1.0
    assert expected_calibration_error(
        probabilities(logits, fitted), labels[rest]
    ) < expected_calibration_error(sharp, labels[rest])


def test_bad_classifier_inputs_are_clear_errors(digits) -> None:  # type: ignore[no-untyped-def]
    vectors, labels, text = digits
    with pytest.raises(InvalidInputError, match=r"expected \(N, 64\) vectors"):
        fit_classifier(text, NAMES, vectors[:4, :10], labels[:4])
    with pytest.raises(InvalidInputError, match="class indices in"):
        fit_classifier(text, NAMES, vectors[:4], np.array([0, 1, 2, 12]))
    with pytest.raises(InvalidInputError, match="expected 3 class vectors"):
        fit_classifier(text, ("a", "b", "c"))
    with pytest.raises(InvalidInputError, match="at least one labeled"):
        fit_temperature(np.zeros((0, 3)), np.zeros(0, dtype=np.int64))
    model = fit_classifier(text, NAMES)
    with pytest.raises(InvalidInputError, match=r"expected \(N, 64\)"):
        model.predict_proba(vectors[:2, :8])


def test_class_vectors_are_embedded_once_per_model_and_prompts() -> None:
    """The review queue rebuilds its classifier per request: prompts are embedded once."""
    embedder = FakeEmbedder()
    calls: list[list[str]] = []

    def embed(texts: list[str]) -> np.ndarray:
        calls.append(texts)
        return embedder.embed_texts(texts)

    spec = quick_spec("cache-test", ["cache probe heron", "cache probe kettle"])
    first = cached_class_text_vectors(spec, embedder.model_id, embed)
    embedded = len(calls)
    assert embedded == 2
    again = cached_class_text_vectors(spec, embedder.model_id, embed)
    np.testing.assert_array_equal(again, first)  # the same stored array, not recomputed
    assert len(calls) == embedded
    again[:] = 0  # a caller changing its copy does not change the cache
    np.testing.assert_array_equal(cached_class_text_vectors(spec, embedder.model_id, embed), first)
    edited = quick_spec("cache-test", ["cache probe otter", "cache probe kettle"])
    cached_class_text_vectors(edited, embedder.model_id, embed)  # new prompts: embedded afresh
    cached_class_text_vectors(spec, "another-model", embed)  # another model: embedded afresh
    assert len(calls) == embedded + 4
