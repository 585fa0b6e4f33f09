"""A tiny feature DB in the pipeline's table layout, for the ranker's tests."""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pytest
import torch


def write_feature_db(workdir: Path, sequences: dict[int, list[int]], *, behaviors=None,
                     n_items: int | None = None, item_offset: int = 1000) -> Path:
    """Write ``workdir/features.duckdb`` from per-user item sequences (oldest first).

    Item ``i`` gets source id ``item_offset + i`` (so the ranker must map ids), attributes
    ``[i % 3, 10 + i % 4]``, category ``i % 5``, brand ``i % 2``, price ``i`` (NULL for
    item 2) and one kept dense feature. The last two events of users with >= 3 are valid, test.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    n_items = n_items or max(max(s) for s in sequences.values())
    rows, event_id = [], 0
    for user, seq in sequences.items():
        for k, item in enumerate(seq):
            split = "train"
            if len(seq) >= 3 and k == len(seq) - 2:
                split = "valid"
            elif len(seq) >= 3 and k == len(seq) - 1:
                split = "test"
            beh = behaviors[user][k] if behaviors else "buy"
            rows.append((event_id, user, item_offset + item, beh, 1_000 + k, k + 1, split))
            event_id += 1
    con = duckdb.connect(str(workdir / "features.duckdb"))
    con.execute("""create table interactions_split(event_id BIGINT, user_id BIGINT,
        item_id BIGINT, behavior VARCHAR, ts BIGINT, seq_no BIGINT, split VARCHAR)""")
    con.executemany("insert into interactions_split values (?, ?, ?, ?, ?, ?, ?)", rows)
    con.execute("""create table item_features(item_id BIGINT, category_id BIGINT,
        brand_id BIGINT, price DOUBLE, attributes BIGINT[], n_events BIGINT,
        conversion_rate DOUBLE)""")
    con.executemany("insert into item_features values (?, ?, ?, ?, ?, ?, ?)", [
        (item_offset + i, i % 5, i % 2, None if i == 2 else float(i), [i % 3, 10 + i % 4],
         i, i / 10) for i in range(1, n_items + 1)])
    con.execute("""create table feature_selection(table_name VARCHAR, feature VARCHAR,
        kept BOOLEAN, reason VARCHAR, statistic DOUBLE)""")
    con.execute("""insert into feature_selection values
        ('item_features', 'conversion_rate', true, 'kept', null),
        ('item_features', 'n_events', false, 'correlated', 1.0),
        ('user_features', 'buy_rate', true, 'kept', null)""")
    con.close()
    return workdir / "features.duckdb"


def cyclic_sequences(n_users: int = 60, n_items: int = 30, seed: int = 0) -> dict:
    """Users walking the items in a cycle (i -> i+1) from random starts: learnable."""
    rng = np.random.default_rng(seed)
    seqs = {}
    for u in range(n_users):
        start, length = int(rng.integers(n_items)), int(rng.integers(5, 9))
        seqs[500 + u] = [(start + k) % n_items + 1 for k in range(length)]
    return seqs


@pytest.fixture(autouse=True)
def _one_thread():
    """Small tensors: one thread is fastest and keeps float results reproducible."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def cyclic_db(tmp_path) -> Path:
    """Workdir with a feature DB of 60 users cycling through 30 items."""
    write_feature_db(tmp_path / "work", cyclic_sequences())
    return tmp_path / "work"


@pytest.fixture
def make_feature_db():
    """The ``write_feature_db`` function, for tests that need their own sequences."""
    return write_feature_db


@pytest.fixture(scope="module")
def serve_stack(sqlite_url, tmp_path_factory):
    """(catalog URL, admin client, workdir, production version) for ``ranker serve`` tests.

    A live catalog on the suite's (wiped) SQLite database and a tiny model trained on the
    cyclic users, registered and promoted to production; shared by a module's tests.
    """
    from catalog.client import CatalogClient
    from catalog.db import make_engine
    from tests.dbutil import wipe
    from tests.live_server import live_server
    from tests.ranker.serve_util import train_version

    engine = make_engine(sqlite_url, immediate=False)
    wipe(engine)
    engine.dispose()
    base = tmp_path_factory.mktemp("serve")
    work = base / "work"
    write_feature_db(work, cyclic_sequences())
    with live_server(sqlite_url, base) as url:
        client = CatalogClient(url)
        version = train_version(work, client, "v1")
        client.put("api/v1/models/ranker/aliases/production", {"version": version["version"]})
        yield url, client, work, version
        client.close()
