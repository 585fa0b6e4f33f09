"""Fingerprints and profiles computed in DuckDB: what they count, and when counts are estimates."""

from __future__ import annotations

import hashlib
import json
import math
from datetime import UTC, datetime, timedelta

import duckdb
import pytest

from pipelines import tables
from pipelines.report import Reporter
from pipelines.service import land_and_run


@pytest.fixture
def con():
    c = duckdb.connect()
    c.execute("""
        create table t as
        select
            range as id,
            case when range % 10 = 0 then null else range % 7 end as k,   -- 100 nulls, 7 values
            'v' || (range % 123) as s,                                   -- 123 values
            range / 4 as x                                               -- 1000 values
        from range(1000)
    """)
    yield c
    c.close()


def _canonical(value, typ: str) -> str | None:
    """The definition of pipelines.fingerprint, in plain Python: a value's canonical text."""
    if value is None:
        return None
    if typ.endswith("[]"):
        return "[" + ",".join(_field(v, typ[:-2]) for v in value) + "]"
    if typ == "DOUBLE":
        if math.isnan(value):
            return "nan"
        if value == 0:
            return "0"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        f, k = math.frexp(value)  # value = f * 2^k, 0.5 <= |f| < 1: e = k - 1
        return f"{math.floor(f * 2 ** 41)}p{k - 1}"
    if typ == "BOOLEAN":
        return "true" if value else "false"
    if typ == "TIMESTAMP WITH TIME ZONE":
        return str((value - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1))
    return str(value)


def _field(value, typ: str) -> str:
    text = _canonical(value, typ)
    return "~" if text is None else f"{len(text.encode())}:{text}"


def _reference_fingerprint(con, table: str) -> str:
    cols = tables.columns(con, table)
    total = 0
    rows = con.execute(f'select * from "{table}"').fetchall()
    for row in rows:
        text = "".join(_field(v, t) for v, (_, t) in zip(row, cols, strict=True))
        total += int.from_bytes(hashlib.md5(text.encode()).digest()[:8], "little")
    return hashlib.sha256(json.dumps([[list(c) for c in cols], len(rows),
                                      str(total % 2 ** 64)]).encode()).hexdigest()


def test_fingerprint_is_the_definition_computed_in_duckdb(con):
    """pipelines.fingerprint's definition, recomputed here in Python from the rows: a change of
    the formula (which would mint new versions of unchanged data) fails here."""
    assert tables.fingerprint(con, "t") == (_reference_fingerprint(con, "t"), 1000)
    con.execute("""
        create table edge as select * from (values
            (1, 0.1, [1, null], true, to_timestamp(1700000000.5), 'é😀~:'),
            (2, -0.0, [], false, null, ''),
            (3, 'nan'::DOUBLE, null, null, to_timestamp(0), null),
            (4, '-inf'::DOUBLE, [null], true, null, '1:~'),
            (5, 5e-324, [9223372036854775807], false, null, 'x'),
            (6, 1.7976931348623157e308, [-1], true, null, 'y'),
            (7, 1e-300, [2], false, null, 'z'),
            (8, -123456789.125, [3], true, null, 'w')
        ) v(id, x, l, b, ts, s)""")
    assert [t for _, t in tables.columns(con, "edge")] == [
        "INTEGER", "DOUBLE", "BIGINT[]", "BOOLEAN", "TIMESTAMP WITH TIME ZONE", "VARCHAR"]
    assert tables.fingerprint(con, "edge") == (_reference_fingerprint(con, "edge"), 8)


def test_fingerprint_reads_doubles_at_41_significant_bits(con):
    """A change within one step of 2^-40 (relative) does not count; one of 2e-12 does."""
    fp = tables.fingerprint(con, "t")[0]
    con.execute("create table nudged as select id, k, s, "
                "case when id = 5 then x * (1 + 2e-15) else x end as x from t")
    con.execute("create table moved as select id, k, s, "
                "case when id = 5 then x * (1 + 2e-12) else x end as x from t")
    assert con.execute("select x from nudged where id = 5").fetchone()[0] != 1.25
    assert tables.fingerprint(con, "nudged")[0] == fp
    assert tables.fingerprint(con, "moved")[0] != fp


def test_fingerprint_ignores_row_order_but_counts_duplicates(con):
    fp, _ = tables.fingerprint(con, "t")
    con.execute("create table shuffled as select * from t order by random()")
    con.execute("create table doubled as select * from t union all select * from t where id = 1")
    assert tables.fingerprint(con, "shuffled")[0] == fp
    assert tables.fingerprint(con, "doubled") != (fp, 1001)
    assert tables.fingerprint(con, "doubled")[1] == 1001


def test_profile_counts_exactly_up_to_the_threshold(con):
    stats = tables.profile(con, "t")
    assert stats["rowCount"] == 1000 and stats["distinctCountMethod"] == "exact"
    m = stats["columnMetrics"]
    assert m["id"] == {"nullCount": 0, "distinctCount": 1000, "count": 1000, "min": 0.0,
                       "max": 999.0}
    assert m["k"] == {"nullCount": 100, "distinctCount": 7, "count": 1000, "min": 0.0,
                      "max": 6.0}
    assert m["s"] == {"nullCount": 0, "distinctCount": 123, "count": 1000}
    assert m["x"]["distinctCount"] == 1000 and m["x"]["max"] == 999 / 4


def test_profile_estimates_distinct_counts_above_the_threshold(con):
    exact = tables.profile(con, "t")
    approx = tables.profile(con, "t", exact_distinct_max_rows=999)
    assert approx["distinctCountMethod"] == "approx_count_distinct"
    for name, m in approx["columnMetrics"].items():
        e = exact["columnMetrics"][name]
        # Only the distinct count is estimated: nulls, counts and bounds stay exact.
        assert {k: v for k, v in m.items() if k != "distinctCount"} == {
            k: v for k, v in e.items() if k != "distinctCount"}
        assert m["distinctCount"] == pytest.approx(e["distinctCount"], rel=0.1)


def test_one_scan_gives_what_the_two_calls_give(con):
    fp, rows, stats = tables.fingerprint_and_profile(con, "t")
    assert (fp, rows) == tables.fingerprint(con, "t")
    assert stats == tables.profile(con, "t")
    _, _, approx = tables.fingerprint_and_profile(con, "t", exact_distinct_max_rows=10)
    assert approx == tables.profile(con, "t", exact_distinct_max_rows=10)


def test_catalog_is_told_which_distinct_counts_are_estimates(tmp_path, catalog, monkeypatch):
    client, http = catalog
    monkeypatch.setattr(tables, "EXACT_DISTINCT_MAX_ROWS", 1_000)
    result = land_and_run(tmp_path, "synthetic", reporter=Reporter(client), events=3_000)
    rows = {s.output: s.rows for s in result.steps}
    assert rows["events_clean"] > 1_000 >= rows["feature_selection"]
    for table, method in (("events_clean", "approx_count_distinct"),
                          ("feature_selection", "exact")):
        v = http.get(f"/api/v1/namespaces/recsys/datasets/{table}/versions/1").get_json()
        facet = v["facets"]["dataQualityMetrics"]
        assert facet["distinctCountMethod"] == method
        assert facet["rowCount"] == rows[table]


def test_columns_are_the_information_schemas(con):
    con.execute('create table "we""ird" (a int, "b c" decimal(18,3), t timestamptz, l int[])')
    con.execute('create view "x.y" as select * from "we""ird"')
    for name in ("t", 'we"ird', "x.y"):
        expected = con.execute(
            "select column_name, data_type from information_schema.columns "
            "where table_name = ? order by ordinal_position", [name]).fetchall()
        assert tables.columns(con, name) == expected and expected
    for missing in ("nope", "a.b.c.d", ""):
        with pytest.raises(LookupError, match="does not exist"):
            tables.columns(con, missing)


def test_file_fingerprint_is_the_sha256_of_the_bytes(tmp_path):
    path = tmp_path / "events.parquet"
    data = bytes(range(256)) * 40_000  # over one read chunk
    path.write_bytes(data)
    assert tables.file_fingerprint(path) == hashlib.sha256(data).hexdigest()
    path.write_bytes(data[:-1] + b"x")
    assert tables.file_fingerprint(path) != hashlib.sha256(data).hexdigest()
    with pytest.raises(FileNotFoundError):
        tables.file_fingerprint(tmp_path / "missing.parquet")
