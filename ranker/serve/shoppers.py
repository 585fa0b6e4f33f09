"""Simulated shoppers for the demo: users who browse ``catalog ranker serve`` over HTTP.

Each shopper asks ``GET /recommendations`` for their list, then answers it with
``POST /feedback`` the way :mod:`ranker.feedback`'s offline users answer a top-K file: a click
on a shown item is likelier near the top (position bias) and in the shopper's favourite category;
some clicks become carts and some carts purchases. Their feedback is linked to the list it
answers by the request id, so it reaches the catalog as the serving process's events, and the
next pipeline run, like any real shopper's.

Deterministic for the same lists and seed: each decision draws a uniform from a hash of (seed,
user, item, stage), not from a generator whose state depends on the order threads run in.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import duckdb
import requests

from ranker.feedback import FeedbackConfig


def uniform(seed: int, user: int, item: int, stage: str) -> float:
    """A reproducible uniform in [0, 1) for one decision."""
    digest = hashlib.blake2b(f"{seed}:{user}:{item}:{stage}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2.0**64


def tastes(workdir: Path) -> tuple[dict[int, int], dict[int, int]]:
    """Each user's favourite category and each item's category, from the pipeline's tables."""
    con = duckdb.connect(str(Path(workdir) / "features.duckdb"), read_only=True)
    try:
        favourite = dict(con.execute(
            "select user_id, mode(category_id) from events_integrated group by 1").fetchall())
        category = dict(con.execute(
            "select item_id, any_value(category_id) from events_integrated group by 1"
        ).fetchall())
    finally:
        con.close()
    return favourite, category


def answers(user: int, items: list[int], favourite: dict[int, int], category: dict[int, int],
            cfg: FeedbackConfig) -> list[tuple[int, str]]:
    """What ``user`` does with the list ``items`` (best first): (item, click|cart|buy) in order."""
    out = []
    for rank, item in enumerate(items, start=1):
        p = cfg.p_click_top * cfg.rank_decay ** (rank - 1)
        if favourite.get(user) is not None and category.get(item) == favourite.get(user):
            p *= cfg.category_boost
        if uniform(cfg.seed, user, item, "click") >= min(1.0, p):
            continue
        out.append((item, "click"))
        if uniform(cfg.seed, user, item, "cart") < cfg.p_cart:
            out.append((item, "cart"))
            if uniform(cfg.seed, user, item, "buy") < cfg.p_buy:
                out.append((item, "buy"))
    return out


def browse(url: str, workdir: Path, users: list[int], *, k: int = 10, threads: int = 4,
           cfg: FeedbackConfig | None = None, timeout: float = 30.0) -> dict:
    """Every user in ``users`` fetches a list from the serving process at ``url`` and answers it.

    Returns counts: lists served (and how many were popularity lists), then each feedback type.
    Raises :class:`requests.HTTPError` if the server refuses a request (none should be).
    """
    cfg = cfg or FeedbackConfig()
    favourite, category = tastes(workdir)
    counts: Counter[str] = Counter()

    def shop(chunk: list[int]) -> Counter[str]:
        mine: Counter[str] = Counter()
        with requests.Session() as http:
            for user in chunk:
                r = http.get(f"{url}/recommendations", params={"user": user, "k": k},
                             timeout=timeout)
                r.raise_for_status()
                body = r.json()
                mine["lists"] += 1
                mine[body["strategy"]] += 1
                for item, kind in answers(user, body["items"], favourite, category, cfg):
                    r = http.post(f"{url}/feedback", timeout=timeout, json={
                        "requestId": body["requestId"], "item": item, "type": kind})
                    r.raise_for_status()
                    mine[kind] += 1
        return mine

    chunks = [users[i::threads] for i in range(threads)]
    with ThreadPoolExecutor(threads) as pool:
        for mine in pool.map(shop, [c for c in chunks if c]):
            counts.update(mine)
    return {"lists": counts["lists"], "personalised": counts["personalised"],
            "popularity": counts["popularity"], "click": counts["click"],
            "cart": counts["cart"], "buy": counts["buy"]}
