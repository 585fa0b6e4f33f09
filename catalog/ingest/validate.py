"""Step 1 of ingestion: validate and hash every event (no database).

The envelope must be valid, and so must the facets of the strict groups; a facet of another group
that breaks its schema is a warning: the event is stored as sent (``payload``), and the steps that
interpret it read a copy without that facet (``body``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime

from catalog import jsoncodec
from catalog.errors import ValidationFailed
from catalog.ingest.rows import parse_time
from catalog.openlineage.validate import EventValidationError, FacetProblem, check_event


@dataclass
class Event:
    """A valid event with what every step needs of it."""

    index: int
    # What the fold steps interpret: the event less the facets in ``warnings`` (or with their
    # repaired copies).
    body: dict
    kind: str
    digest: str
    time: datetime
    # The event as sent, stored verbatim (and hashed as ``digest``).
    payload: dict
    # Facets that broke their schema: stored in ``payload``, absent from ``body``.
    warnings: list[FacetProblem] = field(default_factory=list)

    @property
    def run_uuid(self) -> str | None:
        return (self.body.get("run") or {}).get("runId")

    @property
    def job_key(self) -> tuple[str, str] | None:
        job = self.body.get("job")
        return (job["namespace"], job["name"]) if job else None

    def mentions(self) -> list[dict]:
        """The datasets the event names with facets (inputs, outputs, or the DatasetEvent's)."""
        if self.kind == "DatasetEvent":
            return [self.body["dataset"]]
        return (self.body.get("inputs") or []) + (self.body.get("outputs") or [])


def canonical_hash(event: dict) -> str:
    """sha256 of the event's canonical JSON: identical events hash alike whatever key order."""
    return hashlib.sha256(jsoncodec.canonical(event)).hexdigest()


def prepare(index: int, event: object, strict: Collection[str] = ()) -> Event:
    """The valid event with its kind, hash, time and warnings, else :class:`ValidationFailed`.

    ``strict`` names the facet groups whose bad facets refuse the event.
    """
    try:
        checked = check_event(event, strict=strict)
    except EventValidationError as exc:
        raise ValidationFailed(exc.message, field=exc.field) from None
    assert isinstance(event, dict)
    body = _without(event, [(p.location, p.repaired) for p in checked.problems])
    return Event(index, body, checked.kind, canonical_hash(event), parse_time(event["eventTime"]),
                 payload=event, warnings=checked.problems)


def _without(event: dict, changes: list[tuple[tuple, dict | None]]) -> dict:
    """``event`` with the value at each location replaced (by a repaired facet) or left out
    (None); what it shares with ``event`` is not changed (the objects and arrays on the way to a
    location are copied)."""
    if not changes:
        return event
    out = dict(event)
    for location, replacement in changes:
        node: dict | list = out
        for key in location[:-1]:
            child = node[key]
            node[key] = child = dict(child) if isinstance(child, dict) else list(child)
            node = child
        if replacement is None:
            del node[location[-1]]
        else:
            node[location[-1]] = replacement
    return out
