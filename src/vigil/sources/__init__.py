"""Sources: cameras and archives, decoded into timestamped frames and sampled."""

from vigil.sources.types import Frame, Source, SourceKind, SourceSpec

__all__ = ["Frame", "Source", "SourceKind", "SourceSpec"]
