"""Fingerprints and profiles computed in DuckDB: what they count, and when counts are estimates."""

from __future__ import annotations

import hashlib
import json

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


def test_fingerprint_is_the_sum_of_row_hashes_over_the_schema(con):
    # The formula versions in existing catalogs were minted with: it must not drift.
    cols = [("id", "BIGINT"), ("k", "BIGINT"), ("s", "VARCHAR"), ("x", "DOUBLE")]
    (total,) = con.execute("select sum(hash(id, k, s, x)::HUGEINT) from t").fetchone()
    expected = hashlib.sha256(json.dumps([cols, 1000, str(total)]).encode()).hexdigest()
    assert tables.fingerprint(con, "t") == (expected, 1000)


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
