"""Replicas that start together each run ``catalog db upgrade``: on PostgreSQL they migrate one at
a time under an advisory lock, and every one of them ends at head."""

from __future__ import annotations

import threading
import time

import psycopg
from sqlalchemy import text
from sqlalchemy.engine import make_url

from catalog import db as catalog_db


def _connect(url: str) -> psycopg.Connection:
    u = make_url(url)
    return psycopg.connect(host=u.host, port=u.port or 5432, user=u.username,
                           password=u.password, dbname=u.database, autocommit=True)


def _waiting_for_the_lock(admin: psycopg.Connection, count: int, timeout: float = 60) -> None:
    """Wait until ``count`` sessions are queued on the migration lock (a marker, not a sleep)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        (n,) = admin.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted "
            "AND objid = %s", [catalog_db.MIGRATION_LOCK]).fetchone()
        if n >= count:
            return
        time.sleep(0.05)
    raise AssertionError(f"fewer than {count} upgrades queued on the migration lock")


def test_replicas_starting_together_migrate_one_at_a_time(fresh_pg):
    url = fresh_pg()
    holder = _connect(url)
    holder.execute("SELECT pg_advisory_lock(%s)", [catalog_db.MIGRATION_LOCK])
    errors: list[BaseException] = []

    def replica():
        try:
            catalog_db.upgrade(url)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=replica) for _ in range(3)]
    for t in threads:
        t.start()
    try:
        # All three wait while another holds the lock: none has touched the schema yet.
        _waiting_for_the_lock(holder, 3)
        (tables,) = holder.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
        ).fetchone()
        assert tables == 0
    finally:
        holder.execute("SELECT pg_advisory_unlock(%s)", [catalog_db.MIGRATION_LOCK])
    for t in threads:
        t.join(timeout=300)
    holder.close()
    assert errors == []
    engine = catalog_db.make_engine(url)
    try:
        assert catalog_db.current_revision(engine) == catalog_db.head_revision(url)
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM alembic_version")).scalar() == 1
            locks = conn.execute(text(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = :k"),
                {"k": catalog_db.MIGRATION_LOCK}).scalar()
            assert locks == 0  # every replica let go
    finally:
        engine.dispose()
