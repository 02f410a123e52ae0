"""The models area: distil a labeled scenario into small models, list and export them.

Imported lazily so that opening a workspace does not import torch or onnxruntime.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from vigil.context import Context

if TYPE_CHECKING:
    from vigil.catalog.models_store import ModelRecord
    from vigil.distill.pipeline import DistillOutcome


class Models:
    """``workspace.models``: the model factory and its registry."""

    def __init__(self, context: Context) -> None:
        self.context = context

    def distill(
        self,
        scenario: str,
        version: int | None = None,
        *,
        progress: bool = True,
        measure_teacher: bool = False,
    ) -> DistillOutcome:
        """Train, prune, quantize, register and report small models for a labeled scenario."""
        from vigil.distill.pipeline import distill_workspace

        return distill_workspace(
            self.context, scenario, version, progress=progress, measure_teacher=measure_teacher
        )

    def all(self, scenario: str | None = None) -> list[ModelRecord]:
        from vigil.catalog.models_store import list_models

        return list_models(self.context.catalog, scenario=scenario)

    def get(self, reference: int | str) -> ModelRecord:
        from vigil.catalog.models_store import get_model

        return get_model(self.context.catalog, reference)

    def export(self, reference: int | str, destination: Path) -> Path:
        """Copy a ready model's ONNX file out, checking its hash against the registry."""
        from vigil.distill.export import export_model

        return export_model(self.context.catalog, reference, Path(destination))
