"""Search: natural-language and vector queries over indexed frames, and contact sheets."""

from vigil.search.contact_sheet import write_contact_sheet
from vigil.search.text import search_by_text, search_by_vector
from vigil.search.types import SearchHit

__all__ = ["SearchHit", "search_by_text", "search_by_vector", "write_contact_sheet"]
