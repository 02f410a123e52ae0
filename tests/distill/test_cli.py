"""``vigil distill`` and ``vigil model ...`` in-process on the real clip (fake embedder teacher).

The clip is indexed with the fake embedder and a two-class scenario auto-labeled
from its vectors; a few frames get a person's answer so that both classes have
examples. The labels are not meaningful (the fake model), the plumbing is real:
thumbnails on disk -> ``training_items`` -> student -> registry -> CLI.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from vigil.cli.main import app
from vigil.scenarios.spec import spec_from_dict
from vigil.settings import EmbedderSettings, SamplingSettings, Settings
from vigil.workspace import Workspace

Run = Callable[..., str]


@pytest.fixture
def home(vtest_path: Path, tmp_path: Path) -> Path:
    home = tmp_path / "workspace"
    settings = Settings(
        home=home,
        embedder=EmbedderSettings(name="fake"),
        sampling=SamplingSettings(interval_s=2.0, dedup_threshold=0.0),
    )
    with Workspace.open(settings) as workspace:
        source = workspace.add_source(str(vtest_path), name="walkway")
        workspace.index([source.id])
        spec = {
            "name": "walkway",
            "classes": [
                {"name": "busy", "prompts": ["many people walking"]},
                {"name": "quiet", "prompts": ["an empty walkway"]},
            ],
        }
        workspace.create_scenario(spec_from_dict(spec))
        workspace.autolabel("walkway")
        items = [item.item for item in workspace.review_queue("walkway", limit=8)]
        for position, item in enumerate(items):
            workspace.answer("walkway", item, ("busy", "quiet")[position % 2], annotator="test")
    return home


@pytest.fixture
def run(home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Run]:
    monkeypatch.setenv("VIGIL_HOME", str(home))
    monkeypatch.setenv("VIGIL_EMBEDDER__NAME", "fake")
    monkeypatch.setenv("VIGIL_DISTILL__EPOCHS", "1")
    monkeypatch.setenv("VIGIL_DISTILL__INPUT_SIZE", "32")
    runner = CliRunner()

    def invoke(*args: str, code: int = 0) -> str:
        result = runner.invoke(app, list(args))
        assert result.exit_code == code, result.output
        wants_stdout = code == 0 and ("--json" in args or "show" in args)
        return result.stdout if wants_stdout else result.output

    yield invoke


def test_distill_then_list_show_export(run: Run, tmp_path: Path) -> None:
    assert "no models yet" in run("model", "list")
    out = run("distill", "walkway", "--prune", "0.5")
    assert "walkway-v1-r1-float" in out and "walkway-v1-r1-int8" in out and "report:" in out
    listed = json.loads(run("model", "list", "--json"))
    assert [m["kind"] for m in listed] == ["float", "pruned", "int8"]
    assert {m["status"] for m in listed} == {"ready"}
    shown = json.loads(run("model", "show", "walkway-v1-r1-int8"))
    assert shown["scenario"] == "walkway" and shown["snapshot"]["items"] >= 20
    assert "item_ids" not in shown["snapshot"]
    exported = Path(run("model", "export", "1", str(tmp_path)).strip())
    assert exported == tmp_path / "walkway-v1-r1-float.onnx" and exported.stat().st_size > 0


def test_cli_errors_are_one_clear_line(run: Run) -> None:
    assert "no registered model 'ghost'" in run("model", "show", "ghost", code=1)
    assert "no scenario named 'fire'" in run("distill", "fire", code=1)
