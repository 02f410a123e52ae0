"""Real Fashion-MNIST images with a real (small) teacher for the distillation tests.

The teacher in the fast tests is a logistic regression on raw pixels fitted on
other real Fashion-MNIST training images: a genuine, imperfect classifier whose
probabilities are real soft targets, at no model-loading cost. The big
``concept-bridge`` teacher runs in the ``real_model`` test and the bench.
"""

from __future__ import annotations

import functools
import warnings
from pathlib import Path

import numpy as np
import pytest

from vigil.distill.data import NO_LABEL, DistillDataset
from vigil.evaluation import LabeledImages, load_fashion_mnist
from vigil.scenarios.spec import spec_from_dict
from vigil.scenarios.training import training_items
from vigil.settings import EmbedderSettings, SamplingSettings, Settings
from vigil.workspace import Workspace

TEACHER_SHOTS = 20  # per class, for the pixel teacher


@functools.cache
def _fashion_pool(per_class: int, seed: int) -> LabeledImages:
    """Real test-split images: the first ``per_class`` of each class are the items, the
    remaining ``TEACHER_SHOTS`` per class fit the teacher (disjoint from the items)."""
    return load_fashion_mnist("test", per_class=per_class + TEACHER_SHOTS, seed=seed)


def _halves(pool: LabeledImages, per_class: int) -> tuple[np.ndarray, np.ndarray]:
    rank = np.zeros(len(pool.labels), dtype=np.int64)
    for label in np.unique(pool.labels):
        where = np.flatnonzero(pool.labels == label)
        rank[where] = np.arange(len(where))
    return np.flatnonzero(rank < per_class), np.flatnonzero(rank >= per_class)


def pixel_teacher_probs(
    fit: LabeledImages, fit_index: np.ndarray, images: np.ndarray
) -> np.ndarray:
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_limits

    def features(pixels: np.ndarray) -> np.ndarray:  # 14x14 grey: a fast, honest weak teacher
        return pixels[:, ::2, ::2, 0].reshape(len(pixels), -1) / 255.0

    # One BLAS thread: several test processes share two cores, and threads thrash.
    with warnings.catch_warnings(), threadpool_limits(1):
        warnings.simplefilter("ignore", ConvergenceWarning)
        probe = LogisticRegression(max_iter=100, C=0.5)
        probe.fit(features(fit.images[fit_index]), fit.labels[fit_index])
        probs: np.ndarray = probe.predict_proba(features(images))
    return probs.astype(np.float32)


def fashion_dataset(per_class: int, *, human_every: int = 1, seed: int = 0) -> DistillDataset:
    """Real images and labels; every ``human_every``-th item keeps its human label."""
    pool = _fashion_pool(per_class, seed)
    items, fit = _halves(pool, per_class)
    images = pool.images[items]
    human = pool.labels[items].astype(np.int64)
    human[np.arange(len(human)) % human_every != 0] = NO_LABEL
    return DistillDataset(
        images=images,
        teacher_probs=pixel_teacher_probs(pool, fit, images),
        human_labels=human,
        class_names=pool.class_names,
        item_ids=tuple(f"fmnist-test:{i}" for i in items.tolist()),
    )


@pytest.fixture(scope="session")
def fashion_200() -> DistillDataset:
    """200 real Fashion-MNIST test images (20 per class), every one human-labeled."""
    return fashion_dataset(20)


EASY_CLASSES = (1, 8, 9)  # trouser, bag, ankle boot: a few epochs learn them well


def fashion_easy(per_class: int = 40, *, human_every: int = 1) -> DistillDataset:
    """Three well-separated Fashion-MNIST classes, enough for a student that passes the gates.

    The full ten classes with two epochs give a student no better than the majority
    class (rightly rejected); tests about ready models use this set instead.
    """
    full = fashion_dataset(per_class)  # every item human-labeled: the truth
    keep = np.flatnonzero(np.isin(full.human_labels, EASY_CLASSES))
    truth = np.searchsorted(np.array(EASY_CLASSES), full.human_labels[keep])
    probs = full.teacher_probs[keep][:, list(EASY_CLASSES)]
    human = truth.astype(np.int64)
    human[np.arange(len(human)) % human_every != 0] = NO_LABEL
    return DistillDataset(
        images=full.images[keep],
        teacher_probs=(probs / probs.sum(axis=1, keepdims=True)).astype(np.float32),
        human_labels=human,
        class_names=tuple(full.class_names[c] for c in EASY_CLASSES),
        item_ids=tuple(full.item_ids[i] for i in keep.tolist()),
    )


# Real skimage photos: visibly unlike the walkway clip's frames, so a student trained on
# people's "walkway" / "elsewhere" answers has a real, learnable task (the fake embedder's
# own labels are not meaningful, hence VIGIL_DISTILL__ALPHA=0: people's answers only).
PHOTOS = (
    "astronaut", "camera", "coins", "chelsea", "coffee", "rocket", "horse", "hubble_deep_field",
    "immunohistochemistry", "moon", "page", "text", "clock", "cat", "brick", "grass", "gravel",
    "retina", "colorwheel", "logo",
)  # fmt: skip


def write_photos(folder: Path) -> Path:
    """The skimage sample photos as 320x240 RGB JPEGs (the clip's frame size)."""
    from PIL import Image

    data = pytest.importorskip("skimage.data")
    folder.mkdir(parents=True, exist_ok=True)
    for name in PHOTOS:
        pixels = np.asarray(getattr(data, name)())
        if pixels.ndim == 2:
            pixels = np.stack([pixels] * 3, axis=-1)
        pixels = pixels[..., :3]
        if pixels.dtype != np.uint8:
            pixels = (255 * (pixels.astype(np.float64) / pixels.max())).astype(np.uint8)
        Image.fromarray(pixels).convert("RGB").resize((320, 240)).save(folder / f"{name}.jpg")
    return folder


def walkway_workspace(home: Path, vtest_path: Path, photos: Path | None) -> Workspace:
    """vtest.avi (and ``photos``) indexed with the fake embedder, scenario 'walkway' labelled.

    Without photos the classes are busy / quiet (the clip alone); with them, walkway /
    elsewhere, and every item gets a person's answer by its source.
    """
    settings = Settings(
        home=home,
        embedder=EmbedderSettings(name="fake"),
        sampling=SamplingSettings(interval_s=2.0, dedup_threshold=0.0),
    )
    workspace = Workspace.open(settings)
    clip = workspace.add_source(str(vtest_path), name="walkway")
    sources = [clip.id]
    if photos is not None:
        sources.append(workspace.add_source(str(photos), name="photos").id)
    workspace.index(sources)
    names = ("walkway", "elsewhere") if photos is not None else ("busy", "quiet")
    spec = {
        "name": "walkway",
        "classes": [
            {"name": names[0], "prompts": ["people walking on a walkway"]},
            {"name": names[1], "prompts": ["an empty walkway" if photos is None else "a photo"]},
        ],
    }
    workspace.create_scenario(spec_from_dict(spec))
    workspace.autolabel("walkway")
    if photos is not None:
        for item in training_items(workspace.catalog, "walkway"):
            frame = workspace.catalog.get_frame(item.id)
            label = names[0] if frame.source_id == clip.id else names[1]
            workspace.answer("walkway", f"frame:{item.id}", label, annotator="test")
    return workspace


def walkway_env(monkeypatch: pytest.MonkeyPatch, home: Path, *, epochs: int = 8) -> None:
    monkeypatch.setenv("VIGIL_HOME", str(home))
    monkeypatch.setenv("VIGIL_EMBEDDER__NAME", "fake")
    monkeypatch.setenv("VIGIL_DISTILL__EPOCHS", str(epochs))
    monkeypatch.setenv("VIGIL_DISTILL__INPUT_SIZE", "32")
    monkeypatch.setenv("VIGIL_DISTILL__ALPHA", "0")  # the fake teacher's soft labels are noise


@pytest.fixture
def learnable_home(vtest_path: Path, tmp_path: Path) -> Path:
    """A workspace where scenario 'walkway' (walkway / elsewhere) is answered on every item."""
    home = tmp_path / "workspace"
    walkway_workspace(home, vtest_path, write_photos(tmp_path / "photos")).close()
    return home
