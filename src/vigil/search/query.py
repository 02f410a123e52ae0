"""Query words -> predicates on stored objects and frame attributes, plus the rest.

Image-text models rank by what a picture shows, not by how many, which colour,
or whether something is missing: "no people" embeds next to "people", and "a red
car" next to "a white car". So before a query is embedded, the words a model
cannot see are parsed out into predicates that are checked on stored facts:

* counts of COCO classes: "two people", "more than 5 cars", "a crowd", "at least 3
  cars", "one person"; negation: "no people", "without a car", "nobody";
* colours of objects in a fixed palette: "a red car", "a person in a white top"
  (upper half), "... in black trousers" (lower half); a colour on a word that is
  not a detector class ("a blue sky") applies to the whole frame;
* time of day: "during the day", "at night" (capture time when known, else the
  frame's brightness).

What is left ("a car", "a street", "people") is the semantic query. Chinese
words are first mapped to English with a small committed lexicon
(``data/lexicon_zh_en.txt``); the sentence model itself is English-only.

>>> parse_query("two people in red tops at night").describe()  # doctest: +SKIP
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cache
from importlib.resources import files

from vigil.catalog.attributes_store import PALETTE
from vigil.embedders.concept_bridge import load_coco_classes

MAX_QUERY_CHARS = 1000  # longer queries are cut here (and say so) before parsing
CROWD = 5  # "a crowd" = at least this many people
_GROUP, _SEVERAL, _MANY = 3, 2, 4

STOP_WORDS = frozenset(
    [
        "a",
        "an",
        "the",
        "of",
        "in",
        "on",
        "at",
        "to",
        "with",
        "and",
        "or",
        "is",
        "are",
        "was",
        "be",
        "there",
        "any",
        "some",
        "this",
        "that",
        "these",
        "those",
        "photo",
        "picture",
        "image",
        "frame",
        "video",
        "footage",
        "shot",
        "scene",
        "show",
        "shows",
        "showing",
        "find",
        "me",
        "please",
        "where",
        "which",
        "who",
        "what",
        "i",
        "want",
        "see",
        "can",
        "you",
        "it",
        "its",
    ]
)
_NUMBERS = {
    "zero": 0, "one": 1, "single": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6,
    "seven": 7, "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "pair": 2,
    "couple": 2,
}  # fmt: skip
_COLOUR_SYNONYMS = {"gray": "grey", "silver": "grey", "violet": "purple", "golden": "yellow",
                    "gold": "yellow", "dark": None, "colour": None, "color": None}  # fmt: skip
_UPPER = frozenset(
    [
        "top",
        "tops",
        "shirt",
        "shirts",
        "t-shirt",
        "jacket",
        "jackets",
        "coat",
        "coats",
        "hoodie",
        "sweater",
        "jumper",
        "blouse",
        "vest",
        "hat",
        "cap",
    ]
)
_LOWER = frozenset(["trousers", "pants", "jeans", "skirt", "skirts", "shorts", "legs"])
_DAY = (("during", "the", "day"), ("in", "the", "daytime"), ("by", "day"), ("daytime",),
        ("daylight",), ("day",), ("sunny",))  # fmt: skip
_NIGHT = (("at", "night"), ("during", "the", "night"), ("nighttime",), ("night",),
          ("in", "the", "dark"), ("dark",))  # fmt: skip
_PERSON_WORDS = frozenset(
    [
        "people",
        "person",
        "persons",
        "man",
        "men",
        "woman",
        "women",
        "pedestrian",
        "pedestrians",
        "child",
        "children",
        "kid",
        "kids",
        "boy",
        "boys",
        "girl",
        "girls",
        "someone",
        "somebody",
        "human",
        "humans",
    ]
)


class Region(StrEnum):
    WHOLE = "whole"
    UPPER = "upper"
    LOWER = "lower"


@dataclass(frozen=True)
class CountPredicate:
    """How many objects of ``label`` a frame holds: at_least <= n <= at_most (None: no cap)."""

    label: str
    at_least: int
    at_most: int | None
    words: str  # the query words it came from

    def holds(self, count: int) -> bool:
        return count >= self.at_least and (self.at_most is None or count <= self.at_most)

    def distance(self, count: int) -> int:
        """How many objects short or over the range (0 when it holds)."""
        if count < self.at_least:
            return self.at_least - count
        if self.at_most is not None and count > self.at_most:
            return count - self.at_most
        return 0


@dataclass(frozen=True)
class ColourPredicate:
    """An object of ``label`` (or, label None, the whole frame) showing ``colour``."""

    colour: str
    label: str | None
    region: Region
    words: str


@dataclass(frozen=True)
class TimePredicate:
    """Day or night."""

    night: bool
    words: str


@dataclass(frozen=True)
class ParsedQuery:
    """A query split into predicates and the words left for the embedder."""

    original: str
    english: str  # after the Chinese lexicon
    semantic: str  # what is embedded ("" when predicates say everything)
    counts: tuple[CountPredicate, ...] = ()
    colours: tuple[ColourPredicate, ...] = ()
    time: TimePredicate | None = None
    classes: tuple[str, ...] = ()  # detector classes named in the query
    unknown_colours: tuple[str, ...] = ()  # colour-like words outside the palette
    untranslated: tuple[str, ...] = ()  # non-Latin words the lexicon does not know
    notes: tuple[str, ...] = field(default=())

    @property
    def has_predicates(self) -> bool:
        return bool(self.counts or self.colours or self.time)

    def contradictions(self) -> list[str]:
        """Pairs of count predicates on one class that no frame can satisfy together."""
        found = []
        for position, first in enumerate(self.counts):
            for second in self.counts[position + 1 :]:
                if first.label != second.label:
                    continue
                low = max(first.at_least, second.at_least)
                highs = [c.at_most for c in (first, second) if c.at_most is not None]
                if highs and low > min(highs):
                    found.append(f"'{first.words}' and '{second.words}' cannot both hold")
        return found

    def describe(self) -> list[str]:
        parts = [f"{c.words} -> count({c.label}) {_range(c)}" for c in self.counts]
        parts += [
            f"{c.words} -> colour {c.colour} on {c.label or 'the frame'}"
            + (f" ({c.region} half)" if c.region != Region.WHOLE else "")
            for c in self.colours
        ]
        if self.time is not None:
            parts.append(f"{self.time.words} -> {'night' if self.time.night else 'day'}")
        return parts


def _range(count: CountPredicate) -> str:
    if count.at_most is None:
        return f">= {count.at_least}"
    if count.at_most == count.at_least:
        return f"= {count.at_least}"
    return f"in {count.at_least}..{count.at_most}"


@cache
def chinese_lexicon() -> tuple[tuple[str, str], ...]:
    """(Chinese, English) pairs, longest Chinese first (greedy longest match)."""
    text = files("vigil.search").joinpath("data/lexicon_zh_en.txt").read_text(encoding="utf-8")
    pairs = []
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        chinese, _, english = line.partition("\t")
        pairs.append((chinese.strip(), english.strip()))
    return tuple(sorted(pairs, key=lambda pair: -len(pair[0])))


_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]+")


def translate_chinese(text: str) -> tuple[str, list[str]]:
    """Chinese runs replaced word by word from the lexicon; returns text and unknown runs."""
    unknown: list[str] = []
    lexicon = chinese_lexicon()

    def replace(match: re.Match[str]) -> str:
        run, out, position, missing = match.group(0), [], 0, ""
        while position < len(run):
            for chinese, english in lexicon:
                if run.startswith(chinese, position):
                    if missing:
                        unknown.append(missing)
                        missing = ""
                    if english:
                        out.append(english)
                    position += len(chinese)
                    break
            else:
                missing += run[position]
                position += 1
        if missing:
            unknown.append(missing)
        return " " + " ".join(out) + " "

    return _CJK.sub(replace, text), unknown


@cache
def class_words() -> dict[str, str]:
    """Query word (singular or plural, one or two words) -> COCO class name."""
    words: dict[str, str] = {}
    for coco in load_coco_classes().values():
        for form in (coco.name, coco.noun, coco.plural):
            words[form.lower()] = coco.name
            if not form.endswith("s"):
                words[form.lower() + "s"] = coco.name
    for word in _PERSON_WORDS:
        words[word] = "person"
    words.update({"vehicle": "car", "vehicles": "car", "van": "truck", "vans": "truck",
                  "bike": "bicycle", "bikes": "bicycle", "motorbike": "motorcycle",
                  "puppy": "dog", "kitten": "cat", "plane": "airplane", "tv": "tv"})  # fmt: skip
    return words


def parse_query(text: str) -> ParsedQuery:
    """Parse counts, colours, negation and time of day out of a (possibly Chinese) query."""
    notes: list[str] = []
    original = text
    if len(text) > MAX_QUERY_CHARS:
        notes.append(f"query cut to its first {MAX_QUERY_CHARS} of {len(text)} characters")
        text = text[:MAX_QUERY_CHARS]
    english, untranslated = translate_chinese(text)
    tokens = re.findall(r"[a-z0-9][a-z0-9'\-]*", english.lower())
    used = [False] * len(tokens)
    counts: list[CountPredicate] = []
    colours: list[ColourPredicate] = []
    unknown_colours: list[str] = []
    time: TimePredicate | None = None
    words = class_words()

    def class_at(position: int) -> tuple[str | None, int]:
        """The class named at ``position`` (two-word names first) and how many tokens it takes."""
        if position + 1 < len(tokens):
            pair = f"{tokens[position]} {tokens[position + 1]}"
            if pair in words:
                return words[pair], 2
        if position < len(tokens) and tokens[position] in words:
            return words[tokens[position]], 1
        return None, 0

    def next_class(position: int, window: int = 4) -> tuple[str | None, int, int]:
        """The first class within ``window`` tokens from ``position``: (label, start, length)."""
        for start in range(position, min(len(tokens), position + window)):
            label, length = class_at(start)
            if label is not None:
                return label, start, length
        return None, -1, 0

    def mark(start: int, stop: int) -> None:
        for index in range(start, min(stop, len(tokens))):
            used[index] = True

    # time of day (phrases first)
    for night, phrases in ((False, _DAY), (True, _NIGHT)):
        for phrase in phrases:
            for start in range(len(tokens) - len(phrase) + 1):
                if tuple(tokens[start : start + len(phrase)]) == phrase and not any(
                    used[start : start + len(phrase)]
                ):
                    if time is not None and time.night != night:
                        notes.append(
                            f"'{time.words}' and '{' '.join(phrase)}' contradict each other"
                        )
                    time = TimePredicate(night, " ".join(phrase))
                    mark(start, start + len(phrase))

    index = 0
    while index < len(tokens):
        token = tokens[index]
        if used[index]:
            index += 1
            continue
        # negation: no / without / nobody / no one / empty of
        if token in ("nobody", "noone") or (
            token == "no" and index + 1 < len(tokens) and tokens[index + 1] == "one"
        ):
            stop = index + (2 if token == "no" else 1)
            counts.append(CountPredicate("person", 0, 0, " ".join(tokens[index:stop])))
            mark(index, stop)
            index = stop
            continue
        if token in ("no", "without", "not", "zero"):
            label, start, length = next_class(index + 1, window=3)
            if label is not None:
                counts.append(CountPredicate(label, 0, 0, " ".join(tokens[index : start + length])))
                mark(index, start + length)
                index = start + length
                continue
        # comparatives: more than / over / at least / fewer than / less than / at most N
        bound = _comparative(tokens, index)
        if bound is not None:
            kind, length_words, number = bound
            label, start, length = next_class(index + length_words, window=3)
            if label is not None:
                low, high = {
                    "more": (number + 1, None),
                    "least": (number, None),
                    "fewer": (0, max(number - 1, 0)),
                    "most": (0, number),
                }[kind]
                counts.append(
                    CountPredicate(label, low, high, " ".join(tokens[index : start + length]))
                )
                mark(index, index + length_words)
                index = index + length_words
                continue
        # crowd / group / several / many
        if token in ("crowd", "crowds", "crowded"):
            label, start, length = next_class(index + 1, window=2)
            stop = start + length if label == "person" else index + 1
            counts.append(CountPredicate("person", CROWD, None, " ".join(tokens[index:stop])))
            mark(index - 1 if index and tokens[index - 1] == "a" else index, stop)
            index = stop
            continue
        if token in ("group", "several", "many", "lots", "multiple"):
            label, start, length = next_class(index + 1, window=3)
            if label is not None:
                low = {"group": _GROUP, "several": _SEVERAL, "many": _MANY}.get(token, _SEVERAL)
                words_used = " ".join(tokens[index : start + length])
                counts.append(CountPredicate(label, low, None, words_used))
                mark(index, index + 1)
                index += 1
                continue
        # exact numbers: "two people", "3 cars", "one person", "a single car"
        exact = _number(token)
        if exact is not None:
            label, start, length = next_class(index + 1, window=3)
            if (label is not None and start == index + 1) or (
                label is not None and all(tokens[k] in PALETTE for k in range(index + 1, start))
            ):
                assert label is not None
                words_used = " ".join(tokens[index : start + length])
                counts.append(CountPredicate(label, exact, exact, words_used))
                used[index] = True
                # the class word stays in the semantic query (it is what the picture shows)
                index += 1
                continue
        # colours ("an orange" is the fruit, "an orange flower" a colour)
        colour = _colour(token)
        if colour is not None and token in words:
            following = tokens[index + 1] if index + 1 < len(tokens) else ""
            if not following or following in STOP_WORDS:
                colour = None
        if colour is not None or token in _COLOUR_SYNONYMS:
            if colour is None:
                index += 1
                continue
            colours.append(_colour_predicate(tokens, index, colour, words))
            used[index] = True
            index += 1
            continue
        if token.endswith("ish") and _colour(token[:-3]) is not None:
            colours.append(_colour_predicate(tokens, index, _colour(token[:-3]) or "", words))
            used[index] = True
        index += 1

    # colour-like words outside the palette ("turquoise", "beige"): named, not guessed
    for position, token in enumerate(tokens):
        if token in _OTHER_COLOURS and not used[position]:
            unknown_colours.append(token)
            used[position] = True
    classes = tuple(
        dict.fromkeys(
            label for position in range(len(tokens)) for label in [class_at(position)[0]] if label
        )
    )
    semantic_tokens = [t for t, u in zip(tokens, used, strict=True) if not u]
    if all(t in STOP_WORDS for t in semantic_tokens):
        semantic_tokens = []
    semantic = " ".join(semantic_tokens)
    semantic = re.sub(r"\b(?:in|wearing|with)(?: a| an| the)?$", "", semantic).strip()
    semantic = re.sub(r"\ban (?=[^aeiou\s])", "a ", semantic)
    if not semantic:  # "a crowd", "more than 5": the class itself is still worth ranking by
        wanted = [c.label for c in counts if c.at_least > 0]
        if wanted:
            semantic = _plural(wanted[0])
    parsed = ParsedQuery(
        original=original,
        english=" ".join(english.split()),
        semantic=semantic,
        counts=tuple(counts),
        colours=tuple(colours),
        time=time,
        classes=classes,
        unknown_colours=tuple(unknown_colours),
        untranslated=tuple(untranslated),
        notes=tuple(notes),
    )
    return parsed


_OTHER_COLOURS = frozenset(
    [
        "turquoise",
        "beige",
        "cyan",
        "magenta",
        "maroon",
        "navy",
        "teal",
        "olive",
        "khaki",
        "crimson",
        "scarlet",
        "lilac",
        "lavender",
        "tan",
        "cream",
        "ivory",
        "indigo",
        "amber",
    ]
)


def _plural(label: str) -> str:
    coco = {c.name: c for c in load_coco_classes().values()}
    return coco[label].plural if label in coco else label


def _colour(token: str) -> str | None:
    if token in PALETTE:
        return token
    synonym = _COLOUR_SYNONYMS.get(token)
    return synonym if synonym else None


def _number(token: str) -> int | None:
    if token.isdigit() and len(token) <= 6:  # "999999999999999999999 cars" is not a count
        return int(token)
    return _NUMBERS.get(token)


def _comparative(tokens: list[str], index: int) -> tuple[str, int, int] | None:
    """('more'|'least'|'fewer'|'most', words used up to the number, number) or None."""
    patterns = (
        (("more", "than"), "more"), (("over",), "more"), (("above",), "more"),
        (("at", "least"), "least"), (("fewer", "than"), "fewer"), (("less", "than"), "fewer"),
        (("under",), "fewer"), (("at", "most"), "most"), (("up", "to"), "most"),
    )  # fmt: skip
    for words, kind in patterns:
        stop = index + len(words)
        if tuple(tokens[index:stop]) == words and stop < len(tokens):
            number = _number(tokens[stop])
            if number is not None:
                return kind, len(words) + 1, number
    return None


def _colour_predicate(
    tokens: list[str], index: int, colour: str, words: dict[str, str]
) -> ColourPredicate:
    """Which object and half a colour word describes.

    "a red car": the class after it. "a person in a white top": the class before
    it, upper half because of the garment after it. "a blue sky": the frame.
    """
    after = tokens[index + 1 : index + 4]
    garment = next((t for t in after if t in _UPPER or t in _LOWER), None)
    region = Region.WHOLE
    if garment is not None:
        region = Region.UPPER if garment in _UPPER else Region.LOWER
    label = None
    if garment is None:
        for token in after[:2]:
            if token in words:
                label = words[token]
                break
            if token not in ("and", "-") and _colour(token) is None:
                break
    if label is None and (garment is not None or index > 0):
        for token in reversed(tokens[max(0, index - 5) : index]):
            if token in words:
                label = words[token]
                break
    if garment is not None and label is None:
        label = "person"
    phrase = " ".join(tokens[index : index + 1 + (after.index(garment) + 1 if garment else 0)])
    return ColourPredicate(colour, label, region, phrase)
