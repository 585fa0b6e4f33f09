"""Run states in two vocabularies: as stored, and as the read API and the pages say them.

Storage keeps the OpenLineage event type that set the state (``START``, ``COMPLETE``, ``FAIL``,
``ABORT``; ``NEW`` before any). Reads speak Marquez's ``RunState`` so that tools written for
Marquez work unchanged (``run["state"] == "COMPLETED"``). This module is the one place that maps
between the two; filters accept either spelling.
"""

from __future__ import annotations

from collections.abc import Iterable

from catalog.errors import BadRequest

# Stored state (OpenLineage event type) -> Marquez RunState.
MARQUEZ_STATE = {
    "NEW": "NEW",
    "START": "RUNNING",
    "RUNNING": "RUNNING",
    "COMPLETE": "COMPLETED",
    "FAIL": "FAILED",
    "ABORT": "ABORTED",
}

# Marquez's RunState enum, in its order: every state a read returns.
API_STATES = ("NEW", "RUNNING", "COMPLETED", "FAILED", "ABORTED")

# Every word a state filter accepts: both vocabularies.
FILTER_WORDS = tuple(sorted(set(MARQUEZ_STATE) | set(API_STATES)))

# Marquez RunState -> the stored states it stands for (RUNNING covers START and RUNNING).
_STORED: dict[str, set[str]] = {}
for _stored, _word in MARQUEZ_STATE.items():
    _STORED.setdefault(_word, set()).add(_stored)


def api_state(stored: str | None) -> str | None:
    """The Marquez name of a stored run state (``COMPLETE`` -> ``COMPLETED``); None stays None."""
    if stored is None:
        return None
    return MARQUEZ_STATE.get(stored, stored)


def stored_states(words: Iterable[str], field: str = "state") -> set[str]:
    """The stored states that filter words in either vocabulary (any case) stand for.

    ``RUNNING`` matches runs stored as ``START`` or ``RUNNING``; ``COMPLETE`` and ``COMPLETED``
    both match ``COMPLETE``. An unknown word raises :class:`BadRequest` naming ``field``.
    """
    out: set[str] = set()
    for raw in words:
        word = raw.strip().upper()
        if word not in MARQUEZ_STATE and word not in _STORED:
            raise BadRequest(
                f"unknown run state {raw!r}; use one of {', '.join(API_STATES)} "
                f"(or the OpenLineage names {', '.join(k for k in MARQUEZ_STATE if k != 'NEW')})",
                field=field)
        out |= _STORED[api_state(word)]
    return out
