"""Natural-language and vector search over the indexed frames."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from vigil.catalog.store import Catalog
from vigil.catalog.vector_index import VectorIndex
from vigil.embedders.base import Embedder
from vigil.errors import InvalidInputError
from vigil.search.types import SearchHit

MAX_RESULTS = 1000


def search_by_text(
    query: str,
    *,
    catalog: Catalog,
    vector_index: VectorIndex,
    embedder: Embedder,
    limit: int = 10,
    source_ids: Sequence[int] | None = None,
) -> list[SearchHit]:
    """Rank frames by cosine similarity between ``query`` and each frame's image vector.

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
        limit=limit,
        source_ids=source_ids,
    )


def search_by_vector(
    query_vector: np.ndarray,
    *,
    catalog: Catalog,
    vector_index: VectorIndex,
    model_id: str,
    limit: int = 10,
    source_ids: Sequence[int] | None = None,
) -> list[SearchHit]:
    """Rank frames by similarity to a vector already in the embedder's space."""
    if not 1 <= limit <= MAX_RESULTS:
        raise InvalidInputError(f"limit must be between 1 and {MAX_RESULTS}, got {limit}")
    if len(vector_index) == 0:
        return []
    allowed = None
    if source_ids:
        allowed = catalog.embedding_ids(model_id, source_ids=list(source_ids))
        if allowed.size == 0:
            return []
    ids, scores = vector_index.search(query_vector, limit, allowed_ids=allowed)[0]
    records = catalog.frames_for_embeddings([int(i) for i in ids])
    hits: list[SearchHit] = []
    for embedding_id, score in zip(ids, scores, strict=True):
        found = records.get(int(embedding_id))
        if found is None:  # removed from the catalog after the index was saved
            continue
        frame, source = found
        hits.append(SearchHit(len(hits) + 1, float(score), int(embedding_id), frame, source))
    return hits
