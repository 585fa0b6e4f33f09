"""Read the pipeline's feature tables into the tensors the ranker trains and evaluates on.

Source ids are mapped to contiguous indices: items and attributes, categories, brands and behaviours
to 1..N (0 is padding / unknown). The item mapping travels in the checkpoint so that scoring can
answer in the source's own ids.

Leave-one-out protocol (from ``interactions_split``): a user's 'train' events are the training
sequence, the 'valid' event is predicted from the train events, and the 'test' event from the train
and valid events. The valid and test items never enter a training sequence.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import torch

from pipelines.tables import quote

PRICE_BUCKETS = 20  # quantile buckets of price when the source has prices
SPLITS = ("train", "valid", "test")  # every event: what a refit after selection learns from


@dataclass
class ItemSide:
    """Side features of every catalogue item, row = item index (row 0 is padding)."""

    attributes: torch.Tensor  # (N+1, A) long, attribute indices padded with 0
    category: torch.Tensor  # (N+1,) long, 0 = unknown
    brand: torch.Tensor  # (N+1,) long, 0 = unknown
    price_bucket: torch.Tensor  # (N+1,) long, 0 = unknown
    dense: torch.Tensor  # (N+1, F) float, standardised kept numeric features (0 = mean)
    dense_names: list[str]  # names of the F dense columns

    @property
    def sizes(self) -> dict:
        """Vocabulary sizes, counting the padding index 0."""
        return {
            "n_attributes": int(self.attributes.max()) + 1 if self.attributes.numel() else 1,
            "n_categories": int(self.category.max()) + 1,
            "n_brands": int(self.brand.max()) + 1,
            "n_price_buckets": int(self.price_bucket.max()) + 1,
            "n_dense": int(self.dense.shape[1]),
        }


@dataclass
class SeqData:
    """Every user's event sequence, split by the leave-one-out protocol, in item indices."""

    item_ids: np.ndarray  # (N,) source item id of item index i+1
    user_ids: np.ndarray  # (U,) source user id of user row u
    behaviors: list[str]  # behaviour names; behaviour index b+1 is behaviors[b]
    train: list[np.ndarray]  # per user: train item indices, oldest first
    train_beh: list[np.ndarray]  # per user: behaviour indices of the train events
    valid: np.ndarray  # (U,) valid target item index, 0 = none
    valid_beh: np.ndarray  # (U,) behaviour index of the valid event, 0 = none
    test: np.ndarray  # (U,) test target item index, 0 = none
    test_beh: np.ndarray  # (U,) behaviour index of the test event, 0 = none
    side: ItemSide

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    def item_index(self) -> dict[int, int]:
        """Source item id -> item index."""
        return {int(i): k + 1 for k, i in enumerate(self.item_ids)}


def load(db_path: Path) -> SeqData:
    """Read interactions_split, item_features and feature_selection from a feature DB."""
    con = duckdb.connect(str(db_path), read_only=True)
    try:
        items = con.execute("""
            select item_id from item_features where item_id is not null
            union select item_id from interactions_split where item_id is not null
            order by item_id""").fetchnumpy()["item_id"].astype(np.int64)
        events = con.execute("""
            select user_id, item_id, coalesce(behavior, '') as behavior, split
            from interactions_split
            where user_id is not null and item_id is not null
            order by user_id, seq_no""").fetchnumpy()
        side = _item_side(con, items)
    finally:
        con.close()
    return _sequences(items, events, side)


def _sequences(items: np.ndarray, events: dict, side: ItemSide) -> SeqData:
    """Group the ordered events by user into train sequences and valid/test targets."""
    item_idx = np.searchsorted(items, events["item_id"].astype(np.int64)) + 1
    behaviors = sorted(set(events["behavior"].tolist()))
    beh_lookup = {b: k + 1 for k, b in enumerate(behaviors)}
    beh_idx = np.array([beh_lookup[b] for b in events["behavior"].tolist()], dtype=np.int64)
    split = np.asarray(events["split"].tolist())
    users = events["user_id"].astype(np.int64)
    user_ids, starts = np.unique(users, return_index=True)
    bounds = list(starts) + [len(users)]
    train, train_beh = [], []
    valid = np.zeros(len(user_ids), dtype=np.int64)
    valid_beh = np.zeros(len(user_ids), dtype=np.int64)
    test = np.zeros(len(user_ids), dtype=np.int64)
    test_beh = np.zeros(len(user_ids), dtype=np.int64)
    for u in range(len(user_ids)):
        sl = slice(bounds[u], bounds[u + 1])
        s, it, bh = split[sl], item_idx[sl], beh_idx[sl]
        is_train = s == "train"
        train.append(it[is_train])
        train_beh.append(bh[is_train])
        if (s == "valid").any():
            k = int(np.flatnonzero(s == "valid")[-1])
            valid[u], valid_beh[u] = it[k], bh[k]
        if (s == "test").any():
            k = int(np.flatnonzero(s == "test")[-1])
            test[u], test_beh[u] = it[k], bh[k]
    return SeqData(items, user_ids, behaviors, train, train_beh, valid, valid_beh, test, test_beh,
                   side)


def _dense_columns(con) -> list[str]:
    """Numeric item features the pipeline's feature selection kept (price is bucketised instead)."""
    rows = con.execute("""
        select feature from feature_selection
        where table_name = 'item_features' and kept and feature <> 'price'
        order by feature""").fetchall()
    present = {r[0] for r in con.execute("describe item_features").fetchall()}
    return [r[0] for r in rows if r[0] in present]


def _item_side(con, items: np.ndarray) -> ItemSide:
    """Side-feature tensors aligned with the item indices (row 0 = padding)."""
    dense_names = _dense_columns(con)
    dense_sql = "".join(f", cast(f.{quote(c)} as DOUBLE) as {quote(c)}" for c in dense_names)
    rows = con.execute(f"""
        select i.item_id, f.category_id, f.brand_id, f.price, f.attributes {dense_sql}
        from (select unnest(?::BIGINT[]) as item_id) i
        left join item_features f using (item_id)
        order by i.item_id""", [items.tolist()]).fetchall()
    n = len(items)

    def vocab(values) -> np.ndarray:
        known = sorted({v for v in values if v is not None})
        lookup = {v: k + 1 for k, v in enumerate(known)}
        return np.array([0] + [lookup.get(v, 0) for v in values], dtype=np.int64)

    category = vocab([r[1] for r in rows])
    brand = vocab([r[2] for r in rows])
    attrs = [list(r[4] or []) for r in rows]
    attr_lookup = {a: k + 1 for k, a in enumerate(sorted({a for x in attrs for a in x}))}
    width = max((len(x) for x in attrs), default=0)
    attributes = np.zeros((n + 1, max(width, 1)), dtype=np.int64)
    for k, x in enumerate(attrs):
        attributes[k + 1, : len(x)] = [attr_lookup[a] for a in x]

    price = np.array([np.nan if r[3] is None else r[3] for r in rows], dtype=np.float64)
    price_bucket = np.zeros(n + 1, dtype=np.int64)
    known = ~np.isnan(price)
    if known.any():
        edges = np.unique(np.quantile(price[known], np.linspace(0, 1, PRICE_BUCKETS + 1)[1:-1]))
        price_bucket[1:][known] = np.searchsorted(edges, price[known], side="right") + 1

    dense = np.zeros((n + 1, len(dense_names)), dtype=np.float32)
    for j in range(len(dense_names)):
        col = np.array([np.nan if r[5 + j] is None else r[5 + j] for r in rows], dtype=np.float64)
        if np.nanmin(col, initial=0.0) >= 0:
            col = np.log1p(col)  # counts and rates are heavy-tailed
        ok = ~np.isnan(col)
        if ok.any():
            mu, sd = col[ok].mean(), col[ok].std()
            col = np.where(ok, (col - mu) / (sd if sd > 0 else 1.0), 0.0)
        dense[1:, j] = np.nan_to_num(col)
    return ItemSide(
        attributes=torch.from_numpy(attributes),
        category=torch.from_numpy(category),
        brand=torch.from_numpy(brand),
        price_bucket=torch.from_numpy(price_bucket),
        dense=torch.from_numpy(dense),
        dense_names=dense_names,
    )


# --- batches ---------------------------------------------------------------------------------

def left_pad(seqs: list[np.ndarray], max_len: int) -> torch.Tensor:
    """The last ``max_len`` entries of each sequence, right-aligned, padded with 0 on the left."""
    out = np.zeros((len(seqs), max_len), dtype=np.int64)
    for r, s in enumerate(seqs):
        s = s[-max_len:]
        if len(s):
            out[r, max_len - len(s):] = s
    return torch.from_numpy(out)


def full_histories(data: SeqData) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Per user: every event's item and behaviour indices, oldest first (train, valid, test)."""
    seqs, behs = [], []
    for u in range(len(data.user_ids)):
        s, b = data.train[u], data.train_beh[u]
        for target, tb in ((data.valid[u], data.valid_beh[u]), (data.test[u], data.test_beh[u])):
            if target > 0:
                s, b = np.append(s, target), np.append(b, tb)
        seqs.append(s)
        behs.append(b)
    return seqs, behs


def training_examples(data: SeqData, max_len: int, *, every_event: bool = False):
    """Next-item examples: inputs s[:-1], targets s[1:] (the last max_len of each sequence).

    The sequences are the train events, or with ``every_event`` (the refit after model
    selection) every event the pipeline holds: train, then the valid and test events.
    Returns (users, inputs, behaviours, targets) for users with at least two such events;
    inputs/behaviours/targets are (U', max_len) long tensors, left-padded with 0.
    """
    seqs, behs = full_histories(data) if every_event else (data.train, data.train_beh)
    users = [u for u, s in enumerate(seqs) if len(s) >= 2]
    inputs = left_pad([seqs[u][:-1] for u in users], max_len)
    beh = left_pad([behs[u][:-1] for u in users], max_len)
    targets = left_pad([seqs[u][1:] for u in users], max_len)
    return torch.tensor(users, dtype=torch.long), inputs, beh, targets


def eval_examples(data: SeqData, split: str, max_len: int):
    """Inputs, targets and per-user history for predicting the 'valid' or 'test' event.

    valid: the input is the train events; test: the train events then the valid event.
    Returns (users, inputs, behaviours, targets, history) for users that have that target;
    history is a list of item-index arrays (everything the user had before the target).
    """
    if split not in ("valid", "test"):
        raise ValueError(f"split must be 'valid' or 'test', not {split!r}")
    target = data.valid if split == "valid" else data.test
    users = np.flatnonzero(target > 0)
    seqs, behs = [], []
    for u in users:
        s, b = data.train[u], data.train_beh[u]
        if split == "test" and data.valid[u] > 0:
            s = np.append(s, data.valid[u])
            b = np.append(b, data.valid_beh[u])
        seqs.append(s)
        behs.append(b)
    return (torch.from_numpy(users), left_pad(seqs, max_len), left_pad(behs, max_len),
            torch.from_numpy(target[users]), seqs)


def item_counts(data: SeqData) -> torch.Tensor:
    """(N+1,) number of train events per item (the popularity baseline's score)."""
    counts = np.bincount(np.concatenate(data.train + [np.zeros(0, np.int64)]),
                         minlength=data.n_items + 1)
    counts[0] = 0
    return torch.from_numpy(counts.astype(np.float32))
