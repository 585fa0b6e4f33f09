"""A seeded synthetic shop: users browsing, carting, favouriting and buying, plus realistic mess.

Shape (what the ranker and the cleaning rules need to be exercised):
- item popularity follows a Zipf law; users have a favourite category they mostly browse;
- sessions walk a funnel: views, then with some probability cart and favourite, carts convert to
  purchases at a lower rate;
- event times follow a daily rhythm (evening peak) over a window of days;
- mess, at small configurable rates: exact duplicates, near duplicates (same event a second later),
  missing ids, unknown item ids, malformed values, out-of-range timestamps, unknown behaviour
  codes; items with missing, negative or absurd prices and negative stock.

Generation streams in chunks of users into Parquet row groups, so memory depends on the chunk
(about 2M events by default; ``max_chunk_events`` caps it whatever the users/events ratio), not
on the total: 100M events take what 10M take. Columns stay numeric (ids, times, codes of
behaviours) until each chunk is written, and only then become Arrow strings, so no Python object
per value is ever made.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipelines.sources import EVENTS_SCHEMA, ITEMS_SCHEMA, landing

# Unix seconds of the first day of the synthetic window (2024-03-01 00:00 UTC).
START_TS = 1_709_251_200
# Hour-of-day weights: quiet nights, a lunchtime bump and an evening peak.
HOURLY = np.array([2, 1, 1, 1, 1, 2, 3, 5, 6, 6, 6, 7, 8, 7, 6, 6, 7, 8, 10, 12, 12, 10, 7, 4],
                  dtype=float)
# Behaviour codes index this vocabulary: the funnel's four, the unknown codes injected as mess,
# then each one's upper-cased form (sloppy casing).
BEHAVIORS = ["pv", "cart", "fav", "buy", "click", "", "PV "]
VOCABULARY = BEHAVIORS + [b.upper() for b in BEHAVIORS]
PV, CART, FAV, BUY = range(4)
ODD = np.array([4, 5, 6])  # "click", "", "PV "
FAR_TS = np.array([0, 4_102_444_800, -86_400])  # 1970, 2100, before 1970


@dataclass(frozen=True)
class SyntheticConfig:
    """Size, shape and mess rates of the synthetic shop."""

    events: int = 200_000  # approximate number of events to generate
    users: int | None = None  # default: events / 40
    items: int | None = None  # default: events / 60, at least 200
    categories: int = 40
    brands: int = 150
    days: int = 30
    zipf_a: float = 1.1  # item popularity exponent
    p_cart: float = 0.08  # view -> cart
    p_fav: float = 0.04  # view -> favourite
    p_buy: float = 0.35  # cart -> purchase
    p_duplicate: float = 0.004  # exact duplicate rows
    p_near_duplicate: float = 0.003  # same event again one second later
    p_missing: float = 0.002  # user or item id missing
    p_unknown_item: float = 0.002  # item id not in the catalogue
    p_malformed: float = 0.001  # unparseable id or timestamp
    p_bad_ts: float = 0.001  # timestamp far outside the window
    p_bad_behavior: float = 0.001  # unknown behaviour code
    p_bad_price: float = 0.01  # item price missing, negative or absurd
    seed: int = 7
    chunk_users: int = 50_000  # users per chunk (a chunk is one Parquet row group)
    max_chunk_events: int = 4_000_000  # fewer users per chunk when theirs would exceed this

    @property
    def n_users(self) -> int:
        return self.users or max(50, self.events // 40)

    @property
    def n_items(self) -> int:
        return self.items or max(200, self.events // 60)


def _items(cfg: SyntheticConfig, rng: np.random.Generator) -> pa.Table:
    n = cfg.n_items
    category = rng.integers(1, cfg.categories + 1, n)
    brand = rng.integers(1, cfg.brands + 1, n)
    # Each category has its own price level; items spread log-normally around it.
    level = np.exp(rng.normal(3.0, 0.8, cfg.categories + 1))
    price = np.round(level[category] * np.exp(rng.normal(0, 0.5, n)), 2)
    stock = rng.poisson(40, n)
    bad = rng.random(n) < cfg.p_bad_price
    kind = rng.integers(0, 3, n)
    # A bad price is missing, negative or 1e5 times too high, one kind in three each.
    price = np.where(bad & (kind == 1), -price, np.where(bad & (kind == 2), price * 1e5, price))
    price_col = pa.array(price, pa.float64(), mask=bad & (kind == 0))
    stock[rng.random(n) < cfg.p_bad_price / 2] = -5
    attributes = pa.ListArray.from_arrays(
        pa.array(np.arange(0, 2 * n + 1, 2), pa.int32()),
        pa.array(np.column_stack([category, cfg.categories + brand]).ravel(), pa.int64()),
    )
    return pa.table(
        {
            "source_row": pa.array(np.arange(n), pa.int64()),
            "item_id": pa.array(np.arange(1, n + 1), pa.int64()),
            "category_id": pa.array(category, pa.int64()),
            "brand_id": pa.array(brand, pa.int64()),
            "price": price_col,
            "stock": pa.array(stock, pa.int64()),
            "attributes": attributes,
        },
        schema=ITEMS_SCHEMA,
    )


def _popularity(cfg: SyntheticConfig, rng: np.random.Generator, category: np.ndarray):
    """Per category, item ids and Zipf sampling weights (rank order shuffled per category)."""
    ranks = rng.permutation(len(category)) + 1
    weight = 1.0 / ranks ** cfg.zipf_a
    by_cat = {}
    for c in range(1, cfg.categories + 1):
        ids = np.flatnonzero(category == c) + 1
        if len(ids):
            w = weight[ids - 1]
            by_cat[c] = (ids, w / w.sum())
    all_w = weight / weight.sum()
    return by_cat, all_w


def _chunk_events(cfg, rng, users: np.ndarray, n_events: int, by_cat, all_w) -> dict:
    n_items = len(all_w)
    # Events per user: heavy-tailed activity.
    activity = rng.pareto(1.5, len(users)) + 1
    counts = np.maximum(1, np.round(activity / activity.sum() * n_events)).astype(int)
    user_col = np.repeat(users, counts)
    n = len(user_col)
    fav_cat = rng.integers(1, cfg.categories + 1, len(users))
    fav = np.repeat(fav_cat, counts)
    item = rng.choice(n_items, n, p=all_w) + 1
    in_fav = rng.random(n) < 0.7
    # Most events fall in the user's favourite category: its rows in index order, per category.
    rows = np.flatnonzero(in_fav)
    rows = rows[np.argsort(fav[rows], kind="stable")]
    edges = np.searchsorted(fav[rows], np.arange(1, cfg.categories + 2))
    for c, (ids, w) in by_cat.items():
        at = rows[edges[c - 1]:edges[c]]
        if len(at):
            item[at] = rng.choice(ids, len(at), p=w)
    day = rng.integers(0, cfg.days, n)
    hour = rng.choice(24, n, p=HOURLY / HOURLY.sum())
    ts = START_TS + day * 86_400 + hour * 3_600 + rng.integers(0, 3_600, n)
    behavior = np.full(n, PV, dtype=np.int8)
    u = rng.random(n)
    carted = u < cfg.p_cart
    behavior[carted] = CART
    behavior[(u >= cfg.p_cart) & (u < cfg.p_cart + cfg.p_fav)] = FAV
    bought = carted & (rng.random(n) < cfg.p_buy)
    # A purchase is its own event, a few minutes after the cart.
    extra_user, extra_item = user_col[bought], item[bought]
    extra_ts = ts[bought] + rng.integers(60, 1_800, int(bought.sum()))
    return {
        "user": np.concatenate([user_col, extra_user]),
        "item": np.concatenate([item, extra_item]),
        "ts": np.concatenate([ts, extra_ts]),
        "behavior": np.concatenate([behavior, np.full(len(extra_user), BUY, dtype=np.int8)]),
    }


def _mess(cfg, rng, ev: dict, item_category: np.ndarray) -> dict:
    """Inject the configured mess; still numeric: values plus masks of what they stand for.

    ``*_null`` rows land as NULL, ``user_bad`` as "user#?", ``ts_bad`` as "not-a-time"; ``ts``
    holds the far-off times and ``item`` the unknown item ids as numbers.
    """
    n = len(ev["user"])
    item = ev["item"].copy()
    ts = ev["ts"].copy()
    behavior = ev["behavior"].copy()
    r = rng.random((6, n))
    user_null = r[0] < cfg.p_missing / 2
    item_null = (r[0] >= cfg.p_missing / 2) & (r[0] < cfg.p_missing)
    unknown = r[1] < cfg.p_unknown_item
    item[unknown] = len(item_category) + 1 + rng.integers(0, 10_000, int(unknown.sum()))
    item_null &= ~unknown
    bad = r[2] < cfg.p_malformed
    which = rng.integers(0, 2, n)
    user_bad = bad & (which == 0)
    user_null &= ~user_bad
    far = r[3] < cfg.p_bad_ts
    ts_bad = bad & (which == 1) & ~far
    ts[far] = rng.choice(FAR_TS, int(far.sum()))
    odd = r[4] < cfg.p_bad_behavior
    behavior[odd] = rng.choice(ODD, int(odd.sum()))
    # Sloppy casing and padding that cleaning should normalise, not reject.
    behavior[r[5] < 0.01] += len(BEHAVIORS)
    return {"user": ev["user"], "user_null": user_null, "user_bad": user_bad,
            "item": item, "item_null": item_null,
            "category": item_category[ev["item"] - 1],
            "behavior": behavior, "ts": ts, "ts_bad": ts_bad}


def _strings(values: np.ndarray, null: np.ndarray | None = None, text: str | None = None,
             where: np.ndarray | None = None) -> pa.Array:
    """Numbers as landed strings: NULL where ``null``, ``text`` where ``where``."""
    out = pc.cast(pa.array(values, pa.int64()), pa.string())
    if where is not None and where.any():
        out = pc.if_else(pa.array(where), pa.scalar(text, pa.string()), out)
    if null is not None and null.any():
        out = pc.if_else(pa.array(null), pa.scalar(None, pa.string()), out)
    return out


def generate(workdir: Path, cfg: SyntheticConfig, progress=None) -> dict:
    """Write ``raw/events.parquet`` and ``raw/items.parquet`` under ``workdir``; return counts."""
    raw = Path(workdir) / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(cfg.seed)
    items = _items(cfg, rng)
    with landing(raw / "items.parquet") as tmp:
        pq.write_table(items, tmp)
    item_category = items.column("category_id").to_numpy()
    by_cat, all_w = _popularity(cfg, rng, item_category)
    users = np.arange(1, cfg.n_users + 1)
    per_user = cfg.events / cfg.n_users
    chunk_users = max(1, min(cfg.chunk_users, int(cfg.max_chunk_events / per_user)))
    vocabulary = pa.array(VOCABULARY, pa.string())
    written, row = 0, 0
    with landing(raw / "events.parquet") as tmp, pq.ParquetWriter(tmp, EVENTS_SCHEMA) as writer:
        for start in range(0, len(users), chunk_users):
            chunk = users[start:start + chunk_users]
            budget = int(round(per_user * len(chunk) / (1 + cfg.p_cart * cfg.p_buy)))
            ev = _chunk_events(cfg, rng, chunk, budget, by_cat, all_w)
            cols = _mess(cfg, rng, ev, item_category)
            n = len(cols["user"])
            idx = np.arange(n)
            dup = idx[rng.random(n) < cfg.p_duplicate]
            near = idx[rng.random(n) < cfg.p_near_duplicate]
            order = np.concatenate([idx, dup, near])
            out = {k: v[order] for k, v in cols.items()}
            # Near duplicates: the same event one second later (a time that is no number stays).
            out["ts"][n + len(dup):] += ~out["ts_bad"][n + len(dup):]
            # Land in time order, as a feed would, with duplicates next to their originals.
            perm = np.argsort(np.where(out["ts_bad"], 0, out["ts"]), kind="stable")
            out = {k: v[perm] for k, v in out.items()}
            m = len(order)
            table = pa.table(
                {"source_row": pa.array(np.arange(row, row + m), pa.int64()),
                 "user_id": _strings(out["user"], out["user_null"], "user#?", out["user_bad"]),
                 "item_id": _strings(out["item"], out["item_null"]),
                 "category_id": _strings(out["category"]),
                 "behavior": pc.take(vocabulary, pa.array(out["behavior"])),
                 "ts": _strings(out["ts"], None, "not-a-time", out["ts_bad"])},
                schema=EVENTS_SCHEMA,
            )
            writer.write_table(table)
            row += m
            written += m
            if progress:
                progress(m)
    return {"events": written, "items": items.num_rows, "users": int(cfg.n_users)}
