"""Cross-camera matching: the same-looking object on other sources, ordered by time.

The image-text vector of a crop says *what* it is ("a person", "a backpack")
far better than *who*: two people in dark coats get nearly the same vector. So
candidates of the same class from other sources are re-ranked with a cheap
appearance cue, HSV colour histograms of the upper and lower half of the crop
(clothes colours for people, body colour for vehicles). This is not a trained
re-identification model: it separates people by clothing colour and fails on
look-alikes, strong lighting changes between cameras and heavily occluded crops.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import cv2
import numpy as np

from vigil.catalog.objects import ObjectRecord, ObjectVectors, get_object, object_embedding_id
from vigil.catalog.store import Catalog
from vigil.catalog.vector_index import VectorSearch
from vigil.errors import CorruptMediaError, ImageTooLargeError, InvalidInputError, NotFoundError
from vigil.search.text import MAX_RESULTS, search_by_vector
from vigil.search.types import SearchFilters, SearchHit, Target
from vigil.sources.images import read_image

APPEARANCE_WEIGHT = 0.5  # share of the colour cue in the combined score
CANDIDATES_PER_RESULT = 5  # semantic candidates fetched per requested match
_BINS = (12, 4, 4)  # hue, saturation, value


@dataclass(frozen=True)
class ObjectMatch:
    """A candidate sighting of the query object on another source."""

    hit: SearchHit  # the object, its frame and source; hit.score is the semantic cosine
    appearance: float  # colour-histogram similarity in [0, 1]
    combined: float  # what the matches are selected by

    @property
    def when(self) -> tuple[datetime | None, float]:
        return self.hit.frame.captured_at, self.hit.frame.media_time


def appearance_descriptor(crop: np.ndarray) -> np.ndarray:
    """Normalised HSV histograms of the upper and lower half of an RGB crop (concatenated)."""
    if crop.ndim != 3 or crop.shape[0] < 2 or crop.shape[1] < 1:
        raise InvalidInputError(f"crop must be an (H>=2, W, 3) RGB image, got {crop.shape}")
    hsv = cv2.cvtColor(crop, cv2.COLOR_RGB2HSV)
    middle = hsv.shape[0] // 2
    parts = []
    for half in (hsv[:middle], hsv[middle:]):
        histogram = cv2.calcHist([half], [0, 1, 2], None, list(_BINS), [0, 180, 0, 256, 0, 256])
        parts.append(histogram.ravel() / max(float(histogram.sum()), 1.0))
    return np.concatenate(parts).astype(np.float32)


def appearance_similarity(first: np.ndarray, second: np.ndarray) -> float:
    """Mean Bhattacharyya coefficient of the two halves' histograms: 1 identical, 0 disjoint."""
    halves_a, halves_b = np.split(first, 2), np.split(second, 2)
    coefficients = [float(np.sum(np.sqrt(a * b))) for a, b in zip(halves_a, halves_b, strict=True)]
    return float(np.mean(coefficients))


def match_object(
    object_id: int,
    *,
    catalog: Catalog,
    object_index: VectorSearch,
    model_id: str,
    home: Path,
    limit: int = 10,
    filters: SearchFilters | None = None,
) -> list[ObjectMatch]:
    """Objects of the same class on other sources that look like ``object_id``, by time.

    ``filters`` narrows the candidates further (sources, sites, time window); the
    query object's own source is always excluded.
    """
    query = get_object(catalog, object_id)
    query_vector = ObjectVectors(catalog).get_vectors(
        [object_embedding_id(catalog, object_id, model_id)]
    )[0]
    base = filters or SearchFilters()
    others = tuple(
        source.id
        for source in catalog.list_sources()
        if source.id != query.source_id and (base.sources is None or source.id in base.sources)
    )
    if not others:
        return []
    candidates_filter = SearchFilters(
        sources=others,
        sites=base.sites,
        since=base.since,
        until=base.until,
        media_start_s=base.media_start_s,
        media_end_s=base.media_end_s,
        classes=(query.label,),
        min_detection_score=base.min_detection_score,
    )

    hits = search_by_vector(
        query_vector,
        catalog=catalog,
        vector_index=object_index,
        model_id=model_id,
        target=Target.OBJECTS,
        filters=candidates_filter,
        limit=min(MAX_RESULTS, limit * CANDIDATES_PER_RESULT),
    )
    reference = _descriptor(home, query)
    scored = []
    for hit in hits:
        assert hit.object is not None
        appearance = appearance_similarity(reference, _descriptor(home, hit.object))
        combined = (1 - APPEARANCE_WEIGHT) * hit.score + APPEARANCE_WEIGHT * appearance
        scored.append(ObjectMatch(hit, appearance, combined))
    best = sorted(scored, key=lambda match: -match.combined)[:limit]
    return sorted(best, key=_time_key)


def _time_key(match: ObjectMatch) -> tuple[float, int, float]:
    captured = match.hit.frame.captured_at
    return (
        captured.timestamp() if captured is not None else float("inf"),
        match.hit.source.id,
        match.hit.frame.media_time,
    )


def _descriptor(home: Path, obj: ObjectRecord) -> np.ndarray:
    try:
        image = read_image(home / obj.thumbnail_path)
    except (CorruptMediaError, ImageTooLargeError):
        raise NotFoundError(
            f"crop thumbnail of object {obj.id} is missing or unreadable: {obj.thumbnail_path}"
        ) from None
    return appearance_descriptor(image)
