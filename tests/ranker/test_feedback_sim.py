"""Simulated feedback: appended as a new raw version, deterministic, position-biased."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from pipelines.sources.synthetic import SyntheticConfig, generate
from ranker.feedback import simulate


@pytest.fixture
def workdir(tmp_path) -> Path:
    generate(tmp_path, SyntheticConfig(events=3_000, seed=3))
    con = duckdb.connect()
    # Every user sees items 1..20, ranked 1..20.
    con.execute(f"""
        copy (select u.user_id, i.item_id, i.item_id as rank, 1.0 / i.item_id as score
              from (select distinct try_cast(user_id as BIGINT) as user_id
                    from read_parquet('{tmp_path}/raw/events.parquet')
                    where try_cast(user_id as BIGINT) is not null) u,
                   (select i as item_id from range(1, 21) t(i)) i)
        to '{tmp_path}/recs.parquet' (format parquet)""")
    con.close()
    return tmp_path


def _rows(path: Path):
    return duckdb.sql(f"select * from read_parquet('{path}') order by source_row").fetchall()


def test_feedback_appends_a_new_version_and_keeps_the_old_rows(workdir):
    before = _rows(workdir / "raw" / "events.parquet")
    counts = simulate(workdir, workdir / "recs.parquet")
    after = _rows(workdir / "raw" / "events.parquet")
    assert after[: len(before)] == before
    added = after[len(before):]
    assert len(added) == counts["pv"] + counts["cart"] + counts["buy"]
    assert counts["pv"] > counts["cart"] > counts["buy"] > 0
    assert [r[0] for r in added] == list(range(len(before), len(after)))
    latest = max(int(r[5]) for r in before if r[5] and r[5].isdigit() and int(r[5]) < 4e9)
    assert min(int(r[5]) for r in added) > latest


def test_feedback_is_deterministic(workdir, tmp_path_factory):
    other = tmp_path_factory.mktemp("again")
    (other / "raw").mkdir()
    for name in ("events.parquet", "items.parquet"):
        (other / "raw" / name).write_bytes((workdir / "raw" / name).read_bytes())
    simulate(workdir, workdir / "recs.parquet")
    simulate(other, workdir / "recs.parquet")
    assert _rows(workdir / "raw" / "events.parquet") == _rows(other / "raw" / "events.parquet")


def test_clicks_fall_with_rank(workdir):
    n_before = len(_rows(workdir / "raw" / "events.parquet"))
    simulate(workdir, workdir / "recs.parquet")
    by_item = dict(duckdb.sql(
        f"select item_id::BIGINT, count(*) from read_parquet('{workdir}/raw/events.parquet') "
        f"where source_row >= {n_before} and behavior = 'pv' group by 1").fetchall())
    top = sum(by_item.get(i, 0) for i in range(1, 6))
    bottom = sum(by_item.get(i, 0) for i in range(16, 21))
    assert top > 2 * bottom


def test_missing_inputs_are_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no raw events"):
        simulate(tmp_path, tmp_path / "recs.parquet")
