"""Scenario specs: validation (table-driven, expected-error column) and YAML round trip."""

from __future__ import annotations

import re
from typing import Any

import pytest

from vigil.errors import InvalidInputError
from vigil.scenarios.spec import (
    MAX_CLASSES,
    MAX_EXAMPLES,
    MAX_PROMPT_CHARS,
    MAX_PROMPTS,
    ItemKind,
    parse_example,
    parse_item,
    quick_spec,
    spec_from_dict,
    spec_from_yaml,
    spec_to_yaml,
)

SMOKE: dict[str, Any] = {
    "name": "smoke-watch",
    "description": "smoke on the walkway",
    "target": {"kind": "frame"},
    "alert_threshold": 0.7,
    "alert_classes": ["smoke"],
    "classes": [
        {
            "name": "smoke",
            "prompts": ["a photo of smoke", "grey smoke rising"],
            "negative_prompts": ["a cloudy sky"],
            "examples": ["frame:1"],
        },
        {"name": "clear", "prompts": ["a photo of an empty walkway"]},
    ],
}


def with_changes(**changes: Any) -> dict[str, Any]:
    data = {**SMOKE, **changes}
    return data


BAD_SPECS = [
    ("no classes", with_changes(classes=[]), "at least 2 classes"),
    ("classes missing", {"name": "x"}, "at least 2 classes"),
    (
        "one class",
        with_changes(classes=[{"name": "smoke", "prompts": ["smoke"]}]),
        "at least 2 classes",
    ),
    (
        "duplicate class names",
        with_changes(
            classes=[{"name": "smoke", "prompts": ["a"]}, {"name": "smoke", "prompts": ["b"]}]
        ),
        r"duplicate class names \['smoke'\]",
    ),
    (
        "empty prompt",
        with_changes(
            classes=[{"name": "smoke", "prompts": ["  "]}, {"name": "clear", "prompts": ["b"]}]
        ),
        "prompt 0 is empty",
    ),
    (
        "no prompts",
        with_changes(classes=[{"name": "smoke", "prompts": []}, {"name": "c", "prompts": ["b"]}]),
        "prompts: List should have at least 1 item",
    ),
    (
        "empty negative prompt",
        with_changes(
            classes=[
                {"name": "smoke", "prompts": ["a"], "negative_prompts": [""]},
                {"name": "clear", "prompts": ["b"]},
            ]
        ),
        "prompt 0 is empty",
    ),
    ("bad name", with_changes(name="  "), "scenario name must be"),
    ("unknown alert class", with_changes(alert_classes=["fire"]), r"alert_classes \['fire'\]"),
    ("threshold above 1", with_changes(alert_threshold=1.5), "less than or equal to 1"),
    (
        "object classes on a frame target",
        with_changes(target={"kind": "frame", "object_classes": ["person"]}),
        "object_classes only apply",
    ),
    ("unknown key", with_changes(colour="red"), "colour: Extra inputs are not permitted"),
    ("not a mapping", ["smoke"], "must be a mapping"),
]


@pytest.mark.parametrize(("case", "data", "message"), BAD_SPECS, ids=[c[0] for c in BAD_SPECS])
def test_bad_specs_are_clear_errors(case: str, data: Any, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        spec_from_dict(data)


def test_yaml_round_trip_keeps_everything() -> None:
    spec = spec_from_dict(SMOKE)
    text = spec_to_yaml(spec)
    assert "negative_prompts" in text and "smoke-watch" in text
    assert spec_from_yaml(text) == spec
    assert spec.class_names == ("smoke", "clear")
    assert spec.class_index("clear") == 1
    with pytest.raises(InvalidInputError, match=r"unknown class 'fire'.*\['smoke', 'clear'\]"):
        spec.class_index("fire")


def test_bad_yaml_is_a_clear_error() -> None:
    with pytest.raises(InvalidInputError, match="not valid YAML"):
        spec_from_yaml("name: [unclosed")


def test_quick_spec_and_references() -> None:
    spec = quick_spec("people", ["person", "van"], kind=ItemKind.OBJECT, object_classes=["person"])
    assert spec.classes[1].prompts == ["a photo of van"]
    assert spec.target.object_classes == ["person"]
    with pytest.raises(InvalidInputError, match="must contain"):
        quick_spec("x", ["a", "b"], template="no placeholder")
    assert parse_example("object:7").item_id == 7
    assert parse_example("photos/a.jpg").kind == "image"
    assert parse_item("frame:3") == (ItemKind.FRAME, 3)
    with pytest.raises(InvalidInputError, match="'frame:ID' or 'object:ID'"):
        parse_item("12")


def _with_class(**fields: Any) -> dict[str, Any]:
    first = {"name": "smoke", "prompts": ["a photo of smoke"], **fields}
    return {**SMOKE, "alert_classes": [], "classes": [first, SMOKE["classes"][1]]}


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (_with_class(prompts=["p"] * (MAX_PROMPTS + 1)), f"at most {MAX_PROMPTS} (MAX_PROMPTS)"),
        (
            _with_class(negative_prompts=["n"] * (MAX_PROMPTS + 1)),
            f"at most {MAX_PROMPTS} (MAX_PROMPTS)",
        ),
        (_with_class(examples=["frame:1"] * (MAX_EXAMPLES + 1)), f"at most {MAX_EXAMPLES}"),
        (_with_class(prompts=["x" * (MAX_PROMPT_CHARS + 1)]), f"at most {MAX_PROMPT_CHARS}"),
        (
            {
                **SMOKE,
                "alert_classes": [],
                "classes": [{"name": f"c{i}", "prompts": ["x"]} for i in range(MAX_CLASSES + 1)],
            },
            f"at most {MAX_CLASSES} (MAX_CLASSES)",
        ),
        (_with_class(examples=["frame:99999999999999999999999"]), "out of range"),
    ],
)
def test_specs_over_a_cap_are_refused_naming_the_cap(spec: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidInputError, match=re.escape(message)):
        spec_from_dict(spec)


def test_the_caps_themselves_are_allowed() -> None:
    spec = spec_from_dict(_with_class(prompts=[f"p{i}" for i in range(MAX_PROMPTS)]))
    assert len(spec.classes[0].prompts) == MAX_PROMPTS


@pytest.mark.parametrize("depth", [5000, 100_000])
def test_deeply_nested_yaml_is_an_input_error_not_a_crash(depth: int) -> None:
    text = "name: deep\nclasses: " + "[" * depth + "]" * depth + "\n"
    with pytest.raises(InvalidInputError, match="nested too deeply"):
        spec_from_yaml(text)


def test_item_ids_beyond_64_bits_are_input_errors() -> None:
    with pytest.raises(InvalidInputError, match="out of range"):
        parse_example("frame:99999999999999999999999")
    with pytest.raises(InvalidInputError, match="out of range"):
        parse_item("object:9223372036854775808")
    assert parse_item("object:9223372036854775807") == (ItemKind.OBJECT, 2**63 - 1)
