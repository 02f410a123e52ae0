"""Distillation on real Fashion-MNIST images: data checks, pruning, training, export, registry."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.distill.conftest import fashion_dataset, fashion_easy
from vigil.catalog.models_store import (
    ModelKind,
    ModelStatus,
    get_model,
    list_models,
    sha256_file,
)
from vigil.catalog.store import Catalog
from vigil.distill import pipeline
from vigil.distill.data import MIN_ITEMS, NO_LABEL, DistillDataset, split_dataset
from vigil.distill.export import export_model, export_onnx
from vigil.distill.model_card import ModelCard, read_model_card
from vigil.distill.pipeline import DistillOptions, distill, torch_probs
from vigil.distill.student import StudentSpec, build_student, parameter_count, prune_channels
from vigil.distill.train import TrainConfig, resize_images, to_tensor, train_student
from vigil.errors import InvalidInputError, NotFoundError
from vigil.runtime.models import registry_path
from vigil.runtime.scorers import OnnxScorer

FAST = TrainConfig(epochs=2, input_size=32, batch_size=32, seed=0, threads=1)
FAST_OPTIONS = DistillOptions(
    train=FAST,
    widths=(16, 32, 64),
    fine_tune_epochs=1,
    latency_repeats=10,
    calibration_items=64,
    progress=False,
)
# Enough training for a student that passes the gates on three well-separated classes
# (two epochs on all ten give a majority-class student, rightly rejected: test_gates.py).
GOOD = dataclasses.replace(FAST, epochs=6)
GOOD_OPTIONS = dataclasses.replace(FAST_OPTIONS, train=GOOD, fine_tune_epochs=3)


@pytest.fixture(scope="module")
def easy() -> DistillDataset:
    """120 real Fashion-MNIST images of three classes, every one human-labeled."""
    return fashion_easy(40)


@pytest.fixture
def catalog(tmp_path: Path) -> Catalog:
    opened = Catalog.open(tmp_path / "catalog.db")
    yield opened  # type: ignore[misc]
    opened.close()


def _relabel(dataset: DistillDataset, keep: np.ndarray) -> DistillDataset:
    return dataset.subset(keep)


@pytest.mark.parametrize(
    ("keep", "error"),
    [
        (lambda d: np.arange(10), f"{MIN_ITEMS} are needed .*got 10"),
        (lambda d: np.flatnonzero(d.targets != 3), r"\['dress'\] have no labeled example"),
        (
            lambda d: np.concatenate(
                [np.flatnonzero(d.targets != 3), np.flatnonzero(d.targets == 3)[:1]]
            ),
            r"\['dress'\] have fewer than 2",
        ),
    ],
)
def test_untrainable_label_sets_are_refused_with_what_is_needed(
    fashion_200: DistillDataset, keep: object, error: str
) -> None:
    subset = fashion_200.subset(np.sort(keep(fashion_200)))  # type: ignore[operator]
    # The teacher also never predicts the missing class, so the hard targets lack it too.
    probs = subset.teacher_probs.copy()
    if "dress" in error:
        probs[:, 3] = 0.0
        probs /= probs.sum(axis=1, keepdims=True)
    subset = dataclasses.replace(subset, teacher_probs=probs)
    with pytest.raises(InvalidInputError, match=error):
        split_dataset(subset)


def test_dataset_validation_states_expected_and_received(fashion_200: DistillDataset) -> None:
    with pytest.raises(InvalidInputError, match=r"\(N, H, W, 3\) uint8"):
        dataclasses.replace(fashion_200, images=fashion_200.images[..., 0])
    with pytest.raises(InvalidInputError, match=r"human labels must be in \[-1, 9\]"):
        dataclasses.replace(fashion_200, human_labels=np.full(200, 12))


def test_test_split_comes_from_human_labels_when_there_are_enough() -> None:
    partly = fashion_dataset(20, human_every=2)
    splits = split_dataset(partly)
    assert splits.test_reference == "human"
    assert (splits.test.human_labels >= 0).all()
    assert not set(splits.test.item_ids) & set(splits.train.item_ids)
    assert not set(splits.test.item_ids) & set(splits.validation.item_ids)
    rare = dataclasses.replace(
        partly, human_labels=np.where(np.arange(200) < 5, partly.human_labels, NO_LABEL)
    )
    assert split_dataset(rare).test_reference == "teacher"


def test_pruning_physically_removes_channels_and_keeps_the_kept_ones() -> None:
    model = build_student(StudentSpec(10, widths=(16, 32, 64)), seed=1).eval()
    smaller = prune_channels(model, 0.5).eval()
    assert smaller.spec.widths == (8, 16, 32)
    assert parameter_count(smaller) < parameter_count(model) / 3
    x = torch.zeros(2, 3, 32, 32)
    assert smaller(x).shape == (2, 10)
    # The first conv's kept filters are the original ones with the largest L1 norms.
    norms = model.convs()[0][0].weight.detach().abs().sum(dim=(1, 2, 3))
    kept = smaller.convs()[0][0].weight.detach()
    expected = model.convs()[0][0].weight.detach()[norms.argsort(descending=True)[:8].sort().values]
    assert torch.equal(kept, expected)
    for amount in (0.0, 1.0, -0.2):
        with pytest.raises(InvalidInputError, match=r"in \(0, 1\)"):
            prune_channels(model, amount)


def test_training_is_reproducible_and_an_interrupted_run_resumes(
    fashion_200: DistillDataset, tmp_path: Path
) -> None:
    splits = split_dataset(fashion_200)
    spec = StudentSpec(10, widths=(16, 32, 32))
    straight = train_student(
        build_student(spec), splits.train, splits.validation, FAST, progress=False
    )

    def stop_after_first(epoch: int, record: dict[str, float]) -> None:
        if epoch == 1:
            raise KeyboardInterrupt

    checkpoint = tmp_path / "run.ckpt"
    with pytest.raises(KeyboardInterrupt):
        train_student(
            build_student(spec),
            splits.train,
            splits.validation,
            FAST,
            checkpoint=checkpoint,
            progress=False,
            on_epoch=stop_after_first,
        )
    assert checkpoint.exists() and not checkpoint.with_name("run.ckpt.tmp").exists()
    resumed = train_student(
        build_student(spec),
        splits.train,
        splits.validation,
        FAST,
        checkpoint=checkpoint,
        progress=False,
    )
    assert resumed.resumed_from == 1 and resumed.epochs_run == 2
    assert resumed.history == straight.history
    for key, value in straight.model.state_dict().items():
        assert torch.equal(value, resumed.model.state_dict()[key]), key


def test_export_checks_itself_and_the_runtime_reads_the_card(
    fashion_200: DistillDataset, tmp_path: Path
) -> None:
    model = build_student(StudentSpec(10, widths=(8, 16)), seed=2).eval()
    card = ModelCard(
        class_names=fashion_200.class_names,
        input_size=(32, 32),
        mean=(0.5, 0.5, 0.5),
        std=(0.5, 0.5, 0.5),
        scenario="fashion",
        scenario_version=3,
        architecture=model.spec.architecture,
    )
    x = to_tensor(resize_images(fashion_200.images[:8], 32)).numpy()
    check = export_onnx(model, card, tmp_path / "m.onnx", x)
    assert check.max_abs_diff < 1e-4 and check.inputs == 8
    assert read_model_card(tmp_path / "m.onnx") == card
    assert [p.name for p in tmp_path.iterdir()] == ["m.onnx"]  # no temp file left behind
    scorer = OnnxScorer(tmp_path / "m.onnx")
    images = list(fashion_200.images[:8])
    np.testing.assert_allclose(
        scorer.score(images), torch_probs(model, fashion_200.images[:8], 32), atol=1e-4
    )
    with pytest.raises(InvalidInputError, match=r"\(N, 3, 32, 32\)"):
        export_onnx(model, card, tmp_path / "bad.onnx", x[:, :, :16])
    assert not (tmp_path / "bad.onnx").exists()


def test_distill_registers_reports_and_serves_three_models(
    easy: DistillDataset, catalog: Catalog, tmp_path: Path
) -> None:
    outcome = distill(
        catalog, tmp_path, easy, scenario="fashion", scenario_version=2, options=GOOD_OPTIONS
    )
    kinds = [m.kind for m in outcome.models]
    assert kinds == [ModelKind.FLOAT, ModelKind.PRUNED, ModelKind.INT8]
    by_kind = {m.kind: m for m in outcome.models}
    assert by_kind[ModelKind.FLOAT].status is ModelStatus.READY
    assert by_kind[ModelKind.INT8].status is ModelStatus.READY
    for record in outcome.models:
        # Each model is ready exactly when it passed its gates; a rejected one says why.
        gate = record.metrics["gate"]
        assert (record.status is ModelStatus.READY) == gate["passed"]
        assert record.status is ModelStatus.READY or record.error == "; ".join(gate["reasons"])
        assert record.path is not None and record.sha256 == sha256_file(record.path)
        assert record.path == tmp_path.resolve() / "models" / str(record.id) / "model.onnx"
        assert record.snapshot["items"] == 120 and record.snapshot["test_reference"] == "human"
        assert record.snapshot["evaluation"] == "frozen"
        assert len(record.snapshot["label_sha256"]) == 64
        for name in ("report.md", "report.json", "confusion.png", "accuracy_latency.png"):
            assert (record.path.parent / name).stat().st_size > 0
        assert 0.0 <= record.metrics["eval"]["accuracy"] <= 1.0
        card = read_model_card(record.path)
        assert card.scenario_version == 2 and card.extra["kind"] == record.kind.value
    assert by_kind[ModelKind.INT8].parent_id == by_kind[ModelKind.FLOAT].id
    float_size = by_kind[ModelKind.FLOAT].size_bytes or 0
    assert float_size > 2 * (by_kind[ModelKind.INT8].size_bytes or float_size)  # ~4x at scale
    report = json.loads((by_kind[ModelKind.FLOAT].path.parent / "report.json").read_text())  # type: ignore[union-attr]
    assert [m["name"] for m in report["models"]] == ["teacher", "float", "pruned", "int8"]
    assert report["models"][0]["agreement"] == 1.0
    # The runtime finds the ready model by name; export copies the exact file.
    assert registry_path(catalog, "fashion-v2-r1-int8") == by_kind[ModelKind.INT8].path
    copied = export_model(catalog, "fashion-v2-r1-float", tmp_path / "out")
    assert copied.name == "fashion-v2-r1-float.onnx" or copied == tmp_path / "out"
    assert sha256_file(copied) == by_kind[ModelKind.FLOAT].sha256
    assert [m.name for m in list_models(catalog, scenario="fashion")] == [
        "fashion-v2-r1-float",
        "fashion-v2-r1-pruned",
        "fashion-v2-r1-int8",
    ]
    with pytest.raises(NotFoundError, match="no registered model 'nope'"):
        get_model(catalog, "nope")


def test_an_interrupted_run_leaves_failed_rows_that_are_never_served_then_reruns_cleanly(
    easy: DistillDataset, catalog: Catalog, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def killed(*args: object, **kwargs: object) -> float:
        raise KeyboardInterrupt  # as if Ctrl-C arrived during quantization

    monkeypatch.setattr(pipeline, "quantize_int8", killed)
    options = dataclasses.replace(GOOD_OPTIONS, prune_amount=None)
    with pytest.raises(KeyboardInterrupt):
        distill(
            catalog,
            tmp_path,
            easy,
            scenario="fashion",
            scenario_version=1,
            options=options,
        )
    rows = {m.kind: m for m in list_models(catalog)}
    assert rows[ModelKind.INT8].status is ModelStatus.FAILED
    assert "interrupted" in (rows[ModelKind.INT8].error or "")
    assert rows[ModelKind.INT8].path is None
    assert not (tmp_path / "models" / str(rows[ModelKind.INT8].id) / "model.onnx").exists()
    with pytest.raises(InvalidInputError, match="status 'failed'"):
        registry_path(catalog, "fashion-v1-r1-int8")
    with pytest.raises(InvalidInputError, match="expected 'ready'"):
        export_model(catalog, "fashion-v1-r1-int8", tmp_path / "x.onnx")

    monkeypatch.undo()
    outcome = distill(
        catalog, tmp_path, easy, scenario="fashion", scenario_version=1, options=options
    )
    assert outcome.models[0].name == "fashion-v1-r2-float"
    # The float student's checkpoint survived the interruption: nothing was retrained.
    assert outcome.models[0].metrics["resumed_from_epoch"] == GOOD.epochs
    assert all(m.status is ModelStatus.READY for m in outcome.models)
    assert not (tmp_path / "models" / ".work").exists() or not any(
        (tmp_path / "models" / ".work").iterdir()
    )


def test_export_refuses_a_file_changed_after_registration(
    easy: DistillDataset, catalog: Catalog, tmp_path: Path
) -> None:
    options = dataclasses.replace(GOOD_OPTIONS, prune_amount=None, quantize=False)
    (record,) = distill(
        catalog, tmp_path, easy, scenario="fashion", scenario_version=1, options=options
    ).models
    assert record.path is not None
    with record.path.open("ab") as handle:
        handle.write(b"\0")
    with pytest.raises(InvalidInputError, match="changed since it was registered"):
        export_model(catalog, record.id, tmp_path / "copy.onnx")
    assert not (tmp_path / "copy.onnx").exists()
