"""What every CLI module shares; kept apart from ``main`` so sub-apps never import it back."""

from __future__ import annotations

import contextlib
import functools
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import ParamSpec, TypeVar

import typer

from vigil.errors import InvalidInputError, VigilError
from vigil.settings import Settings
from vigil.workspace import Workspace

P = ParamSpec("P")
R = TypeVar("R")


def friendly_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Turn library errors into one clear line and exit status 1."""

    @functools.wraps(command)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except VigilError as error:
            typer.echo(f"error: {error}", err=True)
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            typer.echo("interrupted: work written so far is kept; run again to resume", err=True)
            raise typer.Exit(130) from None

    return run


def context_settings(context: typer.Context) -> Settings:
    """The settings the root callback built; defaults when a sub-app runs alone (tests)."""
    settings = context.obj
    return settings if isinstance(settings, Settings) else Settings()


def open_workspace(context: typer.Context) -> Workspace:
    return Workspace.open(context_settings(context))


def id_or_name(text: str) -> int | str:
    """A CLI argument that names a source, model or item by number or by name."""
    return int(text) if text.isdigit() else text


def item_id(text: str, kind: str) -> int:
    """A frame or object id as the CLI prints it (``frame:12``) or bare (``12``)."""
    prefix, separator, number = text.partition(":")
    if separator and prefix != kind:
        raise InvalidInputError(f"expected a {kind} id such as {kind}:12, got {text!r}")
    digits = number if separator else text
    if not digits.isdigit():
        raise InvalidInputError(f"expected a {kind} id such as {kind}:12 or 12, got {text!r}")
    return int(digits)


@contextlib.contextmanager
def progress_bar(description: str, unit: str) -> Iterator[Callable[[int, int], None]]:
    """An ``on_progress(done, total)`` callback drawing a bar on stderr (long commands)."""
    from tqdm import tqdm

    bar: tqdm[None] | None = None

    def show(done: int, total: int) -> None:
        nonlocal bar
        if bar is None:
            bar = tqdm(total=total, desc=description, unit=unit, file=sys.stderr)
        bar.n = done
        bar.refresh()

    try:
        yield show
    finally:
        if bar is not None:
            bar.close()


def print_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """The one table style of every ``list`` command: a header, columns padded to fit,
    two spaces apart, nothing truncated (paths and URLs stay whole for copy and paste)."""
    cells = [[str(h) for h in headers], *[["-" if v is None else str(v) for v in r] for r in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    for row in cells:
        typer.echo(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )
