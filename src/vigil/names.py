"""'Did you mean …?' for names a person types: sources, scenarios, models, classes.

A mistyped name is the commonest newcomer error; naming the close match turns a
dead end into the next command. Matching is difflib's ratio (no new dependency).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def did_you_mean(name: object, known: Iterable[str], *, cutoff: float = 0.6) -> str:
    """A sentence tail for an error message: ``"; did you mean 'walkway'?"``, or ``""``.

    >>> did_you_mean("walkwya", ["walkway", "gate"])
    "; did you mean 'walkway'?"
    """
    close = difflib.get_close_matches(str(name), list(known), n=3, cutoff=cutoff)
    if not close:
        return ""
    return "; did you mean " + " or ".join(repr(c) for c in close) + "?"
