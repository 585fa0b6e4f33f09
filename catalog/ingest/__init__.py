"""OpenLineage ingestion: validate, de-duplicate, and fold each event into the catalog model.

One event or a whole batch goes through the same steps, in the caller's transaction:

1. ``validate``: validate and hash every event (no database); a facet that breaks its schema,
   in a group not named strict, is a warning: left out of what the next steps interpret;
2. ``record``: record the raw events as sent in one INSERT ... ON CONFLICT DO NOTHING, in hash
   order: an event whose hash is already stored is a duplicate and changes nothing (the warnings
   of the new events are recorded after step 4, in one INSERT); a single event's INSERT goes out
   with step 3's reads, in one round trip;
3. ``read``: read in bulk what the new events touch, taking every lock in one global order: their
   jobs (by id), then the datasets they will change (by id); concurrent writers queue on the
   first lock they share instead of deadlocking;
4. ``fold`` (jobs and datasets) and ``fold_runs``: fold each event into those rows in memory (in
   a batch, what it must write at once goes in a SAVEPOINT, so a bad event rolls back alone);
5. ``flush``: write what changed with a statement per table: runs, jobs, datasets, run I/O,
   edges, states.

The rows the steps share are ``rows`` (jobs, runs, run I/O) and ``datasets`` (datasets, their
versions and facets); ``unit`` holds one ingest's rows, caches and locks; ``sql`` its tables and
statements. Nothing else in the catalog writes runs, dataset versions or lineage edges.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field

from sqlalchemy import delete
from sqlalchemy.orm import Session

from catalog.db import is_retryable
from catalog.errors import ValidationFailed
from catalog.ingest.flush import flush
from catalog.ingest.fold import fold_dataset_event, fold_job_event
from catalog.ingest.fold_runs import fold_run_event
from catalog.ingest.read import preload
from catalog.ingest.record import record, record_warnings, recording
from catalog.ingest.rows import parse_time
from catalog.ingest.sql import EVENTS
from catalog.ingest.unit import Unit
from catalog.ingest.validate import Event, canonical_hash, prepare

__all__ = ["IngestResult", "canonical_hash", "ingest_batch", "ingest_event", "parse_time"]


@dataclass
class IngestResult:
    """What happened to one event."""

    kind: str
    # "created" for a new event, "duplicate" for an identical re-send (nothing changed).
    status: str
    run_id: str | None = None
    # Facets stored but not interpreted, as {"field", "message"}: each broke its schema.
    warnings: list[dict] = field(default_factory=list)


def ingest_event(session: Session, event: object, strict: Collection[str] = ()) -> IngestResult:
    """Validate and store one event; if invalid raise :class:`ValidationFailed`, write nothing.

    ``strict`` names the facet groups (run, job, dataset, input, output) in which a facet that
    breaks its schema refuses the event; in the others it is a warning.
    """
    (result,) = _ingest(session, [event], isolate=False, strict=strict)
    return result


def ingest_batch(session: Session, events: list,
                 strict: Collection[str] = ()) -> list[IngestResult | Exception]:
    """Validate and store ``events`` in the session's transaction, each on its own.

    Returns each event's result, or the exception that refused it (its writes rolled back with
    its savepoint). A lost race (deadlock, serialization failure) is raised instead: the caller
    must retry the whole transaction. ``strict`` as for :func:`ingest_event`.
    """
    return _ingest(session, events, isolate=True, strict=strict)


def _ingest(session: Session, events: list, isolate: bool, strict: Collection[str]) -> list:
    outcomes: list = [None] * len(events)
    valid = []
    for i, event in enumerate(events):
        try:
            valid.append(prepare(i, event, strict))
        except ValidationFailed as exc:
            if not isolate:
                raise
            outcomes[i] = exc
    unit = Unit(session, staged=isolate)
    if len(valid) == 1:  # recorded and its rows read in one round trip
        fresh = valid if preload(unit, valid, recording(session, valid[0])) else []
        first = {valid[0].digest: valid[0].index}
    else:
        fresh, first = record(session, valid)
        preload(unit, fresh)
    for ev in fresh:
        try:
            with unit.event(isolate):
                fold_event(unit, ev)
        except Exception as exc:
            if not isolate or is_retryable(exc):
                raise
            session.execute(delete(EVENTS).where(EVENTS.c.event_hash == ev.digest))
            outcomes[ev.index] = exc
        else:
            outcomes[ev.index] = IngestResult(ev.kind, "created", ev.run_uuid, _warnings(ev))
    record_warnings(session, [ev for ev in fresh if isinstance(outcomes[ev.index], IngestResult)])
    flush(unit)
    for ev in valid:  # the rest are re-sends: duplicates, or refused like their first copy
        if outcomes[ev.index] is None:
            origin = outcomes[first[ev.digest]]
            outcomes[ev.index] = origin if isinstance(origin, Exception) else IngestResult(
                ev.kind, "duplicate", ev.run_uuid, _warnings(ev))
    return outcomes


def _warnings(ev: Event) -> list[dict]:
    return [{"field": w.field, "message": w.message} for w in ev.warnings]


def fold_event(unit: Unit, ev: Event) -> None:
    """Step 4 of ingestion: fold one event into the rows in memory."""
    if ev.kind == "RunEvent":
        fold_run_event(unit, ev.body, ev.time)
    elif ev.kind == "DatasetEvent":
        fold_dataset_event(unit, ev.body["dataset"], ev.time)
    else:
        fold_job_event(unit, ev.body, ev.time)
