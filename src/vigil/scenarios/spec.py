"""Scenario specs: what a person writes to describe a new long-tail scenario.

A scenario is a handful of classes, each described by prompt ensembles (positive
prompts that say what it looks like, negative prompts for what it is easily
confused with) and optionally a few examples. It targets frames, or objects of
given detector classes, and raises an alert above a threshold. Specs travel as
YAML so they can be reviewed and versioned next to code::

    name: smoke-watch
    target: {kind: frames}
    alert_threshold: 0.7
    classes:
      - name: smoke
        prompts: ["a photo of smoke", "grey smoke rising"]
        negative_prompts: ["a cloudy sky"]
        examples: ["frame:12", "photos/smoke1.jpg"]
      - name: clear
        prompts: ["a photo of an empty walkway"]

An anomaly scenario (``kind: anomaly``) has no classes: it learns what normal
looks like from ``normal_examples`` (image files, folders of images, stored
items) and calls anything far from them anomalous (``vigil.anomaly``). Labelled
``defect_examples`` are optional; they set the threshold and train a small
head. It can watch a region of interest (a polygon in frame pixels) of one
source::

    name: cell-cracks
    kind: anomaly
    normal_examples: ["cells/good/", "frame:40"]
    defect_examples: ["cells/bad/crack1.png"]
    target:
      kind: frame
      region: {source: line-3, polygon: [[100, 80], [400, 80], [400, 300], [100, 300]]}
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    ValidationError,
    field_validator,
    model_serializer,
    model_validator,
)

from vigil.catalog.types import ItemKind as ItemKind  # stored with labels; re-exported here
from vigil.catalog.types import LabelScope
from vigil.errors import InvalidInputError
from vigil.names import did_you_mean

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._/-]{0,99}$")
_REFERENCE = re.compile(r"^(frame|object):(\d+)$")
#: The two labels an anomaly scenario gives (its "classes").
ANOMALY_CLASSES = ("normal", "anomalous")

# Caps on what one spec may hold. Every prompt is embedded and every example read each
# time a classifier is built, so an unbounded spec is a way to stall every reader of the
# review queue; these are far above any scenario a person writes by hand.
MAX_CLASSES = 50
MAX_PROMPTS = 64  # per class, positive and negative each
MAX_EXAMPLES = 200  # per class
MAX_PROMPT_CHARS = 500
MAX_ITEM_ID = 2**63 - 1  # catalog ids are SQLite INTEGERs (signed 64-bit)


class ClassSpec(BaseModel):
    """One class of a scenario: its prompt ensembles and optional examples."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="Class name, unique within the scenario.")
    prompts: list[str] = Field(
        min_length=1, description="Positive prompts; their mean embedding is the class text vector."
    )
    negative_prompts: list[str] = Field(
        default_factory=list,
        description="What the class is easily confused with; pushes the class vector away.",
    )
    examples: list[str] = Field(
        default_factory=list,
        description="Example items: 'frame:ID', 'object:ID' or an image file path.",
    )

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str) -> str:
        value = value.strip()
        if not _NAME.match(value):
            raise ValueError(
                "class name must be 1-100 letters, digits, spaces or ._/- and start with a "
                f"letter or digit, got {value!r}"
            )
        return value

    @field_validator("prompts", "negative_prompts", mode="before")
    @classmethod
    def _cap_prompts(cls, values: Any) -> Any:
        if isinstance(values, list) and len(values) > MAX_PROMPTS:
            raise ValueError(
                f"{len(values)} prompts; a class may have at most {MAX_PROMPTS} "
                "(MAX_PROMPTS) positive and as many negative prompts"
            )
        return values

    @field_validator("prompts", "negative_prompts")
    @classmethod
    def _check_prompts(cls, values: list[str]) -> list[str]:
        for position, prompt in enumerate(values):
            if not isinstance(prompt, str) or not prompt.strip():
                raise ValueError(f"prompt {position} is empty; every prompt needs some text")
            if len(prompt) > MAX_PROMPT_CHARS:
                raise ValueError(
                    f"prompt {position} is {len(prompt)} characters; at most "
                    f"{MAX_PROMPT_CHARS} (MAX_PROMPT_CHARS) are allowed"
                )
        return [prompt.strip() for prompt in values]

    @field_validator("examples", mode="before")
    @classmethod
    def _cap_examples(cls, values: Any) -> Any:
        if isinstance(values, list) and len(values) > MAX_EXAMPLES:
            raise ValueError(
                f"{len(values)} examples; a class may have at most {MAX_EXAMPLES} (MAX_EXAMPLES)"
            )
        return values

    @field_validator("examples")
    @classmethod
    def _check_examples(cls, values: list[str]) -> list[str]:
        for position, example in enumerate(values):
            _check_reference(example)
            if not example.strip():
                raise ValueError(
                    f"example {position} is empty; expected frame:ID, object:ID or a path"
                )
        return [example.strip() for example in values]


def _check_example_list(values: list[str]) -> list[str]:
    for position, example in enumerate(values):
        if not isinstance(example, str) or not example.strip():
            raise ValueError(
                f"example {position} is empty; expected frame:ID, object:ID, an image or a folder"
            )
    return [example.strip() for example in values]


class RegionSpec(BaseModel):
    """A region of interest: a polygon in the full-size frame pixels of one source."""

    model_config = ConfigDict(extra="forbid")

    source: str = Field(description="Source name or id whose frames the polygon applies to.")
    polygon: list[tuple[float, float]] = Field(
        description="Polygon vertices [x, y] in frame pixels (at least 3, non-zero area)."
    )

    @field_validator("source")
    @classmethod
    def _check_source(cls, value: str) -> str:
        if not str(value).strip():
            raise ValueError("region source is empty; name the source the polygon belongs to")
        return str(value).strip()

    @field_validator("polygon")
    @classmethod
    def _check_polygon(cls, points: list[tuple[float, float]]) -> list[tuple[float, float]]:
        if len(points) < 3:
            raise ValueError(f"region polygon needs at least 3 points, got {len(points)}")
        if any(x < 0 or y < 0 for x, y in points):
            raise ValueError("region polygon has negative coordinates; use frame pixels")
        area = 0.5 * abs(
            sum(
                x0 * y1 - x1 * y0
                for (x0, y0), (x1, y1) in zip(points, points[1:] + points[:1], strict=True)
            )
        )
        if area < 1.0:
            raise ValueError(
                f"region polygon is empty (area {area:.1f} px); it must enclose some pixels"
            )
        return points

    @property
    def bounds_xyxy(self) -> tuple[int, int, int, int]:
        xs = [point[0] for point in self.polygon]
        ys = [point[1] for point in self.polygon]
        return int(min(xs)), int(min(ys)), int(max(xs)) + 1, int(max(ys)) + 1


class TargetSpec(BaseModel):
    """Which items a scenario labels."""

    model_config = ConfigDict(extra="forbid")

    kind: ItemKind = Field(ItemKind.FRAME, description="'frame' or 'object'.")
    object_classes: list[str] = Field(
        default_factory=list,
        description="For objects: detector classes to label (objects.label); empty means all.",
    )
    region: RegionSpec | None = Field(
        None, description="Anomaly scenarios on frames: only this polygon of one source."
    )

    @model_validator(mode="after")
    def _classes_only_for_objects(self) -> TargetSpec:
        if self.object_classes and self.kind != ItemKind.OBJECT:
            raise ValueError("object_classes only apply when target kind is 'object'")
        if self.region is not None and self.kind != ItemKind.FRAME:
            raise ValueError("a region of interest only applies when target kind is 'frame'")
        return self

    @model_serializer(mode="wrap")
    def _drop_unset_region(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # Specs without a region serialise exactly as before regions existed, so stored
        # specs compare equal and re-importing an old YAML does not add a version.
        data: dict[str, Any] = handler(self)
        if self.region is None:
            data.pop("region", None)
        return data


class PromotionSpec(BaseModel):
    """When ``vigil distill`` may replace the scenario's champion model by itself."""

    model_config = ConfigDict(extra="forbid")

    auto: bool = Field(
        False,
        description="Promote a new ready model automatically when it beats the champion on "
        "the frozen evaluation set (else it stays a challenger until 'vigil model promote').",
    )
    margin: float = Field(
        0.02,
        ge=0.0,
        le=1.0,
        description="Balanced-accuracy gain over the champion needed for automatic promotion "
        "(and no class's recall may drop by more than 0.02).",
    )


class ScenarioSpec(BaseModel):
    """A whole scenario as a person writes it (one version of it once stored)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="Scenario name, unique in the catalog.")
    kind: Literal["classes", "anomaly"] = Field(
        "classes",
        description="'classes': prompts and examples per class; 'anomaly': learn normal "
        "from normal_examples and flag what is far from it.",
    )
    description: str = Field("", description="What the scenario is for.")
    classes: list[ClassSpec] = Field(
        default_factory=list, description="At least two classes (one can be 'normal')."
    )
    normal_examples: list[str] = Field(
        default_factory=list,
        description="Anomaly scenarios: normal items ('frame:ID', 'object:ID', image files, "
        "folders of images); at least 5 images in all.",
    )
    defect_examples: list[str] = Field(
        default_factory=list,
        description="Anomaly scenarios, optional: labelled defects that set the threshold.",
    )
    false_alarm_rate: float = Field(
        0.05,
        gt=0.0,
        lt=0.5,
        description="Anomaly scenarios: the share of normal items the threshold may flag "
        "(a conformal quantile of the normals' leave-one-out scores; with n normals it "
        "cannot promise less than 1 / (n + 1)).",
    )
    target: TargetSpec = Field(default_factory=TargetSpec)
    alert_threshold: float = Field(
        0.5, ge=0.0, le=1.0, description="Alert when an alert class's probability reaches this."
    )
    alert_classes: list[str] = Field(
        default_factory=list, description="Classes that raise alerts; empty means none."
    )
    promotion: PromotionSpec | None = Field(
        None, description="Automatic promotion of distilled models (default: by hand)."
    )

    @field_validator("classes", mode="before")
    @classmethod
    def _cap_classes(cls, values: Any) -> Any:
        if isinstance(values, list) and len(values) > MAX_CLASSES:
            raise ValueError(
                f"{len(values)} classes; a scenario may have at most {MAX_CLASSES} (MAX_CLASSES)"
            )
        return values

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str) -> str:
        value = value.strip()
        if not _NAME.match(value):
            raise ValueError(
                "scenario name must be 1-100 letters, digits, spaces or ._/- and start with a "
                f"letter or digit, got {value!r}"
            )
        return value

    @field_validator("normal_examples", "defect_examples")
    @classmethod
    def _check_anomaly_examples(cls, values: list[str]) -> list[str]:
        return _check_example_list(values)

    @model_serializer(mode="wrap")
    def _drop_anomaly_keys(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # A classes scenario serialises exactly as before anomaly scenarios existed.
        data: dict[str, Any] = handler(self)
        if self.promotion is None:  # specs without it serialise as before it existed
            data.pop("promotion", None)
        if self.kind == "classes":
            for key in ("kind", "normal_examples", "defect_examples", "false_alarm_rate"):
                data.pop(key, None)
        else:
            data.pop("classes", None)
            data.pop("alert_classes", None)
        return data

    @model_validator(mode="after")
    def _check_classes(self) -> ScenarioSpec:
        if self.kind == "anomaly":
            if self.classes:
                raise ValueError(
                    "an anomaly scenario has no classes; give normal_examples (and optionally "
                    "defect_examples) instead"
                )
            if not self.normal_examples:
                raise ValueError(
                    "an anomaly scenario needs normal_examples (at least 5 normal images: "
                    "files, folders, frame:ID or object:ID)"
                )
            if self.alert_classes:
                raise ValueError("alert_classes do not apply to an anomaly scenario")
            return self
        if self.normal_examples or self.defect_examples:
            raise ValueError("normal_examples and defect_examples need kind: anomaly")
        if self.target.region is not None:
            raise ValueError("a region of interest needs kind: anomaly")
        if len(self.classes) < 2:
            raise ValueError(
                f"a scenario needs at least 2 classes (e.g. 'smoke' and 'clear'), "
                f"got {len(self.classes)}"
            )
        names = [item.name for item in self.classes]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"duplicate class names {duplicates}; each class needs its own name")
        unknown = sorted(set(self.alert_classes) - set(names))
        if unknown:
            raise ValueError(f"alert_classes {unknown} are not classes of the scenario {names}")
        return self

    @property
    def class_names(self) -> tuple[str, ...]:
        if self.kind == "anomaly":
            return ANOMALY_CLASSES
        return tuple(item.name for item in self.classes)

    def class_index(self, label: str) -> int:
        """Position of a class name; an unknown name is an ``InvalidInputError``."""
        try:
            return self.class_names.index(label)
        except ValueError:
            raise InvalidInputError(
                f"unknown class {label!r} for scenario {self.name!r}"
                f"{did_you_mean(label, self.class_names)}; "
                f"expected one of {list(self.class_names)}"
            ) from None


def _check_reference(text: str) -> None:
    """Refuse 'frame:ID' / 'object:ID' whose id cannot be a catalog id (over 64 bits)."""
    match = _REFERENCE.match(text.strip())
    if match and int(match.group(2)) > MAX_ITEM_ID:
        raise ValueError(
            f"{match.group(1)} id {match.group(2)[:30]} is out of range: ids are at most "
            f"{MAX_ITEM_ID}"
        )


@dataclass(frozen=True)
class ExampleRef:
    """A parsed example: a stored item (``kind``, ``item_id``) or an image file (``path``)."""

    kind: ItemKind | Literal["image"]
    item_id: int | None = None
    path: Path | None = None


def parse_example(text: str, *, base: Path | None = None) -> ExampleRef:
    """'frame:12' / 'object:3' name stored items; anything else is an image path.

    >>> parse_example("frame:12")
    ExampleRef(kind=<ItemKind.FRAME: 'frame'>, item_id=12, path=None)
    """
    match = _REFERENCE.match(text.strip())
    if match:
        try:
            _check_reference(text)
        except ValueError as error:
            raise InvalidInputError(f"example {text.strip()[:40]!r}: {error}") from None
        return ExampleRef(ItemKind(match.group(1)), item_id=int(match.group(2)))
    path = Path(text).expanduser()
    if base is not None and not path.is_absolute():
        path = base / path
    return ExampleRef("image", path=path)


def parse_item(text: str) -> tuple[ItemKind, int]:
    """An item typed by a person ('frame:12', 'object:3') -> (kind, id)."""
    match = _REFERENCE.match(text.strip())
    if not match:
        raise InvalidInputError(f"item must be 'frame:ID' or 'object:ID', got {text!r}")
    try:
        _check_reference(text)
    except ValueError as error:
        raise InvalidInputError(f"item {text.strip()[:40]!r}: {error}") from None
    return ItemKind(match.group(1)), int(match.group(2))


def spec_from_dict(data: Any) -> ScenarioSpec:
    """Validate a parsed spec; every problem becomes one ``InvalidInputError`` line."""
    if not isinstance(data, dict):
        raise InvalidInputError(
            f"a scenario spec must be a mapping with name and classes, got {type(data).__name__}"
        )
    try:
        return ScenarioSpec.model_validate(data)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in issue['loc']) or 'spec'}: {issue['msg']}"
            for issue in error.errors()
        )
        raise InvalidInputError(f"invalid scenario spec: {problems}") from None


def spec_from_yaml(text: str) -> ScenarioSpec:
    """Parse a YAML spec (see the module docstring for the format)."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise InvalidInputError(f"scenario spec is not valid YAML: {error}") from None
    except RecursionError:
        # PyYAML composes nested collections recursively: thousands of '[' exhaust the stack.
        raise InvalidInputError(
            "scenario spec is nested too deeply to be a scenario (a spec needs 4 levels)"
        ) from None
    try:
        return spec_from_dict(data)
    except RecursionError:
        raise InvalidInputError("scenario spec is nested too deeply to be a scenario") from None


def spec_to_yaml(spec: ScenarioSpec) -> str:
    """The spec as YAML that ``spec_from_yaml`` reads back to an equal spec."""
    data = spec.model_dump(mode="json")
    text: str = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    return text


def quick_spec(
    name: str,
    class_names: list[str],
    *,
    template: str = "a photo of {}",
    kind: ItemKind = ItemKind.FRAME,
    object_classes: list[str] | None = None,
    alert_threshold: float = 0.5,
) -> ScenarioSpec:
    """A spec from class names alone, one prompt each from ``template``."""
    if "{}" not in template:
        raise InvalidInputError(f"prompt template must contain '{{}}', got {template!r}")
    return spec_from_dict(
        {
            "name": name,
            "classes": [
                {"name": label, "prompts": [template.format(label.strip())]}
                for label in class_names
            ],
            "target": {"kind": kind.value, "object_classes": object_classes or []},
            "alert_threshold": alert_threshold,
        }
    )


@dataclass(frozen=True)
class ScenarioRecord:
    """One stored version of a scenario."""

    id: int  # the scenario's id (shared by all its versions)
    name: str
    version: int
    spec: ScenarioSpec
    created_at: datetime
    versions: int  # how many versions exist

    @property
    def scope(self) -> LabelScope:
        """What the catalog needs to read and write this version's labels."""
        return LabelScope(
            scenario_id=self.id,
            name=self.name,
            version=self.version,
            kind=self.spec.target.kind,
            class_names=tuple(self.spec.class_names),
        )
