"""``catalog export`` / ``catalog import``: the whole store as JSON lines, all or nothing.

Round trip SQLite -> PostgreSQL -> SQLite with identical read-API answers and identical rows.
"""

from __future__ import annotations

import gzip
import json

import pytest
from sqlalchemy import func, select

from catalog import db as catalog_db
from catalog.backup import table_order
from catalog.cli_contract import ExitCode
from catalog.models import Base, Dataset, DatasetVersion
from tests.authutil import as_admin
from tests.dbutil import wipe
from tests.factories import ds, run_event
from tests.ops.catalog_data import populate, snapshot


def _app(url):
    from catalog.app import create_app

    return as_admin(create_app({"database_url": url}))


def _reader(url):
    """An app whose test clients read anonymously: no token row is added or touched, so the
    database stays exactly what was imported."""
    from catalog.app import create_app

    return create_app({"database_url": url, "anonymous_read": True})


def _close(app):
    app.extensions["catalog"].engine.dispose()
    app.extensions["catalog"].read_engine.dispose()


def _sqlite(tmp_path, name):
    url = f"sqlite:///{tmp_path / name}"
    catalog_db.upgrade(url)
    return url


def _lines(path) -> list[dict]:
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as fh:
        return [json.loads(x) for x in fh]


def _cli(runner, *args, **kw):
    from catalog.cli import main

    return runner.invoke(main, list(args), catch_exceptions=False, **kw)


def test_round_trip_sqlite_postgresql_sqlite(tmp_path, fresh_pg, runner):
    src_url = _sqlite(tmp_path, "src.db")
    src = _app(src_url)
    populate(src.test_client(), src.extensions["catalog"].sessions)
    before = snapshot(src.test_client())
    _close(src)
    assert len(before) > 40

    first = tmp_path / "first.jsonl"
    r = _cli(runner, "export", str(first), "--database-url", src_url)
    assert r.exit_code == 0, r.output
    pg_url = fresh_pg()
    catalog_db.upgrade(pg_url)
    r = _cli(runner, "import", str(first), "--database-url", pg_url)
    assert r.exit_code == 0, r.output
    pg = _reader(pg_url)
    assert snapshot(pg.test_client()) == before

    second = tmp_path / "second.jsonl.gz"
    r = _cli(runner, "export", str(second), "--database-url", pg_url, "--json", "--progress")
    assert r.exit_code == 0, r.output
    exported = json.loads(r.stdout)  # the one document on stdout; progress went to stderr
    assert exported["tables"] == _lines(second)[-1]["rows"]
    assert exported["rows"] == sum(exported["tables"].values()) > 60
    assert r.stderr.splitlines()[-1] == f"export: {exported['rows']}/{exported['rows']} rows"
    # New rows after a restore get fresh ids: PostgreSQL's sequences moved past the imported.
    as_admin(pg)
    r = pg.test_client().put("/api/v1/namespaces/more/datasets/new", json={"rowCount": 1})
    assert r.status_code == 200, r.get_json()
    _close(pg)

    back_url = _sqlite(tmp_path, "back.db")
    r = _cli(runner, "import", str(second), "--database-url", back_url, "--json",
             env={"CATALOG_PROGRESS": "1"})
    assert r.exit_code == 0, r.output
    imported = json.loads(r.stdout)
    assert imported == {**exported, "file": str(second), "tables": {
        k: v for k, v in exported["tables"].items() if v}}
    assert r.stderr.splitlines()[-1] == f"import: {imported['rows']}/{imported['rows']} rows"
    back = _reader(back_url)
    assert snapshot(back.test_client()) == before
    _close(back)
    # Both exports hold the same rows, line for line, whatever backend wrote them.
    one, two = _lines(first), _lines(second)
    assert one[1:] == two[1:] and len(one) > 60
    assert (one[0]["dialect"], two[0]["dialect"]) == ("sqlite", "postgresql")
    assert one[0]["revision"] == two[0]["revision"] == catalog_db.head_revision(src_url)
    assert one[-1]["rows"]["lineage_events"] == len(
        before["/api/v1/events/lineage?limit=1000"]["events"])


def test_export_is_generic_over_the_metadata():
    tables, deferred = table_order()
    assert {t.name for t in tables} == set(Base.metadata.tables)
    position = {t.name: i for i, t in enumerate(tables)}
    for t in tables:
        for fk in t.foreign_keys:
            if fk.column.table.name != t.name and fk.parent.name not in deferred.get(t.name, []):
                assert position[fk.column.table.name] < position[t.name], (t.name, fk)
    assert deferred == {"jobs": ["current_version_id"], "datasets": ["current_version_id"]}


def test_import_refuses_non_empty_target_unless_replace(tmp_path, runner, db_url, app):
    src_url = _sqlite(tmp_path, "src.db")
    src = _app(src_url)
    populate(src.test_client())
    _close(src)
    path = tmp_path / "x.jsonl"
    assert _cli(runner, "export", str(path), "--database-url", src_url).exit_code == 0
    client = app.test_client()
    # Lineage alone (not audited) makes the target non-empty.
    r = client.post("/api/v1/lineage", json=run_event(
        "COMPLETE", "keeper", outputs=[ds("mine", ns="keep")]))
    assert r.status_code == 201, r.get_json()
    r = _cli(runner, "import", str(path), "--database-url", db_url)
    assert r.exit_code == ExitCode.REFUSED
    assert r.output.strip() == ("error: the target database is not empty; import into an empty "
                                "database, or pass --replace to delete its rows first")
    assert client.get("/api/v1/namespaces/keep/datasets/mine").status_code == 200
    r = _cli(runner, "import", str(path), "--replace", "--database-url", db_url)
    assert r.exit_code == 0, r.output
    client = as_admin(app).test_client()  # the replaced database holds the export's tokens
    assert client.get("/api/v1/namespaces/keep/datasets/mine").status_code == 404
    assert client.get("/api/v1/namespaces/shop/datasets/clean").status_code == 200


def test_replace_never_deletes_an_audit_trail(tmp_path, runner, db_url, app):
    src_url = _sqlite(tmp_path, "src.db")
    src = _app(src_url)
    populate(src.test_client())
    _close(src)
    path = tmp_path / "x.jsonl"
    assert _cli(runner, "export", str(path), "--database-url", src_url).exit_code == 0
    client = app.test_client()
    r = client.put("/api/v1/namespaces/keep/datasets/mine", json={"rowCount": 3})
    assert r.status_code in (200, 201), r.get_json()  # audited: the trail has an entry now
    r = _cli(runner, "import", str(path), "--replace", "--database-url", db_url)
    assert r.exit_code == ExitCode.REFUSED
    assert "audit trail holds 1 entries and is append-only" in r.output
    assert client.get("/api/v1/namespaces/keep/datasets/mine").status_code == 200


@pytest.mark.parametrize("damage", ["truncate", "bad_row", "bad_json", "count"])
def test_damaged_file_imports_nothing(tmp_path, runner, db_url, app, damage):
    src_url = _sqlite(tmp_path, "src.db")
    src = _app(src_url)
    populate(src.test_client())
    _close(src)
    path = tmp_path / "x.jsonl"
    assert _cli(runner, "export", str(path), "--database-url", src_url).exit_code == 0
    lines = path.read_text().splitlines()
    if damage == "truncate":  # cut off mid-way, as by a full disk
        lines = lines[:len(lines) // 2]
    elif damage == "bad_row":  # a row the database refuses (a duplicate id), after many it took
        lines.insert(-1, json.dumps({"table": "namespaces", "row": {"id": 1, "name": "dup"}}))
    elif damage == "bad_json":
        lines.insert(len(lines) // 2, "{not json")
    else:
        end = json.loads(lines[-1])
        end["rows"]["datasets"] += 1
        lines[-1] = json.dumps(end)
    path.write_text("\n".join(lines) + "\n")
    wipe(app.extensions["catalog"].engine)  # an empty target: not even the fixture's token
    r = _cli(runner, "import", str(path), "--database-url", db_url)
    assert r.exit_code == ExitCode.BAD_INPUT
    assert r.output.startswith("error: ") and r.output.count("\n") == 1, r.output
    assert "nothing was imported" in r.output
    session = app.extensions["catalog"].read_sessions()
    assert session.scalar(select(func.count()).select_from(Dataset)) == 0
    assert session.scalar(select(func.count()).select_from(DatasetVersion)) == 0
    session.close()


def test_import_of_another_revision_is_refused(tmp_path, runner, db_url, app):
    path = tmp_path / "old.jsonl"
    path.write_text(json.dumps({"format": "recocatalog-export", "version": 1,
                                "revision": "0001", "tables": {}}) + "\n"
                    + json.dumps({"end": True, "rows": {}}) + "\n")
    r = _cli(runner, "import", str(path), "--database-url", db_url)
    assert r.exit_code == ExitCode.REFUSED and "export is at schema revision 0001" in r.output
    path.write_text("hello\n")
    r = _cli(runner, "import", str(path), "--database-url", db_url)
    assert r.exit_code == ExitCode.BAD_INPUT and "is not a catalog export" in r.output
    r = _cli(runner, "import", str(tmp_path / "missing.jsonl"), "--database-url", db_url)
    assert r.exit_code == ExitCode.BAD_INPUT and "no such export file" in r.output
    gz = tmp_path / "cut.jsonl.gz"  # a gzip stream cut short: damaged, not a bug
    whole = gzip.compress(b'{"format": "recocatalog-export"' + b" " * 200_000)
    gz.write_bytes(whole[:len(whole) // 2])
    r = _cli(runner, "import", str(gz), "--database-url", db_url)
    assert r.exit_code == ExitCode.BAD_INPUT and r.stdout == ""
    assert r.stderr.startswith(f"error: {gz}: ") and r.stderr.count("\n") == 1
    nowhere = tmp_path / "no" / "such" / "dir.jsonl"
    r = _cli(runner, "export", str(nowhere), "--database-url", db_url)
    assert r.exit_code == ExitCode.BAD_INPUT
    assert r.stderr == f"error: {nowhere}: No such file or directory\n"
    r = _cli(runner, "export", "-", "--json", "--database-url", db_url)
    assert r.exit_code == ExitCode.USAGE and "name a file" in r.output


def test_export_is_one_snapshot_while_writers_commit(tmp_path, fresh_pg):
    """Rows a writer commits while the export runs are not in the file, whichever table they
    land in: every table is read from the snapshot of the export's first read."""
    from sqlalchemy import event, insert

    from catalog.backup import export
    from catalog.models import Tag

    url = fresh_pg()
    catalog_db.upgrade(url)
    engine = catalog_db.make_engine(url)
    writer = catalog_db.make_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(insert(Tag.__table__).values(name="before"))

        def commit_a_tag(conn, cursor, statement, *args):
            if "FROM audit_log" in statement:  # the first table read: the snapshot is taken
                with writer.begin() as w:
                    w.execute(insert(Tag.__table__).values(name="during"))

        event.listen(engine, "after_cursor_execute", commit_a_tag)
        counts = export(engine, str(tmp_path / "out.jsonl"))
    finally:
        engine.dispose()
        writer.dispose()
    tags = [x["row"]["name"] for x in _lines(tmp_path / "out.jsonl") if x.get("table") == "tags"]
    assert tags == ["before"] and counts["tags"] == 1
