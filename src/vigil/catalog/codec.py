"""How vectors are stored: one codec for every vector table of the catalog.

A vector is kept as the raw bytes of a little-endian float32 array next to the row
it describes, so the FAISS indexes can always be rebuilt from the database. Every
module that reads or writes vector bytes goes through these functions, so the
format is written down once.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

from vigil.errors import CatalogError

VECTOR_DTYPE = np.dtype("<f4")  # float32, little-endian
IN_CHUNK = 500  # ids per IN (...) clause: SQLite caps bound parameters per statement


def encode_vector(vector: np.ndarray) -> bytes:
    """One vector as the bytes stored in a vector column."""
    return np.asarray(vector, VECTOR_DTYPE).tobytes()


def decode_vectors(blobs: Sequence[bytes]) -> np.ndarray:
    """Stored float32 bytes -> (N, dim) float32 (one copy, no per-row arrays)."""
    flat = np.frombuffer(b"".join(blobs), dtype=VECTOR_DTYPE)
    if flat.size % len(blobs):
        raise CatalogError("stored vectors have different lengths; the catalog is inconsistent")
    return flat.reshape(len(blobs), -1).astype(np.float32)


def chunks(items: Sequence[int]) -> Iterator[list[int]]:
    """``items`` in lists short enough for one ``IN (...)`` clause."""
    for start in range(0, len(items), IN_CHUNK):
        yield [int(i) for i in items[start : start + IN_CHUNK]]
