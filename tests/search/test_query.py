"""Query words -> predicates: counts, colours, negation, time of day, Chinese, bad input."""

from __future__ import annotations

import pytest

from vigil.search.query import MAX_QUERY_CHARS, Region, parse_query


@pytest.mark.parametrize(
    ("query", "semantic", "counts"),
    [
        ("two people", "people", [("person", 2, 2)]),
        ("one person", "person", [("person", 1, 1)]),
        ("more than 5 cars", "cars", [("car", 6, None)]),
        ("at least 3 cars", "cars", [("car", 3, None)]),
        ("fewer than 2 dogs", "dogs", [("dog", 0, 1)]),
        ("a crowd", "people", [("person", 5, None)]),
        ("no people", "", [("person", 0, 0)]),
        ("a street without cars", "a street", [("car", 0, 0)]),
        ("nobody", "", [("person", 0, 0)]),
        ("a car", "a car", []),
        ("people walking on a footpath", "people walking on a footpath", []),
        ("两个人", "people", [("person", 2, 2)]),
        ("没有人", "", [("person", 0, 0)]),
    ],
)
def test_counts_and_negation(
    query: str, semantic: str, counts: list[tuple[str, int, int | None]]
) -> None:
    parsed = parse_query(query)
    assert parsed.semantic == semantic
    assert [(c.label, c.at_least, c.at_most) for c in parsed.counts] == counts


@pytest.mark.parametrize(
    ("query", "colour", "label", "region", "semantic"),
    [
        ("a red car", "red", "car", Region.WHOLE, "a car"),
        ("a white car", "white", "car", Region.WHOLE, "a car"),
        ("a person in a white top", "white", "person", Region.UPPER, "a person in a top"),
        ("a man in black trousers", "black", "person", Region.LOWER, "a man in trousers"),
        ("a building under a blue sky", "blue", None, Region.WHOLE, "a building under a sky"),
        ("an orange flower", "orange", None, Region.WHOLE, "a flower"),
        ("a gray car", "grey", "car", Region.WHOLE, "a car"),
        ("白色的汽车", "white", "car", Region.WHOLE, "car"),
    ],
)
def test_colours(query: str, colour: str, label: str | None, region: Region, semantic: str) -> None:
    parsed = parse_query(query)
    [found] = parsed.colours
    assert (found.colour, found.label, found.region) == (colour, label, region)
    assert parsed.semantic == semantic


def test_an_orange_alone_is_the_fruit() -> None:
    parsed = parse_query("an orange")
    assert parsed.colours == () and parsed.semantic == "an orange"


@pytest.mark.parametrize(
    ("query", "night", "semantic"),
    [
        ("a street at night", True, "a street"),
        ("a street during the day", False, "a street"),
        ("晚上的街道", True, "street"),
    ],
)
def test_time_of_day(query: str, night: bool, semantic: str) -> None:
    parsed = parse_query(query)
    assert parsed.time is not None and parsed.time.night is night
    assert parsed.semantic == semantic


def test_contradictions_are_named() -> None:
    parsed = parse_query("no people in a crowd")
    assert parsed.contradictions() == ["'no people' and 'crowd' cannot both hold"]
    assert parse_query("two people").contradictions() == []


@pytest.mark.parametrize(
    ("query", "field", "expected"),
    [
        ("the of a", "semantic", ""),
        ("a turquoise car", "unknown_colours", ("turquoise",)),
        ("一只猫", "semantic", "a cat"),
        ("一只鸭嘴兽", "untranslated", ("鸭嘴兽",)),  # platypus: not in the lexicon
        ("more than 99999999999999999999999 cars", "counts", ()),  # not a count
    ],
)
def test_bad_and_unusual_input(query: str, field: str, expected: object) -> None:
    assert getattr(parse_query(query), field) == expected


def test_a_10k_character_query_is_cut_and_says_so() -> None:
    parsed = parse_query("a red car " * 1000)
    assert len(parsed.original) == 10_000
    assert parsed.notes == (f"query cut to its first {MAX_QUERY_CHARS} of 10000 characters",)
    assert len(parsed.semantic) <= MAX_QUERY_CHARS
