"""Vigil: idle camera video into searchable, structured data.

>>> from vigil import Workspace  # doctest: +SKIP

``Workspace`` (the front door) is imported on first use, so ``import vigil.errors``
or the CLI's ``--help`` do not load the catalog, models and indexes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from vigil.workspace import Workspace


def __getattr__(name: str) -> Any:
    if name == "Workspace":
        from vigil.workspace import Workspace

        return Workspace
    raise AttributeError(f"module 'vigil' has no attribute {name!r}")


__all__ = ["Workspace", "__version__"]
