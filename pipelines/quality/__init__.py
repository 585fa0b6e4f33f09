"""Great Expectations suites for pipeline output tables, computed as SQL inside DuckDB (or, for
the Spark engine, by GE's Spark execution engine: ``validate_spark``).

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
joins it back; on DuckDB, ``uniqueness.install_duckdb_uniqueness`` gives those two metrics
providers that group once into a temporary table of duplicate keys (proven equal to GE's own SQL
and to its pandas engine by the tests), and ``duckdb_adapter.open_for`` lets DuckDB group dense
integer keys with an array. Where an integer key is unique, one bitmap of its range (or, for a
user and a per-user counter, of positions by offsets: ``dense_key``) proves it and the grouping
is skipped; the proof is shared by the validation's checks.

Layout: this module holds suites, validation and results; ``duckdb_adapter`` the DBAPI layer;
``uniqueness`` the two metric providers.

Known differences left alone: with a date-only bound on a timestamp column GE's SQL engine
compares (and reports) dates while its pandas engine raises, so give timestamp bounds in full
ISO form ("2024-01-01T00:00:00"). Regex patterns run as RE2 in DuckDB, Python ``re`` in pandas.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.abc
import importlib.util
import json
import math
import sys
import threading
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from pipelines import sandbox
from pipelines.quality.duckdb_adapter import enable_regex, engine_kwargs, open_for
from pipelines.quality.uniqueness import install_duckdb_uniqueness

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
        open_duckdb = functools.partial(sandbox.connect, db)
    else:
        # duckdb.connect would quietly create an empty database instead.
        raise FileNotFoundError(f"DuckDB database not found: {db}")
    ds = _context().data_sources.add_sql(
        name="duckdb", connection_string="duckdb://",
        kwargs=engine_kwargs(functools.partial(open_for, open_duckdb, table)),
    )
    try:
        asset = ds.add_table_asset(name="table", table_name=table)
        batch = asset.add_batch_definition_whole_table("all").get_batch()
        enable_regex(ds.get_execution_engine())
        return _run(batch, suite, table, start)
    finally:
        # Release DuckDB's file handles now, not whenever the engines are collected.
        ds.get_execution_engine().close()
        ds.get_engine().dispose()


def validate_spark(df: Any, table: str, suite: dict) -> SuiteResult:
    """Validate a Spark DataFrame (``table``'s content) with GE's Spark execution engine.

    GE computes every metric with Spark; the tests prove its verdicts and observed values equal
    to those of the DuckDB validation above, expectation by expectation.
    """
    check_suite(suite)
    start = time.perf_counter()
    asset = _context().data_sources.add_spark(name="spark").add_dataframe_asset(name="frame")
    batch = asset.add_batch_definition_whole_dataframe("all").get_batch(
        batch_parameters={"dataframe": df}
    )
    return _run(batch, suite, table, start)


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
        actual = _canonical_number(
            o.observed.get("observed_value", o.observed.get("unexpected_count")))
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


# Significant digits of an observed float in the catalog: a mean's last bits depend on the order
# an engine summed in (DuckDB's threads, Spark's partitions); the record must not.
OBSERVED_DIGITS = 12


def _canonical_number(value: Any) -> Any:
    if isinstance(value, float) and math.isfinite(value):
        return float(f"{value:.{OBSERVED_DIGITS}g}")
    return value


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
        great_expectations = _import_ge()
    with _INSTALL_LOCK:
        install_duckdb_uniqueness()
    return great_expectations


_INSTALL_LOCK = threading.Lock()


def _ignore_sre_deprecation() -> None:
    # GE 1.24 imports the stdlib's deprecated sre_constants and sre_parse modules.
    warnings.filterwarnings("ignore", r"module 'sre_\w+' is deprecated", DeprecationWarning)


# Modules GE imports at module level only for what the pipelines never run: scipy.stats for its
# distribution expectations (KS tests, KL divergence; not in SUPPORTED_EXPECTATIONS) and altair
# for the charts of rendered data docs. Imported lazily they cost nothing until first touched
# (then they load in full); eagerly they were 1.0 s of GE's 3.0 s import.
LAZY_FOR_GE = ("altair", "scipy.stats")


class _LazyFinder(importlib.abc.MetaPathFinder):
    """Finds ``names`` as the other finders do, with a loader that runs them on first use."""

    def __init__(self, names: tuple[str, ...]) -> None:
        self.names = frozenset(names)

    def find_spec(self, name, path, target=None):
        if name not in self.names:
            return None
        for finder in sys.meta_path:
            find = getattr(finder, "find_spec", None)
            if isinstance(finder, _LazyFinder) or find is None:
                continue
            spec = find(name, path, target)
            if spec is not None:
                if spec.loader is None or not hasattr(spec.loader, "exec_module"):
                    return None  # not a module LazyLoader can defer: import it as usual
                spec.loader = importlib.util.LazyLoader(spec.loader)
                return spec
        return None


@contextlib.contextmanager
def _lazily(names: tuple[str, ...]):
    """Within the block, importing one of ``names`` (not yet imported) defers running it."""
    finder = _LazyFinder(names)
    sys.meta_path.insert(0, finder)
    try:
        yield
    finally:
        sys.meta_path.remove(finder)


def _import_ge() -> Any:
    """``import great_expectations``, with :data:`LAZY_FOR_GE` deferred.

    Python 3.11's LazyLoader is not safe when two threads touch a lazy module for the first
    time at once (fixed in 3.12.3); nothing on the pipelines' path touches these two.
    """
    # Always through the import system: a thread importing GE right now holds its module lock,
    # and this waits for it instead of taking the half-initialized module from sys.modules.
    with _lazily(LAZY_FOR_GE):
        return importlib.import_module("great_expectations")


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
    thread = threading.Thread(target=_import_ge, name="import-great-expectations", daemon=True)
    thread.start()
    return thread


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
