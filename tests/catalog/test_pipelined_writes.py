"""Pipelined writes (psycopg pipeline mode on PostgreSQL): errors still reach the retry logic."""

from __future__ import annotations

from contextlib import contextmanager

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from catalog.db import is_retryable, pipelined


@contextmanager
def _scratch_table(engine):
    """``engine`` with an empty table ``pipelined_t`` for the duration."""
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS pipelined_t"))
        conn.execute(text("CREATE TABLE pipelined_t (k INTEGER PRIMARY KEY, v INTEGER)"))
    try:
        yield engine
    finally:
        with engine.begin() as conn:
            conn.execute(text("DROP TABLE pipelined_t"))


@pytest.fixture
def scratch(engine):
    with _scratch_table(engine) as e:
        yield e


def _rows(engine):
    with engine.connect() as conn:
        return conn.execute(text("SELECT k, v FROM pipelined_t ORDER BY k")).all()


def test_writes_in_a_pipeline_all_land(scratch):
    with Session(scratch) as s, s.begin():
        with pipelined(s):
            s.execute(text("INSERT INTO pipelined_t (k, v) VALUES (:k, :v)"),
                      [{"k": 1, "v": 1}, {"k": 2, "v": 2}])
            s.execute(text("UPDATE pipelined_t SET v = 10 WHERE k = 1"))
            s.execute(text("INSERT INTO pipelined_t (k, v) VALUES (3, 3)"))
    assert _rows(scratch) == [(1, 10), (2, 2), (3, 3)]


def test_an_error_in_a_pipeline_is_a_dbapi_error_and_nothing_lands(scratch):
    with pytest.raises(IntegrityError) as caught, Session(scratch) as s, s.begin():
        with pipelined(s):
            s.execute(text("INSERT INTO pipelined_t (k, v) VALUES (1, 1)"))
            s.execute(text("INSERT INTO pipelined_t (k, v) VALUES (1, 2)"))
            s.execute(text("INSERT INTO pipelined_t (k, v) VALUES (2, 2)"))
    assert "pipelined_t" in str(caught.value.orig) or "UNIQUE" in str(caught.value.orig)
    assert _rows(scratch) == []


@pytest.fixture
def pg_scratch(postgresql_url):
    """The scratch table on PostgreSQL only: deadlocks are PostgreSQL's."""
    from catalog.db import make_engine

    engine = make_engine(postgresql_url)
    with _scratch_table(engine) as e:
        yield e
    engine.dispose()


def test_a_deadlock_in_a_pipeline_is_retryable(pg_scratch):
    scratch = pg_scratch
    with pytest.raises(DBAPIError) as caught, Session(scratch) as s, s.begin():
        with pipelined(s):
            s.execute(text("INSERT INTO pipelined_t (k, v) VALUES (1, 1)"))
            s.execute(text("DO $$ BEGIN RAISE EXCEPTION 'lost' USING ERRCODE = '40P01'; END $$"))
    assert is_retryable(caught.value)
    assert _rows(scratch) == []
