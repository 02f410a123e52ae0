"""Turn ``SearchFilters`` into the set of vector ids a query may return.

An SQL filter per query is too slow at a million records: a capture-time window
has no index to use, and even an indexed source filter reads ~100k rows back
through the driver (tens of ms, more under load). So the few columns filters look
at (source, media time, capture time; class and detector score for objects) are
kept in memory as numpy arrays per (catalog, target, model), 32-44 bytes a record
(~40 MB at 1M), and a filter is a vectorised mask over them (a few ms at 1M).

The columns are loaded once and then topped up with ids above the largest one
seen (ids only grow). Rows removed since (``remove_source``) stay in the columns
until ``forget_removed`` or a reload; that is harmless: the vector index no longer
holds their vectors and hits are read back from the catalog, which skips them.
Sites are read from the small sources table on every query, so a source's site
change applies at once.
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vigil.catalog.columns import filter_rows
from vigil.catalog.store import Catalog
from vigil.errors import InvalidInputError
from vigil.search.types import SearchFilters, Target

_READ_CHUNK = 200_000


@dataclass
class FilterColumns:
    """Filterable attributes of every stored vector of one target and model, by id."""

    ids: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))  # ascending
    source: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    media_time: np.ndarray = field(default_factory=lambda: np.empty(0, np.float64))
    captured: np.ndarray = field(  # epoch seconds; NaN when the capture time is unknown
        default_factory=lambda: np.empty(0, np.float64)
    )
    label: np.ndarray = field(default_factory=lambda: np.empty(0, np.int32))  # objects only
    score: np.ndarray = field(default_factory=lambda: np.empty(0, np.float64))  # objects only
    labels: dict[str, int] = field(default_factory=dict)  # class name -> code in ``label``

    @property
    def last_id(self) -> int:
        return int(self.ids[-1]) if self.ids.size else 0

    def mask(self, filters: SearchFilters, site_sources: np.ndarray | None) -> np.ndarray:
        """Boolean mask of the records passing every filter (ANDed)."""
        keep = np.ones(self.ids.size, dtype=bool)
        if filters.sources is not None:
            keep &= np.isin(self.source, np.asarray(filters.sources, dtype=np.int64))
        if site_sources is not None:
            keep &= np.isin(self.source, site_sources)
        if filters.since is not None:
            keep &= self.captured >= filters.since.timestamp()  # NaN compares False
        if filters.until is not None:
            keep &= self.captured <= filters.until.timestamp()
        if filters.media_start_s is not None:
            keep &= self.media_time >= filters.media_start_s
        if filters.media_end_s is not None:
            keep &= self.media_time <= filters.media_end_s
        if filters.classes is not None:
            codes = [self.labels[name] for name in filters.classes if name in self.labels]
            keep &= np.isin(self.label, np.asarray(codes, dtype=np.int32))
        if filters.min_detection_score is not None:
            keep &= self.score >= filters.min_detection_score
        return keep


_cache: weakref.WeakKeyDictionary[Catalog, dict[tuple[Target, str], FilterColumns]] = (
    weakref.WeakKeyDictionary()
)
_lock = threading.Lock()


def allowed_ids(
    catalog: Catalog, model_id: str, target: Target, filters: SearchFilters
) -> np.ndarray | None:
    """Ascending vector ids passing the filters, or None when every item qualifies."""
    if not filters.restricts_items:
        return None
    if target == Target.FRAMES and (
        filters.classes is not None or filters.min_detection_score is not None
    ):
        raise InvalidInputError(
            "object class and detector-score filters apply to object searches: "
            "search objects (target=objects, or --objects in the CLI) to use them"
        )
    columns = filter_columns(catalog, model_id, target)
    site_sources = _sources_at(catalog, filters.sites) if filters.sites is not None else None
    allowed: np.ndarray = columns.ids[columns.mask(filters, site_sources)]
    return allowed


def filter_columns(catalog: Catalog, model_id: str, target: Target) -> FilterColumns:
    """The cached columns, first topped up with records stored since the last call."""
    with _lock:
        per_catalog = _cache.setdefault(catalog, {})
        columns = per_catalog.setdefault((target, model_id), FilterColumns())
        _top_up(catalog, model_id, target, columns)
        return columns


def forget_removed(catalog: Catalog) -> None:
    """Drop every cached column of a catalog (after sources were removed): reloaded lazily."""
    with _lock:
        _cache.pop(catalog, None)


def _sources_at(catalog: Catalog, sites: tuple[str, ...]) -> np.ndarray:
    return np.asarray(catalog.source_ids_at(sites), dtype=np.int64)


def _top_up(catalog: Catalog, model_id: str, target: Target, columns: FilterColumns) -> None:
    while True:
        rows = filter_rows(
            catalog,
            model_id,
            objects=target == Target.OBJECTS,
            after_id=columns.last_id,
            limit=_READ_CHUNK,
        )
        if not rows:
            return
        _append(columns, rows, target)
        if len(rows) < _READ_CHUNK:
            return


def _append(columns: FilterColumns, rows: list[Any], target: Target) -> None:
    count = len(rows)
    ids = np.fromiter((row[0] for row in rows), dtype=np.int64, count=count)
    source = np.fromiter((row[1] for row in rows), dtype=np.int64, count=count)
    media = np.fromiter((row[2] for row in rows), dtype=np.float64, count=count)
    captured = np.fromiter(
        (row[3].timestamp() if row[3] is not None else np.nan for row in rows),
        dtype=np.float64,
        count=count,
    )
    columns.ids = np.concatenate([columns.ids, ids])
    columns.source = np.concatenate([columns.source, source])
    columns.media_time = np.concatenate([columns.media_time, media])
    columns.captured = np.concatenate([columns.captured, captured])
    if target == Target.OBJECTS:
        codes = np.fromiter(
            (columns.labels.setdefault(row[4], len(columns.labels)) for row in rows),
            dtype=np.int32,
            count=count,
        )
        scores = np.fromiter((row[5] for row in rows), dtype=np.float64, count=count)
        columns.label = np.concatenate([columns.label, codes])
        columns.score = np.concatenate([columns.score, scores])
