"""Image-text embedders: the 'big model' that puts frames and queries in one space."""

from vigil.embedders.base import (
    Embedder,
    EmbedderEntry,
    create_embedder,
    embedder_entries,
    l2_normalize,
    register_embedder,
    resolve_device,
)

__all__ = [
    "Embedder",
    "EmbedderEntry",
    "create_embedder",
    "embedder_entries",
    "l2_normalize",
    "register_embedder",
    "resolve_device",
]
