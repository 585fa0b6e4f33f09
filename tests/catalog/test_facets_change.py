"""facets_change answers exactly what merging the facets and comparing would."""

from __future__ import annotations

import random

from catalog.ingest.datasets import DatasetRow, facets_change, merge_facets

VALUES = [None, 0, 1, "a", {"fields": [{"name": "x"}]}, {"fields": [{"name": "y"}]},
          {"_deleted": True}, {"_deleted": False, "v": 1}, [], [1]]


def _row(facets: dict) -> DatasetRow:
    return DatasetRow(id=1, namespace="n", name="d", facets=facets, kind="table",
                      description=None, source_id=None, is_deleted=False,
                      current_version_id=None, last_modified_at=None)


def test_matches_merge_and_compare_on_random_facets():
    rng = random.Random(16)
    changed = unchanged = 0
    for _ in range(5000):
        keys = rng.sample("abcde", rng.randint(0, 5))
        stored = {k: rng.choice(VALUES) for k in keys if rng.random() < 0.7}
        stored = {k: v for k, v in stored.items()
                  if not (isinstance(v, dict) and v.get("_deleted"))}
        event = {k: rng.choice(VALUES + [stored.get(k)] * 3)
                 for k in rng.sample("abcde", rng.randint(0, 4))}
        expected = bool(event) and merge_facets(stored, event) != stored
        assert facets_change(_row(stored), event) is expected, (stored, event)
        changed += expected
        unchanged += not expected
    assert changed > 500 and unchanged > 500  # both answers were exercised


def test_deleting_an_absent_facet_changes_nothing_and_a_present_one_does():
    assert not facets_change(_row({"a": 1}), {"b": {"_deleted": True}})
    assert facets_change(_row({"a": 1}), {"a": {"_deleted": True}})
    assert facets_change(_row({}), {"a": None})  # a new key, even with a null value
