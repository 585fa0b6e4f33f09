"""What a serving process answers from: a loaded model version, users' histories, popularity.

Histories are kept in the source's own ids (user id -> item ids and behaviour names, oldest
first), so a model version trained on another item catalogue can take over without rebuilding
them: each version maps ids to its own indices when it scores. They start as the feature tables'
events (every split, in order, exactly as ``ranker.score`` reads them, so a known user's served
list equals its batch-scored list) and grow with the events the process is told about.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import torch

from ranker import data as rdata
from ranker.checkpoint import load_checkpoint
from ranker.score import top_k

# Behaviours the pipeline accepts (pipelines/steps/events_checked.sql); anything else is refused.
BEHAVIOURS = ("pv", "cart", "fav", "buy")


@dataclass(frozen=True)
class LoadedVersion:
    """One registered model version, loaded and ready to score."""

    name: str
    version: int
    sha256: str
    ref: str  # what it was asked for as, e.g. ranker@production
    model: torch.nn.Module
    item_ids: np.ndarray  # (N,) source item id of item index i+1
    item_index: dict[int, int]  # source item id -> item index
    behaviour_index: dict[str, int]  # behaviour name -> index (0 = unknown)

    def describe(self) -> dict:
        """The version as responses and impressions name it."""
        return {"name": self.name, "version": self.version, "ref": self.ref}


def load_version(version: dict, ref: str) -> LoadedVersion:
    """Load a version the registry resolved (``ranker.registry.resolve`` checked its sha256)."""
    model, ckpt = load_checkpoint(Path(version["artifactPath"]))
    item_ids = ckpt["item_ids"].numpy().astype(np.int64)
    return LoadedVersion(
        name=version["model"], version=int(version["version"]), sha256=version["sha256"],
        ref=ref, model=model, item_ids=item_ids,
        item_index={int(i): k + 1 for k, i in enumerate(item_ids)},
        behaviour_index={b: k + 1 for k, b in enumerate(ckpt["behaviors"])},
    )


def recommend(lv: LoadedVersion, items: list[int], behaviours: list[str],
              k: int) -> tuple[list[int], list[float]]:
    """The best ``k`` items the history does not hold; (source item ids, scores), best first.

    History items the version does not know are left out of its input; fewer than ``k`` come
    back when the version has fewer unseen items.
    """
    known = [(lv.item_index[i], lv.behaviour_index.get(b, 0))
             for i, b in zip(items, behaviours, strict=True) if i in lv.item_index]
    seq = np.array([i for i, _ in known], dtype=np.int64)
    beh = np.array([b for _, b in known], dtype=np.int64)
    k = min(k, len(lv.item_ids) - len(set(seq.tolist())))
    if k <= 0:
        return [], []
    # top_k masks every item of the sequence, not only the last max_len the model reads.
    top, scores = top_k(lv.model, [seq], [beh], k)  # (1, k) each
    return ([int(lv.item_ids[i - 1]) for i in top[0].tolist()],
            [float(s) for s in scores[0].tolist()])


@dataclass
class Histories:
    """Every user's events in source ids, oldest first; safe to read and grow from any thread."""

    items: dict[int, list[int]]
    behaviours: dict[int, list[str]]
    catalogue: frozenset[int]  # every item id the feature tables know
    popular: list[tuple[int, int]]  # (item id, event count), most events first, then lower id
    max_ts: int  # latest event time in the feature tables (seconds)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def from_features(cls, features_db: Path) -> Histories:
        """The feature tables' events per user, as ``ranker.score`` feeds them to the model."""
        data = rdata.load(Path(features_db))
        seqs, behs = rdata.full_histories(data)
        names = [""] + list(data.behaviors)
        items, behaviours = {}, {}
        for u, (s, b) in enumerate(zip(seqs, behs, strict=True)):
            uid = int(data.user_ids[u])
            items[uid] = data.item_ids[s - 1].astype(np.int64).tolist()
            behaviours[uid] = [names[x] for x in b.tolist()]
        counts = np.bincount(np.concatenate(seqs + [np.zeros(0, np.int64)]),
                             minlength=data.n_items + 1)[1:]
        order = np.lexsort((data.item_ids, -counts))  # most events first, then lower id
        popular = [(int(data.item_ids[i]), int(counts[i])) for i in order]
        con = duckdb.connect(str(features_db), read_only=True)
        try:
            (max_ts,) = con.execute(
                "select coalesce(max(ts), 0) from interactions_split").fetchone()
        finally:
            con.close()
        return cls(items, behaviours, frozenset(int(i) for i in data.item_ids), popular,
                   int(max_ts))

    def of(self, user: int) -> tuple[list[int], list[str]] | None:
        """A copy of the user's (items, behaviours), or None for a user never seen."""
        with self._lock:
            if user not in self.items:
                return None
            return list(self.items[user]), list(self.behaviours[user])

    def append(self, user: int, item: int, behaviour: str) -> None:
        """Add an event at the end of the user's history."""
        with self._lock:
            self.items.setdefault(user, []).append(item)
            self.behaviours.setdefault(user, []).append(behaviour)

    def popularity(self, k: int, exclude: set[int]) -> tuple[list[int], list[float]]:
        """The ``k`` items with most events in the feature tables, none of ``exclude``."""
        out = [(i, n) for i, n in self.popular if i not in exclude][:k]
        return [i for i, _ in out], [float(n) for _, n in out]
