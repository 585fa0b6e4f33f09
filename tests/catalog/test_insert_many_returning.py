"""insert_many_returning: psycopg's pipelined executemany on PostgreSQL, SQLAlchemy's elsewhere;
the same rows come back, defaults are filled in, and errors still reach the retry logic."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from catalog.driver import insert_many_returning
from catalog.ingest import sql as q

T = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _event(i: int, **over) -> dict:
    row = {"event_hash": f"{i:064x}", "kind": "RunEvent", "event_type": "START",
           "event_time": T, "run_uuid": None, "job_namespace": "ns", "job_name": f"job{i}",
           "payload": {"i": i, "nested": {"list": [1, 2.5, None, "x"]}}}
    return {**row, **over}


def test_returns_what_the_statement_returns_and_skips_conflicts(engine):
    stmt = q.record_events(engine.dialect.name)
    with Session(engine) as s, s.begin():
        first = insert_many_returning(s, stmt, [_event(1), _event(2)])
        again = insert_many_returning(s, stmt, [_event(2), _event(3)])
        stored = s.execute(select(q.EVENTS.c.event_hash, q.EVENTS.c.payload,
                                  q.EVENTS.c.received_at).where(
            q.EVENTS.c.event_hash.in_([f"{i:064x}" for i in (1, 2, 3)])
        ).order_by(q.EVENTS.c.event_hash)).all()
        s.rollback()
    assert sorted(h for h, in first) == [f"{1:064x}", f"{2:064x}"]
    assert [h for h, in again] == [f"{3:064x}"]  # the stored hash returned nothing
    assert [r.payload for r in stored] == [_event(i)["payload"] for i in (1, 2, 3)]
    # received_at is a Python-side default: filled in although no row named it.
    assert all(r.received_at is not None for r in stored)


def test_no_rows_is_no_statement(engine):
    with Session(engine) as s:
        assert insert_many_returning(s, q.record_events(engine.dialect.name), []) == []


def test_a_failing_row_raises_sqlalchemy_errors(engine):
    stmt = q.record_events(engine.dialect.name)
    with Session(engine) as s, s.begin():
        with pytest.raises(IntegrityError) as info:  # kind is NOT NULL
            insert_many_returning(s, stmt, [_event(10), _event(11, kind=None)])
        s.rollback()
    assert isinstance(info.value, DBAPIError)


def test_only_insert_returning_statements(engine):
    with Session(engine) as s, s.begin(), pytest.raises(ValueError, match="RETURNING"):
        insert_many_returning(s, q.INSERT_STATES, [{"run_id": 1, "state": "START",
                                                     "event_time": T}])
