"""``vigil distill`` and ``vigil model ...`` in-process on the real clip (fake embedder teacher).

The clip is indexed with the fake embedder and a two-class scenario auto-labeled
from its vectors; a few frames get a person's answer so that both classes have
examples. The labels are not meaningful (the fake model), the plumbing is real:
thumbnails on disk -> ``training_items`` -> student -> registry -> CLI.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from tests.distill.conftest import walkway_env
from vigil.cli.main import app
from vigil.runtime.scorers import OnnxScorer
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


def test_distill_then_list_show_export(
    learnable_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Walkway frames vs real photos, every item answered: a student that passes its gates."""
    home = learnable_home
    walkway_env(monkeypatch, home)
    runner = CliRunner()

    def run(*args: str, code: int = 0) -> str:
        result = runner.invoke(app, list(args))
        assert result.exit_code == code, result.output
        wants_stdout = code == 0 and ("--json" in args or "show" in args)
        return result.stdout if wants_stdout else result.output

    assert "no models yet" in run("model", "list")
    out = run("distill", "walkway", "--prune", "0.5")
    assert "walkway-v1-r1-float" in out and "walkway-v1-r1-int8" in out and "report:" in out
    assert "majority-class baseline (always 'walkway')" in out and "balanced" in out
    assert "champion: walkway-v1-r1-" in out  # the scenario's first ready model
    listed = json.loads(run("model", "list", "--json"))
    assert [m["kind"] for m in listed] == ["float", "pruned", "int8"]
    assert listed[0]["status"] == "ready"  # the float student, on a task it can learn
    for model in listed:  # each one ready exactly when it passed its gates
        assert (model["status"] == "ready") == model["metrics"]["gate"]["passed"], model
        assert model["status"] in ("ready", "rejected")
    assert [m["role"] for m in listed].count("champion") == 1
    table = run("model", "list")
    assert "balanced" in table.splitlines()[0] and "baseline" in table.splitlines()[0]
    shown = json.loads(run("model", "show", "walkway-v1-r1-float"))
    assert shown["scenario"] == "walkway" and shown["snapshot"]["items"] >= 20
    assert shown["snapshot"]["evaluation"] == "frozen"
    assert "item_ids" not in shown["snapshot"]
    exported = Path(run("model", "export", "1", str(tmp_path)).strip())
    assert exported == tmp_path / "walkway-v1-r1-float.onnx" and exported.stat().st_size > 0
    # The README's './edge/' is a folder, with or without the slash; only '.onnx' names a file.
    for folder in (f"{tmp_path / 'edge'}/", str(tmp_path / "edge2")):
        into = Path(run("model", "export", "1", folder).strip())
        assert into == Path(folder) / "walkway-v1-r1-float.onnx" and into.is_file()
    named = Path(run("model", "export", "1", str(tmp_path / "small.onnx")).strip())
    assert named == tmp_path / "small.onnx" and named.is_file()
    readme_example_runs_the_export(named, home, tmp_path)


def readme_example(marker: str) -> str:
    """The code block that follows ``<!-- readme-example: MARKER -->`` in the README."""
    text = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    after = text.split(f"<!-- readme-example: {marker} -->", 1)[1]
    return after.split("```python\n", 1)[1].split("```", 1)[0]


def readme_example_runs_the_export(model: Path, home: Path, tmp_path: Path) -> None:
    """The README's plain-onnxruntime example, run as written, agrees with Vigil's scorer."""
    script = tmp_path / "run_model.py"
    script.write_text(readme_example("onnx"), encoding="utf-8")
    assert len(script.read_text().splitlines()) <= 25
    photo = sorted((home / "thumbs").rglob("*.jpg"))[3]  # a real vtest.avi frame
    done = subprocess.run(
        [sys.executable, str(script), str(model), str(photo)],
        capture_output=True,
        text=True,
        check=False,
        env={"PATH": os.environ.get("PATH", ""), "PYTHONPATH": ""},  # nothing from Vigil
    )
    assert done.returncode == 0, done.stderr
    name, probability = done.stdout.split()
    with Image.open(photo) as opened:
        pixels = np.asarray(opened.convert("RGB"))
    scorer = OnnxScorer(model)
    expected = scorer.score([pixels])[0]
    assert name == scorer.class_names[int(expected.argmax())]
    assert float(probability) == pytest.approx(float(expected.max()), abs=0.05)


def test_cli_errors_are_one_clear_line(run: Run) -> None:
    assert "no registered model 'ghost'" in run("model", "show", "ghost", code=1)
    assert "did you mean 'walkway'?" in run("distill", "walkwya", code=1)
    assert "no scenario named 'fire'" in run("distill", "fire", code=1)


def _model_rows(database: Path) -> list[tuple[str, str, str]]:
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=5) as connection:
        try:
            rows = connection.execute("SELECT kind, status, metrics FROM models ORDER BY id")
            return [(str(k), str(s), str(m)) for k, s, m in rows.fetchall()]
        except sqlite3.OperationalError:  # not migrated yet
            return []


def test_distill_killed_during_pruning_leaves_no_ready_model(home: Path) -> None:
    """Before: the float model was ``ready`` with no evaluation and no report after a kill."""
    env = {
        **os.environ,
        "VIGIL_HOME": str(home),
        "VIGIL_EMBEDDER__NAME": "fake",
        "VIGIL_DISTILL__EPOCHS": "1",
        "VIGIL_DISTILL__INPUT_SIZE": "32",
    }
    cli = [sys.executable, "-m", "vigil.cli.main"]
    process = subprocess.Popen(
        [*cli, "distill", "walkway", "--prune", "0.5"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    database = home / "catalog.db"
    deadline = time.monotonic() + 300
    rows: list[tuple[str, str, str]] = []
    while time.monotonic() < deadline and process.poll() is None:
        rows = _model_rows(database)
        if any(kind == "pruned" for kind, _, _ in rows):  # pruning has started
            process.send_signal(signal.SIGKILL)
            break
        time.sleep(0.02)
    process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL, "the run must be killed during pruning"
    rows = _model_rows(database)
    assert [kind for kind, _, _ in rows] == ["float", "pruned"]
    assert all(status != "ready" for _, status, _ in rows), rows
    refused = subprocess.run(
        [*cli, "model", "export", "1", str(home / "out")], env=env, capture_output=True, text=True
    )
    assert refused.returncode == 1 and refused.stderr.startswith("error:")
    # The next run fails the leftovers and publishes a complete, reported set.
    subprocess.run([*cli, "distill", "walkway", "--prune", "0.5"], env=env, check=True)
    listed = json.loads(
        subprocess.run(
            [*cli, "model", "list", "--json"], env=env, capture_output=True, text=True, check=True
        ).stdout
    )
    by_status = {m["name"]: m["status"] for m in listed}
    assert {name: by_status[name] for name in list(by_status)[:2]} == {
        "walkway-v1-r1-float": "failed",
        "walkway-v1-r1-pruned": "failed",
    }
    # The complete set is published: each ready, or rejected by its gates (the alternate
    # busy/quiet answers on the fake model's labels are not learnable in one epoch).
    assert list(by_status)[2:] == [
        "walkway-v1-r2-float",
        "walkway-v1-r2-pruned",
        "walkway-v1-r2-int8",
    ]
    for model in listed[2:]:
        assert model["status"] in ("ready", "rejected")
        assert (model["status"] == "ready") == model["metrics"]["gate"]["passed"]
    for model in listed:
        if model["status"] in ("ready", "rejected"):
            shown = json.loads(
                subprocess.run(
                    [*cli, "model", "show", str(model["id"])],
                    env=env,
                    capture_output=True,
                    text=True,
                    check=True,
                ).stdout
            )
            assert "eval" in shown["metrics"] and Path(shown["metrics"]["report"]).is_file()
