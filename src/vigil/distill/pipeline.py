"""``vigil distill``: from a scenario's labels to registered, reported small models.

Order of work, each model registered first as ``training``; the set is marked
``ready`` together, only at the very end, once every file passed its self-check
and every model has its evaluation and report (a run killed part-way leaves no
``ready`` model without metrics or report; its rows are failed by the next run):

1. split: the test split is the scenario's frozen evaluation set (``evalset``),
   class balance is checked before any training (with the command that fixes a
   shortfall); train the float student by distillation (checkpointed, so a rerun
   of the same data resumes);
2. optionally prune channels and fine-tune (``pruned``);
3. optionally quantize the float student to INT8 with scenario calibration images;
4. evaluate teacher and every student side by side on the test split, gate each
   student against the majority-class baseline (``gates``) and write the report
   into each model's folder ``home/models/<id>/``; a student that fails a gate is
   published ``rejected`` with the reason, never ``ready``;
5. settle the champion (``champion``): the scenario's first ready model becomes
   champion; later ones are challengers, promoted automatically only when asked
   and when they beat the champion on the frozen set by the margin.

Any exception (Ctrl-C included) marks the unfinished rows ``failed`` and re-raises.
"""

from __future__ import annotations

import dataclasses
import hashlib
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from torch import nn

from vigil.catalog.models_store import (
    ModelKind,
    ModelRecord,
    fail_abandoned,
    fail_model,
    finish_model,
    get_model,
    next_run_name,
    publish_models,
    start_model,
    update_metrics,
)
from vigil.catalog.store import Catalog
from vigil.distill.champion import settle_champion
from vigil.distill.data import DistillDataset, Splits
from vigil.distill.evalset import eval_counts_text, freeze_eval_set, split_with_eval_set
from vigil.distill.export import export_onnx, quantize_int8, run_onnx
from vigil.distill.gates import GateResult, check_gates
from vigil.distill.model_card import ModelCard, ResizeMode
from vigil.distill.report import (
    Baseline,
    Latency,
    ModelEval,
    majority_baseline,
    measure_latency,
    onnx_latency,
    score,
    write_report,
)
from vigil.distill.scenario_data import load_scenario_dataset
from vigil.distill.student import (
    CompactCNN,
    StudentSpec,
    build_student,
    parameter_count,
    prune_channels,
)
from vigil.distill.train import (
    MEAN,
    STD,
    TrainConfig,
    predict,
    resize_images,
    to_tensor,
    train_student,
)
from vigil.errors import VigilError
from vigil.settings import DistillSettings

if TYPE_CHECKING:
    from vigil.context import Context


@dataclass(frozen=True)
class DistillOptions:
    """What to produce. ``prune_amount`` None skips pruning; ``quantize`` False skips INT8."""

    train: TrainConfig = field(default_factory=TrainConfig)
    widths: tuple[int, ...] = (32, 64, 128, 128)
    prune_amount: float | None = 0.5
    fine_tune_epochs: int = 8
    quantize: bool = True
    calibration_items: int = 256
    latency_repeats: int = 100
    progress: bool = True
    auto_promote: bool = False  # promote the best new model if it beats the champion
    promotion_margin: float = 0.02  # by at least this much balanced accuracy


@dataclass(frozen=True)
class DistillOutcome:
    models: list[ModelRecord]
    evals: list[ModelEval]
    reports: dict[str, Path]  # file name -> path, in the float model's folder
    seconds: dict[str, float]  # wall time of each stage
    baseline: Baseline | None = None  # the majority-class floor on the same test split
    gates: dict[int, GateResult] = field(default_factory=dict)  # model id -> verdict
    warnings: tuple[str, ...] = ()  # e.g. no frozen evaluation set for some class
    champion: str = ""  # what happened to the scenario's champion, one line


def _dataset_key(dataset: DistillDataset, options: DistillOptions) -> str:
    digest = hashlib.sha256(str(dataset.snapshot()["label_sha256"]).encode())
    digest.update(repr((options.train, options.widths)).encode())
    return digest.hexdigest()[:16]


def distill(
    catalog: Catalog,
    home: Path,
    dataset: DistillDataset,
    *,
    scenario: str,
    scenario_version: int,
    options: DistillOptions | None = None,
    teacher_latency: Latency | None = None,
    teacher_size_mb: float | None = None,
) -> DistillOutcome:
    """Train, prune, quantize, export, register and report small models for ``dataset``.

    The steps, in order: train the float student; prune and fine-tune it; quantize it
    to INT8; evaluate every student against the teacher and write the reports; publish
    the set. Each model is registered ``training`` before its step starts and the set
    becomes ``ready`` only at the end, so an error or a kill leaves no ready model.

    >>> outcome = distill(catalog, home, data, scenario="shoes",
    ...                   scenario_version=1)  # doctest: +SKIP
    >>> [m.kind for m in outcome.models]  # doctest: +SKIP
    ['float', 'pruned', 'int8']
    """
    options = options or DistillOptions()
    fail_abandoned(catalog, scenario, scenario_version)
    run = _DistillRun.begin(catalog, home, dataset, scenario, scenario_version, options)
    try:
        float_record, float_path, trained = run.train_float()
        if options.prune_amount is not None:
            assert isinstance(trained, CompactCNN)
            run.prune(trained, float_record, options.prune_amount)
        if options.quantize:
            run.quantize(float_path, float_record)
        evals, reports = run.evaluate_and_report(teacher_latency, teacher_size_mb)
        # The set is complete: files self-checked, metrics and reports written. Only now
        # does any of it become ``ready`` -- or ``rejected`` where a gate failed (one
        # transaction, each file re-hashed).
        rejected = {mid: gate.reason for mid, gate in run.gates.items() if not gate.passed}
        publish_models(catalog, run.pending, rejected)
        records = [get_model(catalog, record.id) for record, _, _ in run.produced]
    except BaseException as error:
        run.fail(error)
        raise
    shutil.rmtree(run.work, ignore_errors=True)  # every model is done: the checkpoints are spent
    try:
        champion = settle_champion(
            catalog,
            scenario,
            records,
            run.splits,
            auto_promote=options.auto_promote,
            margin=options.promotion_margin,
        )
    except VigilError as error:  # the models are published; only the champion is unchanged
        champion = f"champion unchanged: {error}"
    return DistillOutcome(
        models=records,
        evals=evals,
        reports=reports,
        seconds=run.seconds,
        baseline=run.baseline,
        gates=dict(run.gates),
        warnings=run.splits.warnings,
        champion=champion,
    )


@dataclass
class _DistillRun:
    """One ``distill`` call's shared state; each method is one named step of it."""

    catalog: Catalog
    dataset: DistillDataset
    scenario: str
    scenario_version: int
    options: DistillOptions
    splits: Splits
    snapshot: dict[str, Any]
    base: str  # the run's name; each model is named BASE-KIND
    spec: StudentSpec
    models_dir: Path
    work: Path  # checkpoints that let a killed run resume; removed once the set is done
    x_check: np.ndarray  # (32, 3, S, S) test inputs every export is checked on
    seconds: dict[str, float] = field(default_factory=dict)
    pending: list[int] = field(default_factory=list)  # registered, not yet published
    produced: list[tuple[ModelRecord, Path, str]] = field(default_factory=list)
    gates: dict[int, GateResult] = field(default_factory=dict)
    baseline: Baseline | None = None

    @classmethod
    def begin(
        cls,
        catalog: Catalog,
        home: Path,
        dataset: DistillDataset,
        scenario: str,
        scenario_version: int,
        options: DistillOptions,
    ) -> _DistillRun:
        config = options.train
        # Place new answers in the frozen evaluation set, then check class balance on what
        # is left for training -- before any model row or training work exists.
        assignments = freeze_eval_set(catalog, scenario, dataset)
        splits = split_with_eval_set(dataset, assignments, scenario=scenario, seed=config.seed)
        snapshot = {
            **dataset.snapshot(),
            "test_reference": splits.test_reference,
            "test_items": len(splits.test),
            "evaluation": "frozen" if splits.frozen else "held-out (fallback)",
            "test_per_class": eval_counts_text(splits),
            "seed": config.seed,
        }
        models_dir = home / "models"
        key = _dataset_key(dataset, options)
        work = models_dir / ".work" / f"{scenario}-v{scenario_version}-{key}"
        work.mkdir(parents=True, exist_ok=True)
        x_test = to_tensor(resize_images(splits.test.images, config.input_size))
        return cls(
            catalog=catalog,
            dataset=dataset,
            scenario=scenario,
            scenario_version=scenario_version,
            options=options,
            splits=splits,
            snapshot=snapshot,
            base=next_run_name(catalog, scenario, scenario_version),
            spec=StudentSpec(n_classes=len(dataset.class_names), widths=options.widths),
            models_dir=models_dir,
            work=work,
            x_check=x_test[:32].numpy(),
        )

    def card(self, architecture: str, kind: ModelKind) -> ModelCard:
        size = self.options.train.input_size
        return ModelCard(
            class_names=self.dataset.class_names,
            input_size=(size, size),
            mean=MEAN,
            std=STD,
            resize=ResizeMode.STRETCH,
            scenario=self.scenario,
            scenario_version=self.scenario_version,
            architecture=architecture,
            extra={"kind": kind.value, "label_sha256": str(self.snapshot["label_sha256"])},
        )

    def register(self, kind: ModelKind, architecture: str, parent: int | None) -> ModelRecord:
        record = start_model(
            self.catalog,
            name=f"{self.base}-{kind.value}",
            scenario=self.scenario,
            scenario_version=self.scenario_version,
            kind=kind,
            architecture=architecture,
            snapshot=self.snapshot,
            parent_id=parent,
        )
        self.pending.append(record.id)
        return record

    def file_of(self, record: ModelRecord) -> Path:
        return self.models_dir / str(record.id) / "model.onnx"

    def record_file(
        self,
        record: ModelRecord,
        path: Path,
        metrics: dict[str, Any],
        architecture: str,
        label: str,
    ) -> None:
        """The model's file is exported and self-checked: hash it (not ready yet)."""
        finished = finish_model(self.catalog, record.id, path, metrics, architecture, ready=False)
        self.produced.append((finished, path, label))

    def train_float(self) -> tuple[ModelRecord, Path, nn.Module]:
        """Step 1: train the float student (resuming from its checkpoint) and export it."""
        config, spec = self.options.train, self.spec
        started = time.perf_counter()
        record = self.register(ModelKind.FLOAT, spec.architecture, None)
        result = train_student(
            build_student(spec, config.seed),
            self.splits.train,
            self.splits.validation,
            config,
            checkpoint=self.work / "float.ckpt",
            progress=self.options.progress,
        )
        path = self.file_of(record)
        check = export_onnx(
            result.model, self.card(spec.architecture, ModelKind.FLOAT), path, self.x_check
        )
        self.seconds["train_float"] = time.perf_counter() - started
        metrics: dict[str, Any] = {
            "best_epoch": result.best_epoch,
            "epochs_run": result.epochs_run,
            "val_accuracy": result.best_val_accuracy,
            "resumed_from_epoch": result.resumed_from,
            "parameters": parameter_count(result.model),
            "export_max_abs_diff": check.max_abs_diff,
            "train_seconds": self.seconds["train_float"],
        }
        self.record_file(record, path, metrics, spec.architecture, "float")
        return record, path, result.model

    def prune(self, model: CompactCNN, parent: ModelRecord, amount: float) -> None:
        """Step 2: drop the weakest channels, fine-tune briefly, export."""
        config = self.options.train
        started = time.perf_counter()
        smaller = prune_channels(model, amount)
        architecture = smaller.spec.architecture + f"+pruned{amount:g}"
        record = self.register(ModelKind.PRUNED, architecture, parent.id)
        tune = dataclasses.replace(
            config, epochs=self.options.fine_tune_epochs, learning_rate=config.learning_rate / 3
        )
        tuned = train_student(
            smaller,
            self.splits.train,
            self.splits.validation,
            tune,
            checkpoint=self.work / f"pruned-{amount:g}.ckpt",
            progress=self.options.progress,
        )
        path = self.file_of(record)
        check = export_onnx(
            tuned.model, self.card(architecture, ModelKind.PRUNED), path, self.x_check
        )
        self.seconds["prune_finetune"] = time.perf_counter() - started
        metrics = {
            "val_accuracy": tuned.best_val_accuracy,
            "epochs_run": tuned.epochs_run,
            "parameters": parameter_count(tuned.model),
            "export_max_abs_diff": check.max_abs_diff,
            "train_seconds": self.seconds["prune_finetune"],
        }
        self.record_file(record, path, metrics, architecture, "pruned")

    def quantize(self, float_path: Path, parent: ModelRecord) -> None:
        """Step 3: INT8 (QDQ) from the float ONNX file, calibrated on training items."""
        config = self.options.train
        started = time.perf_counter()
        architecture = self.spec.architecture + "+int8-qdq"
        record = self.register(ModelKind.INT8, architecture, parent.id)
        calibration = to_tensor(
            resize_images(
                self.splits.train.images[: self.options.calibration_items], config.input_size
            )
        ).numpy()
        path = self.file_of(record)
        agreement = quantize_int8(
            float_path,
            path,
            calibration,
            check_inputs=self.x_check,
            card=self.card(architecture, ModelKind.INT8),
        )
        self.seconds["quantize"] = time.perf_counter() - started
        metrics = {"float_agreement_on_check": agreement, "calibration_items": len(calibration)}
        self.record_file(record, path, metrics, architecture, "int8")

    def evaluate_and_report(
        self, teacher_latency: Latency | None, teacher_size_mb: float | None
    ) -> tuple[list[ModelEval], dict[str, Path]]:
        """Step 4: every student on the held-out split, one report per model folder."""
        splits = self.splits
        started = time.perf_counter()
        evals = evaluate(
            splits,
            [(label, path) for _, path, label in self.produced],
            input_size=self.options.train.input_size,
            teacher_latency=teacher_latency,
            teacher_size_mb=teacher_size_mb,
            repeats=self.options.latency_repeats,
        )
        self.seconds["evaluate"] = time.perf_counter() - started
        test = splits.test
        reference = (
            test.targets if splits.test_reference == "human" else test.teacher_probs.argmax(1)
        )
        baseline = majority_baseline(splits.train.targets, reference, self.dataset.class_names)
        self.baseline = baseline
        gate_by_label = {
            e.name: check_gates(e, baseline, self.dataset.class_names)
            for e in evals
            if e.name != "teacher"
        }
        which = (
            "the scenario's frozen evaluation set (people's answers, never trained on)"
            if splits.frozen
            else "a held-out split of this run's data (fallback: see the warning)"
        )
        context: dict[str, Any] = {
            "scenario": f"{self.scenario} v{self.scenario_version}",
            "test split": (
                f"{len(splits.test)} items of {which}, reference = {splits.test_reference} "
                f"labels; per class: {eval_counts_text(splits)}"
            ),
            "gates": (
                "a student is rejected unless its balanced accuracy is above the majority-class "
                f"baseline's ({baseline.balanced_accuracy:.3f}) and every class's recall is "
                "above 0"
            ),
            "train / validation items": f"{len(splits.train)} / {len(splits.validation)}",
            "latency": "batch 1, onnxruntime CPU, 2 threads; throughput at batch 64",
            "seconds": {k: round(v, 1) for k, v in self.seconds.items()},
        }
        by_name = {e.name: e for e in evals}
        reports: dict[str, Path] = {}
        for record, _, label in self.produced:
            paths = write_report(
                self.models_dir / str(record.id),
                evals,
                class_names=self.dataset.class_names,
                title=f"{record.name}: teacher vs students",
                context=context,
                baseline=baseline,
                verdicts={name: gate.verdict for name, gate in gate_by_label.items()},
                warnings=list(splits.warnings),
            )
            reports = reports or paths
            gate = gate_by_label[label]
            self.gates[record.id] = gate
            final: dict[str, Any] = {
                **record.metrics,
                "eval": by_name[label].row(),
                "baseline": baseline.row(),
                "gate": {"passed": gate.passed, "reasons": list(gate.reasons)},
                "evaluation": "frozen" if splits.frozen else "held-out",
                "test_per_class": eval_counts_text(splits),
                "warnings": list(splits.warnings),
                "report": str(paths["report.md"]),
            }
            update_metrics(self.catalog, record.id, final)
        return evals, reports

    def fail(self, error: BaseException) -> None:
        """Mark every model of this run failed (never served); the error is re-raised."""
        for model_id in self.pending:
            reason = "interrupted" if isinstance(error, KeyboardInterrupt) else str(error)
            fail_model(self.catalog, model_id, f"{type(error).__name__}: {reason}")


def evaluate(
    splits: Splits,
    students: list[tuple[str, Path]],
    *,
    input_size: int,
    teacher_latency: Latency | None = None,
    teacher_size_mb: float | None = None,
    repeats: int = 100,
) -> list[ModelEval]:
    """Teacher and each ONNX student scored on the same test split, timed in one run."""
    test = splits.test
    reference = test.targets if splits.test_reference == "human" else test.teacher_probs.argmax(1)
    teacher_top = test.teacher_probs.argmax(1)
    n = len(test.class_names)
    evals = [
        score(
            "teacher",
            test.teacher_probs,
            reference,
            teacher_top,
            n,
            size_mb=teacher_size_mb,
            latency=teacher_latency,
        )
    ]
    x = to_tensor(resize_images(test.images, input_size)).numpy()
    for name, path in students:
        logits = run_onnx(path, x, threads=2)
        evals.append(
            score(
                name,
                logits,
                reference,
                teacher_top,
                n,
                size_mb=path.stat().st_size / 1e6,
                latency=onnx_latency(path, x[:64], repeats=repeats),
            )
        )
    return evals


def torch_probs(model: Any, images: np.ndarray, input_size: int) -> np.ndarray:
    """Probabilities of a torch student on raw uint8 images (for checks and tests)."""
    return predict(model, to_tensor(resize_images(images, input_size)))


def options_from_settings(
    settings: DistillSettings, *, progress: bool = True, device: str = "auto"
) -> DistillOptions:
    """The workspace's ``distill`` settings (and its one ``device`` setting) as pipeline options."""
    return DistillOptions(
        train=TrainConfig(
            device=device,
            input_size=settings.input_size,
            epochs=settings.epochs,
            patience=settings.patience,
            batch_size=settings.batch_size,
            temperature=settings.temperature,
            alpha=settings.alpha,
            seed=settings.seed,
        ),
        prune_amount=settings.prune_amount or None,
        quantize=settings.quantize,
        progress=progress,
    )


def distill_workspace(
    context: Context,
    scenario: str,
    version: int | None = None,
    *,
    progress: bool = True,
    measure_teacher: bool = False,
    auto_promote: bool | None = None,
    margin: float | None = None,
) -> DistillOutcome:
    """``vigil distill SCENARIO``: load the scenario's labeled items and run ``distill``.

    With ``measure_teacher`` the context's embedder is timed at batch 1 on a few
    of the items so the report has the teacher's latency beside the students'.
    ``auto_promote`` / ``margin`` left None come from the scenario's ``promotion``.
    """
    from vigil.scenarios.store import get_scenario

    options = options_from_settings(
        context.settings.distill, progress=progress, device=context.settings.device
    )
    promotion = get_scenario(context.catalog, scenario, version).spec.promotion
    options = dataclasses.replace(
        options,
        auto_promote=(promotion.auto if promotion else False)
        if auto_promote is None
        else auto_promote,
        promotion_margin=(promotion.margin if promotion else options.promotion_margin)
        if margin is None
        else margin,
    )
    size = max(options.train.input_size, 32)
    dataset, found_version = load_scenario_dataset(
        context.catalog, context.home, scenario, version, size=size
    )
    latency = None
    if measure_teacher:
        embedder = context.embedder

        def run(batch: np.ndarray) -> object:
            return embedder.embed_images(list(batch))

        latency = measure_latency(run, dataset.images[:8], repeats=20, warmup=2)
    return distill(
        context.catalog,
        context.home,
        dataset,
        scenario=scenario,
        scenario_version=found_version,
        options=options,
        teacher_latency=latency,
    )


__all__ = [
    "DistillOptions",
    "DistillOutcome",
    "distill",
    "distill_workspace",
    "evaluate",
    "load_scenario_dataset",
    "options_from_settings",
]
