"""Alembic environment: runs migrations against the URL set by ``catalog.db.alembic_config``."""

from __future__ import annotations

from alembic import context
from sqlalchemy import pool

from catalog.db import is_sqlite, make_engine
from catalog.models import Base
from catalog.models.search import include_name

config = context.config
target_metadata = Base.metadata


def run_offline() -> None:
    """Emit SQL without a connection (``alembic upgrade --sql``)."""
    url = config.get_main_option("sqlalchemy.url")
    context.configure(
        url=url,
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=is_sqlite(url),
        include_name=include_name,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    """Apply migrations over a live connection, reusing one passed in by tests if present."""
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = config.get_main_option("sqlalchemy.url")
    engine = make_engine(url, poolclass=pool.NullPool)
    with engine.connect() as conn:
        _run(conn)
    engine.dispose()


def _run(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite can only ALTER through copy-and-move; batch mode does that.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        # The search index is derived data kept by triggers, not ORM models (0004).
        include_name=include_name,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
