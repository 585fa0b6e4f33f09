"""Every migration path, on SQLite and PostgreSQL, with a populated database whose rows survive.

The revisions come from Alembic's script directory, so a revision added later is covered by the
same tests: upgrade from empty one step at a time, downgrade from head to every earlier revision
and back with the data kept, and a full round trip through base.
"""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, select

from catalog import db as catalog_db
from catalog.models import Base
from catalog.models.search import include_name, is_search_table
from tests.authutil import as_admin
from tests.ops.catalog_data import populate, snapshot


def revisions(url: str) -> list[str]:
    """Revision ids from first to head."""
    script = ScriptDirectory.from_config(catalog_db.alembic_config(url))
    return [r.revision for r in reversed(list(script.walk_revisions()))]


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_url(request, tmp_path, fresh_pg):
    """An empty, unmigrated database of each backend."""
    return f"sqlite:///{tmp_path / 'm.db'}" if request.param == "sqlite" else fresh_pg()


def _tables(engine) -> set[str]:
    """Mapped tables present (the search index's trigger-kept tables have no model)."""
    return {t for t in inspect(engine).get_table_names()
            if t != "alembic_version" and not is_search_table(t)}


def _rows(engine) -> dict[str, list[dict]]:
    """Every row of every catalog table the database has now, in its columns of now."""
    out = {}
    insp = inspect(engine)
    with engine.connect() as conn:
        for name in _tables(engine):
            table = Base.metadata.tables.get(name)
            assert table is not None, f"table {name} is in no model"
            cols = [table.c[c["name"]] for c in insp.get_columns(name) if c["name"] in table.c]
            out[name] = [dict(r) for r in conn.execute(
                select(*cols).order_by(*table.primary_key.columns)).mappings()]
    return out


def _drift(engine) -> list:
    with engine.connect() as conn:
        opts = {"compare_type": True, "include_name": include_name}
        return compare_metadata(MigrationContext.configure(conn, opts=opts), Base.metadata)


def test_upgrade_from_empty_one_revision_at_a_time(empty_url):
    engine = catalog_db.make_engine(empty_url, immediate=False)
    revs = revisions(empty_url)
    assert revs[-1] == catalog_db.head_revision(empty_url) and len(revs) >= 2
    seen: set[str] = set()
    for rev in revs:
        catalog_db.upgrade(empty_url, rev)
        assert catalog_db.current_revision(engine) == rev
        tables = _tables(engine)
        assert tables >= seen  # no revision loses a table on the way up
        seen = tables
    assert seen == set(Base.metadata.tables) and _drift(engine) == []
    catalog_db.downgrade(empty_url, "base")
    assert catalog_db.current_revision(engine) is None and _tables(engine) == set()
    catalog_db.upgrade(empty_url)
    assert _drift(engine) == []
    engine.dispose()


def test_populated_database_survives_down_and_up_from_every_revision(empty_url):
    from catalog.app import create_app

    catalog_db.upgrade(empty_url)
    app = as_admin(create_app({"database_url": empty_url}))
    populate(app.test_client(), app.extensions["catalog"].sessions)
    api_before = snapshot(app.test_client())
    app.extensions["catalog"].engine.dispose()
    app.extensions["catalog"].read_engine.dispose()
    engine = catalog_db.make_engine(empty_url, immediate=False)
    before = _rows(engine)
    assert all(before[t] for t in ("datasets", "dataset_versions", "runs", "lineage_events",
                                   "model_versions", "pipeline_executions"))

    for rev in revisions(empty_url)[:-1]:
        catalog_db.downgrade(empty_url, rev)
        assert catalog_db.current_revision(engine) == rev
        kept = _tables(engine)
        at_rev = _rows(engine)
        for name in kept:  # rows of every table the older schema has, in its columns, as they were
            columns = {c["name"] for c in inspect(engine).get_columns(name)}
            assert at_rev[name] == [{k: v for k, v in row.items() if k in columns}
                                    for row in before[name]], (rev, name)
        catalog_db.upgrade(empty_url)
        assert _drift(engine) == []
        after = _rows(engine)
        for name, rows in before.items():
            # Tables the older revision did not have come back empty; the rest are unchanged.
            assert after[name] == (rows if name in kept else []), (rev, name)
        if kept == set(before):
            # Reads only, anonymously: minting a token would collide with restored token ids.
            app = create_app({"database_url": empty_url, "anonymous_read": True})
            assert snapshot(app.test_client()) == api_before
            app.extensions["catalog"].engine.dispose()
            app.extensions["catalog"].read_engine.dispose()
        if kept != set(before):  # restore the lost rows for the next revision's round trip
            with engine.begin() as conn:
                for table in Base.metadata.sorted_tables:
                    if table.name not in kept and before[table.name]:
                        conn.execute(table.insert(), before[table.name])
    engine.dispose()
