"""Side-by-side evaluation of teacher and students, written as Markdown, JSON and plots.

Every figure is measured on the held-out test split (``Splits.test``), in one run,
so the teacher and the students are compared on the same items and the same
machine load. Latency is per image at batch size 1 (the edge-box case), p50/p95
over repeated runs after warm-up; throughput is images per second at batch 64.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vigil.distill.export import _session
from vigil.distill.model_card import INPUT_NAME, OUTPUT_NAME


@dataclass(frozen=True)
class Latency:
    p50_ms: float
    p95_ms: float
    throughput_ips: float  # images per second at batch 64 (batch 1 for the teacher)


@dataclass(frozen=True)
class ModelEval:
    """One row of the side-by-side table.

    Accuracy alone flatters a model that always answers the common class, so every
    row also carries balanced accuracy (the mean of the per-class recalls) and
    macro-F1, and the recall of each class (None for a class with no test item).
    """

    name: str  # "teacher", "float", "pruned", "int8"
    accuracy: float  # vs the test split's reference labels
    macro_f1: float
    agreement: float  # top-1 agreement with the teacher
    size_mb: float | None
    latency: Latency | None
    confusion: list[list[int]]  # rows = reference class, columns = predicted
    balanced_accuracy: float = float("nan")  # mean recall over the classes present in the test
    recall: tuple[float | None, ...] = ()  # per class, in class order

    def row(self) -> dict[str, Any]:
        values = asdict(self)
        values.pop("confusion")
        values["recall"] = list(self.recall)
        return values


@dataclass(frozen=True)
class Baseline:
    """Always answering the training split's most common class: the floor a model must beat.

    Its balanced accuracy is exactly 1 / (classes present in the test split) whatever
    the class balance, which is why the gate compares balanced accuracies.
    """

    class_name: str
    accuracy: float
    balanced_accuracy: float
    macro_f1: float

    def row(self) -> dict[str, Any]:
        return asdict(self)


def _recalls(confusion: np.ndarray) -> tuple[float | None, ...]:
    totals = confusion.sum(axis=1)
    return tuple(
        None if total == 0 else float(confusion[i, i] / total) for i, total in enumerate(totals)
    )


def _balanced(recall: tuple[float | None, ...]) -> float:
    present = [value for value in recall if value is not None]
    return float(np.mean(present)) if present else float("nan")


def majority_baseline(
    train_targets: np.ndarray, reference: np.ndarray, class_names: tuple[str, ...]
) -> Baseline:
    """The majority-class predictor's scores on ``reference`` (majority taken from training)."""
    from sklearn.metrics import f1_score

    n = len(class_names)
    majority = int(np.bincount(train_targets, minlength=n).argmax())
    predicted = np.full(len(reference), majority)
    present = sorted(set(reference.tolist()))
    confusion = np.zeros((n, n), dtype=np.int64)
    np.add.at(confusion, (reference, predicted), 1)
    return Baseline(
        class_name=class_names[majority],
        accuracy=float((predicted == reference).mean()) if len(reference) else float("nan"),
        balanced_accuracy=_balanced(_recalls(confusion)),
        macro_f1=float(
            f1_score(reference, predicted, labels=present, average="macro", zero_division=0)
        ),
    )


def measure_latency(
    predict_one: Callable[[np.ndarray], object],
    samples: np.ndarray,
    *,
    repeats: int = 100,
    warmup: int = 10,
    predict_batch: Callable[[np.ndarray], object] | None = None,
    batch_size: int = 64,
    batch_repeats: int = 5,
) -> Latency:
    """p50/p95 of ``predict_one`` on single items and throughput of ``predict_batch``."""
    times = []
    for i in range(warmup + repeats):
        item = samples[i % len(samples)][None]
        start = time.perf_counter()
        predict_one(item)
        if i >= warmup:
            times.append(time.perf_counter() - start)
    ms = np.array(times) * 1000.0
    if predict_batch is None:
        throughput = 1000.0 / float(np.mean(ms))
    else:
        batch = np.concatenate([samples] * (batch_size // len(samples) + 1))[:batch_size]
        predict_batch(batch)
        start = time.perf_counter()
        for _ in range(batch_repeats):
            predict_batch(batch)
        throughput = batch_size * batch_repeats / (time.perf_counter() - start)
    return Latency(
        p50_ms=float(np.percentile(ms, 50)),
        p95_ms=float(np.percentile(ms, 95)),
        throughput_ips=float(throughput),
    )


def onnx_latency(
    path: Path, samples: np.ndarray, *, threads: int = 2, repeats: int = 100
) -> Latency:
    """Latency of an ONNX classifier on normalised (N, 3, H, W) inputs with ``threads`` cores."""
    session: Any = _session(path, threads)

    def run(x: np.ndarray) -> object:
        return session.run([OUTPUT_NAME], {INPUT_NAME: x})

    return measure_latency(run, samples.astype(np.float32), repeats=repeats, predict_batch=run)


def score(
    name: str,
    probs: np.ndarray,
    reference: np.ndarray,
    teacher_top: np.ndarray,
    n_classes: int,
    *,
    size_mb: float | None = None,
    latency: Latency | None = None,
) -> ModelEval:
    from sklearn.metrics import confusion_matrix, f1_score

    predicted = probs.argmax(axis=1)
    labels = list(range(n_classes))
    confusion = confusion_matrix(reference, predicted, labels=labels)
    recall = _recalls(confusion)
    return ModelEval(
        name=name,
        accuracy=float((predicted == reference).mean()),
        macro_f1=float(
            f1_score(reference, predicted, labels=labels, average="macro", zero_division=0)
        ),
        agreement=float((predicted == teacher_top).mean()),
        size_mb=size_mb,
        latency=latency,
        confusion=confusion.tolist(),
        balanced_accuracy=_balanced(recall),
        recall=recall,
    )


def _fmt(value: float | None, pattern: str) -> str:
    return "n/a" if value is None else format(value, pattern)


def markdown_table(
    evals: list[ModelEval],
    baseline: Baseline | None = None,
    verdicts: dict[str, str] | None = None,
) -> str:
    """The side-by-side table; ``baseline`` adds the majority-class row, ``verdicts`` a column."""
    verdicts = verdicts or {}
    lines = [
        "| model | accuracy | balanced acc. | macro-F1 | agreement w/ teacher | size MB "
        "| p50 ms | p95 ms | img/s | verdict |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    if baseline is not None:
        lines.append(
            f"| majority class ('{baseline.class_name}') | {baseline.accuracy:.4f} | "
            f"{baseline.balanced_accuracy:.4f} | {baseline.macro_f1:.4f} | | | | | | floor |"
        )
    for e in evals:
        lat = e.latency
        lines.append(
            f"| {e.name} | {e.accuracy:.4f} | {e.balanced_accuracy:.4f} | {e.macro_f1:.4f} | "
            f"{e.agreement:.4f} | "
            f"{_fmt(e.size_mb, '.3f')} | {_fmt(lat.p50_ms if lat else None, '.2f')} | "
            f"{_fmt(lat.p95_ms if lat else None, '.2f')} | "
            f"{_fmt(lat.throughput_ips if lat else None, '.0f')} | {verdicts.get(e.name, '')} |"
        )
    return "\n".join(lines)


def recall_table(evals: list[ModelEval], class_names: tuple[str, ...]) -> str:
    """Recall of every class per model (n/a: the class has no test item)."""
    lines = [
        "| model | " + " | ".join(class_names) + " |",
        "|---|" + "---|" * len(class_names),
    ]
    for e in evals:
        cells = [_fmt(value, ".3f") for value in e.recall]
        lines.append(f"| {e.name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _plots(folder: Path, evals: list[ModelEval], class_names: tuple[str, ...]) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    timed = [e for e in evals if e.latency is not None]
    if timed:
        fig, ax = plt.subplots(figsize=(6, 4))
        for e in timed:
            assert e.latency is not None
            ax.scatter(e.latency.p50_ms, e.accuracy * 100, s=60)
            ax.annotate(
                e.name,
                (e.latency.p50_ms, e.accuracy * 100),
                textcoords="offset points",
                xytext=(5, 5),
            )
        ax.set_xscale("log")
        ax.set_xlabel("CPU latency p50 per image (ms, log)")
        ax.set_ylabel("held-out accuracy (%)")
        ax.set_title("accuracy vs latency")
        ax.grid(True, alpha=0.3)
        fig.tight_layout()
        fig.savefig(folder / "accuracy_latency.png", dpi=100)
        plt.close(fig)
        written.append("accuracy_latency.png")
    fig, axes = plt.subplots(1, len(evals), figsize=(3.6 * len(evals), 3.8), squeeze=False)
    for ax, e in zip(axes[0], evals, strict=True):
        matrix = np.array(e.confusion)
        ax.imshow(matrix, cmap="Blues")
        ax.set_title(e.name)
        ax.set_xticks(range(len(class_names)), class_names, rotation=90, fontsize=6)
        ax.set_yticks(range(len(class_names)), class_names, fontsize=6)
        ax.set_xlabel("predicted")
    axes[0][0].set_ylabel("reference")
    fig.tight_layout()
    fig.savefig(folder / "confusion.png", dpi=100)
    plt.close(fig)
    written.append("confusion.png")
    return written


def write_report(
    folder: Path,
    evals: list[ModelEval],
    *,
    class_names: tuple[str, ...],
    title: str,
    context: dict[str, Any],
    baseline: Baseline | None = None,
    verdicts: dict[str, str] | None = None,
    warnings: list[str] | None = None,
) -> dict[str, Path]:
    """report.md, report.json and the PNG plots under ``folder`` (each written then renamed).

    ``verdicts`` (model name -> "ready" or "rejected: why") and ``warnings`` are shown
    at the top, so a rejected model or an unreliable test split cannot be missed.
    """
    folder.mkdir(parents=True, exist_ok=True)
    plots = _plots(folder, evals, class_names)
    data = {
        "title": title,
        "context": context,
        "class_names": list(class_names),
        "baseline": baseline.row() if baseline else None,
        "verdicts": verdicts or {},
        "warnings": warnings or [],
        "models": [asdict(e) for e in evals],
    }
    lines = [f"# {title}", ""]
    lines += [f"**WARNING:** {warning}" for warning in warnings or []]
    lines += [f"- {key}: {value}" for key, value in context.items()]
    lines += ["", markdown_table(evals, baseline, verdicts), ""]
    lines += ["Recall per class:", "", recall_table(evals, class_names), ""]
    lines += [f"![{name}]({name})" for name in plots]
    paths = {}
    for name, text in (
        ("report.json", json.dumps(data, indent=2)),
        ("report.md", "\n".join(lines) + "\n"),
    ):
        temp = folder / f".{name}.tmp"
        temp.write_text(text, encoding="utf-8")
        os.replace(temp, folder / name)
        paths[name] = folder / name
    for name in plots:
        paths[name] = folder / name
    return paths


__all__ = [
    "Baseline",
    "Latency",
    "ModelEval",
    "majority_baseline",
    "markdown_table",
    "measure_latency",
    "onnx_latency",
    "recall_table",
    "score",
    "write_report",
]
