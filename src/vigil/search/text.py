"""Text, image and vector search over indexed frames or objects, with filters and pages."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from vigil.catalog.objects import objects_for_embeddings
from vigil.catalog.store import Catalog
from vigil.catalog.vector_index import VectorSearch
from vigil.embedders.base import Embedder
from vigil.errors import InvalidInputError
from vigil.search.filters import allowed_ids
from vigil.search.types import SearchFilters, SearchHit, Target
from vigil.sources import images
from vigil.sources.images import MAX_IMAGE_BYTES

MAX_RESULTS = 1000  # offset + limit: deeper pages cost a longer graph walk for little use


def search_by_text(
    query: str,
    *,
    catalog: Catalog,
    vector_index: VectorSearch,
    embedder: Embedder,
    target: Target = Target.FRAMES,
    filters: SearchFilters | None = None,
    limit: int = 10,
    offset: int = 0,
) -> list[SearchHit]:
    """Rank frames or objects by cosine similarity between ``query`` and their image vectors.

    >>> hits = search_by_text(  # doctest: +SKIP
    ...     "a person riding a bicycle", catalog=c, vector_index=v, embedder=e
    ... )
    """
    if not isinstance(query, str) or not query.strip():
        raise InvalidInputError("search query must not be empty")
    query_vector = embedder.embed_texts([query])[0]  # (D,)
    return search_by_vector(
        query_vector,
        catalog=catalog,
        vector_index=vector_index,
        model_id=embedder.model_id,
        target=target,
        filters=filters,
        limit=limit,
        offset=offset,
    )


def search_by_vector(
    query_vector: np.ndarray,
    *,
    catalog: Catalog,
    vector_index: VectorSearch,
    model_id: str,
    target: Target = Target.FRAMES,
    filters: SearchFilters | None = None,
    limit: int = 10,
    offset: int = 0,
    exclude: Sequence[int] = (),
) -> list[SearchHit]:
    """Rank by similarity to a vector already in the embedder's space; ``exclude`` drops ids."""
    if not 1 <= limit <= MAX_RESULTS:
        raise InvalidInputError(f"limit must be between 1 and {MAX_RESULTS}, got {limit}")
    if not 0 <= offset <= MAX_RESULTS - limit:
        raise InvalidInputError(
            f"offset must be between 0 and {MAX_RESULTS - limit} for limit {limit}, got {offset}"
        )
    filters = filters or SearchFilters()
    if len(vector_index) == 0:
        return []
    allowed = allowed_ids(catalog, model_id, Target(target), filters)
    if allowed is not None and allowed.size == 0:
        return []
    wanted = offset + limit + len(exclude)
    ids, scores = vector_index.search(query_vector, wanted, allowed_ids=allowed)[0]
    skip = {int(i) for i in exclude}
    kept = [(int(i), float(s)) for i, s in zip(ids, scores, strict=True) if int(i) not in skip]
    if filters.min_similarity is not None:
        kept = [(i, s) for i, s in kept if s >= filters.min_similarity]
    page = kept[offset : offset + limit]
    return _hits(catalog, Target(target), page, first_rank=offset + 1)


def _hits(
    catalog: Catalog, target: Target, ranked: list[tuple[int, float]], first_rank: int
) -> list[SearchHit]:
    ids = [i for i, _ in ranked]
    hits: list[SearchHit] = []
    if target == Target.OBJECTS:
        objects = objects_for_embeddings(catalog, ids)
        for embedding_id, score in ranked:
            found = objects.get(embedding_id)
            if found is None:  # removed from the catalog after the index was saved
                continue
            obj, frame, source = found
            hits.append(SearchHit(first_rank + len(hits), score, embedding_id, frame, source, obj))
        return hits
    frames = catalog.frames_for_embeddings(ids)
    for embedding_id, score in ranked:
        found_frame = frames.get(embedding_id)
        if found_frame is None:
            continue
        frame, source = found_frame
        hits.append(SearchHit(first_rank + len(hits), score, embedding_id, frame, source))
    return hits


def decode_image(data: bytes, *, max_bytes: int = MAX_IMAGE_BYTES) -> np.ndarray:
    """A query image as RGB uint8 through the one guarded decoder (size checked first)."""
    return images.decode_image(data, what="the query image", max_bytes=max_bytes)
