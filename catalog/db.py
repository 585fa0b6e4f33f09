"""Engine and session handling: one engine per app, one transaction per request or command."""

from __future__ import annotations

import contextlib
import logging
import os
import random
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.orm import Session, sessionmaker

from catalog import jsoncodec
from catalog.errors import (
    CatalogError,
    DatabaseBusy,
    DatabaseUnavailable,
    QueryTimeout,
    SchemaNotCurrent,
)

T = TypeVar("T")
log = logging.getLogger(__name__)

# SQLite waits this long for a competing writer before giving up (milliseconds).
SQLITE_BUSY_TIMEOUT_MS = 30_000
# A pooled PostgreSQL connection idle this long is pinged before use (seconds); one used more
# recently is trusted (see ping_when_idle).
PING_AFTER_IDLE_S = 5.0


def is_sqlite(url_or_engine) -> bool:
    """True when the URL or engine talks to SQLite."""
    url = url_or_engine.url if isinstance(url_or_engine, Engine) else make_url(url_or_engine)
    return url.get_backend_name() == "sqlite"


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    # WAL lets readers run beside the single writer; foreign keys are off by default in SQLite.
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def _sqlite_begin_immediate(conn) -> None:
    # Take the write lock at BEGIN so two writers queue on busy_timeout instead of failing with
    # "database is locked" when a reader upgrades to a writer mid-transaction.
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def _sqlite_begin(conn) -> None:
    # pysqlite's own transaction handling is off (isolation_level=None): begin explicitly.
    conn.exec_driver_sql("BEGIN")


def make_engine(
    url: str, *, immediate: bool = True, statement_timeout_ms: int | None = None, **kwargs
) -> Engine:
    """Create an engine; SQLite gets WAL, foreign keys and a busy timeout.

    With ``immediate`` (for writers), SQLite transactions take the write lock at BEGIN; readers
    pass ``immediate=False`` so they never queue behind a writer (WAL gives them a snapshot).
    ``statement_timeout_ms`` (PostgreSQL) cuts off any statement running longer, lock waits
    included; SQLite has no equivalent and ignores it.
    """
    kwargs.setdefault("json_serializer", jsoncodec.dumps)
    kwargs.setdefault("json_deserializer", jsoncodec.loads)
    if is_sqlite(url):
        parsed = make_url(url)
        if parsed.database and parsed.database != ":memory:":
            path = Path(parsed.database)
            path.parent.mkdir(parents=True, exist_ok=True)
            # A new catalog file is its owner's alone (SQLite gives the -wal and -shm files
            # the database's own permissions).
            with contextlib.suppress(FileExistsError):
                os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "isolation_level": None}, **kwargs
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin_immediate if immediate else _sqlite_begin)
        return engine
    if statement_timeout_ms:
        # Set at connection start-up, so it holds for every statement on the connection.
        kwargs.setdefault("connect_args", {})["options"] = (
            f"-c statement_timeout={int(statement_timeout_ms)}")
    engine = create_engine(url, **kwargs)
    if not kwargs.get("pool_pre_ping"):
        ping_when_idle(engine)
    return engine


def ping_when_idle(engine: Engine, idle_s: float | None = None) -> None:
    """Ping a pooled connection before use when it has been idle ``idle_s`` seconds (default
    :data:`PING_AFTER_IDLE_S`); a dead one is replaced before the caller sees it.

    ``pool_pre_ping`` pings on every checkout: a round trip per request, a quarter of a single
    ingested event's time in-process on PostgreSQL (py-spy). A connection that answered
    moments ago is alive unless the server went away in between; then the request fails as any
    lost connection does (503, retry later), and the pool replaces every connection older than
    the failure.
    """
    limit = PING_AFTER_IDLE_S if idle_s is None else idle_s

    @event.listens_for(engine, "checkout")
    def _ping(dbapi_connection, record, _proxy) -> None:
        last = record.info.get("checked_in_at")
        if last is not None and time.monotonic() - last < limit:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as exc:
            raise DisconnectionError(f"pooled connection failed its ping: {exc}") from exc

    @event.listens_for(engine, "connect")
    @event.listens_for(engine, "checkin")
    def _idle_from(_dbapi_connection, record) -> None:
        record.info["checked_in_at"] = time.monotonic()


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    """Session factory bound to ``engine``; objects stay readable after commit."""
    return sessionmaker(bind=engine, expire_on_commit=False)


@contextmanager
def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    """Commit on success, roll back on any exception: the single transaction boundary."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


# --- retrying transient conflicts ---------------------------------------------------------------

# PostgreSQL's deadlock_detected and serialization_failure: the transaction lost a race and may
# simply be run again.
RETRYABLE_SQLSTATES = frozenset({"40P01", "40001"})
# Whole-transaction attempts before giving up with 503, and the first back-off (seconds, doubled
# each time, with full jitter so the losers of one race do not collide again in step).
TRANSACTION_ATTEMPTS = 5
RETRY_BACKOFF_S = 0.02
# What a 503 tells the client to wait before sending again (seconds).
RETRY_AFTER_S = 1


# PostgreSQL's query_canceled: statement_timeout fired (or an operator cancelled the query).
QUERY_CANCELED = "57014"


def as_catalog_error(exc: BaseException) -> CatalogError | None:
    """The client-facing error for a database failure that is not a bug, else None.

    A cancelled statement and an unreachable database are conditions of the deployment, so the
    client gets a 503 naming them rather than a 500.
    """
    if not isinstance(exc, DBAPIError):
        return None
    sqlstate = getattr(exc.orig, "sqlstate", None)
    if sqlstate == QUERY_CANCELED:
        return QueryTimeout("the query ran longer than the database's statement timeout; "
                            "narrow it (smaller depth, page or time range) or retry later",
                            retryAfter=RETRY_AFTER_S)
    if is_retryable(exc):
        return busy(exc)
    disconnected = exc.connection_invalidated or (sqlstate or "").startswith("08")
    if not disconnected and sqlstate is None and type(exc.orig).__name__ == "OperationalError":
        # psycopg reports a refused or lost connection as a bare OperationalError.
        disconnected = getattr(exc.orig, "__module__", "").startswith("psycopg")
    if disconnected:
        return DatabaseUnavailable("the catalog database is unreachable; retry later",
                                   retryAfter=RETRY_AFTER_S)
    return None


@contextmanager
def pipelined(session: Session):
    """Send the session's statements without waiting for each answer (PostgreSQL), inside.

    For writes whose results nobody reads (UPDATE, INSERT without RETURNING): psycopg's
    pipeline mode sends them back to back and reads the answers once, at the end of the block,
    so a handful of statements cost one round trip. A statement that returns rows still works
    (it waits for its answer). An error surfaces at the end of the block; it is raised as
    SQLAlchemy's DBAPIError, like any other, so retries and error mapping see it. Elsewhere
    (SQLite) the block runs as is.
    """
    connection = session.connection()
    if connection.dialect.name != "postgresql":
        yield
        return
    import psycopg

    try:
        with connection.connection.driver_connection.pipeline():
            yield
    except psycopg.Error as exc:
        raise DBAPIError.instance(None, None, exc, psycopg.Error) from exc


def is_retryable(exc: BaseException) -> bool:
    """True for a deadlock or serialization failure (PostgreSQL) or a locked database (SQLite)."""
    if not isinstance(exc, DBAPIError):
        return False
    orig = exc.orig
    if getattr(orig, "sqlstate", None) in RETRYABLE_SQLSTATES:
        return True
    if isinstance(orig, sqlite3.OperationalError):
        message = str(orig).lower()
        return "database is locked" in message or "database table is locked" in message
    return False


def backoff(attempt: int) -> None:
    """Sleep before retry number ``attempt`` (0-based): exponential, full jitter."""
    time.sleep(random.uniform(0, RETRY_BACKOFF_S * 2**attempt))


def busy(exc: BaseException | None = None) -> DatabaseBusy:
    """The error for a transaction that still failed after its retries."""
    detail = f" ({type(exc.orig).__name__})" if isinstance(exc, DBAPIError) else ""
    return DatabaseBusy(
        f"the catalog database is busy with concurrent writers{detail}; retry later",
        retryAfter=RETRY_AFTER_S,
    )


def in_transaction(
    factory: sessionmaker[Session], work: Callable[[Session], T],
    attempts: int = TRANSACTION_ATTEMPTS,
) -> T:
    """Run ``work`` in one transaction, running it again from scratch when it loses a race.

    Deadlocks, serialization failures and SQLite's "database is locked" roll the transaction back
    and retry it up to ``attempts`` times with jittered back-off; then :class:`DatabaseBusy`.
    ``work`` must do nothing outside the session that a rerun would repeat.
    """
    for attempt in range(attempts):
        try:
            with session_scope(factory) as session:
                return work(session)
        except DBAPIError as exc:
            if not is_retryable(exc):
                raise
            if attempt + 1 == attempts:
                log.warning("transaction gave up after %d attempts: %s", attempts, exc.orig)
                raise busy(exc) from exc
            log.info("transaction lost a race (%s); retrying", type(exc.orig).__name__)
            backoff(attempt)
    raise AssertionError("unreachable")


# --- migrations ---------------------------------------------------------------------------------


def alembic_config(url: str):
    """Alembic configuration pointing at this project's ``migrations`` folder.

    The folder is found, not imported: migrations depend on the catalog's models, never the
    other way round.
    """
    import importlib.util

    from alembic.config import Config

    spec = importlib.util.find_spec("migrations")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the migrations package is not installed beside catalog")
    cfg = Config()
    cfg.set_main_option("script_location", spec.submodule_search_locations[0])
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


# Session-level advisory lock held while migrating a PostgreSQL database (an arbitrary constant).
MIGRATION_LOCK = 72_016_113


def upgrade(url: str, revision: str = "head") -> None:
    """Apply migrations up to ``revision``.

    On PostgreSQL under an advisory lock: replicas that start together (each running
    ``catalog db upgrade``) migrate one at a time, and the later ones find the database at the
    revision already. SQLite's write lock serialises migrations by itself.
    """
    from alembic import command
    from sqlalchemy.pool import NullPool

    cfg = alembic_config(url)
    if is_sqlite(url):
        command.upgrade(cfg, revision)
        return
    engine = make_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql(f"SELECT pg_advisory_lock({MIGRATION_LOCK})")
            conn.commit()  # the lock outlives this transaction; alembic runs its own
            try:
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, revision)
            finally:
                conn.rollback()
                conn.exec_driver_sql(f"SELECT pg_advisory_unlock({MIGRATION_LOCK})")
                conn.commit()
    finally:
        engine.dispose()


def downgrade(url: str, revision: str) -> None:
    """Revert migrations down to ``revision``."""
    from alembic import command

    command.downgrade(alembic_config(url), revision)


def head_revision(url: str) -> str:
    """The single head revision of the migration scripts."""
    from alembic.script import ScriptDirectory

    heads = ScriptDirectory.from_config(alembic_config(url)).get_heads()
    if len(heads) != 1:
        raise RuntimeError(f"migrations must have exactly one head, found {heads}")
    return heads[0]


def current_revision(engine: Engine) -> str | None:
    """The revision stamped in the database, or None for an unmigrated database."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def check_at_head(engine: Engine) -> None:
    """Refuse a database whose schema is not at the migrations' head."""
    url = engine.url.render_as_string(hide_password=False)
    current, head = current_revision(engine), head_revision(url)
    if current != head:
        raise SchemaNotCurrent(
            f"database schema is at {current or 'no revision'}, code expects {head}: "
            "run `catalog db upgrade`"
        )
