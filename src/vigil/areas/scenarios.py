"""The scenarios area: describe a scenario, label the archive with it, review, export.

Stage functions are imported inside the methods so that opening a workspace does not
import scikit-learn, SciPy or globox.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from vigil.context import Context
from vigil.errors import InvalidInputError, NotFoundError
from vigil.scenarios.spec import ScenarioRecord, ScenarioSpec
from vigil.scenarios.types import AutolabelProgress, AutolabelReport, ReviewItem

if TYPE_CHECKING:
    from vigil.anomaly.scenario import AnomalyLabelReport


class Scenarios:
    """``workspace.scenarios``: the long-tail scenarios of one workspace."""

    def __init__(self, context: Context) -> None:
        self.context = context

    def create(self, spec: ScenarioSpec, *, base: Path | None = None) -> ScenarioRecord:
        """Store a scenario, or a new version of it when the spec changed.

        Examples must exist: items in the catalog, image files that decode
        (relative image paths are taken from ``base``, e.g. the YAML's folder).
        """
        from vigil.scenarios.autolabel import validate_examples
        from vigil.scenarios.store import save_scenario

        catalog = self.context.catalog
        return save_scenario(catalog, validate_examples(catalog, spec, base=base))

    def import_yaml(self, path: Path) -> ScenarioRecord:
        """Create or update a scenario from a YAML file."""
        from vigil.scenarios.spec import spec_from_yaml

        path = Path(path)
        if not path.is_file():
            raise NotFoundError(f"scenario file {path} does not exist")
        spec = spec_from_yaml(path.read_text(encoding="utf-8"))
        return self.create(spec, base=path.parent.resolve())

    def export_yaml(
        self, name: str, path: Path | None = None, *, version: int | None = None
    ) -> str:
        """A scenario version as YAML, also written to ``path`` when given."""
        from vigil.scenarios.spec import spec_to_yaml

        text = spec_to_yaml(self.get(name, version).spec)
        if path is not None:
            Path(path).write_text(text, encoding="utf-8")
        return text

    def get(self, name: str, version: int | None = None) -> ScenarioRecord:
        from vigil.scenarios.store import get_scenario

        return get_scenario(self.context.catalog, name, version)

    def all(self) -> list[ScenarioRecord]:
        from vigil.scenarios.store import list_scenarios

        return list_scenarios(self.context.catalog)

    def autolabel(
        self,
        scenario: str,
        *,
        max_items: int | None = None,
        on_progress: Callable[[AutolabelProgress], None] | None = None,
        relabel: bool = False,
        ray: str | None = None,
    ) -> AutolabelReport:
        """Label every indexed item of the scenario's newest version from stored vectors.

        Resumable: items already labeled at this version are skipped; ``relabel``
        labels everything again (after answers, with the refitted classifier).
        ``ray`` (HOST:PORT, 'auto' or 'local') scores the batches on a Ray cluster.
        """
        from vigil.scenarios.autolabel import autolabel

        settings = self.context.settings
        score = None
        if ray is not None:
            from vigil.scale.ray_autolabel import ray_scorer

            score = ray_scorer(ray, max_retries=settings.scale.max_task_retries)
        return autolabel(
            self.context.catalog,
            self.get(scenario),
            self.context.embedder,
            batch_size=settings.scenarios.autolabel_batch_size,
            max_items=max_items,
            on_progress=on_progress,
            relabel=relabel,
            score=score,
            home=self.context.home,
        )

    def label_anomaly(
        self,
        scenario: str,
        *,
        max_items: int | None = None,
        relabel: bool = False,
        on_progress: Callable[[int, int], None] | None = None,
    ) -> AnomalyLabelReport:
        """Score every target item of an anomaly scenario (score, label, heatmap per item)."""
        from vigil.anomaly.features import PatchExtractor
        from vigil.anomaly.scenario import label_anomaly

        return label_anomaly(
            self.context.catalog,
            self.context.home,
            self.get(scenario),
            extractor=PatchExtractor(device=self.context.settings.device),
            max_items=max_items,
            relabel=relabel,
            on_progress=on_progress,
        )

    def review_queue(
        self, scenario: str, limit: int | None = None, *, wanted: str | None = None
    ) -> list[ReviewItem]:
        """Unanswered items a person should label first (uncertain, or models disagree).

        ``wanted``: items the model thinks are that class first. Anomaly scenarios: the
        scored items closest to the threshold, with heatmaps.
        """
        from vigil.scenarios.review import review_queue

        record = self.get(scenario)
        if record.spec.kind == "anomaly":
            from vigil.anomaly.scenario import anomaly_review_queue

            if wanted is not None:
                raise InvalidInputError(
                    f"{scenario!r} is an anomaly scenario: its queue has no --class"
                )

            return anomaly_review_queue(
                self.context.catalog,
                record,
                limit=limit or self.context.settings.scenarios.review_limit,
            )
        return review_queue(
            self.context.catalog,
            record,
            self.context.embedder,
            limit=limit or self.context.settings.scenarios.review_limit,
            home=self.context.home,
            wanted=wanted,
        )

    def answer(self, scenario: str, item: str, label: str, *, annotator: str | None = None) -> None:
        """Store a person's label for 'frame:ID' or 'object:ID'; it overrides the machine."""
        from vigil.scenarios.review import answer

        answer(
            self.context.catalog,
            self.get(scenario),
            item,
            label,
            annotator=annotator or self.context.settings.scenarios.annotator,
        )

    def export_labels(
        self, scenario: str, format: str, path: Path, *, version: int | None = None
    ) -> Path:
        """Write a scenario's labels as csv, coco, yolo or classification (full-resolution)."""
        from vigil.scenarios.export import export_labels, parse_format, source_pixels
        from vigil.scenarios.store import stored_labels

        chosen = parse_format(format)  # a bad format is reported before anything is read
        record = self.get(scenario, version)
        labels = stored_labels(self.context.catalog, record)
        return export_labels(
            labels,
            record,
            chosen,
            Path(path),
            home=self.context.home,
            pixels=source_pixels(self.context.catalog, self.context.home),
        )
