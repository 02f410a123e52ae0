"""Champion and challenger (issue 16, point 4, registry side): compare, promote, roll back.

Real students: three Fashion-MNIST classes for the library, and walkway frames vs
skimage photos for the CLI and REST (each a small model that passes its gates).
"""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from tests.api.conftest import api_settings
from tests.distill.conftest import fashion_easy, walkway_env
from vigil.api import create_app
from vigil.catalog.models_promotions import (
    ModelRole,
    PromotionAction,
    current_champion,
    model_roles,
    promote_model,
    promotion_log,
    rollback_champion,
)
from vigil.catalog.models_store import list_models
from vigil.catalog.store import Catalog
from vigil.cli.main import app
from vigil.distill.champion import decide_promotion
from vigil.distill.pipeline import DistillOptions, distill
from vigil.distill.report import ModelEval
from vigil.distill.train import TrainConfig
from vigil.errors import NotFoundError, PromotionError

FLOAT_ONLY = DistillOptions(
    train=TrainConfig(epochs=6, input_size=32, batch_size=32, seed=0, threads=1),
    widths=(16, 32, 64),
    prune_amount=None,
    quantize=False,
    latency_repeats=5,
    progress=False,
)


def _row(balanced: float, recall: tuple[float, ...]) -> ModelEval:
    return ModelEval(
        name="m",
        accuracy=balanced,
        macro_f1=balanced,
        agreement=1.0,
        size_mb=None,
        latency=None,
        confusion=[],
        balanced_accuracy=balanced,
        recall=recall,
    )


@pytest.mark.parametrize(
    ("challenger", "champion", "margin", "promote", "why"),
    [
        (_row(0.90, (0.9, 0.9)), _row(0.80, (0.8, 0.8)), 0.02, True, "gain +0.100 >= margin"),
        (_row(0.81, (0.81, 0.81)), _row(0.80, (0.8, 0.8)), 0.02, False, "below the margin"),
        (_row(0.85, (1.0, 0.70)), _row(0.80, (0.8, 0.8)), 0.02, False, "quiet 0.800 -> 0.700"),
        (_row(0.83, (0.88, 0.785)), _row(0.80, (0.8, 0.8)), 0.02, True, "gain +0.030"),
        (_row(0.80, (0.8, 0.8)), _row(0.80, (0.8, 0.8)), 0.0, True, "gain +0.000"),
    ],
)
def test_promotion_needs_the_margin_and_no_class_worse_by_more_than_two_points(
    challenger: ModelEval, champion: ModelEval, margin: float, promote: bool, why: str
) -> None:
    decision = decide_promotion(challenger, champion, ("busy", "quiet"), margin=margin)
    assert decision.promote is promote and why in decision.reason


@pytest.fixture
def catalog(tmp_path: Path) -> Catalog:
    opened = Catalog.open(tmp_path / "catalog.db")
    yield opened  # type: ignore[misc]
    opened.close()


def test_champion_challenger_promote_rollback_and_errors(catalog: Catalog, tmp_path: Path) -> None:
    data = fashion_easy(40)

    def run(**changes: object) -> str:
        options = dataclasses.replace(FLOAT_ONLY, **changes)  # type: ignore[arg-type]
        outcome = distill(
            catalog, tmp_path, data, scenario="fashion", scenario_version=1, options=options
        )
        assert outcome.models[0].status.value == "ready", outcome.models[0].error
        return outcome.champion

    assert current_champion(catalog, "fashion") is None
    assert run() == "champion: fashion-v1-r1-float (the scenario's first ready model)"
    first = current_champion(catalog, "fashion")
    assert first is not None and first.name == "fashion-v1-r1-float"
    said = run()
    assert said.startswith("challenger: fashion-v1-r2-float (champion stays fashion-v1-r1-float)")
    assert "vigil model compare 1 2" in said and "vigil model promote 2" in said
    roles = model_roles(catalog, list_models(catalog))
    assert roles == {1: ModelRole.CHAMPION, 2: ModelRole.CHALLENGER}
    # Automatic promotion: the same data give the same student, gain 0 -- below 0.02.
    said = run(auto_promote=True)
    assert "challenger: fashion-v1-r3-float not promoted" in said
    assert "gain +0.000 is below the margin 0.02" in said
    said = run(auto_promote=True, promotion_margin=0.0)
    assert said.startswith("champion: fashion-v1-r4-float promoted automatically over")
    assert current_champion(catalog, "fashion").id == 4  # type: ignore[union-attr]

    done = promote_model(catalog, 2)
    assert (done.model_id, done.previous_id, done.action) == (2, 4, PromotionAction.PROMOTE)
    assert rollback_champion(catalog, "fashion").model_id == 4
    assert rollback_champion(catalog, "fashion").model_id == 1
    with pytest.raises(PromotionError, match="has no earlier champion to roll back to"):
        rollback_champion(catalog, "fashion")
    with pytest.raises(PromotionError, match="has no champion to roll back to"):
        rollback_champion(catalog, "nothing-here")
    with pytest.raises(PromotionError, match="already the champion of 'fashion'"):
        promote_model(catalog, 1)
    with pytest.raises(NotFoundError, match="no registered model 99"):
        promote_model(catalog, 99)
    log = promotion_log(catalog, "fashion")
    assert [(p.action.value, p.model_id) for p in log] == [
        ("promote", 1),
        ("promote", 4),
        ("promote", 2),
        ("rollback", 4),
        ("rollback", 1),
    ]

    # Two promotions at once: serialised, both recorded, nothing lost.
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def promote(model_id: int) -> None:
        barrier.wait()
        try:
            promote_model(catalog, model_id, reason=f"thread {model_id}")
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=promote, args=(i,)) for i in (2, 3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    log = promotion_log(catalog, "fashion")
    assert [p.seq for p in log] == list(range(1, 8))
    last_two = [p.model_id for p in log[-2:]]
    assert sorted(last_two) == [2, 3] and log[-1].previous_id == log[-2].model_id
    champion = current_champion(catalog, "fashion")
    assert champion is not None and champion.id == last_two[1]
    assert rollback_champion(catalog, "fashion").model_id == last_two[0]


def test_compare_promote_rollback_from_the_cli_and_rest(
    learnable_home: Path, vtest_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = learnable_home
    walkway_env(monkeypatch, home)
    runner = CliRunner()

    def cli(*args: str, code: int = 0) -> str:
        result = runner.invoke(app, list(args))
        assert result.exit_code == code, result.output
        return result.output

    for _ in range(2):
        cli("distill", "walkway", "--prune", "0", "--no-quantize", "--epochs", "8")
    compared = cli("model", "compare", "1", "2")
    assert "## frozen evaluation set (walkway 10, elsewhere 5)" in compared
    assert "| recall walkway | recall elsewhere |" in compared
    assert "walkway-v1-r2-float would" in compared
    with Catalog.open(home / "catalog.db") as catalog:
        models = list_models(catalog)
    items = models[0].snapshot["item_ids"][:3]
    extra = cli("model", "compare", "1", "2", "--items", ",".join(items))
    assert "## recent feedback" in extra
    missing = cli("model", "compare", "1", "2", "--items", "frame:999999", code=1)
    assert "are not labelled items of scenario 'walkway'" in missing
    assert cli("model", "promote", "2").strip() == (
        "champion of walkway: 2 walkway-v1-r2-float (was model 1)"
    )
    assert "already the champion" in cli("model", "promote", "2", code=1)
    assert "rolled back from model 2" in cli("model", "rollback", "walkway")
    assert "has no earlier champion" in cli("model", "rollback", "walkway", code=1)
    assert "no registered model 'ghost'" in cli("model", "promote", "ghost", code=1)

    with TestClient(create_app(api_settings(home, vtest_path.parent))) as client:
        listed = client.get("/api/v1/distilled").json()
        assert [m["role"] for m in listed] == ["champion", "challenger"]
        assert all(m["balanced_accuracy"] > m["baseline_balanced_accuracy"] for m in listed)
        assert client.get("/api/v1/champions/walkway").json()["id"] == 1
        assert client.get("/api/v1/champions/nope").status_code == 404
        promoted = client.post("/api/v1/distilled/2/promote")
        assert promoted.status_code == 200 and promoted.json()["previous_id"] == 1
        again = client.post("/api/v1/distilled/2/promote")
        assert again.status_code == 409 and "already the champion" in again.json()["detail"]
        assert client.post("/api/v1/distilled/99999/promote").status_code == 404
        back = client.post("/api/v1/champions/walkway/rollback")
        assert back.status_code == 200 and back.json()["model_id"] == 1
        assert client.post("/api/v1/champions/walkway/rollback").status_code == 409
        comparison = client.get("/api/v1/distilled/compare", params={"ids": [1, 2]})
        assert comparison.status_code == 200, comparison.text
        body = comparison.json()
        assert body["items"]["frozen evaluation set"] == {"walkway": 10, "elsewhere": 5}
        rows = body["sets"]["frozen evaluation set"]
        assert len(rows) == 2 and all(len(r["recall"]) == 2 for r in rows)
        assert np.isfinite([r["latency"]["p50_ms"] for r in rows]).all()
        assert client.get("/api/v1/distilled/compare", params={"ids": [1]}).status_code == 422


def test_the_scenario_yaml_sets_automatic_promotion() -> None:
    from vigil.errors import InvalidInputError
    from vigil.scenarios.spec import spec_from_dict

    classes = [{"name": "a", "prompts": ["x"]}, {"name": "b", "prompts": ["y"]}]
    plain = spec_from_dict({"name": "s", "classes": classes})
    assert plain.promotion is None and "promotion" not in plain.model_dump()  # as before
    spec = spec_from_dict(
        {"name": "s", "classes": classes, "promotion": {"auto": True, "margin": 0.05}}
    )
    assert spec.promotion is not None and spec.promotion.auto and spec.promotion.margin == 0.05
    for bad in ({"auto": "sometimes"}, {"margin": 2}, {"auto": True, "when": "now"}):
        with pytest.raises((InvalidInputError, ValueError)):
            spec_from_dict({"name": "s", "classes": classes, "promotion": bad})
