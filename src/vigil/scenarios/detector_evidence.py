"""Object scenarios: the detector's own class as evidence beside the zero-shot score.

Every stored object already carries the COCO class the detector gave it. When a
scenario class's prompts name that class ("a person walking", "a pedestrian",
"一个行人" all name ``person``; "a parked van" names ``car`` and ``truck``), the
object's zero-shot probabilities are combined with that answer instead of
ignoring it: a two-class object scenario ("a person walking" vs "a photo of a
car") once labelled all 179 detected objects of vtest "car" at 0.59-0.60,
because the crop vectors of people and cars are close in the concept space
while the detector had told them apart at once.

The rule (a product of experts, stated so a reader can check it):

    log p'(c) = log p(c) + DETECTOR_WEIGHT * score * [c's prompts name the detector's class]

renormalised, where ``p`` is what the classifier says (zero-shot or few-shot)
and ``score`` is the detector's confidence in its class (>= 0.4 when stored). At
the weakest stored score the odds of the named class grow e^(4*0.4) ~ 5x; at a
typical 0.8, e^3.2 ~ 25x. That overturns an unsure vector (0.6 vs 0.4 is odds
1.5) but not a sure one (0.99 vs 0.01 is odds 99 at score 0.8), so a person's
answers, learned by a few-shot model, still win where they disagree with the
detector. The weight was set from this reasoning, not tuned on the vtest test.

Words map to COCO classes through ``SYNONYMS`` (English and Chinese, plus every
COCO name and plural) matched as whole words, longest first, so "自行车" is a
bicycle and not a "车". A word after a negation ("no car", "without people",
"没有人") names nothing. Every link is reported, and so is every problem:

* a detector class named by *every* class tells them nothing apart (no effect);
* a class whose positive and negative prompts name the same class: that link
  is dropped (contradictory);
* no class names any detector class: nothing changes, and the report says so.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache

import numpy as np

from vigil.scenarios.spec import ScenarioSpec

DETECTOR_WEIGHT = 4.0  # nats of log-odds per unit detector score (see the module docstring)

_PERSON = ("person",)
_MOTOR = ("car", "truck", "bus", "motorcycle")
# Words people write in prompts -> the COCO classes of SSD MobileNet v2 they name. COCO has
# no "van": the detector calls vans "car" or "truck", so "van" names both.
SYNONYMS: dict[str, tuple[str, ...]] = {
    # people
    "people": _PERSON,
    "persons": _PERSON,
    "pedestrian": _PERSON,
    "pedestrians": _PERSON,
    "man": _PERSON,
    "men": _PERSON,
    "woman": _PERSON,
    "women": _PERSON,
    "child": _PERSON,
    "children": _PERSON,
    "kid": _PERSON,
    "kids": _PERSON,
    "boy": _PERSON,
    "boys": _PERSON,
    "girl": _PERSON,
    "girls": _PERSON,
    "human": _PERSON,
    "humans": _PERSON,
    "walker": _PERSON,
    "walkers": _PERSON,
    "worker": _PERSON,
    "workers": _PERSON,
    "shopper": _PERSON,
    "shoppers": _PERSON,
    "crowd": _PERSON,
    "人": _PERSON,
    "行人": _PERSON,
    "路人": _PERSON,
    "男人": _PERSON,
    "女人": _PERSON,
    "孩子": _PERSON,
    "儿童": _PERSON,
    "人员": _PERSON,
    "人群": _PERSON,
    # vehicles
    "automobile": ("car",),
    "automobiles": ("car",),
    "sedan": ("car",),
    "sedans": ("car",),
    "taxi": ("car",),
    "taxis": ("car",),
    "suv": ("car", "truck"),
    "van": ("car", "truck"),
    "vans": ("car", "truck"),
    "minivan": ("car", "truck"),
    "pickup": ("truck",),
    "lorry": ("truck",),
    "lorries": ("truck",),
    "vehicle": _MOTOR,
    "vehicles": _MOTOR,
    "traffic": _MOTOR,
    "motorbike": ("motorcycle",),
    "motorbikes": ("motorcycle",),
    "scooter": ("motorcycle",),
    "scooters": ("motorcycle",),
    "bike": ("bicycle",),
    "bikes": ("bicycle",),
    "coach": ("bus",),
    "汽车": ("car",),
    "轿车": ("car",),
    "小汽车": ("car",),
    "出租车": ("car",),
    "面包车": ("car", "truck"),
    "车": _MOTOR,
    "车辆": _MOTOR,
    "卡车": ("truck",),
    "货车": ("truck",),
    "公交车": ("bus",),
    "公共汽车": ("bus",),
    "巴士": ("bus",),
    "摩托车": ("motorcycle",),
    "自行车": ("bicycle",),
    "单车": ("bicycle",),
    # animals and carried things people ask about at cameras
    "puppy": ("dog",),
    "狗": ("dog",),
    "猫": ("cat",),
    "bag": ("backpack", "handbag", "suitcase"),
    "bags": ("backpack", "handbag", "suitcase"),
    "luggage": ("suitcase",),
    # Longer words that contain a short one but name nothing the detector finds.
    "人行道": (),  # sidewalk
    "无人": (),  # nobody
    "停车场": (),  # car park (the place, not a car)
}
_NEGATIONS = ("no", "not", "without", "non", "never", "没有", "没", "无", "不是", "非")
_ARTICLES = ("a", "an", "the", "any")
_LATIN = re.compile(r"[a-z0-9]")


@cache
def _vocabulary() -> dict[str, tuple[str, ...]]:
    """Every word that names a COCO class: the synonyms plus each class's names."""
    from vigil.embedders.concept_bridge import load_coco_classes

    words: dict[str, tuple[str, ...]] = {}
    for coco in load_coco_classes().values():
        for word in {coco.name, coco.noun, coco.plural}:
            words[word.lower()] = (coco.name,)
    words.update(SYNONYMS)
    return words


@cache
def _pattern() -> re.Pattern[str]:
    # Longest first: a regex alternation takes the first alternative that matches.
    words = sorted(_vocabulary(), key=len, reverse=True)
    return re.compile("|".join(re.escape(word) for word in words))


def coco_classes_named(text: str) -> set[str]:
    """The COCO classes a prompt names (whole words, longest match, negations skipped).

    >>> sorted(coco_classes_named("a parked van"))
    ['car', 'truck']
    >>> sorted(coco_classes_named("a street with no people"))
    []
    """
    lowered = text.lower()
    named: set[str] = set()
    for match in _pattern().finditer(lowered):
        start, end = match.span()
        word = match.group()
        glued = (start > 0 and lowered[start - 1].isalnum()) or (
            end < len(lowered) and lowered[end].isalnum()
        )
        if glued and _LATIN.match(word):  # Latin words stand alone ("van" is not in "advance")
            continue
        if _negated(lowered[:start]):
            continue
        named.update(_vocabulary()[word])
    return named


def _negated(before: str) -> bool:
    """The text before a word ends with a negation, maybe then an article ("without a")."""
    before = before.rstrip()
    words = re.findall(r"[a-z0-9]+", before)
    if words and before.endswith(words[-1]):
        tail = words[-2:] if words[-1] in _ARTICLES else words[-1:]
        return any(word in _NEGATIONS for word in tail)
    return before.endswith(tuple(word for word in _NEGATIONS if not _LATIN.match(word)))


@dataclass(frozen=True)
class DetectorEvidence:
    """Which scenario classes each detector class speaks for, with the report of why."""

    links: dict[str, tuple[int, ...]]  # COCO class -> indices of the scenario classes naming it
    class_names: tuple[str, ...]
    notes: list[str] = field(default_factory=list)  # what was linked
    warnings: list[str] = field(default_factory=list)  # contradictions and unusable words
    weight: float = DETECTOR_WEIGHT

    @property
    def active(self) -> bool:
        return bool(self.links)

    def apply(
        self, probabilities: np.ndarray, detections: Iterable[tuple[str, float] | None]
    ) -> tuple[np.ndarray, list[str | None]]:
        """(N, C) probabilities -> combined (N, C), and per row the detector class used.

        ``detections`` gives each row's (detector class, score), or None for a row
        without one; rows whose class no scenario class names are left unchanged.
        """
        result = np.array(probabilities, dtype=np.float64, copy=True)
        used: list[str | None] = []
        for row, found in enumerate(detections):
            claimed = self.links.get(found[0]) if found is not None else None
            if found is None or claimed is None:
                used.append(None)
                continue
            log_p = np.log(np.clip(result[row], 1e-12, 1.0))
            log_p[list(claimed)] += self.weight * float(found[1])
            log_p -= log_p.max()
            result[row] = np.exp(log_p) / np.exp(log_p).sum()
            used.append(found[0])
        if len(used) != len(result):
            raise ValueError(f"{len(result)} probability rows but {len(used)} detections")
        return result.astype(np.float32), used


def detector_evidence(spec: ScenarioSpec) -> DetectorEvidence:
    """Link the scenario's classes to the detector classes their prompts name.

    Only object scenarios use it; a frame scenario gets an inactive result.
    """
    names = spec.class_names
    if spec.target.kind.value != "object":
        return DetectorEvidence({}, names)
    notes: list[str] = []
    problems: list[str] = []
    claims: dict[str, list[int]] = {}
    for index, item in enumerate(spec.classes):
        positive: set[str] = set()
        for prompt in (item.name, *item.prompts):
            positive |= coco_classes_named(prompt)
        negative: set[str] = set()
        for prompt in item.negative_prompts:
            negative |= coco_classes_named(prompt)
        for coco in sorted(positive & negative):
            problems.append(
                f"class {item.name!r} names detector class {coco!r} in both its prompts and its "
                "negative prompts; that contradiction is ignored (the detector's answer is not "
                "used for it)"
            )
        for coco in sorted(positive - negative):
            claims.setdefault(coco, []).append(index)
    links: dict[str, tuple[int, ...]] = {}
    for coco, classes in sorted(claims.items()):
        if len(classes) == len(names):
            problems.append(
                f"detector class {coco!r} is named by every class ({', '.join(names)}); it cannot "
                "tell them apart and is not used"
            )
            continue
        links[coco] = tuple(classes)
        which = " and ".join(repr(names[i]) for i in classes)
        notes.append(
            f"objects the detector calls {coco!r} lean to {which} "
            f"(+{DETECTOR_WEIGHT:g} x detector score in log-odds)"
        )
    if not links and not problems:
        notes.append(
            "no class prompt names a detector class (e.g. 'person', 'car'); labels come from "
            "the crop vectors alone"
        )
    return DetectorEvidence(links, names, notes, problems)
