"""The serving process's model side, in-process: loading versions of every checkpoint form."""

from __future__ import annotations

from ranker.registry import compress_and_register, resolve, train_and_register
from ranker.serve.model import Histories, load_version, recommend
from ranker.train import TrainConfig
from tests.ranker.serve_util import TINY


def test_an_int8_version_loads_and_serves_like_any_other(cyclic_db, catalog):
    """A compressed version (ranker compress) is served through the same path: sha256 checked,
    loaded on the CPU, unseen items only."""
    client, _ = catalog
    train_and_register(cyclic_db, TrainConfig(**TINY), client)
    _, int8 = compress_and_register(cyclic_db, "ranker@1", client, method="int8", users=20)
    lv = load_version(resolve(client, f"ranker@{int8['version']}"), "ranker@2")
    assert (lv.version, lv.sha256) == (int8["version"], int8["sha256"])
    histories = Histories.from_features(cyclic_db / "features.duckdb")
    items, behaviours = histories.of(500)
    top, scores = recommend(lv, items, behaviours, 5)
    assert len(top) == 5 and not set(top) & set(items)
    assert scores == sorted(scores, reverse=True)
