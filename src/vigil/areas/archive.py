"""The index-and-search area: index sources, then search, group and measure what was stored.

Heavy stage modules (scikit-learn for clusters and evaluation) are imported inside the
methods that need them, so opening a workspace stays fast.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from vigil.catalog.objects import ObjectVectors, frame_embedding_id, object_embedding_id
from vigil.catalog.vector_index import VectorSearch
from vigil.context import Context
from vigil.errors import InvalidInputError
from vigil.scale import RayIndexReport, Shard, index_on_ray
from vigil.search.contact_sheet import write_contact_sheet
from vigil.search.matching import ObjectMatch, match_object
from vigil.search.text import decode_image, search_by_text, search_by_vector
from vigil.search.trust import TrustedResult, trusted_search, trusted_search_by_vector
from vigil.search.types import SearchFilters, SearchHit, Target
from vigil.sources.types import Source, SourceKind
from vigil.structure.attributes import backfill_attributes
from vigil.structure.indexing import IndexProgress, IndexReport, index_source
from vigil.structure.objects import ObjectIndexReport, ObjectPass, StageWorker, index_objects

if TYPE_CHECKING:
    from vigil.evaluation.retrieval import RetrievalReport
    from vigil.search.clusters import ClusterReport
    from vigil.search.segments import Segment


class Archive:
    """``workspace.archive``: indexing the sources, and every way to search the result."""

    def __init__(self, context: Context) -> None:
        self.context = context

    # -- indexing -------------------------------------------------------------------------

    def index(
        self,
        sources: Sequence[int | str] | None = None,
        *,
        max_frames: int | None = None,
        max_seconds: float | None = None,
        on_progress: Callable[[IndexProgress], None] | None = None,
        objects: bool = False,
        lock_wait_s: float = 0.0,
    ) -> list[IndexReport]:
        """Index the given sources (all file and folder sources when None), resuming each.

        A source another process is indexing is waited for ``lock_wait_s`` seconds, then
        refused with ``SourceBusyError`` (which names that process).

        ``objects=True`` also runs the object stage on the frames as they are indexed
        (then ``index_objects`` for frames an earlier run left unscanned): its report
        lands in ``IndexReport.objects``.
        """
        context = self.context
        context.require_writable("index")
        reports = []
        for source in self._files(sources):
            # The object stage rides on the frame pass: one decode (and, with the concept
            # bridge, one SSD run) per sampled frame instead of two.
            stage = self._object_pass(source) if objects else None
            worker = StageWorker(stage.during_indexing) if stage is not None else None
            try:
                report = index_source(
                    source,
                    catalog=context.catalog,
                    vector_index=context.vector_index,
                    embedder=context.embedder,
                    settings=context.settings,
                    max_frames=max_frames,
                    max_seconds=max_seconds,
                    on_progress=on_progress,
                    lock_wait_s=lock_wait_s,
                    on_batch=worker.submit if worker is not None else None,
                )
            except BaseException:
                if worker is not None:
                    worker.close(raise_error=False)  # the frame pass's error is the one to see
                raise
            if worker is not None and stage is not None:
                worker.close()
                report.objects = stage.finish()
                # Frames indexed by an earlier run and never scanned: the resumable pass.
                [rest] = self.index_objects([source.id], max_frames=max_frames)
                report.objects.add(rest)
            reports.append(report)
        return reports

    def _object_pass(self, source: Source) -> ObjectPass:
        context = self.context
        return ObjectPass(
            source,
            catalog=context.catalog,
            object_index=context.object_index,
            embedder=context.embedder,
            detector=context.detector,
            settings=context.settings.objects,
            home=context.home,
        )

    def index_objects(
        self,
        sources: Sequence[int | str] | None = None,
        *,
        max_frames: int | None = None,
        on_progress: Callable[[int, int], None] | None = None,
    ) -> list[ObjectIndexReport]:
        """Detect, crop and embed the objects of indexed frames not scanned yet (resumable)."""
        context = self.context
        if sources:
            targets = [context.catalog.get_source(item) for item in sources]
        else:
            targets = context.catalog.list_sources()
        return [
            index_objects(
                source,
                catalog=context.catalog,
                object_index=context.object_index,
                embedder=context.embedder,
                detector=context.detector,
                settings=context.settings.objects,
                home=context.home,
                max_frames=max_frames,
                on_progress=on_progress,
            )
            for source in targets
        ]

    def index_on_ray(
        self,
        sources: Sequence[int | str] | None = None,
        *,
        address: str = "auto",
        on_shard: Callable[[Shard, int], None] | None = None,
    ) -> RayIndexReport:
        """``index`` with the decoding and embedding spread over a Ray cluster (docs/ray.md)."""
        context = self.context
        context.require_writable("index")
        return index_on_ray(
            self._files(sources),
            catalog=context.catalog,
            vector_index=context.vector_index,
            model_id=context.embedder.model_id,
            settings=context.settings,
            address=address,
            on_shard=on_shard,
        )

    def _files(self, sources: Sequence[int | str] | None) -> list[Source]:
        """The named sources, or every file and folder source (streams are run, not indexed)."""
        catalog = self.context.catalog
        if sources:
            return [catalog.get_source(item) for item in sources]
        return [s for s in catalog.list_sources() if s.kind != SourceKind.STREAM]

    # -- search ---------------------------------------------------------------------------

    def filters(
        self,
        *,
        sources: Sequence[int | str] | None = None,
        **restrictions: Any,
    ) -> SearchFilters:
        """Search filters with sources given by id or name (unknown ones are a clear error)."""
        catalog = self.context.catalog
        source_ids = tuple(catalog.get_source(s).id for s in sources) if sources else None
        return SearchFilters(sources=source_ids, **restrictions)

    def search(
        self,
        query: str,
        *,
        limit: int = 10,
        offset: int = 0,
        sources: Sequence[int | str] | None = None,
        target: Target | str = Target.FRAMES,
        filters: SearchFilters | None = None,
    ) -> list[SearchHit]:
        """Natural-language search over indexed frames or objects, best first."""
        target = Target(target)
        return search_by_text(
            query,
            catalog=self.context.catalog,
            vector_index=self._index_for(target),
            embedder=self.context.embedder,
            target=target,
            filters=self._with_sources(filters, sources),
            limit=limit,
            offset=offset,
        )

    def search_image(
        self,
        image: np.ndarray | bytes,
        *,
        limit: int = 10,
        offset: int = 0,
        sources: Sequence[int | str] | None = None,
        target: Target | str = Target.FRAMES,
        filters: SearchFilters | None = None,
    ) -> list[SearchHit]:
        """Frames or objects that look like an image (RGB array, or encoded bytes)."""
        pixels = decode_image(image) if isinstance(image, bytes) else image
        embedder = self.context.embedder
        vector = embedder.embed_images([pixels])[0]
        target = Target(target)
        return search_by_vector(
            vector,
            catalog=self.context.catalog,
            vector_index=self._index_for(target),
            model_id=embedder.model_id,
            target=target,
            filters=self._with_sources(filters, sources),
            limit=limit,
            offset=offset,
        )

    def search_trusted(
        self,
        query: str | np.ndarray | bytes,
        *,
        limit: int = 10,
        offset: int = 0,
        target: Target | str = Target.FRAMES,
        filters: SearchFilters | None = None,
    ) -> TrustedResult:
        """Words or a picture, with calibrated confidence, abstention and "why" per hit."""
        target = Target(target)
        catalog, embedder, home = self.context.catalog, self.context.embedder, self.context.home
        if isinstance(query, str):
            return trusted_search(
                query,
                catalog=catalog,
                vector_index=self._index_for(target),
                embedder=embedder,
                target=target,
                filters=filters,
                limit=limit,
                offset=offset,
                measure=lambda frame_ids: backfill_attributes(catalog, home, frame_ids),
            )
        pixels = decode_image(query) if isinstance(query, bytes) else query
        return trusted_search_by_vector(
            embedder.embed_images([pixels])[0],
            "image query",
            catalog=catalog,
            vector_index=self._index_for(target),
            embedder=embedder,
            target=target,
            filters=filters,
            limit=limit,
            offset=offset,
        )

    def more_like(
        self,
        *,
        frame_id: int | None = None,
        object_id: int | None = None,
        limit: int = 10,
        offset: int = 0,
        filters: SearchFilters | None = None,
    ) -> list[SearchHit]:
        """ "Find more like this": frames like a stored frame, or objects like a stored object."""
        if (frame_id is None) == (object_id is None):
            raise InvalidInputError("give exactly one of frame_id or object_id")
        catalog = self.context.catalog
        model_id = self.context.embedder.model_id
        if frame_id is not None:
            target, own_id = Target.FRAMES, frame_embedding_id(catalog, frame_id, model_id)
            vector = catalog.get_vectors([own_id])[0]
        else:
            assert object_id is not None
            target, own_id = Target.OBJECTS, object_embedding_id(catalog, object_id, model_id)
            vector = ObjectVectors(catalog).get_vectors([own_id])[0]
        return search_by_vector(
            vector,
            catalog=catalog,
            vector_index=self._index_for(target),
            model_id=model_id,
            target=target,
            filters=filters,
            limit=limit,
            offset=offset,
            exclude=[own_id],
        )

    def match_object(
        self, object_id: int, *, limit: int = 10, filters: SearchFilters | None = None
    ) -> list[ObjectMatch]:
        """The same-looking object on other sources, ordered by time (a cross-camera track)."""
        context = self.context
        return match_object(
            object_id,
            catalog=context.catalog,
            object_index=context.object_index,
            model_id=context.embedder.model_id,
            home=context.home,
            limit=limit,
            filters=filters,
        )

    def contact_sheet(self, hits: Sequence[SearchHit], path: Path, *, title: str = "") -> Path:
        return write_contact_sheet(hits, home=self.context.home, path=path, title=title)

    def _index_for(self, target: Target) -> VectorSearch:
        if target == Target.OBJECTS:
            return self.context.object_index
        return self.context.vector_index

    def _with_sources(
        self, filters: SearchFilters | None, sources: Sequence[int | str] | None
    ) -> SearchFilters:
        filters = filters or SearchFilters()
        if sources:
            ids = tuple(self.context.catalog.get_source(item).id for item in sources)
            filters = replace(filters, sources=ids)
        return filters

    # -- segments, clusters, retrieval evaluation ---------------------------------------------

    def search_segments(
        self,
        query: str,
        *,
        limit: int = 10,
        candidates: int = 200,
        gap_s: float | None = None,
        sources: Sequence[int | str] | None = None,
        target: Target | str = Target.FRAMES,
        filters: SearchFilters | None = None,
    ) -> list[Segment]:
        """Text search whose best ``candidates`` hits are merged into time segments (events).

        ``gap_s`` defaults to twice the sampling interval: one missed sample (a frame
        that scored lower or was deduplicated) does not split an event.
        """
        from vigil.search.segments import default_gap, merge_segments

        if limit < 1 or candidates < 1:
            raise InvalidInputError(f"limit and candidates must be >= 1, got {limit}, {candidates}")
        hits = self.search(query, limit=candidates, sources=sources, target=target, filters=filters)
        interval = self.context.settings.sampling.interval_s
        gap = default_gap(interval) if gap_s is None else gap_s
        return merge_segments(hits, gap_s=gap, limit=limit)

    def clusters(
        self,
        target: Target | str = Target.FRAMES,
        *,
        sources: Sequence[int | str] | None = None,
        min_cluster_size: int = 5,
        min_samples: int | None = None,
        max_points: int = 5000,
        members: int = 8,
        seed: int = 0,
    ) -> ClusterReport:
        """Group stored frame or object vectors of the active model by similarity (HDBSCAN)."""
        from vigil.search.clusters import cluster_catalog

        catalog = self.context.catalog
        source_ids = [catalog.get_source(s).id for s in sources] if sources else None
        return cluster_catalog(
            catalog,
            embedder=self.context.embedder,
            target=target,
            source_ids=source_ids,
            min_cluster_size=min_cluster_size,
            min_samples=min_samples,
            max_points=max_points,
            members_per_cluster=members,
            seed=seed,
        )

    def cluster_members(self, report: ClusterReport, label: int) -> list[SearchHit]:
        """The shown members of one cluster as hits (score = cosine to its centroid)."""
        from vigil.search.clusters import member_hits

        if not 0 <= label < len(report.clusters):
            raise InvalidInputError(
                f"cluster label must be in 0..{len(report.clusters) - 1}, got {label}"
            )
        return member_hits(self.context.catalog, report, report.clusters[label])

    def evaluate_retrieval(
        self,
        *,
        dataset: str = "fashion-mnist",
        per_class: int = 50,
        seed: int = 0,
        on_progress: Callable[[str, int, int], None] | None = None,
    ) -> RetrievalReport:
        """Recall@k / precision@k / mAP of the active model; image vectors cached in home/cache."""
        from vigil.evaluation.retrieval import evaluate_retrieval

        return evaluate_retrieval(
            self.context.embedder,
            dataset=dataset,
            per_class=per_class,
            seed=seed,
            cache_dir=self.context.home / "cache",
            on_progress=on_progress,
        )
