"""GE suites inside DuckDB: same verdicts as GE's pandas engine, computed in DuckDB, and why."""

from __future__ import annotations

import json
import re

import duckdb
import duckdb_engine
import pytest
import sqlalchemy as sa

from pipelines import quality
from pipelines.quality import duckdb_adapter

ROWS = 10_000
COLUMNS = ["id", "user_id", "dup_key", "price", "maybe", "country", "sku", "ts"]

# Every failing case below has a known number of bad rows, small ones (<= 20) chosen so that
# GE's sample of unexpected values is the complete set and can be compared exactly.
TABLE_SQL = f"""
create table features as
select
    range as id,
    range % 997 as user_id,
    case when range % 2000 = 1 then range - 1 else range end as dup_key,   -- 5 pairs
    case when range % 2500 = 7 then -5.0 else (range % 1000) / 10.0 end as price,  -- 4 < 0
    case when range % 1000 = 1 then null else range % 13 end as maybe,      -- 10 nulls
    case when range % 1250 = 3 then 'XX' else ['DE', 'FR', 'NL'][range % 3 + 1] end
        as country,                                                        -- 8 'XX'
    case when range % 1666 = 5 then 'bad' else printf('sku-%05d', range % 500) end
        as sku,                                                            -- 6 'bad'
    timestamp '2024-01-01' + to_minutes(range) as ts                       -- to 2024-01-07
from range({ROWS})
"""


def _e(etype: str, **kwargs) -> dict:
    return {"type": etype, "kwargs": kwargs}


# (case id, expectation, should it pass)
CASES = [
    ("not_null-pass", _e("expect_column_values_to_not_be_null", column="id"), True),
    ("not_null-nulls", _e("expect_column_values_to_not_be_null", column="maybe"), False),
    ("not_null-mostly", _e("expect_column_values_to_not_be_null", column="maybe", mostly=0.99),
     True),
    ("between-pass", _e("expect_column_values_to_be_between", column="price", min_value=-5,
                        max_value=100), True),
    ("between-out_of_range", _e("expect_column_values_to_be_between", column="price",
                                min_value=0, max_value=100), False),
    ("between-many_out", _e("expect_column_values_to_be_between", column="price", min_value=0,
                            max_value=50), False),
    ("between-nulls_ignored", _e("expect_column_values_to_be_between", column="maybe",
                                 min_value=0, max_value=11), False),
    ("in_set-pass", _e("expect_column_values_to_be_in_set", column="country",
                       value_set=["DE", "FR", "NL", "XX"]), True),
    ("in_set-bad_members", _e("expect_column_values_to_be_in_set", column="country",
                              value_set=["DE", "FR", "NL"]), False),
    ("unique-pass", _e("expect_column_values_to_be_unique", column="id"), True),
    ("unique-duplicates", _e("expect_column_values_to_be_unique", column="dup_key"), False),
    ("unique-mostly_dupes", _e("expect_column_values_to_be_unique", column="user_id"), False),
    ("row_count-pass", _e("expect_table_row_count_to_be_between", min_value=ROWS,
                          max_value=ROWS), True),
    ("row_count-fail", _e("expect_table_row_count_to_be_between", min_value=0,
                          max_value=ROWS - 1), False),
    ("min-pass", _e("expect_column_min_to_be_between", column="price", min_value=-5,
                    max_value=0), True),
    ("min-fail", _e("expect_column_min_to_be_between", column="price", min_value=0,
                    max_value=1), False),
    ("max-pass", _e("expect_column_max_to_be_between", column="maybe", min_value=12,
                    max_value=12), True),
    ("max-fail", _e("expect_column_max_to_be_between", column="price", max_value=99), False),
    ("max-timestamp", _e("expect_column_max_to_be_between", column="ts",
                         min_value="2024-01-07T00:00:00", max_value="2024-01-08T00:00:00"), True),
    ("between-timestamps", _e("expect_column_values_to_be_between", column="ts",
                              min_value="2024-01-01T00:00:00",
                              max_value="2024-01-07T22:30:00"), False),  # last 9 minutes
    ("mean-pass", _e("expect_column_mean_to_be_between", column="price", min_value=49,
                     max_value=50), True),
    ("mean-fail", _e("expect_column_mean_to_be_between", column="user_id", min_value=0,
                     max_value=100), False),
    ("compound_unique-pass", _e("expect_compound_columns_to_be_unique",
                                column_list=["user_id", "id"]), True),
    ("compound_unique-dupes", _e("expect_compound_columns_to_be_unique",
                                 column_list=["user_id", "country"]), False),
    ("proportion_unique-pass", _e("expect_column_proportion_of_unique_values_to_be_between",
                                  column="id", min_value=1, max_value=1), True),
    ("proportion_unique-fail", _e("expect_column_proportion_of_unique_values_to_be_between",
                                  column="user_id", min_value=0.5), False),
    ("columns_set-pass", _e("expect_table_columns_to_match_set", column_set=COLUMNS,
                            exact_match=True), True),
    ("columns_set-missing", _e("expect_table_columns_to_match_set",
                               column_set=[*COLUMNS, "clicks"], exact_match=True), False),
    ("columns_list-pass", _e("expect_table_columns_to_match_ordered_list", column_list=COLUMNS),
     True),
    ("columns_list-order", _e("expect_table_columns_to_match_ordered_list",
                              column_list=COLUMNS[::-1]), False),
    ("regex-anchored", _e("expect_column_values_to_match_regex", column="sku",
                          regex=r"^sku-\d{5}$"), False),
    # Unanchored: passes only with search semantics (pandas' str.contains), not a full match.
    ("regex-search", _e("expect_column_values_to_match_regex", column="sku", regex="ku-|ba"),
     True),
]


@pytest.fixture(scope="module")
def feature_db(tmp_path_factory):
    path = tmp_path_factory.mktemp("quality") / "features.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute(TABLE_SQL)
    return path


@pytest.fixture(scope="module")
def suite():
    return {"name": "features", "table": "features", "expectations": [c[1] for c in CASES]}


@pytest.fixture(scope="module")
def duck_result(feature_db, suite):
    return quality.validate_duckdb(feature_db, "features", suite)


@pytest.fixture(scope="module")
def pandas_result(feature_db, suite):
    with duckdb.connect(str(feature_db), read_only=True) as con:
        df = con.sql("select * from features").df()
    return quality.validate_pandas(df, suite)


def _comparable(observed: dict) -> dict:
    """GE's result with sample lists made order-free; partial samples reduced to their size."""
    obs = dict(observed)
    sample = obs.pop("partial_unexpected_list", None)
    obs.pop("partial_unexpected_counts", None)  # derived from the sample
    if sample is not None:
        if obs["unexpected_count"] > len(sample):
            # Which 20 of the bad rows come back depends on scan order, not on the engine.
            obs["sample_size"] = len(sample)
        else:
            obs["sample"] = sorted(json.dumps(v, sort_keys=True) for v in sample)
    return obs


@pytest.mark.parametrize("index", range(len(CASES)), ids=[c[0] for c in CASES])
def test_duckdb_and_pandas_engines_agree(duck_result, pandas_result, index):
    _, expectation, should_pass = CASES[index]
    duck, pand = duck_result.outcomes[index], pandas_result.outcomes[index]
    assert duck.expectation_type == pand.expectation_type == expectation["type"]
    assert duck.success is pand.success is should_pass
    assert _comparable(duck.observed) == _comparable(pand.observed)
    assert duck.observed, "GE returned no result: the empty-result bug is back"


@pytest.fixture(scope="module")
def spark_result(feature_db, suite, spark, tmp_path_factory):
    """The suite by GE's Spark execution engine, over the same rows as Parquet."""
    path = tmp_path_factory.mktemp("quality-spark") / "features.parquet"
    with duckdb.connect(str(feature_db), read_only=True) as con:
        con.execute("copy features to ? (format parquet)", [str(path)])
    return quality.validate_spark(spark.read.parquet(str(path)), "features", suite)


# PySpark leaves the local socket of each collect() to the garbage collector.
@pytest.mark.filterwarnings("ignore:unclosed <socket.socket:ResourceWarning")
@pytest.mark.parametrize("index", range(len(CASES)), ids=[c[0] for c in CASES])
def test_duckdb_and_spark_engines_agree(duck_result, spark_result, index):
    """The Spark engine's validations: GE's verdicts and observed values equal DuckDB's."""
    _, expectation, should_pass = CASES[index]
    duck, sprk = duck_result.outcomes[index], spark_result.outcomes[index]
    assert sprk.expectation_type == expectation["type"]
    assert duck.success is sprk.success is should_pass
    assert _comparable(duck.observed) == _comparable(sprk.observed)


def test_failing_cases_report_the_planted_bad_rows(duck_result):
    by_case = {c[0]: o for c, o in zip(CASES, duck_result.outcomes, strict=True)}
    assert by_case["not_null-nulls"].observed["unexpected_count"] == 10
    assert by_case["between-out_of_range"].observed["partial_unexpected_list"] == [-5.0] * 4
    assert by_case["in_set-bad_members"].observed["partial_unexpected_list"] == ["XX"] * 8
    assert sorted(by_case["unique-duplicates"].observed["partial_unexpected_list"]) == sorted(
        [0, 2000, 4000, 6000, 8000] * 2
    )
    assert by_case["regex-anchored"].observed["partial_unexpected_list"] == ["bad"] * 6
    assert by_case["min-fail"].observed["observed_value"] == -5.0
    assert by_case["row_count-fail"].observed["observed_value"] == ROWS
    assert by_case["max-timestamp"].observed["observed_value"] == "2024-01-07T22:39:00"
    assert by_case["between-timestamps"].observed["unexpected_count"] == 9


def _validate_with_plain_ge(make_expectation, connection_string: str, **ds_kwargs):
    """One expectation through GE's own SQL datasource, without validate_duckdb's setup."""
    gx = quality._gx()
    ds = quality._context().data_sources.add_sql(
        name="plain", connection_string=connection_string, **ds_kwargs
    )
    try:
        asset = ds.add_table_asset(name="t", table_name="features")
        batch = asset.add_batch_definition_whole_table("all").get_batch()
        return batch.validate(make_expectation(gx.expectations))
    finally:
        ds.get_engine().dispose()
        ds.get_execution_engine().close()


def test_plain_ge_sql_datasource_on_duckdb_fails_as_upstream_reports(feature_db):
    """GE issues 10738/11579. When this starts passing, GE handles DuckDB and the adapter can go."""
    result = _validate_with_plain_ge(
        lambda e: e.ExpectTableRowCountToBeBetween(min_value=1), f"duckdb:///{feature_db}"
    )
    assert result.success is False
    assert result.result == {}
    trace = json.dumps(result.exception_info)
    assert "IndexError: list index out of range" in trace
    assert "resolve_metric_bundle" in trace


@pytest.mark.parametrize("poolclass", [None, sa.pool.StaticPool], ids=["QueuePool", "StaticPool"])
def test_root_cause_rollback_on_close_empties_the_pending_duckdb_result(feature_db, poolclass):
    """duckdb-engine's cursor is the connection; the ROLLBACK at close replaces its result."""
    kwargs = {"poolclass": poolclass} if poolclass else {}
    engine = sa.create_engine(f"duckdb:///{feature_db}", **kwargs)
    try:
        with engine.connect() as conn:
            inside = conn.execute(sa.text("select count(*) from features"))
            conn.rollback()  # what closing the connection does to its implicit transaction
            assert inside.fetchall() == []
        with engine.connect() as conn:  # GE's execute_query: fetch after the with block
            after_close = conn.execute(sa.text("select count(*) from features"))
        assert after_close.fetchall() == []
    finally:
        engine.dispose()

    fixed = sa.create_engine(
        "duckdb://", **duckdb_adapter.engine_kwargs(lambda: duckdb.connect(str(feature_db)))
    )
    try:
        with fixed.connect() as conn:
            result = conn.execute(sa.text("select count(*) from features"))
        assert result.fetchall() == [(ROWS,)]
    finally:
        fixed.dispose()


class _CountingCursor:
    """Stands between duckdb-engine's cursor and everything above it, counting rows out."""

    log: list[tuple[str, int]] = []
    other_calls: list[str] = []

    def __init__(self, inner):
        self._inner = inner
        self._statement = ""

    def execute(self, statement, *args):
        self._statement = " ".join(statement.split())
        return self._inner.execute(statement, *args)

    def _record(self, rows):
        _CountingCursor.log.append((self._statement, len(rows)))
        return rows

    def fetchall(self):
        return self._record(self._inner.fetchall())

    def fetchmany(self, *args):
        return self._record(self._inner.fetchmany(*args))

    def fetchone(self):
        row = self._inner.fetchone()
        self._record([] if row is None else [row])
        return row

    def __getattr__(self, name):
        # Any other way out of DuckDB (df, arrow, fetchnumpy, ...) is recorded by name.
        if name in {"description", "rowcount", "connection", "close", "executemany"}:
            return getattr(self._inner, name)
        _CountingCursor.other_calls.append(name)
        return getattr(self._inner, name)


def test_metrics_are_computed_in_duckdb_not_in_python(feature_db, suite, monkeypatch):
    class CountingConnectionWrapper(duckdb_engine.ConnectionWrapper):
        def cursor(self):
            return _CountingCursor(super().cursor())

    monkeypatch.setattr(_CountingCursor, "log", [])
    monkeypatch.setattr(_CountingCursor, "other_calls", [])
    monkeypatch.setattr(duckdb_engine, "ConnectionWrapper", CountingConnectionWrapper)
    result = quality.validate_duckdb(feature_db, "features", suite)

    assert len(result.outcomes) == len(CASES)
    log = _CountingCursor.log
    on_table = [(sql, n) for sql, n in log if "features" in sql]
    assert len(on_table) >= 10  # GE really queried the table...
    assert max(n for _, n in log) <= 20  # ...and got aggregates or <= 20-row samples back
    assert sum(n for _, n in log) < 500  # of a 10,000-row table
    assert not _CountingCursor.other_calls  # no df()/arrow() export around the cursor
    # Aggregates come back as one row; every query returning rows of the table is LIMITed.
    assert all(" LIMIT " in sql for sql, n in on_table if n > 1)


def test_severity_splits_critical_failures_from_warnings(feature_db):
    suite = {
        "name": "sev",
        "table": "features",
        "expectations": [
            _e("expect_column_values_to_not_be_null", column="maybe"),  # default: critical
            {**_e("expect_column_values_to_be_unique", column="dup_key"),
             "meta": {"severity": "warning"}},
            {**_e("expect_column_values_to_not_be_null", column="id"),
             "meta": {"severity": "critical"}},
        ],
    }
    result = quality.validate_duckdb(feature_db, "features", suite)
    assert [(o.severity, o.success) for o in result.outcomes] == [
        ("critical", False), ("warning", False), ("critical", True)
    ]
    assert result.success is False
    assert [o.column for o in result.critical_failures] == ["maybe"]

    warnings_only = {**suite, "expectations": suite["expectations"][1:]}
    result = quality.validate_duckdb(feature_db, "features", warnings_only)
    assert result.success is False
    assert result.critical_failures == []


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"name": "s", "table": "t", "expectations": [}', r"not valid JSON: .*line 1, column 46"),
        ('["a"]', r"top level must be a JSON object, got list"),
        ('{"name": "s", "table": "t"}', r"'expectations' must be a non-empty list"),
        ('{"name": "", "table": "t", "expectations": []}', r"'name' must be a non-empty string"),
        ('{"name": "s", "table": "t", "expectations": [{"type": "expect_nothing", "kwargs": {}}]}',
         r"expectations\[0\]: unsupported expectation type 'expect_nothing'; supported: "),
        ('{"name": "s", "table": "t", "expectations": [{"type": '
         '"expect_column_values_to_not_be_null", "kwargs": {}}]}',
         r"expectations\[0\] \(expect_column_values_to_not_be_null\): invalid kwargs: .*column"),
        ('{"name": "s", "table": "t", "expectations": [{"type": '
         '"expect_column_values_to_not_be_null", "kwargs": {"column": "a"}, '
         '"meta": {"severity": "error"}}]}',
         r"meta.severity must be one of \('critical', 'warning'\), got 'error'"),
        ('{"name": "s", "table": "t", "expectations": [{"type": '
         '"expect_column_values_to_not_be_null", "kwarg": {"column": "a"}}]}',
         r"expectations\[0\]: unknown key\(s\) \['kwarg'\]"),
    ],
    ids=["json", "not-object", "no-expectations", "empty-name", "unknown-type", "bad-kwargs",
         "bad-severity", "typo-key"],
)
def test_bad_suite_file_names_file_and_problem(tmp_path, content, message):
    path = tmp_path / "events_clean.json"
    path.write_text(content)
    with pytest.raises(ValueError, match=message) as err:
        quality.load_suite(path)
    assert str(err.value).startswith(f"{path}: ")


def test_good_suite_file_loads(tmp_path, suite):
    path = tmp_path / "features.json"
    path.write_text(json.dumps(suite))
    assert quality.load_suite(path) == suite
    with pytest.raises(ValueError, match="suite file not found"):
        quality.load_suite(tmp_path / "missing.json")


def test_to_openlineage_assertions_builds_valid_facet_items(feature_db):
    from openlineage.client.generated import data_quality_assertions_dataset as ol

    suite = {"name": "ol", "table": "features", "expectations": [
        {**_e("expect_column_values_to_be_in_set", column="country", value_set=["DE", "FR"]),
         "meta": {"severity": "warning"}},
        _e("expect_table_row_count_to_be_between", min_value=1),
    ]}
    result = quality.validate_duckdb(feature_db, "features", suite)
    items = quality.to_openlineage_assertions(result)
    with duckdb.connect(str(feature_db), read_only=True) as con:
        (bad,) = con.execute("select count(*) from features where country not in ('DE', 'FR')"
                             ).fetchone()
    assert items == [
        {"assertion": "expect_column_values_to_be_in_set", "column": "country", "success": False,
         "severity": "warning", "name": "ol.expect_column_values_to_be_in_set.country",
         "expected": '{"value_set": ["DE", "FR"]}', "actual": str(bad),
         "params": {"value_set": ["DE", "FR"]}},
        {"assertion": "expect_table_row_count_to_be_between", "column": None, "success": True,
         "severity": "critical", "name": "ol.expect_table_row_count_to_be_between",
         "expected": '{"min_value": 1}', "actual": "10000", "params": {"min_value": 1}},
    ]
    json.dumps(items)
    assert [ol.Assertion(**item).assertion for item in items] == [i["assertion"] for i in items]


def test_observed_floats_reach_the_catalog_at_12_significant_digits(feature_db):
    """A mean's last bits depend on the engine's summation order; the catalog's do not."""
    suite = {"name": "m", "table": "features", "expectations": [
        _e("expect_column_mean_to_be_between", column="price", min_value=0)]}
    result = quality.validate_duckdb(feature_db, "features", suite)
    result.outcomes[0].observed["observed_value"] = 49.495500000000014
    assert quality.to_openlineage_assertions(result)[0]["actual"] == "49.4955"


def test_existing_connection_is_validated_and_left_open(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # GE must write nothing (no gx/ context directory)
    con = duckdb.connect()
    con.execute("create table t as select range as x from range(100)")
    suite = {"name": "t", "table": "t", "expectations": [
        _e("expect_column_max_to_be_between", column="x", min_value=99, max_value=99)]}
    result = quality.validate_duckdb(con, "t", suite)
    assert result.success and result.outcomes[0].observed == {"observed_value": 99}
    assert con.execute("select count(*) from t").fetchone() == (100,)
    assert list(tmp_path.iterdir()) == []


def test_missing_database_file_is_an_error_not_a_new_database(tmp_path):
    path = tmp_path / "nope.duckdb"
    suite = {"name": "t", "table": "t", "expectations": [_e("expect_table_row_count_to_be_between",
                                                            min_value=1)]}
    with pytest.raises(FileNotFoundError, match="nope.duckdb"):
        quality.validate_duckdb(path, "t", suite)
    assert not path.exists()


def test_expectation_ge_cannot_compute_raises_instead_of_failing_quietly(feature_db):
    suite = {"name": "t", "table": "features", "expectations": [
        _e("expect_column_values_to_not_be_null", column="no_such_column")]}
    with pytest.raises(quality.QualityError, match="no_such_column"):
        quality.validate_duckdb(feature_db, "features", suite)


def test_plain_ge_refuses_regex_on_duckdb(feature_db):
    """Without the PostgreSQL-operator shim GE raises; if this fails, drop enable_regex."""
    result = _validate_with_plain_ge(
        lambda e: e.ExpectColumnValuesToMatchRegex(column="sku", regex="ku-"), "duckdb://",
        kwargs=duckdb_adapter.engine_kwargs(lambda: duckdb.connect(str(feature_db))),
    )
    assert result.success is False
    assert "Regex is not supported for dialect duckdb" in json.dumps(result.exception_info)


# --- uniqueness on DuckDB: one GROUP BY per expectation, GE's answers ------------------------

# Duplicates of every kind GE's two uniqueness metrics must count the same way: NULLs (left out
# of single-column checks; a NULL key joins nothing in GE's compound SQL), more duplicated values
# than GE samples (20), NaN and -0.0 (DuckDB groups NaN with NaN and -0.0 with 0.0), strings.
TRICKY_SQL = """
create table tricky as
select
    range as id,
    case when range % 50 = 0 then null when range < 60 then range // 2 else range end
        as ids,                                     -- 28 pairs (0 and 50 are null), 20 nulls
    case when range % 10 = 0 then 'nan'::double when range % 10 = 1 then -0.0
         when range % 10 = 2 then 0.0 else range::double end as x,
    case when range % 333 = 0 then 'dup' else 'v' || range end as s,
    range % 40 as a,
    case when range % 7 = 0 then null else range % 25 end as b,
    case when range % 11 = 0 then null else range % 3 end as c,
    7 - range // 40 as q,                           -- with a: unique, negative values
    range // 80 as q2,                              -- with a: 500 pairs
    case when range % 100 = 0 then null else range end as u,  -- unique but for 10 nulls
    range * 1000003 as wide,                        -- unique, too wide a range for an array
    'x' as tag,
    range % 30 as p1,
    (range // 2) % 30 as p2,                        -- with p1: 60 keys, each repeated
    'w' || (range % 70) as s70,                     -- too many strings to code as integers
    case when range % 97 = 0 then null else 'k' || (range % 3) end as sn,  -- few, and NULLs
    (range // 2) * 1000003 as w2                    -- 500 wide values, each twice
from range(1000)
"""

UNIQUENESS = [
    ("ids", _e("expect_column_values_to_be_unique", column="ids")),
    ("ids-mostly", _e("expect_column_values_to_be_unique", column="ids", mostly=0.9)),
    ("id-pass", _e("expect_column_values_to_be_unique", column="id")),
    ("x-nan-zero", _e("expect_column_values_to_be_unique", column="x")),
    ("s-strings", _e("expect_column_values_to_be_unique", column="s")),
    ("row_condition", _e("expect_column_values_to_be_unique", column="ids",
                         row_condition={"type": "comparison", "column": {"name": "id"},
                                        "operator": "<", "parameter": 40})),
    ("compound-pass", _e("expect_compound_columns_to_be_unique", column_list=["id", "a"])),
    ("compound-nulls", _e("expect_compound_columns_to_be_unique", column_list=["a", "b", "c"])),
    ("compound-any_missing", _e("expect_compound_columns_to_be_unique",
                                column_list=["a", "b", "c"], ignore_row_if="any_value_is_missing")),
    ("compound-never", _e("expect_compound_columns_to_be_unique", column_list=["b", "c"],
                          ignore_row_if="never")),
    ("compound-float", _e("expect_compound_columns_to_be_unique", column_list=["x", "c"])),
    # With a nearly unique member (id, ids), only rows repeating it are grouped by the whole key.
    ("compound-id", _e("expect_compound_columns_to_be_unique", column_list=["s", "id"])),
    ("compound-ids", _e("expect_compound_columns_to_be_unique", column_list=["c", "ids"])),
    ("compound-ids-x", _e("expect_compound_columns_to_be_unique", column_list=["ids", "x"],
                          ignore_row_if="never")),
    # Integer keys without a nearly unique member, counted packed into one BIGINT.
    ("compound-packed", _e("expect_compound_columns_to_be_unique", column_list=["a", "q"])),
    ("compound-packed-dupes", _e("expect_compound_columns_to_be_unique",
                                 column_list=["q2", "a"])),
    ("u-nulls", _e("expect_column_values_to_be_unique", column="u")),
    ("wide", _e("expect_column_values_to_be_unique", column="wide")),
    # A string column and integer ones that together are nearly unique: those are grouped first.
    ("compound-subkey", _e("expect_compound_columns_to_be_unique",
                           column_list=["a", "tag", "q", "p1"])),
    ("compound-subkey-dupes", _e("expect_compound_columns_to_be_unique",
                                 column_list=["p1", "tag", "p2"])),
    # A string of many values is not coded: the integer subkey's repeats are grouped first.
    ("compound-wide-string", _e("expect_compound_columns_to_be_unique",
                                column_list=["a", "s70", "q"])),
    # A few strings with a NULL among them are not coded either.
    ("compound-coded-null", _e("expect_compound_columns_to_be_unique",
                               column_list=["a", "q", "sn"])),
    # Too wide for a bitmap and for offsets, within BIGINT: one count(distinct) decides.
    ("compound-hashed", _e("expect_compound_columns_to_be_unique", column_list=["w2", "p1"])),
    ("compound-hashed-dupes", _e("expect_compound_columns_to_be_unique",
                                 column_list=["w2", "tag"])),
]
# How each compound check is planned: proven unique by one count (an empty table of repeats),
# the repeats of a nearly unique member first, or one grouping of the whole key.
COMPOUND_PLAN = {"compound-pass": "proven", "compound-id": "near_unique",  # s is picked
                 "compound-packed": "proven", "compound-ids": "near_unique",
                 "compound-ids-x": "near_unique", "compound-nulls": "grouped",
                 "compound-any_missing": "grouped", "compound-never": "grouped",
                 "compound-float": "grouped", "compound-packed-dupes": "grouped",
                 # tag holds one string: coded as an integer, the whole key is packed.
                 "compound-subkey": "proven", "compound-subkey-dupes": "near_unique",
                 "compound-wide-string": "grouped", "compound-coded-null": "grouped",
                 "compound-hashed": "proven", "compound-hashed-dupes": "grouped"}


@pytest.fixture(scope="module")
def tricky_db(tmp_path_factory):
    path = tmp_path_factory.mktemp("tricky") / "tricky.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute(TRICKY_SQL)
    return path


@pytest.fixture
def ge_own_uniqueness(monkeypatch):
    """GE's own SQL providers for the two uniqueness maps, as before this module replaced them."""
    from great_expectations.expectations.registry import _registered_metrics

    quality._gx()
    for metric in ("column_values.count_per_value.map", "compound_columns.count.map"):
        providers = _registered_metrics[metric]["providers"]
        metric_class, ours = providers["SqlAlchemyExecutionEngine"]
        monkeypatch.setitem(providers, "SqlAlchemyExecutionEngine",
                            (metric_class, ours.__wrapped__))


def _uniqueness_suite():
    return {"name": "u", "table": "tricky", "expectations": [e for _, e in UNIQUENESS]}


@pytest.fixture(scope="module")
def tricky_ours(tricky_db):
    return quality.validate_duckdb(tricky_db, "tricky", _uniqueness_suite())


@pytest.mark.parametrize("index", range(len(UNIQUENESS)), ids=[u[0] for u in UNIQUENESS])
def test_duckdb_uniqueness_equals_ge_own_sql(tricky_db, tricky_ours, ge_own_uniqueness,
                                             index, sql_log):
    log = sql_log
    suite = {**_uniqueness_suite(), "expectations": [UNIQUENESS[index][1]]}
    theirs = quality.validate_duckdb(tricky_db, "tricky", suite).outcomes[0]
    assert not any("_pipelines_dups_" in sql for sql in log)  # really GE's own providers
    ours = tricky_ours.outcomes[index]
    assert ours.success is theirs.success
    assert _comparable(ours.observed) == _comparable(theirs.observed)


def test_tricky_uniqueness_cases_fail_as_planted(tricky_ours):
    by_case = {name: o for (name, _), o in zip(UNIQUENESS, tricky_ours.outcomes, strict=True)}
    assert by_case["ids"].observed["unexpected_count"] == 56
    assert by_case["ids"].observed["missing_count"] == 20
    assert by_case["ids-mostly"].success and by_case["id-pass"].success
    assert by_case["s-strings"].observed["partial_unexpected_list"] == ["dup"] * 4
    # 100 NaNs, and the -0.0 and 0.0 rows (200) as one value.
    assert by_case["x-nan-zero"].observed["unexpected_count"] == 300
    assert by_case["row_condition"].observed["unexpected_count"] == 38  # 1..19, twice each
    assert by_case["compound-pass"].success and by_case["compound-id"].success
    # The rows of an ids pair (2k, 2k + 1) differ in c and in x.
    assert by_case["compound-ids"].success
    assert by_case["compound-ids-x"].observed["unexpected_count"] == 0
    assert by_case["compound-packed"].success
    assert by_case["compound-packed-dupes"].observed["unexpected_count"] == 960  # not 960-999
    assert by_case["u-nulls"].success and by_case["u-nulls"].observed["missing_count"] == 10
    assert by_case["compound-subkey"].success
    assert by_case["compound-subkey-dupes"].observed["unexpected_count"] == 1000
    assert by_case["compound-wide-string"].success and by_case["compound-coded-null"].success
    assert by_case["compound-hashed"].success
    assert by_case["compound-hashed-dupes"].observed["unexpected_count"] == 1000


# Where GE's SQL and pandas engines agree on the data (no NULL or NaN in the keys).
PANDAS_COMPARABLE = ["ids", "ids-mostly", "id-pass", "s-strings", "row_condition",
                     "compound-pass", "compound-any_missing", "compound-packed",
                     "compound-packed-dupes", "u-nulls", "wide", "compound-subkey",
                     "compound-subkey-dupes", "compound-wide-string", "compound-hashed",
                     "compound-hashed-dupes"]


@pytest.mark.parametrize("name", PANDAS_COMPARABLE)
def test_duckdb_uniqueness_equals_pandas(tricky_db, tricky_ours, name):
    index = [u[0] for u in UNIQUENESS].index(name)
    with duckdb.connect(str(tricky_db), read_only=True) as con:
        df = con.sql("select * from tricky").df()
    pand = quality.validate_pandas(df, {**_uniqueness_suite(),
                                        "expectations": [UNIQUENESS[index][1]]}).outcomes[0]
    ours = tricky_ours.outcomes[index]
    assert ours.success is pand.success
    assert _comparable(ours.observed) == _comparable(pand.observed)


@pytest.mark.parametrize("name", [u[0] for u in UNIQUENESS if "compound" in u[0]])
def test_compound_keys_are_planned_by_what_can_be_proven(tricky_db, name, sql_log):
    log = sql_log
    exp = dict(UNIQUENESS)[name]
    quality.validate_duckdb(tricky_db, "tricky", {"name": "u", "table": "tricky",
                                                  "expectations": [exp]})
    # An offsets proof tried on the way (a table of spans) is not part of the plan.
    creates = [sql for sql in log if sql.startswith("CREATE TEMPORARY TABLE")
               and " AS spans" not in sql]
    plan = COMPOUND_PLAN[name]
    if plan == "proven":  # no grouping at all: the table of repeats is created empty
        assert len(creates) == 1 and creates[0].endswith("LIMIT 0")
        assert _groupings([sql for sql in log
                           if sql not in creates and " AS spans" not in sql]) == 0
    elif plan == "near_unique":  # the member's repeated values, then the keys among them
        assert len(creates) == 2 and " IN (SELECT " in creates[1]
        packed = "CAST(" in creates[0]  # integer members packed into one value
        assert packed is ("subkey" in name)
    else:
        assert len(creates) == 1 and " IN (" not in creates[0] and "LIMIT" not in creates[0]


def test_a_key_with_a_few_strings_is_proven_by_their_codes(tricky_db, sql_log):
    log = sql_log
    exp = dict(UNIQUENESS)["compound-subkey"]  # a, tag, q, p1: tag is 'x' on every row
    result = quality.validate_duckdb(tricky_db, "tricky", {"name": "u", "table": "tricky",
                                                           "expectations": [exp]})
    assert result.success
    counts = [sql for sql in log if "bitstring_agg" in sql]
    assert len(counts) == 1 and "CASE tag WHEN $" in counts[0]


def test_a_wide_key_is_proven_by_one_hashed_count(tricky_db, sql_log):
    log = sql_log
    exp = dict(UNIQUENESS)["compound-hashed"]
    result = quality.validate_duckdb(tricky_db, "tricky", {"name": "u", "table": "tricky",
                                                           "expectations": [exp]})
    assert result.success
    assert sum("count(DISTINCT" in sql for sql in log) == 1
    # Only the offsets proof's spans (grouped by p1, then found too wide) and no key grouping.
    grouped = [sql for sql in log if not sql.endswith("LIMIT 0") and " AS spans" not in sql]
    assert _groupings(grouped) == 0


def test_a_column_proven_unique_is_counted_once_per_validation(tricky_db, sql_log):
    suite = {"name": "u", "table": "tricky", "expectations": [
        _e("expect_column_values_to_be_unique", column="id"),
        _e("expect_compound_columns_to_be_unique", column_list=["c", "id"]),
        _e("expect_compound_columns_to_be_unique", column_list=["a", "id"])]}
    log = sql_log
    result = quality.validate_duckdb(tricky_db, "tricky", suite)
    assert result.success
    counts = [sql for sql in log if "bitstring_agg" in sql]
    assert len(counts) == 1 and "bitstring_agg((CAST(id AS BIGINT)" in counts[0]
    assert _groupings([sql for sql in log if not sql.endswith("LIMIT 0")]) == 0


def _groupings(log: list[str]) -> int:
    """Statements that group rows of the table (not GE's reflection of the catalog)."""
    return sum(("GROUP BY" in sql or "OVER (PARTITION BY" in sql) and "FROM tricky" in sql
               for sql in log)


def test_each_uniqueness_expectation_groups_the_table_once(tricky_db, sql_log):
    suite = {"name": "u", "table": "tricky", "expectations": [
        _e("expect_column_values_to_be_unique", column="ids"),
        _e("expect_compound_columns_to_be_unique", column_list=["a", "b"])]}
    log = sql_log
    quality.validate_duckdb(tricky_db, "tricky", suite)
    assert _groupings(log) == 2
    # The generated name (no value in it) goes through SQLAlchemy's identifier quoting.
    assert sum(re.match(r'CREATE TEMPORARY TABLE _pipelines_dups_[0-9a-f]{32} AS SELECT ', sql)
               is not None for sql in log) == 2


def test_ge_own_sql_groups_each_uniqueness_twice(tricky_db, ge_own_uniqueness, sql_log):
    """What the DuckDB providers save; if GE starts grouping once, they can go."""
    suite = {"name": "u", "table": "tricky", "expectations": [
        _e("expect_column_values_to_be_unique", column="ids"),
        _e("expect_compound_columns_to_be_unique", column_list=["a", "b"])]}
    log = sql_log
    quality.validate_duckdb(tricky_db, "tricky", suite)
    assert _groupings(log) == 4


def test_validation_leaves_the_callers_connection_as_it_was(tricky_db):
    with duckdb.connect(str(tricky_db)) as con:
        quality.validate_duckdb(con, "tricky", _uniqueness_suite())
        assert con.execute("select current_setting('perfect_ht_threshold')").fetchone() == (12,)
        assert con.execute("select count(*) from duckdb_tables() where temporary").fetchone() == (
            0,)


def _fresh_interpreter(code: str):
    """Run ``code`` in a new interpreter with warnings as errors; it must exit 0."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-W", "error", "-c", code], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done


def test_warm_up_imports_ge_in_the_background_without_warnings():
    """In a fresh interpreter with warnings as errors, as pytest runs this suite."""

    code = ("import sys\n"
            "from pipelines import quality\n"
            "assert 'great_expectations' not in sys.modules\n"
            "thread = quality.warm_up()\n"
            "quality._gx()  # waits for the thread's import instead of importing twice\n"
            "thread.join()\n"
            "assert quality.warm_up() is None\n")
    done = _fresh_interpreter(code)
    assert done.stderr == ""


def test_ge_defers_what_validation_never_uses(tmp_path):
    """scipy.stats and altair stay unloaded through a validation, and load in full when used."""

    code = ("import sys, duckdb\n"
            "from pipelines import quality\n"
            "quality.warm_up().join()\n"
            f"con = duckdb.connect({str(tmp_path / 'd.duckdb')!r})\n"
            "con.execute('create table t as select range as id from range(100)')\n"
            "suite = {'name': 's', 'table': 't', 'expectations': [\n"
            "    {'type': 'expect_column_values_to_be_unique', 'kwargs': {'column': 'id'}},\n"
            "    {'type': 'expect_column_mean_to_be_between',\n"
            "     'kwargs': {'column': 'id', 'min_value': 0, 'max_value': 99}}]}\n"
            "assert quality.validate_duckdb(con, 't', suite).success\n"
            "lazy = {m: type(sys.modules[m]).__name__ for m in quality.LAZY_FOR_GE}\n"
            "assert lazy == {'altair': '_LazyModule', 'scipy.stats': '_LazyModule'}, lazy\n"
            "import scipy.stats, altair\n"
            "assert abs(scipy.stats.norm.cdf(0) - 0.5) < 1e-12\n"
            "assert altair.Chart is not None and type(altair).__name__ == 'module'\n"
            "assert not any(type(f).__name__ == '_LazyFinder' for f in sys.meta_path)\n")
    _fresh_interpreter(code)


@pytest.mark.parametrize(("column", "bitmap", "proven"),
                         [("id", True, True), ("wide", False, True), ("s", False, False)])
def test_uniqueness_is_proven_by_a_bitmap_only_where_the_range_is_small(
        tricky_db, column, bitmap, proven, sql_log):
    """A dense integer key is counted in a bitmap, a wide one by a hashed count; strings of many
    values are grouped at once."""
    log = sql_log
    quality.validate_duckdb(tricky_db, "tricky", {"name": "u", "table": "tricky", "expectations": [
        _e("expect_column_values_to_be_unique", column=column)]})
    assert any("bitstring_agg" in sql for sql in log) is bitmap
    assert any("count(DISTINCT" in sql for sql in log) is (proven and not bitmap)
    creates = [sql for sql in log if sql.startswith("CREATE TEMPORARY TABLE")]
    assert len(creates) == 1 and creates[0].endswith("LIMIT 0") is proven
