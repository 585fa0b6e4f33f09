"""The ingest path's hot statements straight through psycopg: compiled once, prepared by the server.

Ingesting one event runs a dozen small statements; through a SQLAlchemy Session each costs about
0.1 ms of CPU in SQLAlchemy alone (rendering "expanding" IN lists anew, building result rows),
more than psycopg and PostgreSQL spend running it. On PostgreSQL these helpers compile a
statement once per shape (the number of values in each IN list), keep its text, bind processors
and result processors, and run it on the session's own connection, in its transaction: the text
is the same every time, so psycopg prepares it on the server after a few runs. Elsewhere (SQLite)
they are the Session's ``execute``. Rows come back with the same names, values and types as the
Session's (result processors applied: timestamps in UTC).
"""

from __future__ import annotations

import re
from collections import namedtuple
from contextlib import contextmanager
from functools import cache

from sqlalchemy import bindparam, cast, func, select, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

_PLANS: dict = {}
_PLAN_LIMIT = 4096  # shapes kept; a batch of new sizes past it starts over


def fetch(session: Session, stmt, params: dict) -> list:
    """The rows of ``stmt`` (a SELECT, or a write with RETURNING) with ``params``: lists for its
    expanding IN parameters; Python-side column defaults of an INSERT filled in."""
    connection = session.connection()
    if connection.dialect.name != "postgresql":
        return list(session.execute(stmt, params))
    plan = _plan(connection.dialect, stmt, params)
    with _driver_errors(plan.sql):
        cursor = connection.connection.driver_connection.cursor()
        try:
            cursor.execute(plan.sql, plan.bind(params, defaults=True))
            return plan.rows(cursor)
        finally:
            cursor.close()


def fetch_all(session: Session, queries: list[tuple]) -> list[list]:
    """The rows of each ``(stmt, params)`` of ``queries``, run in order in one round trip.

    On PostgreSQL the statements go out back to back in pipeline mode and run one after the
    other, as they would one by one (a lock the first takes is held when the next runs);
    elsewhere they are :func:`fetch` in turn.
    """
    connection = session.connection()
    if connection.dialect.name != "postgresql" or len(queries) < 2:
        return [fetch(session, stmt, params) for stmt, params in queries]
    plans = [_plan(connection.dialect, stmt, params) for stmt, params in queries]
    conn = connection.connection.driver_connection
    cursors = [conn.cursor() for _ in plans]
    try:
        with _driver_errors(plans[0].sql):
            with conn.pipeline():
                for cursor, plan, (_, params) in zip(cursors, plans, queries, strict=True):
                    cursor.execute(plan.sql, plan.bind(params, defaults=True))
            return [plan.rows(cursor) for cursor, plan in zip(cursors, plans, strict=True)]
    finally:
        for cursor in cursors:
            cursor.close()


def execute_many(session: Session, stmt, rows: list[dict], *, columnar: bool = False) -> None:
    """Run the INSERT or UPDATE ``stmt`` (no RETURNING) once per dict of ``rows``.

    Every dict has the same keys, naming the statement's columns or bound parameters; Python-side
    defaults of the columns left out (``created_at``, ``updated_at`` on update) are filled in as
    SQLAlchemy would. Inside :func:`catalog.db.pipelined` the rows go out without waiting.

    ``columnar`` (an INSERT whose values are all the rows' own): on PostgreSQL the rows go out
    as one statement, a column per array (:func:`columnar_insert`); the same text every time,
    prepared once, and one execution on the server instead of one per row (a batch of 250
    events: -8% CPU on each side). The caller guarantees what one statement needs and one per
    row does not: no two rows share a conflict key (``ON CONFLICT DO UPDATE``).
    """
    if columnar and len(rows) > 1 and session.connection().dialect.name == "postgresql":
        _run_columnar(session, stmt, rows, columnar_insert)
    else:
        _run_many(session, stmt, rows, returning=False)


def update_by_id(session: Session, table, rows: list[dict]) -> None:
    """UPDATE ``table``'s row whose id is each row's ``_id`` with the row's other keys (columns).

    Every dict has the same keys; ``onupdate`` defaults are filled in. On PostgreSQL several rows
    go out as one ``UPDATE ... FROM unnest(...)`` (:func:`columnar_update`): ids must not repeat.
    """
    if not rows:
        return
    columns = tuple(k for k in rows[0] if k != "_id")
    stmt = _update_one(table, columns)
    if len(rows) > 1 and session.connection().dialect.name == "postgresql":
        _run_columnar(session, stmt, rows, columnar_update)
    else:
        _run_many(session, stmt, rows, returning=False)


@cache
def _update_one(table, columns: tuple[str, ...]):
    """UPDATE ``columns`` of the row whose id is ``_id`` (one row per execution)."""
    return update(table).where(table.c.id == bindparam("_id")).values(
        {c: bindparam(c) for c in columns})


def insert_many_returning(session: Session, stmt, rows: list[dict], *,
                          columnar: bool = False) -> list[tuple]:
    """Run the one-row ``INSERT ... RETURNING`` ``stmt`` for each of ``rows``; what it returned.

    On PostgreSQL this is psycopg's own ``executemany(returning=True)``: one short prepared
    statement, its rows pipelined in one round trip (one row: a plain execute). SQLAlchemy would
    paste every row into one statement instead ("insertmanyvalues"), a text psycopg parses again
    for each batch; for a batch of 250 raw events that cost twice the time and nearly three times
    the CPU (measured, bench/RESULTS.md). Elsewhere it is SQLAlchemy's executemany. The rows'
    keys name the statement's columns; Python-side column defaults (``created_at``...) are filled
    in as SQLAlchemy would, and JSON values serialised by the engine's serializer.

    ``columnar``: on PostgreSQL one statement of arrays, as for :func:`execute_many`; the rows
    it returns then come in no particular order.
    """
    if not getattr(stmt, "is_insert", False) or not stmt.returning_column_descriptions:
        raise ValueError("insert_many_returning takes INSERT ... RETURNING statements only")
    if columnar and len(rows) > 1 and session.connection().dialect.name == "postgresql":
        return _run_columnar(session, stmt, rows, columnar_insert, returning=True)
    return _run_many(session, stmt, rows, returning=True)


def _run_many(session: Session, stmt, rows: list[dict], returning: bool) -> list[tuple]:
    if not rows:
        return []
    connection = session.connection()
    dialect = connection.dialect
    if dialect.name != "postgresql":
        result = session.execute(stmt, rows)
        return [tuple(r) for r in result] if returning else []
    plan = _many_plan(dialect, stmt, tuple(rows[0]))
    fixed = {k: make() for k, make in plan.defaults.items()}
    params = [plan.bind({**fixed, **row}) for row in rows]
    with _driver_errors(plan.sql):
        cursor = connection.connection.driver_connection.cursor()
        try:
            if not returning:
                cursor.executemany(plan.sql, params)
                return []
            if len(params) == 1:  # one row: a plain execute, without entering pipeline mode
                cursor.execute(plan.sql, params[0])
                return cursor.fetchall()
            cursor.executemany(plan.sql, params, returning=True)
            out: list[tuple] = []
            while True:
                out.extend(cursor.fetchall())
                if not cursor.nextset():
                    return out
        finally:
            cursor.close()


def _run_columnar(session: Session, stmt, rows: list[dict], build, returning: bool = False) -> list:
    connection = session.connection()
    plan = _many_plan(connection.dialect, stmt, tuple(rows[0]), columnar=build)
    fixed = {k: make() for k, make in plan.defaults.items()}
    bound = [plan.bind({**fixed, **row}) for row in rows]
    arrays = {name: [b[name] for b in bound] for name in bound[0]}
    with _driver_errors(plan.sql):
        cursor = connection.connection.driver_connection.cursor()
        try:
            cursor.execute(plan.sql, arrays)
            return cursor.fetchall() if returning else []
        finally:
            cursor.close()


def columnar_insert(stmt, names: list[str]):
    """The one-row INSERT ``stmt`` (ON CONFLICT and RETURNING kept) for arrays of values:
    ``INSERT INTO t (a, b) SELECT v.a, v.b FROM unnest(CAST(:a AS INTEGER[]), ...) AS v(a, b)``
    inserts a row per element, in order; ``names`` are the columns given, defaults included."""
    if not getattr(stmt, "is_insert", False):
        raise ValueError(f"columnar_insert takes an Insert construct, not {type(stmt).__name__}")
    table = stmt.table
    rows = _unnest({name: _column(table, name).type for name in names})
    return stmt.from_select(names, select(*rows.c))


def columnar_update(stmt, names: list[str]):
    """The UPDATE of one row by id ``stmt``'s table for arrays: the rows whose ids are the array
    ``_id`` take the arrays of the other ``names``: ``UPDATE t SET a=v.a FROM unnest(CAST(:a AS
    ...), CAST(:_id AS ...)) AS v(a, _id) WHERE t.id = v._id`` (ids must not repeat)."""
    if not getattr(stmt, "is_update", False):
        raise ValueError(f"columnar_update takes an Update construct, not {type(stmt).__name__}")
    table = stmt.table
    types = {name: _column(table, "id" if name == "_id" else name).type for name in names}
    if "_id" not in types or len(types) < 2:
        raise ValueError(f"columnar_update needs _id and a column, not {names}")
    rows = _unnest(types)
    return update(table).values({n: rows.c[n] for n in types if n != "_id"}).where(
        table.c.id == rows.c["_id"])


def _column(table, name: str):
    if name not in table.c:
        raise ValueError(f"{table.name} has no column {name!r}")
    return table.c[name]


def _unnest(types: dict):
    """``unnest(...) AS v(name, ...)``: one array parameter per name, each cast to its element
    type's array."""
    return func.unnest(*(cast(bindparam(name, type_=ARRAY(t)), ARRAY(t))
                         for name, t in types.items())).table_valued(*types).render_derived("v")


_PLACEHOLDER = re.compile(r"%\((\w+)\)s")


def _binary(compiled, names) -> str:
    """``compiled``'s text with its parameters, exactly ``names``, sent in binary (``%(a)b``):
    psycopg's text format escapes every array element with a regular expression."""
    if set(compiled.binds) != set(names):
        raise ValueError(f"parameters {sorted(compiled.binds)} are not the rows' {sorted(names)}")
    return _PLACEHOLDER.sub(r"%(\1)b", compiled.string)


@contextmanager
def _driver_errors(sql: str):
    """psycopg's errors as SQLAlchemy's DBAPIError, so retries and error mapping see them."""
    import psycopg

    try:
        yield
    except psycopg.Error as exc:
        raise DBAPIError.instance(sql, None, exc, psycopg.Error) from exc


class _Plan:
    """One statement compiled for one shape of parameters."""

    def __init__(self, sql: str, processors: dict, expanding: dict, columns=None):
        self.sql = sql
        self.processors = processors  # by (flattened) parameter name
        self.expanding = expanding  # expanding parameter name -> True if its values are tuples
        self.defaults: dict = {}  # column key -> maker of its Python-side default
        self.constants: dict = {}  # the statement's own bound values (literals), processed
        self.row_type = None  # for a text() statement: named after its first answer
        self.result_processors = None
        if columns is not None and columns[0]:
            keys, self.result_processors = columns
            self.row_type = namedtuple("Row", keys)  # noqa: PYI024 - built per statement

    def bind(self, params: dict, defaults: bool = False) -> dict:
        """``params`` flattened as SQLAlchemy expands them, processed, with the constants."""
        if defaults and self.defaults:
            params = {**{k: make() for k, make in self.defaults.items()}, **params}
        out = {}
        for name, value in params.items():
            tuples = self.expanding.get(name)
            if tuples is None:
                out[name] = value
            elif tuples:
                for i, values in enumerate(value, 1):
                    for j, v in enumerate(values, 1):
                        out[f"{name}_{i}_{j}"] = v
            else:
                for i, v in enumerate(value, 1):
                    out[f"{name}_{i}"] = v
        for name, process in self.processors.items():
            if name in out:
                out[name] = process(out[name])
        if self.constants:
            out.update(self.constants)
        return out

    def rows(self, cursor) -> list:
        """The cursor's rows, typed and named as SQLAlchemy's."""
        if self.row_type is None:
            self.row_type = namedtuple(  # noqa: PYI024
                "Row", [c.name for c in cursor.description or ()], rename=True)
        return [self.row(r) for r in cursor.fetchall()]

    def row(self, raw: tuple):
        procs = self.result_processors
        return self.row_type._make(raw if procs is None else (
            v if p is None else p(v) for v, p in zip(raw, procs, strict=True)))


def _shape(params: dict) -> tuple:
    return tuple(sorted(
        (k, len(v), len(v[0]) if v and isinstance(v[0], tuple) else 0)
        if isinstance(v, list | tuple) else (k, -1, 0) for k, v in params.items()))


def _plan(dialect, stmt, params: dict) -> _Plan:
    key = (id(stmt), _shape(params))
    plan = _PLANS.get(key)
    if plan is None:
        compiled = stmt.compile(dialect=dialect, column_keys=list(params))
        expanding = {b.key: bool(params.get(b.key)) and isinstance(params[b.key][0], tuple)
                     for b in compiled.binds.values() if b.expanding}
        columns = compiled._result_columns
        procs = [c[3]._cached_result_processor(dialect, None) for c in columns]
        _defaults(compiled, defaults := {})
        state = compiled.construct_expanded_state(
            {**{k: make() for k, make in defaults.items()}, **params})
        processors = {**_bind_processors(dialect, compiled), **state.processors}
        plan = _Plan(state.statement, processors, expanding,
                     ([c[0] for c in columns], None if not any(procs) else procs))
        plan.defaults = defaults
        given = plan.bind(params, defaults=True)
        expected = {k: (processors[k](v) if k in processors else v)
                    for k, v in state.parameters.items()}
        # The flattening must be SQLAlchemy's own (checked once per shape); what it does not
        # name are the statement's own literals.
        if given.keys() - expected.keys():
            raise AssertionError(f"parameters of {stmt} flatten to {sorted(given)}, "
                                 f"SQLAlchemy's to {sorted(expected)}")
        plan.constants = {k: v for k, v in expected.items() if k not in given}
        _remember(key, plan, stmt)
    return plan


def _many_plan(dialect, stmt, keys: tuple[str, ...], columnar=None) -> _Plan:
    """``stmt`` compiled for rows with ``keys``; with ``columnar`` (a builder of the statement
    for arrays of the given names, :func:`columnar_insert`...), the text is that statement's,
    the parameters' processing still one row's (each array's elements processed alike)."""
    key = (id(stmt), keys, columnar is not None)
    plan = _PLANS.get(key)
    if plan is None:
        compiled = stmt.compile(dialect=dialect, column_keys=list(keys))
        plan = _Plan(compiled.string, _bind_processors(dialect, compiled), {})
        _defaults(compiled, plan.defaults)
        if columnar is not None:
            names = [*keys, *(k for k in plan.defaults if k not in keys)]
            plan.sql = _binary(columnar(stmt, names).compile(dialect=dialect), names)
        _remember(key, plan, stmt)
    return plan


def _bind_processors(dialect, compiled) -> dict:
    """The bind processors of ``compiled``'s parameters (JSON, UTC timestamps...), by name."""
    processors = {}
    for name, bind in compiled.binds.items():
        if not bind.expanding:
            processor = bind.type.dialect_impl(dialect).bind_processor(dialect)
            if processor is not None:
                processors[name] = processor
    return processors


def _defaults(compiled, into: dict) -> None:
    """Makers of the Python-side defaults SQLAlchemy would compute for ``compiled``."""
    for column, default in [*((c, c.default) for c in compiled.insert_prefetch),
                            *((c, c.onupdate) for c in compiled.update_prefetch)]:
        if default.is_callable:
            into[column.key] = lambda d=default: d.arg(None)
        elif default.is_scalar:
            into[column.key] = lambda d=default: d.arg
        else:
            raise ValueError(f"cannot pre-compute the default of {column}")


def _remember(key, plan: _Plan, stmt) -> None:
    if len(_PLANS) >= _PLAN_LIMIT:
        _PLANS.clear()
    plan.stmt = stmt  # keeps the statement alive, so its id() is never reused for another
    _PLANS[key] = plan
