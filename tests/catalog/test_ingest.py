"""OpenLineage ingestion through the HTTP API: storage, idempotency, versions, errors."""

from __future__ import annotations

import gzip
import json

from sqlalchemy import func, select

from catalog.models import (
    ColumnLineage,
    Dataset,
    DatasetVersion,
    LineageEdge,
    LineageEvent,
    QualityAssertion,
    Run,
    RunIO,
)
from tests.factories import complete_run, ds, facet, run_event, schema


def count(session, model) -> int:
    session.rollback()  # end the snapshot so writes made since are seen
    return session.scalar(select(func.count()).select_from(model))


def test_run_event_creates_job_run_datasets_and_versions(client, session):
    run_id = complete_run(
        client,
        "clean_events",
        inputs=[ds("raw_events", schema=schema("user_id", "item_id"))],
        outputs=[ds("clean_events", schema=schema(("user_id", "BIGINT"), ("item_id", "BIGINT")))],
    )
    run = session.scalar(select(Run).where(Run.uuid == run_id))
    assert run.state == "COMPLETE"
    assert run.started_at < run.ended_at
    out = session.scalar(select(Dataset).where(Dataset.name == "clean_events"))
    assert [f.name for f in out.fields] == ["user_id", "item_id"]
    assert out.current_version.version == 1
    assert out.current_version.run_id == run.id
    assert out.current_version.schema_fields[0] == {
        "name": "user_id", "type": "BIGINT", "description": None}
    raw = session.scalar(select(Dataset).where(Dataset.name == "raw_events"))
    io = session.scalar(select(RunIO).where(RunIO.dataset_id == raw.id))
    assert io.direction == "input" and io.dataset_version_id == raw.current_version_id
    assert count(session, LineageEdge) == 2
    assert run.job_version is not None
    assert run.job_version.inputs == [{"namespace": "shop", "name": "raw_events"}]


def test_identical_event_resent_changes_nothing(client, session):
    ev = run_event("COMPLETE", "j", outputs=[ds("out", schema=schema("a"))])
    assert client.post("/api/v1/lineage", json=ev).status_code == 201
    before = [count(session, m) for m in (LineageEvent, DatasetVersion, Run, RunIO)]
    # Same content, different key order and whitespace: still identical.
    body = json.dumps(ev, indent=2, sort_keys=True)
    r = client.post("/api/v1/lineage", data=body, content_type="application/json")
    assert r.status_code == 201 and r.get_json()["status"] == "duplicate"
    session.expire_all()
    assert [count(session, m) for m in (LineageEvent, DatasetVersion, Run, RunIO)] == before


def test_each_completed_run_adds_a_version(client, session):
    for minute in (0, 10, 20):
        complete_run(client, "j", outputs=[ds("out", schema=schema("a"))], minutes=minute)
    d = session.scalar(select(Dataset).where(Dataset.name == "out"))
    versions = session.scalars(
        select(DatasetVersion.version).where(DatasetVersion.dataset_id == d.id)
        .order_by(DatasetVersion.version)).all()
    assert versions == [1, 2, 3]
    assert d.current_version.version == 3


def test_failed_run_keeps_earlier_lineage_and_writes_no_version(client, session):
    complete_run(client, "j", inputs=[ds("in")], outputs=[ds("out")])
    rid = "3f1c7a52-7d0e-4a5b-9f51-0c1e2d3f4a5b"
    for et in ("START", "FAIL"):
        ev = run_event(et, "j", run_id=rid, minutes=30,
                       run_facets={"errorMessage": facet("ErrorMessageRunFacet",
                                                         message="boom",
                                                         programmingLanguage="python")})
        assert client.post("/api/v1/lineage", json=ev).status_code == 201
    run = session.scalar(select(Run).where(Run.uuid == rid))
    assert run.state == "FAIL" and run.error_message == "boom"
    assert count(session, LineageEdge) == 2
    out = session.scalar(select(Dataset).where(Dataset.name == "out"))
    assert out.current_version.version == 1
    assert count(session, DatasetVersion) == 2  # out v1 + observed in v1


def test_failed_run_with_outputs_registers_no_output_version(client, session):
    rid = "0b8d6a1e-2f3c-4d5e-8f9a-1b2c3d4e5f60"
    for et in ("START", "FAIL"):
        ev = run_event(et, "j", run_id=rid, outputs=[ds("partial", schema=schema("a"))])
        assert client.post("/api/v1/lineage", json=ev).status_code == 201
    d = session.scalar(select(Dataset).where(Dataset.name == "partial"))
    assert d.current_version_id is None
    assert count(session, DatasetVersion) == 0


def test_out_of_order_events_keep_terminal_state(client, session):
    rid = "7c9e6679-7425-40de-944b-e07fc1f90ae7"
    client.post("/api/v1/lineage", json=run_event("COMPLETE", "j", run_id=rid, minutes=5))
    client.post("/api/v1/lineage", json=run_event("RUNNING", "j", run_id=rid, minutes=3))
    client.post("/api/v1/lineage", json=run_event("START", "j", run_id=rid, minutes=1))
    run = session.scalar(select(Run).where(Run.uuid == rid))
    assert run.state == "COMPLETE"
    assert run.started_at.minute == 1 and run.ended_at.minute == 5


def test_malformed_json_is_400_and_writes_nothing(client, session):
    r = client.post("/api/v1/lineage", data="{not json", content_type="application/json")
    assert r.status_code == 400
    assert "malformed JSON" in r.get_json()["message"]
    assert count(session, LineageEvent) == 0


def test_schema_violation_is_422_naming_field(client, session):
    ev = run_event("START", "j", outputs=[ds("out")])
    del ev["run"]["runId"]
    r = client.post("/api/v1/lineage", json=ev)
    assert r.status_code == 422
    assert r.get_json()["field"].startswith("run")
    ev = run_event("DONE", "j")
    r = client.post("/api/v1/lineage", json=ev)
    assert r.status_code == 422 and r.get_json()["field"] == "eventType"
    assert count(session, LineageEvent) == 0 and count(session, Dataset) == 0


def test_gzip_body_accepted_and_bad_gzip_refused(client, session):
    ev = run_event("COMPLETE", "j", outputs=[ds("out")])
    r = client.post("/api/v1/lineage", data=gzip.compress(json.dumps(ev).encode()),
                    headers={"Content-Encoding": "gzip", "Content-Type": "application/json"})
    assert r.status_code == 201
    r = client.post("/api/v1/lineage", data=b"not gzip at all",
                    headers={"Content-Encoding": "gzip", "Content-Type": "application/json"})
    assert r.status_code == 400 and "gzip" in r.get_json()["message"]
    assert count(session, LineageEvent) == 1


def test_batch_reports_status_per_event_and_keeps_good_ones(client, session):
    good = run_event("COMPLETE", "j", outputs=[ds("out")])
    bad = run_event("COMPLETE", "j")
    bad["eventTime"] = "yesterday"
    r = client.post("/api/v1/lineage/batch", json=[good, bad, good])
    assert r.status_code == 207
    body = r.get_json()
    assert [x["status"] for x in body["results"]] == ["created", "error", "duplicate"]
    assert body["results"][1]["field"] == "eventTime" and body["results"][1]["code"] == 422
    assert count(session, LineageEvent) == 1


def test_column_lineage_and_quality_facets_are_interpreted(client, session):
    cl = facet("ColumnLineageDatasetFacet", fields={
        "user_clicks": {"inputFields": [
            {"namespace": "shop", "name": "events", "field": "behavior",
             "transformations": [{"type": "DIRECT", "subtype": "AGGREGATION",
                                  "description": "count", "masking": True}]}]},
    })
    dq = facet("DataQualityAssertionsDatasetFacet", assertions=[
        {"assertion": "not_null", "success": True, "column": "user_id"},
        {"assertion": "row_count_between", "success": False},
    ])
    complete_run(client, "features", inputs=[ds("events")],
                 outputs=[ds("user_features", columnLineage=cl, dataQualityAssertions=dq)])
    row = session.scalar(select(ColumnLineage))
    assert (row.output_field, row.input_field, row.transformation_subtype, row.masking) == (
        "user_clicks", "behavior", "AGGREGATION", True)
    events = session.scalar(select(Dataset).where(Dataset.name == "events"))
    assert row.input_version_id == events.current_version_id
    results = sorted((a.assertion, a.success) for a in session.scalars(select(QualityAssertion)))
    assert results == [("not_null", True), ("row_count_between", False)]


def test_unknown_facets_are_kept_verbatim(client, session):
    custom = {"_producer": "https://x.example", "_schemaURL": "https://x.example/s.json",
              "nested": {"a": [1, 2, {"b": None}]}}
    ev = run_event("COMPLETE", "j", outputs=[ds("out", acme_custom=custom)],
                   run_facets={"acme_run": custom})
    client.post("/api/v1/lineage", json=ev)
    d = session.scalar(select(Dataset).where(Dataset.name == "out"))
    assert d.facets["acme_custom"] == custom
    assert d.current_version.facets["acme_custom"] == custom
    assert session.scalar(select(Run)).facets["acme_run"] == custom


def test_rerun_with_same_fingerprint_reuses_the_version(client, session):
    out = ds("features", schema=schema("a"),
             version=facet("DatasetVersionDatasetFacet", datasetVersion="fp-1"))
    first = complete_run(client, "build", outputs=[out])
    second = complete_run(client, "build", outputs=[out], minutes=10)
    changed = ds("features", schema=schema("a"),
                 version=facet("DatasetVersionDatasetFacet", datasetVersion="fp-2"))
    complete_run(client, "build", outputs=[changed], minutes=20)
    session.rollback()
    d = session.scalar(select(Dataset).where(Dataset.name == "features"))
    versions = session.scalars(select(DatasetVersion).where(DatasetVersion.dataset_id == d.id)
                               .order_by(DatasetVersion.version)).all()
    assert [(v.version, v.fingerprint) for v in versions] == [(1, "fp-1"), (2, "fp-2")]
    runs = {r.uuid: r.id for r in session.scalars(select(Run))}
    links = {io.run_id: io.dataset_version_id for io in session.scalars(
        select(RunIO).where(RunIO.dataset_id == d.id))}
    assert links[runs[first]] == links[runs[second]] == versions[0].id
    assert versions[0].run_id == runs[first]
