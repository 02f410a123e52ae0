"""Results of the scenarios stage that cross into the workspace, CLI and REST API.

Kept apart from the modules that compute them so importing the library API does
not import scikit-learn, SciPy or the export libraries.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from vigil.scenarios.spec import ItemKind


@dataclass(frozen=True)
class AutolabelProgress:
    """Passed to the progress callback after each stored batch."""

    done: int  # items of this version labeled so far (this run and earlier ones)
    total: int  # target items with a vector for the model
    labeled_now: int  # labeled by this run so far


@dataclass(frozen=True)
class AutolabelReport:
    """What one auto-label run did."""

    scenario: str
    version: int
    model_id: str  # provenance stored with every label: embedder model id + method
    method: str
    examples: int  # labeled examples the classifier was fitted on (spec + human answers)
    total: int
    labeled: int  # labeled by this run
    skipped: int  # already labeled at this version by an earlier run
    seconds: float
    cv_accuracy: dict[str, float]
    ece: float | None
    # Why the labels may not be trusted as they are (a constant classifier, noise-level
    # cross-validation, contradictory prompts): the CLI prints them, REST returns them.
    warnings: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()  # what else went into the labels (the detector's classes)
    predicted: dict[str, int] = field(default_factory=dict)  # class -> items labeled by this run
    cv_recall: dict[str, float] = field(default_factory=dict)  # class -> cross-validated recall

    @property
    def items_per_s(self) -> float:
        return self.labeled / self.seconds if self.seconds > 0 else 0.0


@dataclass(frozen=True)
class ReviewItem:
    """One item to show a person, with why it was chosen."""

    kind: ItemKind
    id: int
    thumbnail_path: str  # relative to the workspace home
    label: str  # what the current model says
    confidence: float
    margin: float  # top-1 minus top-2 probability
    entropy: float  # of the current model's probabilities, in nats
    zero_shot_label: str
    disagree: bool  # zero-shot and the adapted model name different classes
    priority: float  # higher first
    heatmap_path: str = ""  # anomaly scenarios: the heatmap overlay, relative to the home
    false_positive: bool = False  # inside an event a person corrected (asked about first)

    @property
    def item(self) -> str:
        return f"{self.kind.value}:{self.id}"
