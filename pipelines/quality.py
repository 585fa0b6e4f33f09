"""Great Expectations suites for pipeline output tables, computed as SQL inside DuckDB.

GE 1.24's SQL engine on DuckDB (through duckdb-engine) loses every query result: duckdb-engine's
DBAPI cursor is the DuckDB connection itself, and a DuckDB connection holds one pending result.
GE's ``execute_query`` returns its result only after leaving ``with engine.connect()``, and
closing that SQLAlchemy connection rolls back its implicit transaction; the ROLLBACK runs on the
same DuckDB connection and replaces the pending result, so ``fetchall()`` returns ``[]`` and
``resolve_metric_bundle`` fails on ``res[0]`` (GE issues 10738, 11579). A persistent connection
(StaticPool) does not help: the ROLLBACK at close still runs.

The fix is at the DBAPI layer, below GE and SQLAlchemy: each cursor reads its whole result when it
executes, so nothing run later on the connection can take it away. GE still builds every metric
as SQL and DuckDB computes it; only aggregate rows and GE's bounded samples of unexpected values
cross into Python (the tests count them).

Speed: GE's SQL for its two uniqueness expectations groups the whole table twice per check and
joins it back; on DuckDB this module gives those two metrics providers that group once into a
temporary table of duplicate keys (``_install_duckdb_uniqueness``, proven equal to GE's own SQL
and to its pandas engine by the tests), and lets DuckDB group dense integer keys with an array
(``_open_for``).

Known differences left alone: with a date-only bound on a timestamp column GE's SQL engine
compares (and reports) dates while its pandas engine raises, so give timestamp bounds in full
ISO form ("2024-01-01T00:00:00"). Regex patterns run as RE2 in DuckDB, Python ``re`` in pandas.
"""

from __future__ import annotations

import functools
import importlib
import json
import math
import sys
import threading
import time
import uuid
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import ClauseElement, Executable

SEVERITIES = ("critical", "warning")

# Expectations whose DuckDB results the tests prove equal to GE's pandas engine; others are
# refused rather than trusted unchecked.
SUPPORTED_EXPECTATIONS = frozenset({
    "expect_column_values_to_not_be_null", "expect_column_values_to_be_between",
    "expect_column_values_to_be_in_set", "expect_column_values_to_be_unique",
    "expect_column_values_to_match_regex", "expect_table_row_count_to_be_between",
    "expect_column_min_to_be_between", "expect_column_max_to_be_between",
    "expect_column_mean_to_be_between", "expect_compound_columns_to_be_unique",
    "expect_column_proportion_of_unique_values_to_be_between",
    "expect_table_columns_to_match_set", "expect_table_columns_to_match_ordered_list",
})

# Row positions mean different things per engine (pandas index vs none in SQL): not compared.
_ENGINE_SPECIFIC_KEYS = ("partial_unexpected_index_list", "unexpected_index_list",
                         "unexpected_index_query", "unexpected_index_column_names")
_POSITION = "_pipelines_quality_position"
# SUMMARY makes GE put LIMIT on every query that lists unexpected values, which the
# buffering cursors below rely on (COMPLETE would buffer every unexpected row).
_RESULT_FORMAT = {"result_format": "SUMMARY", "partial_unexpected_count": 20}


@dataclass
class ExpectationOutcome:
    """One expectation's verdict on one table."""

    expectation_type: str
    column: str | None
    kwargs: dict
    success: bool
    severity: str  # "critical" blocks downstream use; "warning" is reported only
    observed: dict  # GE's result dict, JSON-safe (observed_value, unexpected_count, ...)


@dataclass
class SuiteResult:
    """A whole suite's outcome; ``success`` means every expectation passed."""

    suite: str
    table: str
    success: bool
    outcomes: list[ExpectationOutcome]
    critical_failures: list[ExpectationOutcome]
    elapsed_s: float


class QualityError(RuntimeError):
    """GE could not evaluate an expectation at all (as opposed to the data failing it)."""


def load_suite(path: str | Path) -> dict:
    """Read and check a suite JSON file; raise ValueError naming the file and the problem."""
    path = Path(path)
    try:
        suite = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValueError(f"{path}: suite file not found") from None
    except json.JSONDecodeError as e:
        msg = f"{path}: not valid JSON: {e.msg} (line {e.lineno}, column {e.colno})"
        raise ValueError(msg) from None
    check_suite(suite, where=str(path))
    return suite


def check_suite(suite: Any, where: str = "suite") -> None:
    """Raise ValueError unless ``suite`` is a well-formed suite of supported expectations."""
    if not isinstance(suite, dict):
        raise ValueError(f"{where}: top level must be a JSON object, got {type(suite).__name__}")
    unknown = set(suite) - {"name", "table", "expectations", "description"}
    if unknown:
        raise ValueError(f"{where}: unknown top-level key(s) {sorted(unknown)}")
    for key in ("name", "table"):
        if not isinstance(suite.get(key), str) or not suite[key].strip():
            raise ValueError(f"{where}: '{key}' must be a non-empty string")
    exps = suite.get("expectations")
    if not isinstance(exps, list) or not exps:
        raise ValueError(f"{where}: 'expectations' must be a non-empty list")
    for i, exp in enumerate(exps):
        _check_expectation(exp, f"{where}: expectations[{i}]")


def _check_expectation(exp: Any, where: str) -> None:
    if not isinstance(exp, dict):
        raise ValueError(f"{where}: must be an object, got {type(exp).__name__}")
    unknown = set(exp) - {"type", "kwargs", "meta"}
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {sorted(unknown)}")
    etype = exp.get("type")
    if etype not in SUPPORTED_EXPECTATIONS:
        raise ValueError(
            f"{where}: unsupported expectation type {etype!r}; "
            f"supported: {', '.join(sorted(SUPPORTED_EXPECTATIONS))}"
        )
    where = f"{where} ({etype})"
    if not isinstance(exp.get("kwargs"), dict):
        raise ValueError(f"{where}: 'kwargs' must be an object")
    meta = exp.get("meta", {})
    if not isinstance(meta, dict):
        raise ValueError(f"{where}: 'meta' must be an object")
    if meta.get("severity", "critical") not in SEVERITIES:
        raise ValueError(f"{where}: meta.severity must be one of {SEVERITIES}, got "
                         f"{meta['severity']!r}")
    try:
        _to_ge_expectation(exp)  # GE's own model checks the kwargs (names, types, ranges)
    except (ValueError, TypeError) as e:
        detail = " ".join(str(e).split())
        raise ValueError(f"{where}: invalid kwargs: {detail}") from None


def validate_duckdb(
    db: str | Path | duckdb.DuckDBPyConnection, table: str, suite: dict
) -> SuiteResult:
    """Validate ``table`` in a DuckDB file or connection with GE's SQL engine, inside DuckDB.

    With a connection, GE works on its own cursor (a sibling connection to the same database),
    so it sees committed data only; DuckDB's default autocommit makes that everything.
    """
    check_suite(suite)
    start = time.perf_counter()
    if isinstance(db, duckdb.DuckDBPyConnection):
        open_duckdb = db.cursor
    elif Path(db).is_file():
        open_duckdb = functools.partial(duckdb.connect, str(db))
    else:
        # duckdb.connect would quietly create an empty database instead.
        raise FileNotFoundError(f"DuckDB database not found: {db}")
    ds = _context().data_sources.add_sql(
        name="duckdb", connection_string="duckdb://",
        kwargs=_engine_kwargs(functools.partial(_open_for, open_duckdb, table)),
    )
    try:
        asset = ds.add_table_asset(name="table", table_name=table)
        batch = asset.add_batch_definition_whole_table("all").get_batch()
        _enable_regex(ds.get_execution_engine())
        return _run(batch, suite, table, start)
    finally:
        # Release DuckDB's file handles now, not whenever the engines are collected.
        ds.get_execution_engine().close()
        ds.get_engine().dispose()


def validate_pandas(df: Any, suite: dict) -> SuiteResult:
    """Validate a pandas DataFrame with GE's pandas engine (small data and equivalence tests)."""
    check_suite(suite)
    start = time.perf_counter()
    asset = _context().data_sources.add_pandas(name="pandas").add_dataframe_asset(name="frame")
    batch = asset.add_batch_definition_whole_dataframe("all").get_batch(
        batch_parameters={"dataframe": df}
    )
    return _run(batch, suite, suite["table"], start)


def to_openlineage_assertions(result: SuiteResult) -> list[dict]:
    """Outcomes as items of OpenLineage's dataQualityAssertions facet (spec 1-1-0 fields)."""
    items = []
    for o in result.outcomes:
        params = {k: v for k, v in o.kwargs.items() if k != "column"}
        actual = o.observed.get("observed_value", o.observed.get("unexpected_count"))
        items.append({
            "assertion": o.expectation_type,
            "column": o.column,
            "success": o.success,
            "severity": o.severity,
            "name": ".".join(filter(None, (result.suite, o.expectation_type, o.column))),
            # The facet types expected/actual as strings; JSON keeps them machine-readable.
            "expected": json.dumps(params, sort_keys=True),
            "actual": None if actual is None else json.dumps(actual),
            "params": params,
        })
    return items


class _BufferedCursor:
    """DBAPI cursor that reads its whole result at execute time.

    duckdb-engine's cursor shares the connection's single pending result; reading it at once
    keeps it safe from the BEGIN/ROLLBACK/queries SQLAlchemy issues before GE fetches.
    """

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self._rows: list = []
        self._pos = 0
        self.description = None
        self.rowcount = -1
        self.arraysize = 1

    def execute(self, statement: str, parameters: Any = None, *args: Any) -> None:
        """Run ``statement`` and read all its rows (if any) before returning."""
        self._inner.execute(statement, parameters, *args)
        self.description = self._inner.description
        self.rowcount = self._inner.rowcount
        self._rows = self._inner.fetchall() if self.description else []
        self._pos = 0

    def executemany(self, statement: str, parameters: Any = None, *args: Any) -> None:
        """Run ``statement`` once per parameter set; it returns no rows."""
        self._inner.executemany(statement, parameters, *args)
        self.description, self._rows, self._pos = None, [], 0

    def fetchone(self) -> Any:
        """Next buffered row, or None."""
        if self._pos >= len(self._rows):
            return None
        self._pos += 1
        return self._rows[self._pos - 1]

    def fetchmany(self, size: int | None = None) -> list:
        """Up to ``size`` (default ``arraysize``) buffered rows."""
        end = self._pos + (size or self.arraysize)
        rows, self._pos = self._rows[self._pos : end], min(end, len(self._rows))
        return rows

    def fetchall(self) -> list:
        """The remaining buffered rows."""
        rows, self._pos = self._rows[self._pos :], len(self._rows)
        return rows

    def close(self) -> None:
        """Drop the buffer (duckdb-engine's cursors have nothing to close)."""
        self._rows, self._pos = [], 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class _BufferedConnection:
    """duckdb-engine connection whose cursors are :class:`_BufferedCursor`."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def cursor(self) -> _BufferedCursor:
        """A cursor that buffers its result."""
        return _BufferedCursor(self._inner.cursor())

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def _open_for(open_duckdb: Callable[[], duckdb.DuckDBPyConnection],
              table: str) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection for validating ``table``, tuned for GE's uniqueness queries.

    GE groups whole columns to find duplicates. DuckDB groups small-range integer keys with
    a plain array instead of a hash table ("perfect hashing") when the key range fits in
    ``perfect_ht_threshold`` bits, by default 12. Raising it to the bits of twice the table's
    row count lets a dense id column (an event id, a row number) use the array, 3-4x faster;
    the array is then at most ~4 entries per row, about what the hash table would have used.
    Only the plan changes, never a result. The setting is per connection: the pipeline's own
    connection keeps DuckDB's defaults.
    """
    con = open_duckdb()
    row = con.execute("select estimated_size from duckdb_tables() "
                      "where table_name = ? and schema_name = current_schema()", [table]
                      ).fetchone()
    if row and row[0]:
        bits = min(max(12, (2 * int(row[0])).bit_length()), _MAX_PERFECT_HASH_BITS)
        con.execute(f"set perfect_ht_threshold = {bits}")
    return con


# 2^28 array entries per thread (~2.4 GB each) is the most a validation may ask DuckDB for.
_MAX_PERFECT_HASH_BITS = 28


def _engine_kwargs(open_duckdb: Callable[[], duckdb.DuckDBPyConnection]) -> dict:
    """``create_engine`` kwargs: duckdb-engine connections with buffering cursors."""
    from duckdb_engine import ConnectionWrapper
    from sqlalchemy.pool import StaticPool

    return {
        "creator": lambda: _BufferedConnection(ConnectionWrapper(open_duckdb())),
        # One DuckDB connection per validation: one view of the data, one handle to release.
        "poolclass": StaticPool,
    }


def _enable_regex(execution_engine: Any) -> None:
    """Let GE compile regex expectations for DuckDB with its PostgreSQL operators.

    GE picks regex SQL by ``dialect_module``, which it leaves None for dialects it does not
    know, and then refuses. duckdb-engine's dialect is a PostgreSQL dialect, and DuckDB's ``~``
    and ``!~`` are regexp_matches (a search, like pandas' ``str.contains``), so GE's PostgreSQL
    branch is right for DuckDB; patterns must be valid RE2.
    """
    from sqlalchemy.dialects import postgresql

    if execution_engine.dialect_name == "duckdb" and execution_engine.dialect_module is None:
        execution_engine.dialect_module = postgresql


def _run(batch: Any, suite: dict, table: str, start: float) -> SuiteResult:
    gx = _gx()
    # GE's meta travels with each result; a position tag maps results back to the suite.
    tagged = [
        {**e, "meta": {**e.get("meta", {}), _POSITION: i}}
        for i, e in enumerate(suite["expectations"])
    ]
    gx_suite = gx.ExpectationSuite(
        name=suite["name"], expectations=[_to_ge_expectation(e) for e in tagged]
    )
    results = batch.validate(gx_suite, result_format=_RESULT_FORMAT).results
    # A metric GE could not compute is no verdict on the data: the upstream DuckDB bug showed
    # up only as failed expectations, so refuse to report those as data failures.
    errors = [f"{r.expectation_config.type}: {e}" for r in results if (e := _error(r))]
    if errors:
        raise QualityError(f"GE could not evaluate suite {suite['name']!r} on {table}: "
                           + "; ".join(errors))
    by_position = {r.expectation_config.meta[_POSITION]: r for r in results}
    outcomes = []
    for i, exp in enumerate(suite["expectations"]):
        r = by_position[i]
        observed = r.to_json_dict().get("result") or {}
        outcomes.append(ExpectationOutcome(
            expectation_type=exp["type"],
            column=exp["kwargs"].get("column"),
            kwargs=_json_safe(exp["kwargs"]),
            success=bool(r.success),
            severity=exp.get("meta", {}).get("severity", "critical"),
            observed={k: _json_safe(v) for k, v in observed.items()
                      if k not in _ENGINE_SPECIFIC_KEYS},
        ))
    critical = [o for o in outcomes if not o.success and o.severity == "critical"]
    return SuiteResult(suite=suite["name"], table=table, success=all(o.success for o in outcomes),
                       outcomes=outcomes, critical_failures=critical,
                       elapsed_s=time.perf_counter() - start)


def _gx() -> Any:
    """Import GE on first use: it takes seconds, and CLI commands that never validate skip it."""
    with warnings.catch_warnings():
        _ignore_sre_deprecation()
        import great_expectations
    with _INSTALL_LOCK:
        _install_duckdb_uniqueness()
    return great_expectations


_INSTALL_LOCK = threading.Lock()


def _ignore_sre_deprecation() -> None:
    # GE 1.24 imports the stdlib's deprecated sre_constants and sre_parse modules.
    warnings.filterwarnings("ignore", r"module 'sre_\w+' is deprecated", DeprecationWarning)


def warm_up() -> threading.Thread | None:
    """Start importing GE in a background thread; None if it is imported already.

    The import is seconds of pure Python. A pipeline starts it before its first step, so that it
    runs while DuckDB (which releases the GIL) builds tables, and the first validation finds GE
    loaded: :func:`_gx` waits on Python's import lock if the thread is not done yet.
    """
    if "great_expectations" in sys.modules:
        return None
    # The two deprecated modules are imported here, where their warnings can be filtered:
    # warning filters are process-wide, so the thread must not change them.
    with warnings.catch_warnings():
        _ignore_sre_deprecation()
        import sre_constants  # noqa: F401
        import sre_parse  # noqa: F401
    thread = threading.Thread(target=importlib.import_module, args=("great_expectations",),
                              name="import-great-expectations", daemon=True)
    thread.start()
    return thread


@functools.cache
def _install_duckdb_uniqueness() -> None:
    """Give GE's two uniqueness map metrics a DuckDB form that groups the keys once.

    On SQL engines GE answers ``expect_column_values_to_be_unique`` and
    ``expect_compound_columns_to_be_unique`` from a "map" selectable holding every row of the
    table with its key's count (a window count, or the table joined to a GROUP BY of all its
    keys), and then runs two queries over it: the unexpected count and a LIMITed sample of
    unexpected values. Each query recomputes the map from scratch, so every uniqueness check
    groups the whole table twice and joins it back. On 10M rows that is most of a suite's time.

    Both queries only ever read the map's rows whose count is >= 2 (the count sums a 0/1 flag
    that is 1 exactly there; the sample filters to them). So on DuckDB the map becomes: the
    duplicated keys with their counts, grouped once and kept in a temporary table of GE's
    connection, joined back to the table. Its rows are exactly the unexpected rows of GE's own map
    with the same counts (a filter on the grouped side moves through an inner join unchanged;
    the single-column join matches keys the way PARTITION BY groups them, IS NOT DISTINCT FROM),
    so GE's count and sample queries, which run unchanged on top of it, return what they return
    on GE's map; the tests compare both with GE's pandas engine and with GE's own SQL. A table
    without duplicates leaves the temporary table empty, and both queries then finish without
    reading the table again. Other dialects keep GE's providers.
    """
    from great_expectations.execution_engine import SqlAlchemyExecutionEngine
    from great_expectations.expectations.metrics.map_metric_provider import (
        column_function_partial,
        multicolumn_function_partial,
    )
    from great_expectations.expectations.registry import _registered_metrics

    engine = SqlAlchemyExecutionEngine.__name__
    for metric, decorate, duckdb_fn in (
        ("column_values.count_per_value.map", column_function_partial, _duckdb_count_per_value),
        ("compound_columns.count.map", multicolumn_function_partial, _duckdb_compound_count),
    ):
        providers = _registered_metrics[metric]["providers"]
        metric_class, ge_fn = providers[engine]
        duckdb_provider = decorate(engine=SqlAlchemyExecutionEngine)(duckdb_fn)
        providers[engine] = (metric_class, _on_duckdb(ge_fn, duckdb_provider))


_ENGINE_KWARG = "_pipelines_execution_engine"


def _on_duckdb(ge_fn: Callable, duckdb_fn: Callable) -> Callable:
    """A metric provider that is ``duckdb_fn`` on DuckDB and GE's ``ge_fn`` elsewhere."""

    @functools.wraps(ge_fn)  # keeps GE's markers (metric_fn_type, domain_type, ...)
    def provider(cls, execution_engine, metric_domain_kwargs, metric_value_kwargs, metrics,
                 runtime_configuration):
        if execution_engine.dialect_name != "duckdb":
            return ge_fn(cls=cls, execution_engine=execution_engine,
                         metric_domain_kwargs=metric_domain_kwargs,
                         metric_value_kwargs=metric_value_kwargs, metrics=metrics,
                         runtime_configuration=runtime_configuration)
        # GE's decorator hands value kwargs to the function: the way to pass it the engine.
        return duckdb_fn(cls=cls, execution_engine=execution_engine,
                         metric_domain_kwargs=metric_domain_kwargs,
                         metric_value_kwargs={**(metric_value_kwargs or {}),
                                              _ENGINE_KWARG: execution_engine},
                         metrics=metrics, runtime_configuration=runtime_configuration)

    return provider


def _duckdb_count_per_value(cls, column, _table, **kwargs):
    """``column_values.count_per_value.map`` for DuckDB: the rows whose value occurs twice or more.

    GE's form is ``select col, count(*) over (partition by col) as _num_rows from domain``.
    """
    import sqlalchemy as sa
    from great_expectations.expectations.metrics.column_map_metrics.column_values_unique import (
        _DUP_KEY_SUBQUERY_ALIAS,
        _count_label,
    )

    label = _count_label(kwargs["_metrics"]["table.columns"])  # the name GE's condition reads
    name = column.name
    source = sa.select(sa.column(name)).select_from(
        _table.subquery() if isinstance(_table, sa.Select) else _table
    ).subquery("column_values_unique_source")
    dups = _materialize(
        kwargs[_ENGINE_KWARG],
        sa.select(source.c[name], sa.func.count().label(label))
        .group_by(source.c[name])
        .having(sa.func.count() >= 2),
        [name, label],
    )
    return (
        sa.select(source.c[name].label(name), dups.c[label].label(label))
        .select_from(source.join(dups, source.c[name].is_not_distinct_from(dups.c[name])))
        .alias(_DUP_KEY_SUBQUERY_ALIAS)
    )


def _duckdb_compound_count(cls, column_list, **kwargs):
    """``compound_columns.count.map`` for DuckDB: the rows whose key occurs twice or more.

    GE's form joins every row of the domain to ``group by column_list`` on equal keys; this is
    the same join with the grouped side cut to ``having count(*) >= 2``.

    When one key column is nearly unique on its own (an id), only rows whose value of that column
    repeats can be in a repeated key, so the key is grouped over those rows alone, found with a
    one-column GROUP BY (an array lookup for dense ids) instead of grouping every row by the
    whole key. The groups found are the same: a repeated key's rows all share one value of the
    column, which therefore repeats, so every row of such a group is kept and counted; rows
    whose value is NULL are left out, and their keys, holding a NULL, never join GE's ``=``
    condition anyway.
    """
    import sqlalchemy as sa

    names = kwargs["_column_names"]
    engine = kwargs[_ENGINE_KWARG]
    original = (
        sa.select(*[sa.column(c) for c in kwargs["_table_columns"]])
        .select_from(kwargs["_table"])
        .alias("original_table_clause")
    )
    grouped = sa.select(*column_list, sa.func.count().label("_num_rows")).select_from(original)
    near_unique = _near_unique_column(engine, original, names)
    if near_unique is not None:
        # Materialized first, so that DuckDB sees how few they are and probes with the table
        # (as one query its estimate is rows/2, and it builds a hash table of the whole table).
        column = original.c[near_unique]
        repeated = _materialize(
            engine, sa.select(column).group_by(column).having(sa.func.count() >= 2), [near_unique])
        grouped = grouped.where(column.in_(sa.select(repeated.c[near_unique])))
    dups = _materialize(engine, grouped.group_by(*column_list).having(sa.func.count() >= 2),
                        [*names, "_num_rows"])
    on = sa.and_(*(dups.c[n] == original.c[n] for n in names))
    return (
        sa.select(original, dups.c["_num_rows"].label("_num_rows"))
        .select_from(original.join(dups, on))
        .alias("records_with_grouped_column_counts_subquery")
    )


# A key column counts as nearly unique when DuckDB's statistics estimate at least this share of
# the rows to hold distinct values (they estimate a unique id column 10-15% low); below it, most
# rows could pass the filter and it would cost more than it saves.
_NEAR_UNIQUE = 0.75


def _near_unique_column(execution_engine: Any, source: Any, names: list[str]) -> str | None:
    """The key column DuckDB's statistics deem most distinct, if nearly unique; else None.

    ``stats()`` reads the estimates DuckDB keeps per column of a table, without a scan. Only the
    plan depends on them: an estimate that is off makes the check slower, never different.
    """
    import sqlalchemy as sa

    (rows,) = execution_engine.execute_query(
        sa.select(sa.func.count()).select_from(source)).fetchone()
    estimates = execution_engine.execute_query(
        sa.select(*[sa.func.stats(source.c[n]) for n in names]).select_from(source).limit(1)
    ).fetchone()
    if not rows or estimates is None:
        return None
    unique = {n: (s or {}).get("approx_unique") or 0 for n, s in zip(names, estimates,
                                                                       strict=True)}
    best = max(names, key=lambda n: unique[n])
    return best if unique[best] >= _NEAR_UNIQUE * rows else None


def _materialize(execution_engine: Any, query: Any, names: list[str]) -> Any:
    """Run ``query`` once into a temporary table of GE's connection; that table, as a selectable.

    The validation holds one DuckDB connection (StaticPool), so the table is visible to every
    later query and goes when the connection closes at the end of the validation.
    """
    import sqlalchemy as sa

    table = f"_pipelines_dups_{uuid.uuid4().hex}"
    execution_engine.execute_query_in_transaction(_CreateTempTableAs(table, query))
    return sa.table(table, *[sa.column(n) for n in names])


class _CreateTempTableAs(Executable, ClauseElement):
    """``CREATE TEMPORARY TABLE name AS <select>``, the select compiled with its bound values."""

    inherit_cache = False  # one-off statements: nothing to gain from SQLAlchemy's cache

    def __init__(self, name: str, select: Any) -> None:
        self.name, self.select = name, select


@compiles(_CreateTempTableAs)
def _compile_create_temp_table_as(element: _CreateTempTableAs, compiler: Any, **kw: Any) -> str:
    name = compiler.preparer.quote(element.name)
    return f"CREATE TEMPORARY TABLE {name} AS {compiler.process(element.select, **kw)}"


def _to_ge_expectation(exp: dict) -> Any:
    _gx()
    from great_expectations.expectations.expectation_configuration import (
        ExpectationConfiguration,
    )

    return ExpectationConfiguration(
        type=exp["type"], kwargs=dict(exp["kwargs"]), meta=dict(exp.get("meta", {}))
    ).to_domain_obj()


def _error(result: Any) -> str | None:
    """The exception message of a result GE could not compute, else None."""
    info = result.exception_info or {}
    # Flat for one expectation, keyed by metric when metrics of a suite failed.
    infos = [info, *(v for v in info.values() if isinstance(v, dict))]
    msgs = [str(i.get("exception_message")) for i in infos if i.get("raised_exception")]
    return "; ".join(dict.fromkeys(msgs)) or None


def _json_safe(value: Any) -> Any:
    """Plain JSON types; non-finite floats become None so the facet stays valid JSON."""
    from great_expectations.util import convert_to_json_serializable

    value = convert_to_json_serializable(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


def _context() -> Any:
    """An in-memory GE context: no files, no usage statistics, no progress bars."""
    gx = _gx()
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    config = DataContextConfig(
        analytics_enabled=False,
        progress_bars=ProgressBarsConfig(globally=False, metric_calculations=False),
        store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False),
    )
    return gx.get_context(mode="ephemeral", project_config=config)
