"""Quality gates and the frozen evaluation set (issue 16, points 1 and 2).

The reported case: a two-class frame scenario on vtest distilled after 5 review
answers was listed with accuracy 0.938 while its student answered the majority
class every time. It is reproduced here on the real clip and must now be
``rejected``, with the class it never recognises named.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from tests.distill.conftest import fashion_easy, walkway_workspace
from vigil.catalog.models_evalset import eval_assignments
from vigil.catalog.models_store import list_models
from vigil.catalog.store import Catalog
from vigil.cli.main import app
from vigil.distill.data import NO_LABEL, DistillDataset
from vigil.distill.evalset import (
    answers_needed,
    freeze_eval_set,
    placement,
    split_with_eval_set,
)
from vigil.distill.gates import check_gates
from vigil.distill.pipeline import DistillOptions, distill
from vigil.distill.report import majority_baseline, score
from vigil.distill.train import TrainConfig
from vigil.errors import InvalidInputError

NAMES = ("busy", "quiet")
REFERENCE = np.array([0] * 15 + [1])  # 15 busy, 1 quiet: the reported shape


def _eval(predicted: np.ndarray, reference: np.ndarray = REFERENCE) -> object:
    probs = np.eye(len(NAMES))[predicted]
    return score("float", probs, reference, predicted, len(NAMES))


@pytest.mark.parametrize(
    ("predicted", "passed", "reasons"),
    [
        # Always the majority class: accuracy 0.938, balanced 0.500 -- rejected twice over.
        (
            np.zeros(16, dtype=int),
            False,
            [
                "recall 0 on class 'quiet' (0 of 1 test items)",
                "balanced accuracy 0.500 is not above the majority-class baseline's 0.500 "
                "(always answering 'busy')",
            ],
        ),
        # Finds the rare class at the cost of two common ones: balanced 0.933 -- ready.
        (np.array([0] * 13 + [1, 1, 1]), True, []),
        # Always the rare class: recall 0 on 'busy'.
        (
            np.ones(16, dtype=int),
            False,
            [
                "recall 0 on class 'busy' (0 of 15 test items)",
                "balanced accuracy 0.500 is not above the majority-class baseline's 0.500 "
                "(always answering 'busy')",
            ],
        ),
    ],
)
def test_gates_judge_balanced_accuracy_against_the_majority_baseline(
    predicted: np.ndarray, passed: bool, reasons: list[str]
) -> None:
    evaluation = _eval(predicted)
    baseline = majority_baseline(np.array([0, 0, 0, 1]), REFERENCE, NAMES)
    assert baseline.class_name == "busy"
    assert baseline.accuracy == pytest.approx(15 / 16)
    assert baseline.balanced_accuracy == pytest.approx(0.5)  # 1 / classes present
    result = check_gates(evaluation, baseline, NAMES)  # type: ignore[arg-type]
    assert result.passed is passed
    assert list(result.reasons) == reasons
    if predicted.sum() == 0:
        assert evaluation.accuracy == pytest.approx(0.9375)  # type: ignore[attr-defined]
        assert evaluation.balanced_accuracy == pytest.approx(0.5)  # type: ignore[attr-defined]


def test_a_class_with_no_test_item_cannot_pass() -> None:
    reference = np.zeros(6, dtype=int)
    evaluation = score("float", np.eye(2)[reference], reference, reference, 2)
    baseline = majority_baseline(reference, reference, NAMES)
    result = check_gates(evaluation, baseline, NAMES)
    assert not result.passed
    assert "class 'quiet' has no test item, so its recall is unknown" in result.reasons


@pytest.fixture
def catalog(tmp_path: Path) -> Catalog:
    opened = Catalog.open(tmp_path / "catalog.db")
    yield opened  # type: ignore[misc]
    opened.close()


def _hide(dataset: DistillDataset, keep_human: np.ndarray) -> DistillDataset:
    human = np.where(keep_human, dataset.human_labels, NO_LABEL)
    return dataclasses.replace(dataset, human_labels=human)


def test_the_evaluation_set_is_stratified_frozen_and_grows(catalog: Catalog) -> None:
    full = fashion_easy(40)
    half = _hide(full, np.arange(len(full)) % 2 == 0)  # people answered every other item
    first = freeze_eval_set(catalog, "fashion", half)
    held = {item for item, a in first.items() if a.split == "eval"}
    per_class = {
        name: sum(1 for a in first.values() if a.class_name == name and a.split == "eval")
        for name in full.class_names
    }
    answers = np.bincount(half.human_labels[half.human_labels >= 0], minlength=3)
    # The 2nd, 6th, 10th ... answer of each class: (n + 2) // 4 of n answers, about 1 in 4.
    assert per_class == {
        name: (int(n) + 2) // 4 for name, n in zip(full.class_names, answers, strict=True)
    }
    assert all(count >= 4 for count in per_class.values())
    assert freeze_eval_set(catalog, "fashion", half) == first  # same answers: same set
    grown = freeze_eval_set(catalog, "fashion", full)  # everyone answered now
    assert {item for item, a in grown.items() if a.split == "eval"} >= held  # members stay
    assert sum(a.split == "eval" for a in grown.values()) == 30
    assert eval_assignments(catalog, "fashion") == grown
    splits = split_with_eval_set(full, grown, scenario="fashion")
    assert splits.frozen and splits.test_reference == "human" and not splits.warnings
    assert set(splits.test.item_ids) == {i for i, a in grown.items() if a.split == "eval"}
    trained = set(splits.train.item_ids) | set(splits.validation.item_ids)
    assert not trained & set(splits.test.item_ids)
    assert len(trained) + len(splits.test) == len(full)


def test_too_few_answers_for_the_evaluation_set_fall_back_with_a_warning(
    catalog: Catalog,
) -> None:
    full = fashion_easy(40)
    bag = full.class_names.index("bag")
    # One person's answer for 'bag' (it goes to training), every other class answered.
    first_bag = np.flatnonzero(full.human_labels == bag)[:1]
    keep = (full.human_labels != bag) | np.isin(np.arange(len(full)), first_bag)
    data = _hide(full, keep)
    placed = freeze_eval_set(catalog, "fashion", data)
    splits = split_with_eval_set(data, placed, scenario="fashion")
    assert not splits.frozen
    (warning,) = splits.warnings
    assert "no item of class(es) ['bag']" in warning and "not comparable" in warning
    assert (
        "answer at least 1 more items of class 'bag': vigil scenario review fashion --class bag"
        in warning
    )
    # Frozen items of the other classes are still never trained on, nor judged on here.
    frozen = {i for i, a in placed.items() if a.split == "eval"}
    assert frozen and not frozen & set(splits.train.item_ids + splits.validation.item_ids)
    assert not set(splits.test.item_ids) & set(splits.train.item_ids)


def test_answers_needed_counts_the_ones_the_evaluation_set_takes() -> None:
    assert [placement(i) for i in range(6)] == ["train", "eval", "train", "train", "train", "eval"]
    assert answers_needed(placed=0, have_train=0, have_eval=0) == 3  # train, eval, train
    assert answers_needed(placed=0, have_train=1, have_eval=0) == 2  # the README's 'empty'
    assert answers_needed(placed=2, have_train=2, have_eval=1) == 0


def test_class_balance_is_checked_before_training_and_says_what_to_run(
    catalog: Catalog, tmp_path: Path
) -> None:
    full = fashion_easy(40)
    bag = full.class_names.index("bag")
    keep = np.flatnonzero(full.human_labels != bag)
    keep = np.concatenate([keep, np.flatnonzero(full.human_labels == bag)[:1]])
    data = full.subset(np.sort(keep))
    probs = data.teacher_probs.copy()
    probs[:, bag] = 0.0  # the teacher never says 'bag' either: one example in all
    data = dataclasses.replace(data, teacher_probs=probs / probs.sum(axis=1, keepdims=True))
    options = DistillOptions(train=TrainConfig(epochs=1, input_size=32), progress=False)
    with pytest.raises(InvalidInputError) as raised:
        distill(catalog, tmp_path, data, scenario="fashion", scenario_version=1, options=options)
    message = str(raised.value)
    assert "['bag'] have fewer than 2 labeled examples" in message
    assert message.endswith(
        "answer at least 2 more items of class 'bag': vigil scenario review fashion --class bag"
    )
    assert list_models(catalog) == []  # refused before any model was registered


def test_the_reported_case_is_rejected_naming_the_class_never_recognised(
    vtest_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """vtest, busy / quiet, five review answers: the student answers 'busy' every time."""
    home = tmp_path / "workspace"
    workspace = walkway_workspace(home, vtest_path, None)
    monkeypatch.setenv("VIGIL_HOME", str(home))
    monkeypatch.setenv("VIGIL_EMBEDDER__NAME", "fake")
    monkeypatch.setenv("VIGIL_DISTILL__EPOCHS", "1")
    monkeypatch.setenv("VIGIL_DISTILL__INPUT_SIZE", "32")
    runner = CliRunner()
    # The fake model labels every frame 'busy': distilling now says what to answer.
    refused = runner.invoke(app, ["distill", "walkway"])
    assert refused.exit_code == 1
    assert refused.output.strip().endswith(
        "answer at least 3 more items of class 'quiet': vigil scenario review walkway --class quiet"
    )
    queue = json.loads(
        runner.invoke(app, ["scenario", "review", "walkway", "--class", "quiet", "--json"]).stdout
    )
    p_quiet = [1 - q["confidence"] if q["label"] == "busy" else q["confidence"] for q in queue]
    assert p_quiet == sorted(p_quiet, reverse=True)  # likeliest 'quiet' first
    bad = runner.invoke(app, ["scenario", "review", "walkway", "--class", "nope"])
    assert bad.exit_code == 1 and "has no class 'nope'" in bad.output
    for position, entry in enumerate(queue[:5]):  # five answers: three quiet, two busy
        workspace.answer("walkway", entry["item"], "quiet" if position < 3 else "busy")
    workspace.close()

    out = runner.invoke(app, ["distill", "walkway", "--prune", "0", "--no-quantize"])
    assert out.exit_code == 0, out.output
    assert "majority-class baseline (always 'busy')" in out.output
    assert "no model of this run passed the gates" in out.output
    listed = json.loads(runner.invoke(app, ["model", "list", "--json"]).stdout)
    (model,) = listed
    assert model["status"] == "rejected" and model["role"] is None
    assert "recall 0 on class 'quiet'" in model["error"]
    assert model["metrics"]["eval"]["recall"][1] == 0.0
    assert model["metrics"]["baseline"]["balanced_accuracy"] == pytest.approx(0.5)
    table = runner.invoke(app, ["model", "list"]).output
    assert "rejected" in table and "recall 0 on class 'quiet'" in table
    report = Path(model["metrics"]["report"]).read_text()
    assert "| majority class ('busy') |" in report and "balanced acc." in report
    assert "rejected: recall 0 on class 'quiet'" in report and "Recall per class" in report
    export = runner.invoke(app, ["model", "export", "1", str(tmp_path / "out")])
    assert export.exit_code == 1 and "status 'rejected', expected 'ready'" in export.output
    promote = runner.invoke(app, ["model", "promote", "1"])
    assert promote.exit_code == 1
    assert "is rejected, only a ready model can be promoted: recall 0 on class 'quiet'" in (
        promote.output
    )
