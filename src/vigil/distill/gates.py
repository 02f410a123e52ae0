"""Quality gates: a distilled model that is no better than a constant is never ``ready``.

A student trained on few, unbalanced labels can learn to answer the common class
every time; its accuracy then equals that class's share (0.94 on a 94/6 split)
and looks good. The gates judge it on what a constant cannot fake:

* its **balanced accuracy** (mean of the per-class recalls) must be strictly above
  the majority-class baseline's, which is 1 / (classes present in the test split);
* **every class** must be recognised at least once (recall above 0) -- a class it
  never answers is a class it cannot alert on;
* every class must have at least one test item, else its recall is unknown.

A model that fails is registered ``rejected`` with the reasons, and the report says
so next to its figures.

>>> result = check_gates(evaluation, baseline, class_names)  # doctest: +SKIP
>>> result.passed, result.reasons  # doctest: +SKIP
(False, ("recall 0 on class 'empty' (0 of 3 test items)",))
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vigil.distill.report import Baseline, ModelEval

MARGIN = 1e-9  # "at or below" the baseline: equal (to float noise) is not better


@dataclass(frozen=True)
class GateResult:
    passed: bool
    reasons: tuple[str, ...]

    @property
    def reason(self) -> str:
        """One line for the registry's ``error`` column and ``model list``."""
        return "; ".join(self.reasons)

    @property
    def verdict(self) -> str:
        return "ready" if self.passed else f"rejected: {self.reason}"


def check_gates(
    evaluation: ModelEval, baseline: Baseline, class_names: tuple[str, ...]
) -> GateResult:
    """Why ``evaluation``'s model must not be served (empty when it may be)."""
    reasons: list[str] = []
    confusion = np.asarray(evaluation.confusion)
    totals = confusion.sum(axis=1)
    for index, name in enumerate(class_names):
        if totals[index] == 0:
            reasons.append(f"class {name!r} has no test item, so its recall is unknown")
        elif confusion[index, index] == 0:
            reasons.append(f"recall 0 on class {name!r} (0 of {int(totals[index])} test items)")
    balanced = evaluation.balanced_accuracy
    if not balanced > baseline.balanced_accuracy + MARGIN:
        reasons.append(
            f"balanced accuracy {balanced:.3f} is not above the majority-class baseline's "
            f"{baseline.balanced_accuracy:.3f} (always answering {baseline.class_name!r})"
        )
    return GateResult(passed=not reasons, reasons=tuple(reasons))


__all__ = ["MARGIN", "GateResult", "check_gates"]
