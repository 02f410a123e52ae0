"""Vigil: idle camera video into searchable, structured data."""

__version__ = "0.1.0"
