"""The pipeline benchmark's DuckDB memory sampler: it must never disturb the run it measures."""

from __future__ import annotations

import importlib.util
import time
from pathlib import Path

import duckdb
import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "pipeline_bench.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("pipeline_bench_under_test", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_sampler_sees_the_runs_memory_and_lets_it_close_mid_sample(bench, tmp_path):
    path = tmp_path / "features.duckdb"
    con = duckdb.connect(str(path))
    memory = bench.DuckDBMemory(path, every=0.0)  # sample back to back: a close lands mid-query
    con.execute("create table t as select range as i, range::varchar as s from range(2000000)")
    con.execute("select s, count(*) from t group by s").fetchall()
    time.sleep(0.05)
    con.close()  # failed with ResourceInUseException while the sampler used a cursor of con
    peak = memory.stop()
    assert peak > 1.0  # MB: the table and the grouping's hash table were seen


def test_sampler_refuses_a_connection(bench, tmp_path):
    con = duckdb.connect(str(tmp_path / "x.duckdb"))
    try:
        with pytest.raises(TypeError, match="path"):
            bench.DuckDBMemory(con)
    finally:
        con.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.duckdb"]
