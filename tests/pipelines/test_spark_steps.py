"""Every step, written for DuckDB, transpiled and run on Spark: the same rows as DuckDB's.

One SQL source per step (``pipelines.dialect`` writes it for Spark). The inputs are a small
synthetic shop with its mess, plus rows made to hit what engines disagree on when SQL is not
written for both: casts of odd strings, ties, even-count medians, NULL groups, empty lists.
"""

from __future__ import annotations

import math

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipelines.dialect import DialectError, to_spark
from pipelines.duckdb_engine import connect
from pipelines.engine import variables
from pipelines.sources import EVENTS_SCHEMA, ITEMS_SCHEMA
from pipelines.sources.synthetic import SyntheticConfig, generate
from pipelines.spark_engine import canonical_type
from pipelines.steps import load_steps
from pipelines.tables import columns, quote

STEPS = load_steps()
# PySpark leaves the local socket of each collect() to the garbage collector.
pytestmark = pytest.mark.filterwarnings("ignore:unclosed <socket.socket:ResourceWarning")

EDGE_ITEMS = [  # item_id, category_id, brand_id, price, stock, attributes
    (1001, 90, 1, 10.01, 3, [90, 1]),
    (1002, 90, 2, 10.02, 3, [90, 2]),       # category 90: an even count, median 10.015
    (1003, 90, 2, None, 3, [90]),           # missing price: imputed
    (1004, 90, 3, 5e6, -2, []),             # absurd price, negative stock, no attributes
    (1003, 93, 9, 7.5, 1, [93]),            # a duplicate id: the first landed copy is kept
    (None, 91, 1, 9.0, 1, None),            # missing id
    (1005, None, 1, 3.3, 1, [1]),           # no category: its own NULL group
    (1006, None, 1, 3.3, 1, [1]),           # a price tie in that group
    (1007, 92, 1, 0.1, 0, [92]),
    (1008, 92, 1, 0.2, 0, [92]),
    (1009, 92, 1, 0.7, 0, [92]),
]
EDGE_EVENTS = [  # user_id, item_id, category_id, behavior, ts
    (" 7 ", "+1001", "90", "pv", "1709300000"),
    ("7", "1001", "90", "pv", "1709300000"),      # duplicate of the row above
    ("7", "1001", "90", "pv", "1709300001"),      # near duplicate
    ("7", "1002", "90", " CART ", "1709300100"),
    ("7", "1005", None, "buy", "1709300200"),
    ("7", "1006", None, "fav", "1709300200"),     # a tie in time: event id decides
    ("7", "1007", "92", "pv", "1709300300"),
    ("7", "1008", "92", "pv", "1709300400"),
    ("7", "1009", "92", "pv", "1709300500"),
    ("12.5", "1001", "90", "pv", "1709300000"),   # DuckDB would cast it to 13
    ("0x10", "1001", "90", "pv", "1709300000"),   # and this to 16
    ("8", "1e3", "90", "pv", "1709300000"),
    ("8", "1001", "90", "pv", "1_709_300_000"),
    ("\u0661\u0662", "1001", "90", "pv", "1709300000"),
    ("9223372036854775808", "1001", "90", "pv", "1709300000"),
    (None, "1001", "90", "pv", "1709300000"),
    ("8", "1001", "90", "click", "1709300000"),
    ("8", "1001", "90", "pv", "0"),
    ("8", "999999", "90", "pv", "1709300000"),
    ("8", "1004", "90", "buy", "1709300600"),
    ("8", "1003", "90", "pv", "1709300700"),
    ("8", "1001", "90", "pv", "1709300800"),
]


@pytest.fixture(scope="module")
def landed(tmp_path_factory):
    """Synthetic raw files with the edge rows appended (source_row continuing)."""
    work = tmp_path_factory.mktemp("landed")
    generate(work, SyntheticConfig(events=1_500, seed=3))
    raw = work / "raw"
    events = pq.read_table(raw / "events.parquet")
    items = pq.read_table(raw / "items.parquet")
    n_e, n_i = events.num_rows, items.num_rows
    extra_events = pa.Table.from_pylist(
        [dict(zip(EVENTS_SCHEMA.names, (n_e + i, *row), strict=True))
         for i, row in enumerate(EDGE_EVENTS)], schema=EVENTS_SCHEMA)
    extra_items = pa.Table.from_pylist(
        [dict(zip(ITEMS_SCHEMA.names, (n_i + i, *row), strict=True))
         for i, row in enumerate(EDGE_ITEMS)], schema=ITEMS_SCHEMA)
    pq.write_table(pa.concat_tables([events, extra_events]), raw / "events.parquet")
    pq.write_table(pa.concat_tables([items, extra_items]), raw / "items.parquet")
    return work


@pytest.fixture(scope="module")
def both(landed, spark, tmp_path_factory):
    """Every step built in DuckDB and, transpiled, in Spark, over the same landed files."""
    con = connect(landed)
    values = variables()
    for name, value in values.items():
        con.execute(f"set variable {quote(name)} = ?", [value])
    out = tmp_path_factory.mktemp("spark-out")
    for source in ("raw_events", "raw_items"):
        spark.read.parquet(str(landed / "raw" / f"{source[4:]}.parquet")
                           ).createOrReplaceTempView(source)
    for step in STEPS:
        con.execute(f"create or replace table {quote(step.output)} as {step.sql}")
        spark_step = to_spark(step.sql)
        df = spark.sql(spark_step.sql, args={p: values[p] for p in spark_step.parameters})
        df.write.parquet(str(out / step.output))
        spark.read.parquet(str(out / step.output)).createOrReplaceTempView(step.output)
    yield con, spark
    con.close()


def _select(cols) -> str:
    """Every column, timestamps as epoch microseconds (the two engines' Python values differ
    in time zone handling, not in content); doubles and all else as they are."""
    parts = []
    for name, typ in cols:
        if typ.startswith("TIMESTAMP"):
            parts.append(f"unix_micros_placeholder({quote(name)}) as {quote(name)}")
        else:
            parts.append(quote(name))
    return ", ".join(parts)


def _key(row) -> tuple:
    return tuple((v is None, repr(v)) for v in row)


def _rows_duckdb(con, table, cols):
    sql = _select(cols).replace("unix_micros_placeholder", "epoch_us")
    return sorted((tuple(r) for r in con.execute(f"select {sql} from {quote(table)}").fetchall()),
                  key=_key)


def _rows_spark(spark, table, cols):
    sql = _select(cols).replace("unix_micros_placeholder", "unix_micros")
    return sorted((tuple(r) for r in spark.sql(f"select {sql} from {quote(table)}").collect()),
                  key=_key)


def _same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return type(a) is type(b) and a == b if not isinstance(a, list) else (
        isinstance(b, list) and len(a) == len(b) and all(map(_same, a, b)))


@pytest.mark.parametrize("step", STEPS, ids=[s.name for s in STEPS])
def test_step_gives_the_same_rows_on_spark_as_on_duckdb(both, step):
    con, spark = both
    cols = columns(con, step.output)
    spark_cols = [(f.name, canonical_type(f.dataType))
                  for f in spark.table(step.output).schema.fields]
    assert spark_cols == cols
    duck, sprk = _rows_duckdb(con, step.output, cols), _rows_spark(spark, step.output, cols)
    assert duck, f"the fixture should give {step.output} rows"
    assert len(sprk) == len(duck)
    different = [(d, s) for d, s in zip(duck, sprk, strict=True)
                 if not all(map(_same, d, s))]
    assert different == []


def test_edge_rows_took_the_paths_they_were_made_for(both):
    con, _ = both
    reasons = dict(con.execute(
        "select raw_user_id, reject_reason from events_checked where source_row >= "
        "(select max(source_row) from events_checked) - ?", [len(EDGE_EVENTS) - 1]).fetchall())
    assert reasons["12.5"] == reasons["0x10"] == "malformed_value"
    assert reasons["9223372036854775808"] == "malformed_value"
    median = con.execute("select distinct category_median_price from items_checked "
                         "where category_id = 90").fetchall()
    assert median == [(10.015,)]
    kept = con.execute("select brand_id from items_clean where item_id = 1003").fetchall()
    assert kept == [(2,)]


def test_variables_become_named_parameters_never_text():
    step = next(s for s in STEPS if s.name == "events_checked")
    spark_step = to_spark(step.sql)
    assert spark_step.parameters == ("min_ts", "max_ts")
    assert ":min_ts" in spark_step.sql and "getvariable" not in spark_step.sql.lower()
    events_clean = to_spark(next(s for s in STEPS if s.name == "events_clean").sql)
    assert "TIMESTAMP_SECONDS(ts)" in events_clean.sql


@pytest.mark.parametrize("sql, message", [
    ("select getvariable(x) from t", "one constant name"),
    ("select getvariable('a b') from t", "not an identifier"),
    ("select 1; select 2", "exactly one statement"),
    ("select (", "cannot parse"),
])
def test_sql_that_cannot_be_written_for_spark_is_refused(sql, message):
    with pytest.raises(DialectError, match=message):
        to_spark(sql)


def test_duckdb_reads_the_same_fixture(landed):
    """The fixture files are what the steps read (a guard on the test's own setup)."""
    with duckdb.connect() as con:
        n = con.execute("select count(*) from read_parquet(?)",
                        [str(landed / "raw" / "items.parquet")]).fetchone()[0]
    assert n == 200 + len(EDGE_ITEMS)
