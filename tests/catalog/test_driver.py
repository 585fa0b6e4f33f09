"""catalog.driver: the ingest path's statements straight through psycopg on PostgreSQL.

fetch and execute_many must answer exactly what the Session's execute answers (names, values,
types, UTC timestamps, JSON), for every shape of IN list, fill in Python-side defaults, keep the
statement's own literals, and raise SQLAlchemy's errors so the retry logic sees them.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import bindparam, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from catalog import driver
from catalog.ingest import sql as q
from catalog.ingest.writes import get_or_create_dataset, get_or_create_job

T = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
RUN = "d71e0000-0000-4000-8000-000000000001"


def _seed(s: Session) -> dict:
    """Two namespaces, three jobs, four datasets (facets as JSON), one run with I/O."""
    jobs = {name: get_or_create_job(s, "drv.alpha", name).id for name in ("j1", "j2")} | {
        "j3": get_or_create_job(s, "drv.beta", "j3").id}
    ds = {name: get_or_create_dataset(s, "drv.beta", name).id for name in ("d1", "d2", "d3", "d4")}
    s.execute(update(q.DATASETS).where(q.DATASETS.c.id == ds["d2"]).values(
        facets={"schema": {"fields": [{"name": "a", "type": "BIGINT"}]}, "n": 12345678901234}))
    run = s.execute(q.INSERT_RUN, {
        "uuid": RUN, "job_id": jobs["j1"], "state": "START",
        "state_at": T, "started_at": T, "facets": {"x": [1, 2.5, None]}}).scalar_one()
    s.execute(q.IO.insert(), [
        {"run_id": run, "dataset_id": ds["d1"], "direction": "input", "facets": {"i": 1}},
        {"run_id": run, "dataset_id": ds["d2"], "direction": "output", "facets": {"o": 2}}])
    return {"jobs": jobs, "ds": ds, "run": run}


def _same(s: Session, stmt, params: dict) -> list:
    """fetch's rows, checked against the Session's: same names, values and types."""
    ours = driver.fetch(s, stmt, params)
    theirs = s.execute(stmt, params).all()
    assert [r._asdict() for r in ours] == [dict(r._mapping) for r in theirs]
    for mine, other in zip(ours, theirs, strict=True):
        assert [type(v) for v in mine] == [type(v) for v in other]
        assert all(v.tzinfo == UTC for v in mine if isinstance(v, datetime))
    return ours


@pytest.mark.parametrize("keys", [
    [("drv.alpha", "j1")],
    [("drv.alpha", "j1"), ("drv.beta", "j3")],
    [("drv.alpha", "j2"), ("drv.alpha", "j1"), ("drv.beta", "j3"), ("drv.beta", "nope")],
    [],
])
def test_fetch_answers_as_the_session_for_every_shape(engine, keys):
    with Session(engine) as s, s.begin():
        _seed(s)
        rows = _same(s, q.JOBS_LOCKED, {"keys": keys})
        assert sorted((r.ns, r.name) for r in rows) == sorted(
            k for k in keys if k != ("drv.beta", "nope"))
        s.rollback()


def test_fetch_of_joined_rows_json_and_timestamps(engine):
    with Session(engine) as s, s.begin():
        seeded = _seed(s)
        datasets = _same(s, q.DATASETS_BY_KEY, {"keys": [("drv.beta", "d2"), ("drv.beta", "d1")]})
        by_name = {r.name: r for r in datasets}
        assert by_name["d2"].facets["n"] == 12345678901234  # exact integers from JSON
        runs = _same(s, q.RUNS_BY_UUID, {"uuids": [RUN]})
        assert {(r.io_dataset_id, r.io_direction) for r in runs} == {
            (seeded["ds"]["d1"], "input"), (seeded["ds"]["d2"], "output")}
        assert runs[0].state_at == T and runs[0].facets == {"x": [1, 2.5, None]}
        ids = sorted(seeded["ds"].values())
        locked = _same(s, q.DATASETS_LOCKED, {"ids": ids[:3]})
        assert [r.id for r in locked] == ids[:3]
        s.rollback()


def test_fetch_insert_returning_keeps_literals_and_fills_defaults(engine):
    """insert_version numbers the version with literals of its own (coalesce 0, + 1)."""
    stmt = q.insert_version(engine.dialect.name)
    with Session(engine) as s, s.begin():
        seeded = _seed(s)
        d = seeded["ds"]["d3"]
        values = {"uuid": "v-1", "ds": d, "schema_fields": [{"name": "a"}], "row_count": 3,
                  "fingerprint": "fp", "run_id": None, "lifecycle_state": None,
                  "facets": {"k": "v"}, "created_at": T}
        (first,) = driver.fetch(s, stmt, values)
        (second,) = driver.fetch(s, stmt, {**values, "uuid": "v-2"})
        assert driver.fetch(s, stmt, values) == []  # the uuid exists: nothing returned
        got = s.execute(select(q.VERSIONS.c.id, q.VERSIONS.c.version, q.VERSIONS.c.facets,
                               q.VERSIONS.c.created_at).where(q.VERSIONS.c.dataset_id == d)
                        .order_by(q.VERSIONS.c.version)).all()
        s.rollback()
    assert [(r.id, r.version) for r in got] == [(first.id, 1), (second.id, 2)]
    assert got[0].facets == {"k": "v"} and got[0].created_at == T


@pytest.mark.parametrize("rows", [1, 2])
def test_update_by_id_updates_and_fills_onupdate(engine, rows):
    with Session(engine) as s, s.begin():
        seeded = _seed(s)
        before = datetime.now(UTC) - timedelta(seconds=1)
        for chunk in ([[{"_id": seeded["jobs"]["j1"], "description": "one"},
                        {"_id": seeded["jobs"]["j3"], "description": "three"}]] if rows == 2 else
                      [[{"_id": seeded["jobs"]["j1"], "description": "one"}],
                       [{"_id": seeded["jobs"]["j3"], "description": "three"}]]):
            driver.update_by_id(s, q.JOBS, chunk)
        driver.update_by_id(s, q.JOBS, [])
        rows = s.execute(select(q.JOBS.c.name, q.JOBS.c.description, q.JOBS.c.updated_at)
                         .where(q.JOBS.c.id.in_(seeded["jobs"].values()))
                         .order_by(q.JOBS.c.name)).all()
        s.rollback()
    assert [(r.name, r.description) for r in rows] == [("j1", "one"), ("j2", None),
                                                       ("j3", "three")]
    updated = {r.name: r.updated_at for r in rows}
    # updated_at is an onupdate default: set for the rows updated, by the Python side.
    assert updated["j1"] >= before and updated["j3"] >= before


def test_execute_many_inserts_with_defaults_and_nothing_for_no_rows(engine):
    with Session(engine) as s, s.begin():
        seeded = _seed(s)
        driver.execute_many(s, q.INSERT_STATES, [])
        driver.execute_many(s, q.INSERT_STATES, [
            {"run_id": seeded["run"], "state": "RUNNING", "event_time": T},
            {"run_id": seeded["run"], "state": "COMPLETE", "event_time": T + timedelta(1)}])
        rows = s.execute(select(q.STATES.c.state, q.STATES.c.event_time, q.STATES.c.created_at)
                         .where(q.STATES.c.run_id == seeded["run"])
                         .order_by(q.STATES.c.event_time)).all()
        s.rollback()
    assert [(r.state, r.event_time) for r in rows] == [("RUNNING", T),
                                                       ("COMPLETE", T + timedelta(1))]
    assert all(r.created_at is not None for r in rows)


def test_errors_are_sqlalchemy_errors(engine):
    with Session(engine) as s, s.begin():
        seeded = _seed(s)
        with pytest.raises(IntegrityError) as info:  # state is NOT NULL
            driver.execute_many(s, q.INSERT_STATES, [
                {"run_id": seeded["run"], "state": None, "event_time": T}])
        s.rollback()
    assert isinstance(info.value, DBAPIError)


def test_a_statement_with_plain_parameters(engine):
    stmt = select(q.JOBS.c.name).where(q.JOBS.c.name == bindparam("n"))
    with Session(engine) as s, s.begin():
        _seed(s)
        assert [r.name for r in _same(s, stmt, {"n": "j2"})] == ["j2"]
        s.rollback()


def test_a_text_statement_names_its_rows_after_the_answer(engine):
    from sqlalchemy import text

    stmt = text("SELECT :n + 1 AS next, :n * 2 AS twice")
    with Session(engine) as s, s.begin():
        (row,) = driver.fetch(s, stmt, {"n": 20})
        s.rollback()
    assert tuple(row) == (21, 40) and row.next == 21 and row.twice == 40


def _io_rows(s: Session, run: int) -> list:
    return [tuple(r) for r in s.execute(
        select(q.IO.c.dataset_id, q.IO.c.direction, q.IO.c.dataset_version_id, q.IO.c.facets)
        .where(q.IO.c.run_id == run).order_by(q.IO.c.id))]


@pytest.mark.parametrize("columnar", [False, True])
def test_columnar_inserts_store_what_one_row_at_a_time_stores(engine, columnar):
    """Order (ids follow the rows), NULLs, JSON (nested, a null, a long integer), timestamps,
    Python-side defaults, and ON CONFLICT DO UPDATE against rows already stored."""
    with Session(engine) as s, s.begin():
        seeded = _seed(s)
        ds, run = seeded["ds"], seeded["run"]
        driver.execute_many(s, q.upsert_io(engine.dialect.name), [
            {"run_id": run, "dataset_id": ds["d3"], "direction": "input",
             "dataset_version_id": None, "facets": {"a": [1, None, {"b": 12345678901234}]}},
            {"run_id": run, "dataset_id": ds["d1"], "direction": "input",  # stored: updated
             "dataset_version_id": None, "facets": {"i": 2}},
            {"run_id": run, "dataset_id": ds["d4"], "direction": "output",
             "dataset_version_id": None, "facets": {}},
        ], columnar=columnar)
        driver.execute_many(s, q.INSERT_STATES, [
            {"run_id": run, "state": state, "event_time": T + timedelta(minutes=i)}
            for i, state in enumerate(("RUNNING", "FAIL", "COMPLETE"))], columnar=columnar)
        io = _io_rows(s, run)
        states = s.execute(select(q.STATES.c.state, q.STATES.c.event_time, q.STATES.c.created_at)
                           .where(q.STATES.c.run_id == run).order_by(q.STATES.c.id)).all()
        s.rollback()
    assert io == [(ds["d1"], "input", None, {"i": 2}), (ds["d2"], "output", None, {"o": 2}),
                  (ds["d3"], "input", None, {"a": [1, None, {"b": 12345678901234}]}),
                  (ds["d4"], "output", None, {})]
    assert [(r.state, r.event_time) for r in states] == [
        ("RUNNING", T), ("FAIL", T + timedelta(minutes=1)), ("COMPLETE", T + timedelta(minutes=2))]
    assert all(r.created_at is not None and r.event_time.tzinfo is not None for r in states)


@pytest.mark.parametrize("columnar", [False, True])
def test_columnar_updates_set_each_rows_own_values_nulls_and_json(engine, columnar):
    with Session(engine) as s, s.begin():
        seeded = _seed(s)
        other = s.execute(q.INSERT_RUN, {"uuid": RUN[:-1] + "2", "job_id": seeded["jobs"]["j2"],
                                         "state": "START", "state_at": T, "started_at": T,
                                         "facets": {}}).scalar_one()
        rows = [
            {"_id": other, "state": "FAIL", "ended_at": None, "facets": {"e": [None, "x"]}},
            {"_id": seeded["run"], "state": "COMPLETE", "ended_at": T + timedelta(1),
             "facets": {"n": 12345678901234}}]
        for chunk in [rows] if columnar else [[row] for row in rows]:
            driver.update_by_id(s, q.RUNS, chunk)
        rows = s.execute(select(q.RUNS.c.id, q.RUNS.c.state, q.RUNS.c.ended_at, q.RUNS.c.facets)
                         .where(q.RUNS.c.id.in_([seeded["run"], other]))
                         .order_by(q.RUNS.c.id)).all()
        s.rollback()
    assert [tuple(r) for r in rows] == [
        (seeded["run"], "COMPLETE", T + timedelta(1), {"n": 12345678901234}),
        (other, "FAIL", None, {"e": [None, "x"]})]


@pytest.mark.parametrize("columnar", [False, True])
def test_columnar_insert_returning_returns_every_inserted_row(engine, columnar):
    with Session(engine) as s, s.begin():
        seeded = _seed(s)
        rows = [{"uuid": f"d71e0000-0000-4000-8000-00000000010{i}", "job_id": seeded["jobs"]["j1"],
                 "state": "START", "state_at": T, "facets": {"i": i}} for i in range(3)]
        got = driver.insert_many_returning(s, q.insert_runs(engine.dialect.name),
                                           [rows[1], {**rows[0], "uuid": RUN}, rows[2], rows[0]],
                                           columnar=columnar)
        stored = dict(s.execute(select(q.RUNS.c.uuid, q.RUNS.c.facets)).all())
        s.rollback()
    # RUN existed and rows[0] came twice: ON CONFLICT DO NOTHING skips both, returns the rest.
    assert sorted(uuid for uuid, _id in got) == sorted(r["uuid"] for r in rows)
    assert {r["uuid"]: stored[r["uuid"]] for r in rows} == {r["uuid"]: r["facets"] for r in rows}


def test_columnar_statements_are_sqlalchemy_constructs_with_binary_array_parameters():
    """An INSERT keeps its ON CONFLICT and RETURNING and takes a row per array element; an
    UPDATE joins the arrays on the id; every parameter is an array, cast, sent in binary."""
    from sqlalchemy.dialects import postgresql

    dialect = postgresql.psycopg.dialect()
    keys = ("run_id", "dataset_id", "direction", "facets", "dataset_version_id")
    sql = driver._many_plan(dialect, q.upsert_io("postgresql"), keys, driver.columnar_insert).sql
    assert sql.startswith("INSERT INTO run_io (run_id, dataset_id, direction, facets, "
                          "dataset_version_id, created_at) SELECT ")
    assert "FROM unnest(CAST(%(run_id)b::INTEGER[] AS INTEGER[]), " in sql
    assert "CAST(%(created_at)b::TIMESTAMP WITH TIME ZONE[] AS TIMESTAMP WITH TIME ZONE[])" in sql
    assert sql.endswith("ON CONFLICT (run_id, dataset_id, direction) DO UPDATE SET "
                        "dataset_version_id = coalesce(run_io.dataset_version_id, "
                        "excluded.dataset_version_id), facets = excluded.facets")
    returning = driver._many_plan(dialect, q.record_events("postgresql"), ("event_hash",),
                                  driver.columnar_insert).sql
    assert returning.endswith(") AS v(event_hash, received_at) ON CONFLICT (event_hash) DO NOTHING "
                              "RETURNING lineage_events.event_hash")
    update = driver._many_plan(dialect, driver._update_one(q.RUNS, ("state",)), ("_id", "state"),
                               driver.columnar_update).sql
    assert update == (  # updated_at: the onupdate default, one value per row like the others
        "UPDATE runs SET state=v.state, updated_at=v.updated_at FROM unnest("
        "CAST(%(_id)b::INTEGER[] AS INTEGER[]), CAST(%(state)b::VARCHAR(16)[] AS VARCHAR(16)[]), "
        "CAST(%(updated_at)b::TIMESTAMP WITH TIME ZONE[] AS TIMESTAMP WITH TIME ZONE[])) "
        "AS v(_id, state, updated_at) WHERE runs.id = v._id")


def test_columnar_statements_refuse_what_they_cannot_send_as_arrays():
    from sqlalchemy.dialects import postgresql

    dialect = postgresql.psycopg.dialect()
    with pytest.raises(ValueError, match="runs has no column 'nope'"):
        driver.columnar_insert(q.INSERT_RUNS, ["uuid", "nope"])
    with pytest.raises(ValueError, match="takes an Insert construct, not Delete"):
        driver.columnar_insert(q.RUNS.delete(), ["uuid"])
    with pytest.raises(ValueError, match="columnar_update needs _id and a column"):
        driver.columnar_update(q.RUNS.update(), ["state"])
    with pytest.raises(ValueError, match="runs has no column 'state; DROP TABLE runs'"):
        driver.columnar_update(q.RUNS.update(), ["_id", "state; DROP TABLE runs"])
    # A statement with values of its own, or parameters beyond the rows' columns, is refused.
    with pytest.raises(Exception, match="already inserts value expressions"):
        driver.columnar_insert(q.STATES.insert().values(state="X"), ["run_id"])
    upsert = postgresql.insert(q.IO).on_conflict_do_update(
        index_elements=["run_id", "dataset_id", "direction"], set_={"facets": {"k": 1}})
    with pytest.raises(ValueError, match="are not the rows'"):
        driver._many_plan(dialect, upsert, ("run_id", "dataset_id", "direction"),
                          driver.columnar_insert)


def test_a_columnar_insert_that_breaks_a_constraint_is_a_sqlalchemy_error(engine):
    with Session(engine) as s, s.begin():
        seeded = _seed(s)
        with pytest.raises(IntegrityError):  # state is NOT NULL
            driver.execute_many(s, q.INSERT_STATES, [
                {"run_id": seeded["run"], "state": "RUNNING", "event_time": T},
                {"run_id": seeded["run"], "state": None, "event_time": T}], columnar=True)
        s.rollback()


def test_every_columnar_statement_of_the_ingest_path_compiles_with_all_its_columns():
    """Each statement the ingest path sends columnar, compiled for PostgreSQL with every column
    its table has (so every column's array type), compiles to arrays sent in binary: a type
    that cannot be sent so fails here, not on a rare event in production."""
    from sqlalchemy.dialects import postgresql

    from catalog.ingest.record import record_events

    dialect = postgresql.psycopg.dialect()

    def columns(table, *skip):
        return [c.key for c in table.columns if c.key not in ("id", *skip)]

    statements = [
        (q.upsert_io("postgresql"), columns(q.IO)),
        (q.upsert_edges("postgresql"), columns(q.EDGES)),
        (q.INSERT_STATES, columns(q.STATES)),
        (q.INSERT_VERSIONS, ["id", *columns(q.VERSIONS)]),
        (q.insert_column_lineage("postgresql"), columns(q.COLUMN_LINEAGE)),
        (q.INSERT_RUNS, columns(q.RUNS)),
        (q.insert_runs("postgresql"), columns(q.RUNS)),
        (record_events("postgresql"), columns(q.EVENTS)),
    ]
    for stmt, keys in statements:
        sql = driver._many_plan(dialect, stmt, tuple(keys), driver.columnar_insert).sql
        assert "unnest(" in sql and sql.count(")b::") == len(keys) and ")s" not in sql, sql
    for t in (q.JOBS, q.RUNS, q.DATASETS):
        keys = ("_id", *columns(t))
        sql = driver._many_plan(dialect, driver._update_one(t, keys[1:]), keys,
                                driver.columnar_update).sql
        assert "unnest(" in sql and sql.count(")b::") == len(keys) and ")s" not in sql, sql
