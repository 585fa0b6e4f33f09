"""The search index's quality status follows new versions and quality results (migration 0008).

A new current version and new quality assertions only recompute the document's quality status
(its words are not rebuilt), one event at a time and in a batch alike.
"""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import text

from tests.factories import ds, facet, run_event, schema


def _checks(*results: bool) -> dict:
    return facet("DataQualityAssertionsDatasetFacet", assertions=[
        {"assertion": f"check_{i}", "success": ok} for i, ok in enumerate(results)])


def _status(engine, name: str) -> str:
    with engine.connect() as conn:
        return conn.execute(text(
            "SELECT s.quality FROM search_documents s JOIN datasets d ON s.doc_id = d.id * 2 "
            "WHERE d.name = :n"), {"n": name}).scalar_one()


def _complete(minutes: int, *facets: dict, cols=("a",)) -> dict:
    out = ds("scored", schema=schema(*cols))
    for f in facets:
        out["facets"]["dataQualityAssertions"] = f
    return run_event("COMPLETE", "score", run_id=str(uuid.uuid4()), outputs=[out],
                     minutes=minutes)


@pytest.mark.parametrize("batched", [False, True])
def test_quality_status_follows_versions_and_checks(client, engine, batched):
    def send(*events):
        if batched:
            r = client.post("/api/v1/lineage/batch", json=list(events))
        else:
            for e in events:
                r = client.post("/api/v1/lineage", json=e)
        assert r.status_code == 201, r.get_json()

    send(_complete(0))
    assert _status(engine, "scored") == "unchecked"
    send(_complete(1, _checks(True, False), cols=("a", "b")))
    assert _status(engine, "scored") == "failing"
    send(_complete(2, cols=("a", "c")))  # a new version, not checked yet
    assert _status(engine, "scored") == "unchecked"
    send(_complete(3, _checks(True), cols=("a", "d")), _complete(4, _checks(False), cols=("e",)))
    assert _status(engine, "scored") == "failing"
    r = client.get("/api/v1/search", query_string={"q": "scored", "quality": "failing"})
    assert [d["name"] for d in r.get_json()["results"]] == ["scored"]


def test_renaming_words_still_rebuilds_the_document(client, engine):
    client.post("/api/v1/lineage", json=_complete(0))
    with engine.begin() as conn:
        conn.execute(text("UPDATE datasets SET description = 'walrus tusks' "
                          "WHERE name = 'scored'"))
    r = client.get("/api/v1/search", query_string={"q": "walrus"})
    assert [d["name"] for d in r.get_json()["results"]] == ["scored"]
