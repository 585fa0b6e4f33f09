"""Pooled PostgreSQL connections are pinged only after sitting idle (catalog.db.ping_when_idle)."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from catalog import db as catalog_db
from tests.conftest import _pg_admin


def _backend_pid(engine) -> int:
    with engine.connect() as c:
        return c.execute(text("SELECT pg_backend_pid()")).scalar_one()


def _terminate(url: str, pid: int) -> None:
    with _pg_admin(url) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        # Wait until the server has really let it go (a marker, not a sleep).
        for _ in range(500):
            if not admin.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s",
                                 (pid,)).fetchone():
                return
            admin.execute("SELECT pg_sleep(0.01)")
    raise AssertionError(f"backend {pid} still alive")


def _count_pings(engine, monkeypatch) -> list:
    pings = []
    real = engine.dialect.do_ping
    monkeypatch.setattr(engine.dialect, "do_ping", lambda c: pings.append(1) or real(c))
    return pings


def test_a_connection_used_moments_ago_is_not_pinged_but_an_idle_one_is(postgresql_url,
                                                                       monkeypatch):
    engine = catalog_db.make_engine(postgresql_url)
    try:
        pings = _count_pings(engine, monkeypatch)
        first = _backend_pid(engine)  # a new connection: alive, not pinged
        assert _backend_pid(engine) == first and _backend_pid(engine) == first
        assert pings == []
        monkeypatch.setattr(catalog_db, "PING_AFTER_IDLE_S", 0.0)  # read when the engine was made
        assert _backend_pid(engine) == first and pings == []
    finally:
        engine.dispose()
    engine = catalog_db.make_engine(postgresql_url)  # now made with a zero idle limit
    try:
        pings = _count_pings(engine, monkeypatch)
        _backend_pid(engine)
        _backend_pid(engine)
        assert len(pings) == 2  # every checkout: each connection has been idle >= 0 s
    finally:
        engine.dispose()


def test_an_idle_connection_the_server_dropped_is_replaced_unseen(postgresql_url, monkeypatch):
    monkeypatch.setattr(catalog_db, "PING_AFTER_IDLE_S", 0.0)
    engine = catalog_db.make_engine(postgresql_url)
    try:
        dead = _backend_pid(engine)
        _terminate(postgresql_url, dead)
        assert _backend_pid(engine) != dead  # pinged, found dead, replaced: no error
    finally:
        engine.dispose()


def test_a_recently_used_connection_the_server_dropped_fails_once_then_recovers(postgresql_url,
                                                                              monkeypatch):
    monkeypatch.setattr(catalog_db, "PING_AFTER_IDLE_S", 3600.0)
    engine = catalog_db.make_engine(postgresql_url)
    try:
        dead = _backend_pid(engine)
        _terminate(postgresql_url, dead)
        with pytest.raises(DBAPIError) as info:  # what the API answers as 503, retry later
            _backend_pid(engine)
        assert info.value.connection_invalidated
        assert _backend_pid(engine) != dead
    finally:
        engine.dispose()
