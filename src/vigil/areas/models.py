"""The models area: distil a labeled scenario into small models, list and export them.

Imported lazily so that opening a workspace does not import torch or onnxruntime.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from vigil.context import Context

if TYPE_CHECKING:
    from vigil.catalog.models_promotions import ModelRole, Promotion
    from vigil.catalog.models_store import ModelRecord
    from vigil.distill.champion import Comparison
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
        auto_promote: bool | None = None,
        margin: float | None = None,
    ) -> DistillOutcome:
        """Train, prune, quantize, register and report small models for a labeled scenario."""
        from vigil.distill.pipeline import distill_workspace

        return distill_workspace(
            self.context,
            scenario,
            version,
            progress=progress,
            measure_teacher=measure_teacher,
            auto_promote=auto_promote,
            margin=margin,
        )

    def champion(self, scenario: str) -> ModelRecord | None:
        """The scenario's promoted model (what its runtime should serve), or None."""
        from vigil.catalog.models_promotions import current_champion

        return current_champion(self.context.catalog, scenario)

    def roles(self, records: list[ModelRecord]) -> dict[int, ModelRole]:
        """champion / challenger for each ready model among ``records``."""
        from vigil.catalog.models_promotions import model_roles

        return model_roles(self.context.catalog, records)

    def promote(self, reference: int | str) -> Promotion:
        """Make a ready model its scenario's champion (``PromotionError`` otherwise)."""
        from vigil.catalog.models_promotions import promote_model

        self.context.require_writable("promote a model")
        return promote_model(self.context.catalog, reference)

    def rollback(self, scenario: str) -> Promotion:
        """Make the scenario's previous champion the champion again."""
        from vigil.catalog.models_promotions import rollback_champion

        self.context.require_writable("roll back a champion")
        return rollback_champion(self.context.catalog, scenario)

    def compare(
        self, references: list[int | str], *, extra_item_ids: tuple[str, ...] = ()
    ) -> Comparison:
        """Models side by side on the scenario's frozen evaluation set (and extra items)."""
        from vigil.distill.champion import compare_models

        return compare_models(
            self.context.catalog, self.context.home, references, extra_item_ids=extra_item_ids
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
