"""``vigil scenario ...`` in-process on a copy of the indexed real clip (fake embedder)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from vigil.cli.main import app
from vigil.workspace import Workspace

Run = Callable[..., str]

SPEC = """\
name: walkway
target: {kind: frame}
classes:
  - name: crowd
    prompts: ["many people walking", "a crowd"]
  - name: empty
    prompts: ["an empty walkway"]
    negative_prompts: ["people"]
"""


@pytest.fixture
def run(workspace: Workspace, monkeypatch: pytest.MonkeyPatch) -> Run:
    home = workspace.home
    workspace.close()  # the CLI opens its own
    monkeypatch.setenv("VIGIL_HOME", str(home))
    monkeypatch.setenv("VIGIL_EMBEDDER__NAME", "fake")
    monkeypatch.setenv("VIGIL_SAMPLING__INTERVAL_S", "2")
    runner = CliRunner()

    def invoke(*args: str, code: int = 0) -> str:
        result = runner.invoke(app, list(args))
        assert result.exit_code == code, result.output
        return result.stdout if "--json" in args else result.output

    return invoke


def test_scenario_commands_end_to_end(run: Run, tmp_path: Path) -> None:
    spec = tmp_path / "walkway.yaml"
    spec.write_text(SPEC)
    assert "scenario 'walkway' version 1 (2 classes" in run("scenario", "import", str(spec))
    assert "version 1" in run("scenario", "import", str(spec))  # unchanged: no new version
    header, row = run("scenario", "list").splitlines()  # the list commands' one table style
    assert header.split() == ["name", "version", "labels", "classes"]
    assert row.split() == ["walkway", "v1", "frames", "crowd,", "empty"]
    shown = run("scenario", "show", "walkway")
    assert shown.startswith("# version 1 of 1") and "negative_prompts" in shown
    exported = tmp_path / "out.yaml"
    run("scenario", "export", "walkway", "-o", str(exported))
    assert "an empty walkway" in exported.read_text()

    labeled = run("scenario", "label", "walkway")
    assert "walkway v1: labeled" in labeled and "items/s" in labeled
    queue = json.loads(run("scenario", "review", "walkway", "--limit", "3", "--json"))
    assert len(queue) == 3 and queue[0]["priority"] >= queue[-1]["priority"]
    item = queue[0]["item"]
    assert f"{item} is 'empty'" in run("scenario", "answer", "walkway", item, "empty")
    remaining = json.loads(run("scenario", "review", "walkway", "--limit", "100", "--json"))
    assert item not in {row["item"] for row in remaining}

    out = tmp_path / "labels.csv"
    assert "wrote" in run("scenario", "export-labels", "walkway", "-o", str(out))
    assert f"{item},walkway" in out.read_text()
    refused = run("scenario", "export-labels", "walkway", "-f", "yolo", "-o", "y", code=1)
    assert "labels whole frames" in refused and "'classification'" in refused
    folder = tmp_path / "classes"
    run("scenario", "export-labels", "walkway", "-f", "classification", "-o", str(folder))
    assert sorted(p.name for p in folder.iterdir()) == ["crowd", "empty"]
    assert (folder / "empty" / f"frame-{item.removeprefix('frame:')}.jpg").is_file()

    created = run("scenario", "create", "vans", "--class", "van", "--class", "person")
    assert "scenario 'vans' version 1: van, person" in created


def test_bad_input_is_one_clear_line(run: Run, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(SPEC.replace("name: empty", "name: crowd"))
    output = run("scenario", "import", str(bad), code=1)
    assert output.startswith("error: invalid scenario spec") and "duplicate class names" in output
    assert "error: no scenario named 'nope'" in run("scenario", "label", "nope", code=1)
    assert "at least 2 classes" in run("scenario", "create", "x", "--class", "a", code=1)
    missing = run("scenario", "import", str(tmp_path / "missing.yaml"), code=1)
    assert "does not exist" in missing


def test_eval_scenario_command_prints_a_table_and_a_plot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The command function on its own Typer app (the ``vigil eval`` group lives elsewhere)."""
    import typer

    from vigil.cli.scenarios import eval_scenario

    monkeypatch.setenv("VIGIL_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("VIGIL_EMBEDDER__NAME", "fake")
    group = typer.Typer()
    group.command("scenario")(eval_scenario)
    group.command("other")(lambda: None)  # two commands: Typer keeps the subcommand name
    args = ["scenario", "--shots", "1", "--shots", "2", "--draws", "2"]
    args += ["--pool-per-class", "2", "--test-per-class", "3", "--plot", str(tmp_path / "p.png")]
    result = CliRunner().invoke(group, args)
    assert result.exit_code == 0, result.output
    assert "fashion-mnist/test 30" in result.output and "zero-shot        0" in result.output
    assert "pixels-logreg    2" in result.output and "recall per class" in result.output
    assert (tmp_path / "p.png").read_bytes()[:4] == b"\x89PNG"
    assert list((tmp_path / "home" / "cache").glob("fake-32-fashion-mnist*.npz"))
    bad = CliRunner().invoke(group, ["scenario", "--shots", "4", "--pool-per-class", "2"])
    assert bad.exit_code == 1 and "must be >= the largest k" in bad.output
    pair = [*args[:-2], "--class", "Pullover", "--class", "coat"]
    two = CliRunner().invoke(group, pair)
    assert two.exit_code == 0, two.output
    assert "fashion-mnist/test 6" in two.output and "pullover      coat" in two.output
    unknown = CliRunner().invoke(group, [*args[:-2], "--class", "coat", "--class", "hat"])
    assert unknown.exit_code == 1 and "unknown class 'hat'" in unknown.output


def test_label_prints_warnings_when_every_item_gets_one_class(run: Run, tmp_path: Path) -> None:
    spec = tmp_path / "same.yaml"
    spec.write_text(
        "name: same\nclasses:\n  - {name: a, prompts: [a walkway]}\n"
        "  - {name: b, prompts: [a walkway]}\n"
    )
    run("scenario", "import", str(spec))
    output = run("scenario", "label", "same")
    assert "labeled as: a " in output and ", b 0" in output
    assert "WARNING: 100% of" in output and "--relabel" in output
