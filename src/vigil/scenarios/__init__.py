"""Long-tail scenarios: describe a new scenario in minutes, label an indexed archive with it.

A scenario (``spec``) is classes with prompt ensembles and a few optional
examples; ``classify`` turns it into a classifier over stored embeddings
(zero-shot, Tip-Adapter-style cache or a linear probe, chosen by
cross-validation); ``autolabel`` labels every target item, resumably;
``review`` asks a person about the items whose answer helps most; ``export``
writes CSV, COCO and YOLO; ``evaluate`` measures zero- and few-shot accuracy on
real labeled data; ``training`` hands labeled items to distillation.
"""

from vigil.scenarios.spec import ClassSpec, ItemKind, ScenarioRecord, ScenarioSpec, TargetSpec
from vigil.scenarios.training import LabeledItem, training_items

__all__ = [
    "ClassSpec",
    "ItemKind",
    "LabeledItem",
    "ScenarioRecord",
    "ScenarioSpec",
    "TargetSpec",
    "training_items",
]
