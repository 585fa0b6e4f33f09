"""OpenLineage ingestion: validate, de-duplicate, and fold each event into the catalog model.

One event or a whole batch goes through the same steps, in the caller's transaction:

1. validate and hash every event (no database);
2. record the raw events in one INSERT ... ON CONFLICT DO NOTHING, in hash order: an event whose
   hash is already stored is a duplicate and changes nothing;
3. read in bulk what the new events touch, taking every lock in one global order: their jobs
   (by id), then the datasets they will change (by id); concurrent writers queue on the first
   lock they share instead of deadlocking;
4. fold each event into those rows in memory (in a batch, what it must write at once goes in a
   SAVEPOINT, so a bad event rolls back alone);
5. write what changed with a statement per table: runs, jobs, datasets, run I/O, edges, states.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete
from sqlalchemy.orm import Session

from catalog import jsoncodec
from catalog.db import is_retryable
from catalog.errors import ValidationFailed
from catalog.openlineage.validate import EventValidationError, validate_event
from catalog.services import datasets as dsvc
from catalog.services.ingest_jobs import fold_dataset_event, fold_job_event
from catalog.services.ingest_rows import parse_time
from catalog.services.ingest_runs import column_inputs, fold_run_event
from catalog.services.ingest_sql import EVENTS, record_events
from catalog.services.ingest_state import Unit

__all__ = ["IngestResult", "canonical_hash", "ingest_batch", "ingest_event", "parse_time"]


@dataclass
class IngestResult:
    """What happened to one event."""

    kind: str
    # "created" for a new event, "duplicate" for an identical re-send (nothing changed).
    status: str
    run_id: str | None = None


@dataclass
class _Event:
    """A valid event with what every step needs of it."""

    index: int
    body: dict
    kind: str
    digest: str
    time: datetime

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


def _prepare(index: int, event: object) -> _Event:
    try:
        kind = validate_event(event)
    except EventValidationError as exc:
        raise ValidationFailed(exc.message, field=exc.field) from None
    assert isinstance(event, dict)
    return _Event(index, event, kind, canonical_hash(event), parse_time(event["eventTime"]))


def ingest_event(session: Session, event: object) -> IngestResult:
    """Validate and store one event; if invalid raise :class:`ValidationFailed`, write nothing."""
    (result,) = _ingest(session, [event], isolate=False)
    return result


def ingest_batch(session: Session, events: list) -> list[IngestResult | Exception]:
    """Validate and store ``events`` in the session's transaction, each on its own.

    Returns each event's result, or the exception that refused it (its writes rolled back with
    its savepoint). A lost race (deadlock, serialization failure) is raised instead: the caller
    must retry the whole transaction.
    """
    return _ingest(session, events, isolate=True)


def _ingest(session: Session, events: list, isolate: bool) -> list:
    outcomes: list = [None] * len(events)
    valid = []
    for i, event in enumerate(events):
        try:
            valid.append(_prepare(i, event))
        except ValidationFailed as exc:
            if not isolate:
                raise
            outcomes[i] = exc
    fresh, first = _record(session, valid)
    unit = Unit(session, staged=isolate)
    _preload(unit, fresh)
    for ev in fresh:
        try:
            with unit.event(isolate):
                _fold(unit, ev)
        except Exception as exc:
            if not isolate or is_retryable(exc):
                raise
            session.execute(delete(EVENTS).where(EVENTS.c.event_hash == ev.digest))
            outcomes[ev.index] = exc
        else:
            outcomes[ev.index] = IngestResult(ev.kind, "created", ev.run_uuid)
    unit.flush()
    for ev in valid:  # the rest are re-sends: duplicates, or refused like their first copy
        if outcomes[ev.index] is None:
            origin = outcomes[first[ev.digest]]
            outcomes[ev.index] = origin if isinstance(origin, Exception) else IngestResult(
                ev.kind, "duplicate", ev.run_uuid)
    return outcomes


def _record(session: Session, events: list[_Event]) -> tuple[list[_Event], dict[str, int]]:
    """Store the raw events not stored before; the new ones, and each hash's first index."""
    first: dict[str, int] = {}
    for ev in events:
        first.setdefault(ev.digest, ev.index)
    rows = sorted(({
        "event_hash": ev.digest, "kind": ev.kind, "event_type": ev.body.get("eventType"),
        "event_time": ev.time, "run_uuid": ev.run_uuid,
        "job_namespace": (ev.job_key or (None, None))[0],
        "job_name": (ev.job_key or (None, None))[1], "payload": ev.body,
    } for ev in events if first[ev.digest] == ev.index), key=lambda r: r["event_hash"])
    if not rows:
        return [], first
    stored = set(session.execute(record_events(session.get_bind().dialect.name), rows).scalars())
    return [ev for ev in events if first[ev.digest] == ev.index and ev.digest in stored], first


def _preload(unit: Unit, events: list[_Event]) -> None:
    """Read the rows ``events`` touch and take their locks: jobs, then changing datasets."""
    unit.load_jobs({ev.job_key for ev in events if ev.job_key})
    keys = {(d["namespace"], d["name"]) for ev in events for d in ev.mentions()}
    keys |= {k for ev in events if ev.kind == "RunEvent"
             for d in ev.body.get("outputs") or [] for k in column_inputs(d)}
    unit.load_datasets(keys)
    first: dict[str, tuple[int, datetime]] = {}
    for ev in events:
        if ev.kind == "RunEvent" and ev.job_key in unit.jobs:
            first.setdefault(ev.run_uuid, (unit.jobs[ev.job_key].id, ev.time))
    unit.load_runs(first, ahead={ev.run_uuid for ev in events if ev.kind == "RunEvent"
                                 and ev.body.get("eventType") == "COMPLETE"})
    changing, fingerprints = [], []
    for ev in events:
        for d in ev.mentions():
            row = unit.datasets.get((d["namespace"], d["name"]))
            if row is not None and (ev.kind == "DatasetEvent" or dsvc.facets_change(
                    row, d.get("facets") or {})):
                changing.append(row)
        if ev.kind != "RunEvent":
            continue
        if ev.body.get("eventType") == "COMPLETE":  # outputs get versions
            changing += [unit.datasets[k] for d in ev.body.get("outputs") or []
                         if (k := (d["namespace"], d["name"])) in unit.datasets]
        for d in ev.body.get("inputs") or []:  # inputs may get observed versions
            row = unit.datasets.get((d["namespace"], d["name"]))
            fp = dsvc.fingerprint_of({**(d.get("facets") or {}), **(d.get("inputFacets") or {})})
            if row is not None and fp is not None:
                fingerprints.append((row, fp))
            elif row is not None and row.current_version_id is None:
                changing.append(row)
    unit.load_fingerprints({(row.id, fp) for row, fp in fingerprints})
    unseen = [(row, fp) for row, fp in fingerprints if unit.fingerprints[row.id, fp] is None]
    unit.lock(changing + [row for row, _ in unseen])
    if unit.stage is not None:  # which outputs' versions a re-sent COMPLETE already wrote
        outputs = [(d, ev.run_uuid) for ev in events if ev.kind == "RunEvent"
                   and ev.body.get("eventType") == "COMPLETE" for d in ev.body.get("outputs") or []]
        unit.stage.expected = len(outputs) + len(unseen)
        unit.stage.lookup(dsvc.version_uuid(d["namespace"], d["name"], "run", run_uuid)
                          for d, run_uuid in outputs)
    if unseen:  # looked up before the lock: look again
        for row, fp in unseen:
            unit.fingerprints.pop((row.id, fp), None)
        unit.load_fingerprints({(row.id, fp) for row, fp in unseen})


def _fold(unit: Unit, ev: _Event) -> None:
    if ev.kind == "RunEvent":
        fold_run_event(unit, ev.body, ev.time)
    elif ev.kind == "DatasetEvent":
        fold_dataset_event(unit, ev.body["dataset"], ev.time)
    else:
        fold_job_event(unit, ev.body, ev.time)
