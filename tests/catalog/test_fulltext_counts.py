"""Search counts: capped totals and facets, and tag/owner facets kept current by the triggers."""

from __future__ import annotations

import re

import pytest

from catalog.db import session_scope
from catalog.read import fulltext
from catalog.read.browse import get_dataset
from catalog.read.fulltext import AtLeast, search_catalog
from catalog.services.stewardship import parse_dataset_edit, update_dataset

# name -> (tags, owners); every description holds the word "walrus".
DATASETS = {
    "walrus_a": (["gold"], ["alice"]),
    "walrus_b": (["gold", "pii"], ["alice", "bob"]),
    "walrus_c": (["gold"], []),
    "walrus_d": (["silver"], ["alice"]),
    "walrus_e": ([], ["alice"]),
}


def _put(client, name: str, tags, owners, description: str = "walrus counts") -> None:
    r = client.put(f"/api/v1/namespaces/counts/datasets/{name}",
                   json={"description": description, "tags": tags, "owners": owners})
    assert r.status_code == 200, r.get_data(as_text=True)


@pytest.fixture
def walruses(client, session):
    for name, (tags, owners) in DATASETS.items():
        _put(client, name, tags, owners)
    session.rollback()
    return session


def test_counts_below_the_cap_are_exact(walruses):
    r = search_catalog(walruses, "walrus", count_cap=5)  # exactly at the cap: still exact
    assert r.total == 5 and type(r.total) is int and f"{r.total:,}" == "5"
    assert r.facets["tag"] == [("gold", 3), ("pii", 1), ("silver", 1)]
    assert r.facets["owner"] == [("alice", 4), ("bob", 1)]
    assert r.facets["kind"] == [("table", 5)] and r.facets["namespace"] == [("counts", 5)]
    assert all(type(n) is int for values in r.facets.values() for _, n in values)


def test_counts_past_the_cap_are_lower_bounds_and_hits_are_unchanged(walruses):
    exact = search_catalog(walruses, "walrus", limit=10)
    capped = search_catalog(walruses, "walrus", limit=10, count_cap=3)
    assert isinstance(capped.total, AtLeast) and capped.total == 3
    assert f"{capped.total:,}" == "3+" and str(capped.total) == "3+"
    # Hits are ranked over every match, not only the counted ones.
    assert [h.name for h in capped.hits] == [h.name for h in exact.hits]
    assert len(capped.hits) == 5
    exact_counts = {(f, v): n for f, vs in exact.facets.items() for v, n in vs}
    assert sum(n for _, n in capped.facets["kind"]) == 3
    for facet, values in capped.facets.items():
        for value, n in values:
            assert isinstance(n, AtLeast) and 1 <= n <= exact_counts[(facet, value)], (facet, value)
    # Pages past the counted matches still come back.
    page3 = search_catalog(walruses, "walrus", limit=2, offset=4, count_cap=3)
    assert [h.name for h in page3.hits] == [h.name for h in exact.hits][4:]


def test_tag_and_owner_facets_and_filters_follow_edits(app, walruses):
    # A steward replaces walrus_c's tags and owners (gold -> silver, gains an owner).
    with session_scope(app.extensions["catalog"].sessions) as s:
        ds = get_dataset(s, "counts", "walrus_c")
        edit = parse_dataset_edit({"description": "walrus counts", "tags": "silver",
                                   "owners": "carol"})
        assert update_dataset(s, ds, edit, actor="test")
    walruses.rollback()
    r = search_catalog(walruses, "walrus")
    assert r.facets["tag"] == [("gold", 2), ("silver", 2), ("pii", 1)]
    assert r.facets["owner"] == [("alice", 4), ("bob", 1), ("carol", 1)]
    by_tag = search_catalog(walruses, "walrus", {"tag": "silver"})
    assert sorted(h.name for h in by_tag.hits) == ["walrus_c", "walrus_d"]
    by_owner = search_catalog(walruses, "", {"owner": "carol"})
    assert [h.name for h in by_owner.hits] == ["walrus_c"] and by_owner.total == 1
    both = search_catalog(walruses, "", {"tag": "gold", "owner": "bob"})
    assert [h.name for h in both.hits] == ["walrus_b"]


def test_unworded_list_is_ordered_by_name(walruses):
    r = search_catalog(walruses, "", {"namespace": "counts"}, limit=3)
    assert [h.name for h in r.hits] == ["walrus_a", "walrus_b", "walrus_c"] and r.total == 5


def test_search_page_shows_a_capped_total(client, walruses, monkeypatch):
    monkeypatch.setattr(fulltext, "COUNT_CAP", 2)
    body = client.get("/search?q=walrus").get_data(as_text=True)
    assert re.search(r">\s*2\+ results", body), body[:2000]
    assert '<span class="count">2+</span>' in body  # kind: table, counted over the first two


@pytest.mark.parametrize("cap", [4, 5, 6])
def test_counts_around_the_cap_and_pages_from_either_branch(walruses, cap):
    # PostgreSQL keeps cap + 1 matches: at cap 4 every match is kept yet one lies past the cap,
    # so the page comes from the second, ranking scan; at 5 and 6 from the kept matches.
    exact = search_catalog(walruses, "walrus", limit=10)
    r = search_catalog(walruses, "walrus", limit=2, offset=1, count_cap=cap)
    assert [h.name for h in r.hits] == [h.name for h in exact.hits][1:3]
    if cap < 5:
        assert isinstance(r.total, AtLeast) and r.total == cap
    else:
        assert type(r.total) is int and r.total == 5 and r.facets == exact.facets
        assert r.facets["owner"] == [("alice", 4), ("bob", 1)]


def test_words_match_as_prefixes_across_letters_and_digits(client, walruses):
    _put(client, "s3_ölfeld_2024", ["gold"], [], description="Ölfeld readings from s3 bucket")
    walruses.rollback()
    for q in ("ölf", "S3 ÖLFELD", "readings s3", "2024"):
        r = search_catalog(walruses, q)
        assert [h.name for h in r.hits] == ["s3_ölfeld_2024"] and r.total == 1, q
    assert search_catalog(walruses, "walrus ölfeld").total == 0
