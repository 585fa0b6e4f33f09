"""Database helpers for tests."""

from __future__ import annotations

from sqlalchemy import text

from catalog.models import Base
from catalog.models.search import SEARCH_TABLES


def wipe(engine) -> None:
    """Delete every row of every table (faster than re-migrating between tests).

    The audit log's append-only triggers are bypassed for the wipe: on PostgreSQL by replica mode
    (which skips ordinary triggers), on SQLite by dropping and re-creating them as stored.
    """
    tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
    # The search index (no ORM model) is derived from those tables: emptied with them.
    tables += SEARCH_TABLES[engine.dialect.name]
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("SET LOCAL session_replication_role = replica"))
            conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        else:
            triggers = conn.execute(
                text("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'")).all()
            for name, _ in triggers:
                conn.execute(text(f'DROP TRIGGER "{name}"'))
            conn.execute(text("PRAGMA defer_foreign_keys=ON"))
            for t in tables:
                conn.execute(text(f"DELETE FROM {t}"))
            for _, sql in triggers:
                conn.execute(text(sql))
