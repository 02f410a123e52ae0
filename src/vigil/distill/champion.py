"""Champion and challenger: compare model versions on the same items, promote, roll back.

A scenario's champion is the model its runtime serves (``current_champion``, kept
in the catalog by ``vigil.catalog.models_promotions``). A new ready distillation is
a challenger. Models are compared on the scenario's frozen evaluation set (and, when
given, on a list of recently labelled items such as operator feedback): per-class
recall, balanced accuracy, macro-F1 and latency, each model run on the same images.

A challenger is promoted automatically (``--auto-promote`` or the scenario's
``promotion: {auto: true}``) only when it beats the champion's balanced accuracy
by the margin and no class's recall drops by more than ``MAX_CLASS_DROP``; the
scenario's first ready model becomes champion by itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vigil.catalog.models_evalset import eval_assignments
from vigil.catalog.models_promotions import current_champion, promote_model
from vigil.catalog.models_store import ModelRecord, ModelStatus, check_digest, get_model
from vigil.catalog.store import Catalog
from vigil.distill.data import DistillDataset, Splits
from vigil.distill.export import run_onnx
from vigil.distill.model_card import read_model_card
from vigil.distill.report import ModelEval, onnx_latency, score
from vigil.distill.scenario_data import load_scenario_dataset
from vigil.distill.train import resize_images, to_tensor
from vigil.errors import InvalidInputError, NotFoundError

MAX_CLASS_DROP = 0.02  # a challenger may lose at most 2 points of recall on any class
DEFAULT_MARGIN = 0.02  # and must gain this much balanced accuracy


@dataclass(frozen=True)
class PromotionDecision:
    promote: bool
    reason: str


def decide_promotion(
    challenger: ModelEval,
    champion: ModelEval,
    class_names: tuple[str, ...],
    *,
    margin: float = DEFAULT_MARGIN,
    max_class_drop: float = MAX_CLASS_DROP,
) -> PromotionDecision:
    """Whether ``challenger`` should replace ``champion``, both scored on the same items."""
    gain = challenger.balanced_accuracy - champion.balanced_accuracy
    figures = (
        f"balanced accuracy {challenger.balanced_accuracy:.3f} vs the champion's "
        f"{champion.balanced_accuracy:.3f}"
    )
    if not gain >= margin - 1e-9:
        return PromotionDecision(False, f"{figures}: gain {gain:+.3f} is below the margin {margin}")
    drops = [
        f"{name} {theirs:.3f} -> {ours:.3f}"
        for name, ours, theirs in zip(class_names, challenger.recall, champion.recall, strict=True)
        if ours is not None and theirs is not None and ours < theirs - max_class_drop - 1e-9
    ]
    if drops:
        return PromotionDecision(
            False,
            f"{figures}, but recall drops by more than {max_class_drop:.2f} on: {', '.join(drops)}",
        )
    return PromotionDecision(True, f"{figures} (gain {gain:+.3f} >= margin {margin})")


def _evaluate(
    records: Sequence[ModelRecord], data: DistillDataset, *, latency_repeats: int = 20
) -> list[ModelEval]:
    """Each model's ONNX file on ``data``'s images, judged against people's answers."""
    reference = data.human_labels
    if (reference < 0).any():
        raise InvalidInputError("comparison items must all carry a person's label")
    teacher_top = data.teacher_probs.argmax(1)
    evals = []
    for record in records:
        if record.path is None or not record.path.is_file():
            raise NotFoundError(f"model {record.name!r} has no model file to compare")
        check_digest(record, record.path)
        card = read_model_card(record.path)
        if tuple(card.class_names) != data.class_names:
            raise InvalidInputError(
                f"model {record.name!r} predicts {list(card.class_names)}, the scenario now has "
                f"{list(data.class_names)}: they cannot be compared on the same labels"
            )
        x = to_tensor(resize_images(data.images, card.input_size[0])).numpy()
        logits = run_onnx(record.path, x, threads=2)
        evals.append(
            score(
                record.name,
                logits,
                reference,
                teacher_top,
                len(data.class_names),
                size_mb=(record.size_bytes or 0) / 1e6,
                latency=onnx_latency(record.path, x[:64], repeats=latency_repeats),
            )
        )
    return evals


@dataclass(frozen=True)
class Comparison:
    """Models side by side on named item sets (the frozen evaluation set first)."""

    class_names: tuple[str, ...]
    models: tuple[str, ...]  # names, in the order compared (champion first)
    sets: dict[str, list[ModelEval]]  # set name -> one evaluation per model
    items: dict[str, dict[str, int]]  # set name -> items per class
    decision: PromotionDecision | None = None  # second model vs the first, frozen set
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "class_names": list(self.class_names),
            "models": list(self.models),
            "sets": {name: [e.row() for e in evals] for name, evals in self.sets.items()},
            "items": self.items,
            "decision": None
            if self.decision is None
            else {"promote": self.decision.promote, "reason": self.decision.reason},
            "notes": self.notes,
        }

    def markdown(self) -> str:
        lines: list[str] = []
        for set_name, evals in self.sets.items():
            counts = ", ".join(f"{k} {v}" for k, v in self.items[set_name].items())
            lines += [f"## {set_name} ({counts})", ""]
            head = ["model", "balanced acc.", "macro-F1", "accuracy"]
            head += [f"recall {name}" for name in self.class_names] + ["p50 ms"]
            lines.append("| " + " | ".join(head) + " |")
            lines.append("|" + "---|" * len(head))
            for e in evals:
                recalls = ["n/a" if r is None else f"{r:.3f}" for r in e.recall]
                p50 = f"{e.latency.p50_ms:.2f}" if e.latency else "n/a"
                cells = [e.name, f"{e.balanced_accuracy:.3f}", f"{e.macro_f1:.3f}"]
                cells += [f"{e.accuracy:.3f}", *recalls, p50]
                lines.append("| " + " | ".join(cells) + " |")
            lines.append("")
        if self.decision is not None:
            verdict = "would be promoted" if self.decision.promote else "would not be promoted"
            lines.append(f"{self.models[-1]} {verdict}: {self.decision.reason}")
        lines += [f"note: {note}" for note in self.notes]
        return "\n".join(lines)


def _counts(data: DistillDataset) -> dict[str, int]:
    counts = np.bincount(data.human_labels, minlength=len(data.class_names))
    return {name: int(c) for name, c in zip(data.class_names, counts, strict=True)}


def compare_models(
    catalog: Catalog,
    home: Path,
    references: Sequence[int | str],
    *,
    extra_item_ids: Sequence[str] = (),
    extra_name: str = "recent feedback",
    margin: float = DEFAULT_MARGIN,
) -> Comparison:
    """Compare models of one scenario on its frozen evaluation set (and ``extra_item_ids``).

    ``extra_item_ids`` (``frame:12`` / ``object:3``) are other person-labelled items
    of the scenario -- e.g. recent operator feedback -- scored as a second set. With
    two models, the decision says whether the second would replace the first.

    >>> compare_models(catalog, home, [3, 7]).markdown()  # doctest: +SKIP
    """
    if len(references) < 2:
        raise InvalidInputError("compare needs at least two models")
    records = [get_model(catalog, reference) for reference in references]
    scenarios = {record.scenario for record in records}
    if len(scenarios) != 1:
        raise InvalidInputError(f"models of one scenario can be compared, got {sorted(scenarios)}")
    for record in records:
        if record.status not in (ModelStatus.READY, ModelStatus.REJECTED):
            raise InvalidInputError(
                f"model {record.name!r} is {record.status.value}: only ready or rejected models "
                "have a complete file to compare"
            )
    scenario = records[0].scenario
    newest = max(records, key=lambda r: r.scenario_version)
    size = max(read_model_card(r.path).input_size[0] for r in records if r.path is not None)
    dataset, _ = load_scenario_dataset(
        catalog, home, scenario, newest.scenario_version, size=max(size, 32)
    )
    placed = eval_assignments(catalog, scenario)
    frozen = np.flatnonzero(
        [
            placed.get(item) is not None and placed[item].split == "eval" and label >= 0
            for item, label in zip(dataset.item_ids, dataset.human_labels, strict=True)
        ]
    )
    if len(frozen) == 0:
        raise InvalidInputError(
            f"scenario {scenario!r} has no frozen evaluation set yet: answer its review queue "
            f"(vigil scenario review {scenario}) and distill"
        )
    sets = {"frozen evaluation set": dataset.subset(frozen)}
    notes: list[str] = []
    if extra_item_ids:
        index = {item: i for i, item in enumerate(dataset.item_ids)}
        missing = [item for item in extra_item_ids if item not in index]
        if missing:
            raise NotFoundError(
                f"items {missing[:5]} are not labelled items of scenario {scenario!r}"
            )
        chosen = np.array(sorted({index[item] for item in extra_item_ids}), dtype=np.int64)
        unlabelled = [dataset.item_ids[i] for i in chosen if dataset.human_labels[i] < 0]
        if unlabelled:
            raise InvalidInputError(f"items {unlabelled[:5]} carry no person's label")
        overlap = sum(
            1
            for i in chosen
            if placed.get(dataset.item_ids[i]) is not None
            and placed[dataset.item_ids[i]].split == "train"
        )
        if overlap:
            notes.append(
                f"{overlap} of the {extra_name} items were trained on by versions distilled "
                "after they were answered"
            )
        sets[extra_name] = dataset.subset(chosen)
    evaluated = {name: _evaluate(records, data) for name, data in sets.items()}
    frozen_evals = evaluated["frozen evaluation set"]
    decision = (
        decide_promotion(frozen_evals[1], frozen_evals[0], dataset.class_names, margin=margin)
        if len(records) == 2
        else None
    )
    return Comparison(
        class_names=dataset.class_names,
        models=tuple(r.name for r in records),
        sets=evaluated,
        items={name: _counts(data) for name, data in sets.items()},
        decision=decision,
        notes=notes,
    )


def best_of_run(records: Sequence[ModelRecord]) -> ModelRecord | None:
    """The run's ready model with the best balanced accuracy (then the smallest file)."""
    ready = [r for r in records if r.status is ModelStatus.READY]
    if not ready:
        return None

    def key(record: ModelRecord) -> tuple[float, int]:
        balanced = float(record.metrics.get("eval", {}).get("balanced_accuracy", 0.0))
        return (-balanced, record.size_bytes or 0)

    return sorted(ready, key=key)[0]


def settle_champion(
    catalog: Catalog,
    scenario: str,
    records: Sequence[ModelRecord],
    splits: Splits,
    *,
    auto_promote: bool,
    margin: float,
) -> str:
    """After a distillation: make the first ready model champion, or judge the challenger.

    Returns one line saying what happened (printed by ``vigil distill``).
    """
    candidate = best_of_run(records)
    if candidate is None:
        return "no model of this run passed the gates; the champion is unchanged"
    champion = current_champion(catalog, scenario)
    if champion is None:
        promote_model(catalog, candidate.id, reason="the scenario's first ready model")
        return f"champion: {candidate.name} (the scenario's first ready model)"
    compare_hint = f"vigil model compare {champion.id} {candidate.id}"
    if not auto_promote:
        return (
            f"challenger: {candidate.name} (champion stays {champion.name}); "
            f"compare: {compare_hint}; promote: vigil model promote {candidate.id}"
        )
    if not splits.frozen:
        return (
            f"challenger: {candidate.name} not promoted automatically: the frozen evaluation "
            f"set does not cover every class (see the report's warning); champion stays "
            f"{champion.name}"
        )
    if champion.status is not ModelStatus.READY:
        return f"challenger: {candidate.name}; the champion {champion.name} is {champion.status}"
    test = splits.test
    try:
        champ_eval, cand_eval = _evaluate([champion, candidate], test)
    except (InvalidInputError, NotFoundError) as error:
        return f"challenger: {candidate.name} not promoted automatically: {error}"
    decision = decide_promotion(cand_eval, champ_eval, test.class_names, margin=margin)
    if decision.promote:
        promote_model(catalog, candidate.id, reason=f"automatic: {decision.reason}")
        return (
            f"champion: {candidate.name} promoted automatically over {champion.name}: "
            f"{decision.reason}"
        )
    return (
        f"challenger: {candidate.name} not promoted: {decision.reason}; "
        f"champion stays {champion.name}"
    )


__all__ = [
    "DEFAULT_MARGIN",
    "MAX_CLASS_DROP",
    "Comparison",
    "PromotionDecision",
    "best_of_run",
    "compare_models",
    "decide_promotion",
    "settle_champion",
]
