"""Step 2 of ingestion: record the raw events in one INSERT ... ON CONFLICT DO NOTHING, in hash
order. An event whose hash is already stored is a duplicate and changes nothing.

The payload stored is the event as sent, facets that broke their schema included; those facets'
warnings are recorded once the events are folded (:func:`record_warnings`).
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from catalog.driver import insert_many_returning
from catalog.ingest.sql import record_events
from catalog.ingest.validate import Event
from catalog.models import EventWarning

WARNINGS = EventWarning.__table__


def record(session: Session, events: list[Event]) -> tuple[list[Event], dict[str, int]]:
    """Store the raw events not stored before; the new ones, and each hash's first index."""
    first: dict[str, int] = {}
    for ev in events:
        first.setdefault(ev.digest, ev.index)
    rows = sorted((_row(ev) for ev in events if first[ev.digest] == ev.index),
                  key=lambda r: r["event_hash"])
    if not rows:
        return [], first
    stmt = record_events(session.get_bind().dialect.name)
    stored = {digest for digest, in insert_many_returning(session, stmt, rows, columnar=True)}
    return [ev for ev in events if first[ev.digest] == ev.index and ev.digest in stored], first


def recording(session: Session, ev: Event) -> tuple:
    """The statement that records the one event ``ev`` and its parameters, to be sent with the
    reads that follow it (:func:`catalog.ingest.read.preload`); it returns the hash when new."""
    return record_events(session.get_bind().dialect.name), _row(ev)


def _row(ev: Event) -> dict:
    return {"event_hash": ev.digest, "kind": ev.kind, "event_type": ev.body.get("eventType"),
            "event_time": ev.time, "run_uuid": ev.run_uuid,
            "job_namespace": (ev.job_key or (None, None))[0],
            "job_name": (ev.job_key or (None, None))[1], "payload": ev.payload}


def record_warnings(session: Session, events: list[Event]) -> None:
    """Store the warnings of ``events`` (stored by :func:`record` and folded), in one INSERT."""
    rows = [{"event_hash": ev.digest, "producer": ev.payload["producer"],
             "facet_group": w.group, "facet": w.facet, "field": w.field, "message": w.message}
            for ev in events for w in ev.warnings]
    if rows:
        session.execute(WARNINGS.insert(), rows)
