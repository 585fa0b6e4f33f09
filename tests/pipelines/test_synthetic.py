"""The synthetic shop: seeded, chunked into bounded row groups, and as messy as configured."""

from __future__ import annotations

import duckdb
import pyarrow.parquet as pq
import pytest

from pipelines.sources.synthetic import SyntheticConfig, generate


def _events(workdir) -> list[tuple]:
    return duckdb.sql(f"select * from read_parquet('{workdir}/raw/events.parquet')").fetchall()


@pytest.fixture(scope="module")
def messy(tmp_path_factory):
    """Mess rates well above the defaults so every kind shows up in a small sample."""
    workdir = tmp_path_factory.mktemp("messy")
    cfg = SyntheticConfig(events=20_000, chunk_users=100, p_missing=0.02, p_unknown_item=0.02,
                          p_malformed=0.02, p_bad_ts=0.02, p_bad_behavior=0.02,
                          p_duplicate=0.02, p_near_duplicate=0.02, p_bad_price=0.1, seed=5)
    counts = generate(workdir, cfg)
    return workdir, cfg, counts


def test_same_seed_same_data_other_seed_other_data(tmp_path):
    for name, seed in (("a", 3), ("b", 3), ("c", 4)):
        generate(tmp_path / name, SyntheticConfig(events=3_000, seed=seed))
    assert _events(tmp_path / "a") == _events(tmp_path / "b")
    assert _events(tmp_path / "a") != _events(tmp_path / "c")
    items = [pq.read_table(tmp_path / n / "raw" / "items.parquet") for n in "abc"]
    assert items[0].equals(items[1]) and not items[0].equals(items[2])


def test_chunks_are_row_groups_in_time_order(messy):
    workdir, cfg, counts = messy
    meta = pq.ParquetFile(workdir / "raw" / "events.parquet").metadata
    assert meta.num_row_groups == -(-cfg.n_users // cfg.chunk_users) > 1
    assert meta.num_rows == counts["events"]
    rows = duckdb.sql(f"""
        select source_row, file_row_number, coalesce(try_cast(ts as BIGINT), 0) as t
        from read_parquet('{workdir}/raw/events.parquet', file_row_number = true)
        order by file_row_number""").fetchall()
    # Numbered in file order; time goes backwards only where a new chunk (user group) starts.
    assert [r[0] for r in rows] == [r[1] for r in rows] == list(range(counts["events"]))
    backwards = sum(b[2] < a[2] for a, b in zip(rows, rows[1:], strict=False))
    assert 0 < backwards < meta.num_row_groups


def test_max_chunk_events_bounds_a_chunk_whatever_the_users(tmp_path):
    cfg = SyntheticConfig(events=60_000, users=60, max_chunk_events=10_000, seed=2)
    counts = generate(tmp_path, cfg)
    meta = pq.ParquetFile(tmp_path / "raw" / "events.parquet").metadata
    sizes = [meta.row_group(i).num_rows for i in range(meta.num_row_groups)]
    assert sum(sizes) == counts["events"] and len(sizes) >= 6
    # Purchases and duplicates come on top of a chunk's budget: a few per cent.
    assert max(sizes) <= 1.1 * cfg.max_chunk_events


def test_every_kind_of_mess_lands(messy):
    workdir, _, _ = messy
    ev = duckdb.sql(f"""
        select
            count(*) filter (where user_id is null) as no_user,
            count(*) filter (where item_id is null) as no_item,
            count(*) filter (where user_id = 'user#?') as bad_user,
            count(*) filter (where ts = 'not-a-time') as bad_ts,
            count(*) filter (where ts in ('0', '1', '4102444800', '4102444801', '-86400',
                                          '-86399')) as far_ts,
            count(*) filter (where behavior not in ('pv', 'cart', 'fav', 'buy')) as odd,
            count(*) filter (where behavior <> lower(behavior)) as upper,
            list(distinct behavior order by behavior) as behaviors,
            count(*) - count(distinct (user_id, item_id, behavior, ts)) as exact_dupes
        from read_parquet('{workdir}/raw/events.parquet')""").fetchall()[0]
    no_user, no_item, bad_user, bad_ts, far_ts, odd, upper, behaviors, dupes = ev
    assert min(no_user, no_item, bad_user, bad_ts, far_ts, dupes) > 20
    assert odd > upper > 0
    assert set(behaviors) <= {"pv", "cart", "fav", "buy", "click", "", "PV ", "PV", "CART",
                              "FAV", "BUY", "CLICK"}
    assert {"pv", "cart", "fav", "buy", "click", "PV"} <= set(behaviors)
    unknown = duckdb.sql(f"""
        select count(*) from read_parquet('{workdir}/raw/events.parquet')
        where try_cast(item_id as BIGINT) not in (
            select item_id from read_parquet('{workdir}/raw/items.parquet'))""").fetchall()[0][0]
    assert unknown > 20
    items = duckdb.sql(f"""
        select count(*) filter (where price is null), count(*) filter (where price < 0),
               count(*) filter (where price > 1e5), count(*) filter (where stock = -5),
               min(len(attributes)), max(len(attributes))
        from read_parquet('{workdir}/raw/items.parquet')""").fetchall()[0]
    assert min(items[:4]) > 0 and items[4:] == (2, 2)
