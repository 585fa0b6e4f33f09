"""The reaper: open runs whose producer went silent become ABORT, with the reason, once."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select, update

from catalog.db import in_transaction
from catalog.ingest import ingest_event
from catalog.models import DatasetVersion, LineageEvent, RunStateChange
from catalog.services.runs import abort_event, find_stale_runs, reap_stale_runs
from tests.factories import ds, facet, run_event, schema

HOUR = timedelta(hours=1)


def _post(client, *events):
    for ev in events:
        r = client.post("/api/v1/lineage", json=ev)
        assert r.status_code == 201, r.get_json()


def _age(app, run_ids, by: timedelta) -> None:
    """Pretend the catalog received these runs' events ``by`` earlier."""
    with app.extensions["catalog"].sessions() as s, s.begin():
        for rid in run_ids:
            s.execute(update(LineageEvent).where(LineageEvent.run_uuid == rid)
                      .values(received_at=datetime.now(UTC) - by))


def _run(client, rid):
    return client.get(f"/api/v1/jobs/runs/{rid}").get_json()


def test_stale_runs_are_aborted_with_a_reason(app, client, session):
    dead, alive, done, parent, child = (str(uuid.uuid4()) for _ in range(5))
    out = [ds("out", schema=schema("a"))]
    _post(client,
          run_event("START", "dead", run_id=dead, outputs=out),
          run_event("RUNNING", "dead", run_id=dead, minutes=1, outputs=out),
          run_event("START", "alive", run_id=alive),
          run_event("START", "done", run_id=done), run_event("COMPLETE", "done", run_id=done),
          run_event("START", "pipeline", run_id=parent),
          run_event("START", "pipeline.step", run_id=child, run_facets={
              "parent": facet("ParentRunFacet", run={"runId": parent},
                              job={"namespace": "pipelines", "name": "pipeline"})}))
    _age(app, [dead, done, parent], 2 * HOUR)  # the parent's child reported recently

    factory = app.extensions["catalog"].sessions
    reaped = in_transaction(factory, lambda s: reap_stale_runs(s, HOUR))
    assert [(r.run_id, r.job, r.state) for r in reaped] == [(dead, "pipelines:dead", "RUNNING")]
    run = _run(client, dead)
    assert run["state"] == "ABORTED"
    assert run["errorMessage"].startswith("run abandoned: state RUNNING with no event for over "
                                          "3600s (last received ")
    assert run["endedAt"] is not None
    for rid, state in ((alive, "RUNNING"), (done, "COMPLETED"), (parent, "RUNNING"),
                       (child, "RUNNING")):
        assert _run(client, rid)["state"] == state, rid
    # A dead producer never registers its declared outputs.
    session.rollback()
    assert session.scalar(select(func.count()).select_from(DatasetVersion)) == 0
    # The ABORT is an ordinary event in the feed, and reaping again finds nothing.
    feed = client.get("/api/v1/events/lineage").get_json()["events"]
    assert [e["eventType"] for e in feed if e["run"]["runId"] == dead][0] == "ABORT"
    assert in_transaction(factory, lambda s: reap_stale_runs(s, HOUR)) == []


def test_two_reapers_at_once_store_one_abort(app, client, session):
    rid = str(uuid.uuid4())
    _post(client, run_event("START", "j", run_id=rid))
    _age(app, [rid], 2 * HOUR)
    state = app.extensions["catalog"]
    # Two processes both look before either writes: they build the same event...
    looked = []
    for _ in range(2):
        with state.read_sessions() as s:
            looked += find_stale_runs(s, HOUR)
    events = [abort_event(run, job, last, HOUR) for run, job, last in looked]
    assert len(events) == 2 and events[0] == events[1]
    # ... which is stored once, however many send it.
    results = [in_transaction(state.sessions, lambda s, ev=ev: ingest_event(s, ev))
               for ev in events]
    assert [r.status for r in results] == ["created", "duplicate"]
    session.rollback()
    aborts = session.scalar(select(func.count()).select_from(LineageEvent).where(
        LineageEvent.event_type == "ABORT"))
    assert aborts == 1
    assert session.scalar(select(func.count()).select_from(RunStateChange).where(
        RunStateChange.state == "ABORT")) == 1


def test_late_complete_after_a_reap_still_wins(app, client):
    rid = str(uuid.uuid4())
    _post(client, run_event("START", "j", run_id=rid))
    _age(app, [rid], 2 * HOUR)
    in_transaction(app.extensions["catalog"].sessions, lambda s: reap_stale_runs(s, HOUR))
    assert _run(client, rid)["state"] == "ABORTED"
    late = run_event("COMPLETE", "j", run_id=rid, outputs=[ds("out")])
    late["eventTime"] = (datetime.now(UTC) + timedelta(hours=3)).isoformat()
    _post(client, late)
    assert _run(client, rid)["state"] == "COMPLETED"


def test_cli_reap_dry_run_then_for_real(app, client, db_url, runner):
    from catalog.cli import main

    rid = str(uuid.uuid4())
    _post(client, run_event("START", "j", run_id=rid))
    r = runner.invoke(main, ["runs", "reap", "--older-than", "3600", "--database-url", db_url])
    assert r.exit_code == 0 and r.output == "0 stale run(s) marked ABORT\n"
    _age(app, [rid], 2 * HOUR)
    r = runner.invoke(main, ["runs", "reap", "--older-than", "3600", "--dry-run", "--json",
                             "--database-url", db_url])
    assert r.exit_code == 0, r.output
    reaped = json.loads(r.stdout)  # one document: the count line stays off stdout
    assert reaped["dry_run"] is True and reaped["older_than"] == 3600
    assert [(x["run_id"], x["job"], x["state"]) for x in reaped["runs"]] == [
        (rid, "pipelines:j", "START")]
    assert _run(client, rid)["state"] == "RUNNING"
    r = runner.invoke(main, ["runs", "reap", "--older-than", "3600", "--database-url", db_url])
    assert r.exit_code == 0
    assert r.output.startswith(f"aborted {rid} pipelines:j (was START, last event ")
    assert _run(client, rid)["state"] == "ABORTED"
    r = runner.invoke(main, ["runs", "reap", "--older-than", "-1", "--database-url", db_url])
    assert r.exit_code == 2 and "-1 is not in the range x>=0" in r.output


def test_reaper_on_a_timer_in_the_service(make_app):
    app = make_app(stale_run_seconds=1, reap_interval_seconds=1)
    client = app.test_client()
    rid = str(uuid.uuid4())
    _post(client, run_event("START", "j", run_id=rid))
    deadline = time.monotonic() + 15
    while _run(client, rid)["state"] != "ABORTED":
        assert time.monotonic() < deadline, "the service's reaper never closed the run"
        time.sleep(0.2)
    assert "no event for over 1s" in _run(client, rid)["errorMessage"]
