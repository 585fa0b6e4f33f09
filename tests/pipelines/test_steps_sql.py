"""Fixture tests for every SQL step: a few input rows in in-memory DuckDB, exact output rows."""

from __future__ import annotations

import duckdb
import pytest

from pipelines.steps import load_steps

STEPS = {s.name: s for s in load_steps()}


@pytest.fixture
def con():
    c = duckdb.connect()
    c.execute("set variable min_ts = 946684800")
    c.execute("set variable max_ts = 2000000000")
    yield c
    c.close()


def run(con, step: str, order_by: str) -> list[tuple]:
    return con.execute(f"select * from ({STEPS[step].sql}) order by {order_by}").fetchall()


def raw_items(con, rows):
    """``rows`` in landing order: each gets its ``source_row`` (0, 1, ...) as landing gives it."""
    con.execute("create table raw_items (source_row BIGINT, item_id BIGINT, category_id BIGINT, "
                "brand_id BIGINT, price DOUBLE, stock BIGINT, attributes BIGINT[])")
    con.executemany("insert into raw_items values (?, ?, ?, ?, ?, ?, ?)",
                    [(i, *r) for i, r in enumerate(rows)])


def raw_events(con, rows):
    con.execute("create table raw_events (source_row BIGINT, user_id VARCHAR, item_id VARCHAR, "
                "category_id VARCHAR, behavior VARCHAR, ts VARCHAR)")
    con.executemany("insert into raw_events values (?, ?, ?, ?, ?, ?)", rows)


def test_every_step_has_a_fixture_test():
    tested = {n.removeprefix("test_").split("__")[0] for n in globals() if n.startswith("test_")}
    assert set(STEPS) <= tested


def test_events_checked__each_rule_gives_one_reason(con):
    raw_items(con, [(10, 1, 1, 5.0, 3, [1]), (11, 1, 1, 6.0, 3, [1])])
    raw_events(con, [
        (0, "1", "10", "1", "pv", "1700000000"),        # ok
        (1, "1", "10", "1", "pv", "1700000000"),        # exact duplicate of row 0
        (2, "1", "10", "1", "pv", "1700000001"),        # near duplicate of row 0 (1 s later)
        (3, "2", "10", "1", " CART ", "1700000100"),    # ok after normalising
        (4, "x", "10", "1", "pv", "1700000000"),        # malformed user id
        (5, None, "10", "1", "pv", "1700000000"),       # missing user
        (6, "3", "10", "1", "click", "1700000000"),     # bad behaviour
        (7, "3", "10", "1", "buy", "0"),                # out of range
        (8, "3", "99", "1", "buy", "1700000000"),       # unknown item
        (9, "3", "11", "1", "fav", "not-a-time"),       # malformed time
        (10, "3", "11", "1", "fav", "1700000500"),      # ok
    ])
    rows = con.execute(f"select source_row, user_id, item_id, behavior, ts, reject_reason "
                       f"from ({STEPS['events_checked'].sql}) order by source_row").fetchall()
    assert rows == [
        (0, 1, 10, "pv", 1700000000, None),
        (1, 1, 10, "pv", 1700000000, "duplicate"),
        (2, 1, 10, "pv", 1700000001, "near_duplicate"),
        (3, 2, 10, "cart", 1700000100, None),
        (4, None, 10, "pv", 1700000000, "malformed_value"),
        (5, None, 10, "pv", 1700000000, "missing_id"),
        (6, 3, 10, "click", 1700000000, "bad_behavior"),
        (7, 3, 10, "buy", 0, "ts_out_of_range"),
        (8, 3, 99, "buy", 1700000000, "unknown_item"),
        (9, 3, 11, "fav", None, "malformed_value"),
        (10, 3, 11, "fav", 1700000500, None),
    ]


def test_events_checked__only_plain_integers_parse(con):
    """A value parses when it is a sign and ASCII digits; what else a cast would take differs
    between engines (DuckDB reads '12.5' as 13 and '0x10' as 16, Spark neither)."""
    raw_items(con, [(10, 1, 1, 5.0, 3, [1])])
    raw_events(con, [
        (0, " 7 ", "+10", "1", "pv", "1700000000"),
        (1, "12.5", "10", "1", "pv", "1700000001"),
        (2, "0x10", "10", "1", "pv", "1700000002"),
        (3, "8", "1e1", "1", "pv", "1700000003"),
        (4, "8", "10", "1", "pv", "1_700_000_004"),
        (5, "9223372036854775808", "10", "1", "pv", "1700000005"),
        (6, "٣", "10", "1", "pv", "1700000006"),
    ])
    rows = con.execute(f"select source_row, user_id, item_id, ts, reject_reason "
                       f"from ({STEPS['events_checked'].sql}) order by source_row").fetchall()
    assert rows[0] == (0, 7, 10, 1700000000, None)
    assert [r[4] for r in rows[1:]] == ["malformed_value"] * 6


def _checked(con):
    con.execute("create table events_checked (source_row BIGINT, raw_user_id VARCHAR, "
                "raw_item_id VARCHAR, raw_behavior VARCHAR, raw_ts VARCHAR, user_id BIGINT, "
                "item_id BIGINT, behavior VARCHAR, ts BIGINT, reject_reason VARCHAR)")
    con.executemany("insert into events_checked values (?,?,?,?,?,?,?,?,?,?)", [
        (0, "1", "10", "pv", "1700000000", 1, 10, "pv", 1700000000, None),
        (1, "1", "10", "pv", "1700000000", 1, 10, "pv", 1700000000, "duplicate"),
        (2, "x", "10", "pv", "5", None, 10, "pv", 5, "malformed_value"),
    ])


def test_events_clean__keeps_only_passing_rows(con):
    _checked(con)
    rows = run(con, "events_clean", "event_id")
    assert [r[:5] for r in rows] == [(0, 1, 10, "pv", 1700000000)]
    assert str(rows[0][5])[:19] == "2023-11-14 22:13:20"


def _items_checked(con):
    raw_items(con, [
        (1, 7, 1, 10.0, 5, [7]),
        (2, 7, 2, 20.0, -1, [7]),       # negative stock
        (3, 7, 2, None, 1, [7]),        # missing price
        (4, 7, 3, -3.0, 1, [7]),        # negative price
        (5, 7, 3, 5000.0, 1, [7]),      # absurd: > 100x median 15
        (5, 7, 3, 12.0, 1, [7]),        # duplicate id
        (None, 7, 1, 9.0, 1, [7]),      # missing id
    ])


def test_items_checked__flags_prices_stock_and_rejects(con):
    _items_checked(con)
    rows = con.execute(f"select item_id, price_issue, stock_issue, category_median_price, "
                       f"reject_reason from ({STEPS['items_checked'].sql}) "
                       f"order by landed_row").fetchall()
    assert rows == [
        (1, None, None, 12.0, None),
        (2, None, "negative_stock", 12.0, None),
        (3, "missing_price", None, 12.0, None),
        (4, "negative_price", None, 12.0, None),
        (5, "absurd_price", None, 12.0, None),
        (5, None, None, 12.0, "duplicate"),
        (None, None, None, 12.0, "missing_id"),
    ]


def test_items_clean__repairs_price_and_stock(con):
    _items_checked(con)
    con.execute(f"create table items_checked as {STEPS['items_checked'].sql}")
    rows = run(con, "items_clean", "item_id")
    assert [r[:6] for r in rows] == [
        (1, 7, 1, 10.0, False, 5),
        (2, 7, 2, 20.0, False, None),
        (3, 7, 2, 12.0, True, 1),
        (4, 7, 3, 12.0, True, 1),
        (5, 7, 3, 12.0, True, 1),
    ]


def test_quarantine__unions_rejected_events_and_items(con):
    _checked(con)
    _items_checked(con)
    con.execute(f"create table items_checked as {STEPS['items_checked'].sql}")
    rows = run(con, "quarantine", "entity, source_key")
    assert [r[:3] for r in rows] == [
        ("event", 1, "duplicate"), ("event", 2, "malformed_value"),
        ("item", 5, "duplicate"), ("item", 6, "missing_id"),
    ]
    assert rows[1][3] == '{"user_id":"x","item_id":"10","behavior":"pv","ts":"5"}'
    # Prices as DECIMAL(38, 4): a double's JSON text differs between engines.
    assert rows[2][3] == ('{"item_id":5,"category_id":7,"brand_id":3,"price":12.0000,'
                          '"stock":1}')


def _integrated(con):
    con.execute("create table events_clean as select * from (values "
                "(0, 1, 10, 'pv', 100), (1, 1, 11, 'cart', 200), (2, 1, 10, 'buy', 300), "
                "(3, 2, 10, 'pv', 150), (4, 2, 11, 'pv', 150)) "
                "t(event_id, user_id, item_id, behavior, ts)")
    con.execute("alter table events_clean add column event_time TIMESTAMP")
    con.execute("create table items_clean as select * from (values "
                "(10, 7, 1, 10.0, false, 5, [7]), (11, 8, 2, 30.0, true, null, [8]), "
                "(12, 8, 2, 50.0, false, 2, [8])) "
                "t(item_id, category_id, brand_id, price, price_imputed, stock, attributes)")


def test_events_integrated__joins_item_attributes(con):
    _integrated(con)
    rows = run(con, "events_integrated", "event_id")
    assert [(r[0], r[2], r[6], r[7], r[8], r[9]) for r in rows] == [
        (0, 10, 7, 1, 10.0, 5), (1, 11, 8, 2, 30.0, None), (2, 10, 7, 1, 10.0, 5),
        (3, 10, 7, 1, 10.0, 5), (4, 11, 8, 2, 30.0, None),
    ]


def _split(con):
    _integrated(con)
    con.execute(f"create table events_integrated as {STEPS['events_integrated'].sql}")
    con.execute(f"create table interactions_split as {STEPS['interactions_split'].sql}")


def test_interactions_split__leave_one_out_by_time(con):
    _integrated(con)
    con.execute(f"create table events_integrated as {STEPS['events_integrated'].sql}")
    rows = run(con, "interactions_split", "user_id, seq_no")
    assert [(r[1], r[2], r[5], r[6]) for r in rows] == [
        (1, 10, 1, "train"), (1, 11, 2, "valid"), (1, 10, 3, "test"),
        # user 2 has two events at the same time: event id breaks the tie; < 3 events: train
        (2, 10, 1, "train"), (2, 11, 2, "train"),
    ]


def test_user_features__counts_from_training_events_only(con):
    _split(con)
    rows = run(con, "user_features", "user_id")
    # user 1 trains on its first event only (pv of item 10 at ts 100)
    assert rows[0] == (1, 1, 1, 0, 0, 0, 1, 1, 0.0, 0.0, 10.0, 100, 100, 1, 7)
    assert rows[1][:8] == (2, 2, 2, 0, 0, 0, 2, 2)
    assert rows[1][14] == 7  # tie between categories 7 and 8: lower id wins


def test_user_features__avg_price_is_exact_to_a_millionth(con):
    """The mean of whole hundredths of a cent, rounded to 1e-6: exact in any summation order
    (a sum of doubles is not: 0.1 + 0.2 + 0.3 is 0.6000000000000001, 0.3 + 0.2 + 0.1 is 0.6)."""
    con.execute("create table events_integrated as select * from (values "
                "(0, 1, 10, 'pv', 100, 7, 0.1), (1, 1, 11, 'pv', 200, 7, 0.2), "
                "(2, 1, 12, 'pv', 300, 7, 0.4), (3, 2, 10, 'pv', 100, 7, 0.0001), "
                "(4, 2, 11, 'pv', 200, 7, 0.00024), (5, 2, 12, 'pv', 300, 7, null)) "
                "t(event_id, user_id, item_id, behavior, ts, category_id, price)")
    con.execute("create table interactions_split as select event_id, 'train' as split "
                "from events_integrated")
    avg = dict(con.execute(f"select user_id, avg_price from ({STEPS['user_features'].sql})"
                           ).fetchall())
    # 7000 / 3 ten-thousandths = 0.2333...; user 2: 0.00024 is 2.4 ten-thousandths, counted
    # as 2, and the NULL price is no price: (1 + 2) / 2 = 1.5 ten-thousandths.
    assert avg == {1: 0.233333, 2: 0.00015}


def test_item_features__popularity_and_price_rank(con):
    _split(con)
    rows = run(con, "item_features", "item_id")
    got = [(r[0], r[7], r[8], r[12], r[14], r[15]) for r in rows]
    # (item, n_events, n_pv, n_users, popularity_rank, price_pct_in_category)
    assert got == [(10, 2, 2, 2, 1, 0.0), (11, 1, 1, 1, 2, 0.0), (12, 0, 0, 0, 3, 1.0)]


def test_feature_selection__drops_constant_and_correlated(con):
    con.execute("create table user_features as select * from (values "
                "(1, 1, 1, 0, 0, 0, 1, 1, 0.5, 0.0, 10.0, 1), "
                "(2, 2, 2, 0, 0, 0, 2, 1, 0.1, 0.0, 20.0, 2), "
                "(3, 3, 3, 0, 0, 0, 5, 1, 0.1, 0.0, 15.0, 1)) "
                "t(user_id, n_events, n_pv, n_cart, n_fav, n_buy, n_items, n_categories, "
                "cart_rate, buy_rate, avg_price, active_days)")
    con.execute("create table item_features as select * from (values "
                "(10, 5.0, 1, 1, 1, 0, 0, 0, 1, 0.0, 0.5), "
                "(11, 9.0, 2, 2, 2, 0, 0, 0, 1, 0.0, 0.1), "
                "(12, 6.0, 1, 3, 3, 0, 0, 0, 1, 0.0, 0.9)) "
                "t(item_id, price, stock, n_events, n_pv, n_cart, n_fav, n_buy, n_users, "
                "conversion_rate, price_pct_in_category)")
    rows = {(r[0], r[1]): (r[2], r[3]) for r in run(con, "feature_selection", "1, 2")}
    assert rows[("user_features", "n_pv")] == (False, "correlated with n_events")
    assert rows[("user_features", "n_events")] == (True, "kept")
    assert rows[("user_features", "n_cart")] == (False, "constant")
    assert rows[("user_features", "cart_rate")] == (True, "kept")
    assert rows[("item_features", "price")] == (True, "kept")
    assert rows[("item_features", "stock")] == (False, "correlated with price")
    assert rows[("item_features", "n_users")] == (False, "constant")
    assert rows[("item_features", "n_pv")] == (False, "correlated with n_events")
    assert rows[("item_features", "price_pct_in_category")] == (True, "kept")
    assert len(rows) == 21
    stats = con.execute(f"select statistic from ({STEPS['feature_selection'].sql}) "
                        "where statistic is not null").fetchall()
    # Correlations are kept to 1e-9 (their last bits depend on the engine's summation order).
    assert stats and all(round(s * 1e9) == s * 1e9 or abs(round(s * 1e9) - s * 1e9) < 1e-6
                         for (s,) in stats)
