"""The offsets proof of integer compound keys too wide to pack (pipelines/quality/dense_key.py).

Each key is checked by GE on DuckDB (with the proof) and by GE's pandas engine; both must agree,
and the proof must decide exactly when the key is unique without a NULL in it.
"""

from __future__ import annotations

import json

import duckdb
import pytest

from pipelines import quality
from pipelines.quality import dense_key

# A user and a counter within the user: 300 dense users, one with 3,000 events, so that the
# key packed into one BIGINT spans 300 x 3,000 values, far beyond the array's 2^bits.
BASE = """
create table base as
select u as user_id, s as seq_no, u * 100000 + s as event_id, (u % 3) as shard
from range(1, 301) a(u), range(1, 2 + (case when u = 7 then 3000 else u % 13 end)) b(s);
create table unique_key as select * from base;
create table repeated as select * from base
    union all select user_id, seq_no, -1, shard from base where user_id in (5, 250) and seq_no = 2;
create table null_outer as select * from base union all select null, 4, -2, 0;
create table null_inner as select * from base union all select 9, null, -3, 0;
create table gaps as select user_id, seq_no * 3 - 100 as seq_no, event_id, shard from base;
create table gaps_repeated as select * from gaps
    union all select user_id, seq_no, -4, shard from gaps where user_id = 7 and seq_no = 200;
"""
TABLES = ["unique_key", "repeated", "null_outer", "null_inner", "gaps", "gaps_repeated"]
PROVEN = {"unique_key", "gaps"}  # unique and without NULLs


@pytest.fixture(scope="module")
def keys_db(tmp_path_factory):
    path = tmp_path_factory.mktemp("dense") / "keys.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute(BASE)
    return path


def _suite(table: str, **kwargs) -> dict:
    return {"name": "k", "table": table, "expectations": [
        {"type": "expect_compound_columns_to_be_unique", "kwargs": kwargs}]}


def _comparable(observed: dict) -> dict:
    obs = dict(observed)
    obs.pop("partial_unexpected_counts", None)
    obs["partial_unexpected_list"] = sorted(
        json.dumps(v, sort_keys=True) for v in obs.get("partial_unexpected_list", []))
    return obs


@pytest.fixture
def proofs(monkeypatch):
    """The proof's answers, in call order."""
    answers = []
    prove = dense_key.proven_unique_by_offsets

    def recorded(*args):
        answers.append(prove(*args))
        return answers[-1]

    monkeypatch.setattr(dense_key, "proven_unique_by_offsets", recorded)
    return answers


KEYS = [
    ("pair", {"column_list": ["user_id", "seq_no"]}),
    ("pair-reversed", {"column_list": ["seq_no", "user_id"]}),
    ("triple", {"column_list": ["shard", "user_id", "seq_no"]}),
    ("pair-any-missing", {"column_list": ["user_id", "seq_no"],
                          "ignore_row_if": "any_value_is_missing"}),
    ("pair-never", {"column_list": ["user_id", "seq_no"], "ignore_row_if": "never"}),
]


@pytest.mark.parametrize("table", TABLES)
@pytest.mark.parametrize("key", [k[1] for k in KEYS], ids=[k[0] for k in KEYS])
def test_offsets_proof_agrees_with_pandas(keys_db, proofs, table, key):
    ours = quality.validate_duckdb(keys_db, table, _suite(table, **key)).outcomes[0]
    with duckdb.connect(str(keys_db), read_only=True) as con:
        df = con.sql(f"select * from {table}").df()
    pand = quality.validate_pandas(df, _suite(table, **key)).outcomes[0]
    assert ours.success is pand.success
    assert _comparable(ours.observed) == _comparable(pand.observed)
    # The proof ran once on the whole batch and said "unique" exactly for the unique tables.
    assert proofs == [table in PROVEN]


def test_a_proven_key_is_never_grouped(keys_db, sql_log):
    log = sql_log
    result = quality.validate_duckdb(keys_db, "unique_key",
                                     _suite("unique_key", column_list=["user_id", "seq_no"]))
    assert result.success
    assert any("bitstring_agg" in sql for sql in log)
    # Only the outer column is grouped (for the spans); the whole key never is.
    grouped = [sql for sql in log if "GROUP BY" in sql and "FROM unique_key" in sql]
    # the key's own grouping only as LIMIT 0 (DuckDB does not run it).
    run = [sql for sql in grouped if not sql.endswith("LIMIT 0")]
    assert len(run) == 1 and ") AS spans" in run[0] and "GROUP BY user_id, seq_no" not in run[0]
    assert any("GROUP BY user_id, seq_no" in sql for sql in grouped)  # the LIMIT 0 one


def test_too_many_positions_is_no_proof(keys_db, proofs, monkeypatch, sql_log):
    log = sql_log
    monkeypatch.setattr(dense_key, "MAX_POSITIONS", 100)
    result = quality.validate_duckdb(keys_db, "unique_key",
                                     _suite("unique_key", column_list=["user_id", "seq_no"]))
    # No offsets proof applies; the packed key's hashed count decided instead.
    assert result.success and proofs == [None]
    assert sum("count(DISTINCT" in sql for sql in log) == 1
