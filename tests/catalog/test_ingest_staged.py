"""A batch stages versions, quality and column lineage and writes them at the end: same outcome.

The batch path hands out version ids up front and writes versions, quality results and column
lineage in one statement each at the end of the transaction; one POST per event writes them at
once. Both must leave the catalog in exactly the same state, whatever the events: new and
re-sent COMPLETEs, fingerprinted inputs, quality and column lineage facets, DatasetEvents, a run
that completes twice, and a bad event in the middle of a batch.
"""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import text

from tests.authutil import as_admin
from tests.dbutil import wipe
from tests.factories import PRODUCER, ds, facet, run_event, schema

SNAPSHOT = {
    "versions": """
        SELECT d.name, v.version, v.uuid, v.fingerprint, v.row_count, r.uuid AS run,
               v.lifecycle_state, CAST(v.schema_fields AS TEXT) AS fields
        FROM dataset_versions v JOIN datasets d ON d.id = v.dataset_id
        LEFT JOIN runs r ON r.id = v.run_id ORDER BY d.name, v.version""",
    "current": """
        SELECT d.name, v.uuid, d.last_modified_at FROM datasets d
        LEFT JOIN dataset_versions v ON v.id = d.current_version_id ORDER BY d.name""",
    "quality": """
        SELECT v.uuid, r.uuid AS run, q.assertion, q."column", q.success
        FROM quality_assertions q JOIN dataset_versions v ON v.id = q.dataset_version_id
        LEFT JOIN runs r ON r.id = q.run_id ORDER BY 1, 2, 3, 4""",
    "profiles": """
        SELECT v.uuid, p.row_count, c."column", c.null_count, c.distinct_count
        FROM dataset_profiles p JOIN dataset_versions v ON v.id = p.dataset_version_id
        LEFT JOIN column_profiles c ON c.profile_id = p.id ORDER BY 1, 2, 3""",
    "column_lineage": """
        SELECT ov.uuid, c.output_field, i.name, iv.uuid AS input_version, c.input_field,
               c.transformation_type, c.transformation_subtype
        FROM column_lineage c JOIN dataset_versions ov ON ov.id = c.output_version_id
        JOIN datasets i ON i.id = c.input_dataset_id
        LEFT JOIN dataset_versions iv ON iv.id = c.input_version_id ORDER BY 1, 2, 3, 5, 6, 7""",
    "run_io": """
        SELECT r.uuid, d.name, io.direction, v.uuid AS version
        FROM run_io io JOIN runs r ON r.id = io.run_id JOIN datasets d ON d.id = io.dataset_id
        LEFT JOIN dataset_versions v ON v.id = io.dataset_version_id ORDER BY 1, 2, 3""",
    "runs": "SELECT uuid, state, started_at, ended_at FROM runs ORDER BY uuid",
}


def _scenario() -> list[dict]:
    """Events of a small pipeline, including the cases the staging must get right."""
    ids = [str(uuid.uuid4()) for _ in range(5)]
    raw = ds("raw", schema=schema("user", "item"),
             version=facet("DatasetVersionDatasetFacet", datasetVersion="raw-v1"))
    raw2 = ds("raw", schema=schema("user", "item"),
              version=facet("DatasetVersionDatasetFacet", datasetVersion="raw-v2"))
    cl = facet("ColumnLineageDatasetFacet", fields={
        "clicks": {"inputFields": [{"namespace": "shop", "name": "raw", "field": "item"}]}})
    dq = facet("DataQualityAssertionsDatasetFacet", assertions=[
        {"assertion": "not_null", "success": True, "column": "user"},
        {"assertion": "unique", "success": False, "column": "user"}])
    dm = facet("DataQualityMetricsDatasetFacet", rowCount=42,
               columnMetrics={"user": {"nullCount": 0, "distinctCount": 40}})
    feats = ds("features", schema=schema("user", "clicks"), columnLineage=cl,
               dataQualityAssertions=dq, dataQualityMetrics=dm,
               version=facet("DatasetVersionDatasetFacet", datasetVersion="f-1"))
    feats_same = ds("features", schema=schema("user", "clicks"),
                    version=facet("DatasetVersionDatasetFacet", datasetVersion="f-1"))
    other = ds("other", schema=schema("x"))
    static = {"eventTime": "2026-01-01T03:00:00+00:00", "producer": PRODUCER,
              "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/DatasetEvent",
              "dataset": {"namespace": "shop", "name": "static", "facets": {
                  "schema": schema("a"),
                  "dataQualityAssertions": facet("DataQualityAssertionsDatasetFacet", assertions=[
                      {"assertion": "rows", "success": True}])}}}
    bad = run_event("COMPLETE", "broken", outputs=[other], minutes=5)
    bad["eventTime"] = "not a time"
    clash = run_event("START", "owner", run_id=ids[0], minutes=9)  # run of another job: refused
    return [
        run_event("START", "features", run_id=ids[0], inputs=[raw], outputs=[feats], minutes=1),
        run_event("COMPLETE", "features", run_id=ids[0], inputs=[raw], outputs=[feats],
                  minutes=2),
        # The same COMPLETE again with other content: its version exists already.
        {**run_event("COMPLETE", "features", run_id=ids[0], inputs=[raw], outputs=[feats],
                     minutes=3), "producer": PRODUCER + "/again"},
        static,
        bad,
        run_event("COMPLETE", "features", run_id=ids[1], inputs=[raw2], outputs=[feats_same],
                  minutes=4),  # same content: links to the existing version
        run_event("COMPLETE", "features", run_id=ids[2], inputs=[raw2],
                  outputs=[ds("features", schema=schema("user", "clicks", "extra"))],
                  minutes=6),
        run_event("COMPLETE", "side", run_id=ids[3], inputs=[raw], outputs=[other, feats],
                  minutes=7),  # an older input version seen again, two outputs
        clash,
        run_event("COMPLETE", "features", run_id=ids[4], outputs=[feats], minutes=8),
        run_event("COMPLETE", "side", run_id=ids[3], outputs=[other], minutes=10),
    ]


def _snapshot(engine) -> dict:
    with engine.connect() as conn:
        return {k: [tuple(r) for r in conn.execute(text(sql))] for k, sql in SNAPSHOT.items()}


def _state_after(app, engine, posts: list[tuple[str, object]]) -> tuple[dict, list]:
    wipe(engine)
    client = as_admin(app).test_client()
    statuses = []
    for path, body in posts:
        r = client.post(path, json=body)
        assert r.status_code in (201, 207, 422, 400), r.get_json()
        statuses.append(r.status_code)
    return _snapshot(engine), statuses


@pytest.mark.parametrize("size", [3, 20])
def test_a_batch_leaves_the_catalog_as_one_post_per_event_does(app, engine, size):
    events = _scenario()
    one_by_one, codes = _state_after(app, engine, [("/api/v1/lineage", e) for e in events])
    assert codes.count(201) == len(events) - 2  # the bad time and the clashing run
    batched, codes = _state_after(app, engine, [
        ("/api/v1/lineage/batch", events[i:i + size]) for i in range(0, len(events), size)])
    assert 207 in codes
    assert batched == one_by_one
    # And the scenario did exercise what it is about.
    assert [v[:2] for v in one_by_one["versions"] if v[0] == "features"] == [
        ("features", 1), ("features", 2), ("features", 3)]
    assert {q[2] for q in one_by_one["quality"]} == {"not_null", "unique", "rows"}
    assert one_by_one["column_lineage"] and one_by_one["profiles"]
    assert len([v for v in one_by_one["versions"] if v[0] == "raw"]) == 2


def test_versions_number_on_from_what_is_stored(app, engine, client):
    """Staged versions continue the numbering of versions written before the batch."""
    run = str(uuid.uuid4())
    client.post("/api/v1/lineage", json=run_event("COMPLETE", "j", run_id=run,
                                                  outputs=[ds("t", schema=schema("a"))]))
    batch = [run_event("COMPLETE", "j", outputs=[ds("t", schema=schema("a", f"c{i}"))],
                       minutes=i + 1) for i in range(3)]
    r = client.post("/api/v1/lineage/batch", json=batch)
    assert r.status_code == 201, r.get_json()
    versions = [v for v in _snapshot(engine)["versions"] if v[0] == "t"]
    assert [v[1] for v in versions] == [1, 2, 3, 4]
    assert _snapshot(engine)["current"][0][1] == versions[-1][2]
