"""Every ``vigil`` command line in the README parses against the real CLI, and the
self-contained ones run as written (fake embedder, the real clip at .cache/data/vtest.avi).

A README line that names a command or option the CLI no longer has fails here, so the
README cannot drift from the code. Lines that need things a test machine has not got (a
camera at rtsp://cam7, a folder /data/stills, photo.jpg, a Ray cluster, a trained model,
a long-running server) are only parsed.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from vigil.cli.main import app

README = Path(__file__).resolve().parents[1] / "README.md"
PREFIX = ".venv/bin/vigil "


def readme_commands() -> list[list[str]]:
    """The argument lists of every ``.venv/bin/vigil`` command in the README's bash blocks."""
    text = README.read_text(encoding="utf-8")
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        joined = block.replace("\\\n", " ")
        for line in joined.splitlines():
            for part in line.split(";"):
                part = part.strip()
                if not part.startswith(PREFIX):
                    continue
                words = shlex.split(part[len(PREFIX) :], comments=True)
                # '[--source walkway]' marks an optional part: the line works without it.
                kept, depth = [], 0
                for word in words:
                    depth += word.count("[")
                    if depth == 0:
                        kept.append(word)
                    depth -= word.count("]")
                commands.append(kept)
    return commands


COMMANDS = readme_commands()


def test_the_readme_has_the_commands_a_newcomer_needs() -> None:
    firsts = {tuple(c[:2]) for c in COMMANDS}
    assert {("embedders", "list"), ("source", "add"), ("model", "export")} <= firsts
    assert len(COMMANDS) >= 30


@pytest.mark.parametrize("args", COMMANDS, ids=[" ".join(c)[:60] for c in COMMANDS])
def test_every_readme_command_parses(args: list[str]) -> None:
    """Appending --help makes click parse every command, option and sub-command and stop."""
    result = CliRunner().invoke(app, [*args, "--help"])
    assert result.exit_code == 0, f"vigil {shlex.join(args)}: {result.output}"


RUNNABLE = (
    ("embedders", "list"),
    ("source", "add", ".cache/data/vtest.avi"),
    ("source", "list"),
    ("index",),
    ("search", "a person riding a bicycle"),
    ("search", "people walking", "--segments"),
    ("search", "a person", "--since"),
    ("source", "remove", "walkway"),
)


def test_the_readme_walkthrough_runs_as_written(
    vtest_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The self-contained lines of 'Using it', in README order, from a bare checkout's root."""
    (tmp_path / ".cache" / "data").mkdir(parents=True)
    (tmp_path / ".cache" / "data" / "vtest.avi").symlink_to(vtest_path)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("VIGIL_HOME", str(tmp_path / "vigil-data"))
    monkeypatch.setenv("VIGIL_EMBEDDER__NAME", "fake")
    monkeypatch.setenv("VIGIL_SAMPLING__INTERVAL_S", "4")
    runner = CliRunner()
    ran = []
    for args in COMMANDS:
        # A one-word entry ('index') means exactly that line, longer ones are prefixes.
        if not any(
            tuple(args[: len(start)]) == start and (len(start) > 1 or len(args) == 1)
            for start in RUNNABLE
        ):
            continue
        result = runner.invoke(app, args)
        assert result.exit_code == 0, f"vigil {shlex.join(args)}: {result.output}"
        assert "error:" not in result.output
        ran.append(args[0])
    assert ran.count("search") == 3 and ran[-1] == "source"
    assert (tmp_path / "hits.jpg").is_file()  # the --sheet of the search line
