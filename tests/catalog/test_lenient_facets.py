"""Issue 17 §1 through the HTTP API: events whose facets break their schema are stored verbatim,
those facets are not interpreted, and the producer hears about it (201 with warnings; the run
page; the stewards' health page). CATALOG_STRICT_FACETS refuses them instead, by facet group.

The events are written here in the shapes real producers send (dbt, dbt-duckdb, dbt-bigquery, the
Python client's example, Spark); none is a copied fixture.
"""

from __future__ import annotations

import html
import uuid

import pytest
from sqlalchemy import event, func, select

from catalog.app import create_app
from catalog.config import FACET_GROUPS, Settings
from catalog.errors import ConfigError
from catalog.models import (
    Dataset,
    EventWarning,
    Job,
    LineageEvent,
    Run,
    RunIO,
    Source,
)
from catalog.read.health import producer_warnings
from tests.authutil import client_class

LINEAGE, BATCH = "/api/v1/lineage", "/api/v1/lineage/batch"
SPEC = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"
DBT = "https://github.com/OpenLineage/OpenLineage/tree/1.24.2/integration/dbt"
PYTHON = "https://github.com/OpenLineage/OpenLineage/tree/1.24.2/client/python"
SPARK = "https://github.com/OpenLineage/OpenLineage/tree/1.24.2/integration/spark"


def facet(kind: str, **fields) -> dict:
    return {"_producer": DBT,
            "_schemaURL": f"https://openlineage.io/spec/facets/1-0-1/{kind}.json#/$defs/{kind}",
            **fields}


def run_event(event_type="COMPLETE", *, producer=DBT, job="shop.orders", run_id=None,
              run_facets=None, inputs=(), outputs=(), minute=0) -> dict:
    return {"eventType": event_type, "eventTime": f"2024-06-03T08:{minute:02d}:00.000Z",
            "producer": producer, "schemaURL": SPEC,
            "run": {"runId": run_id or str(uuid.uuid4()), "facets": run_facets or {}},
            "job": {"namespace": "dbt", "name": job, "facets": {}},
            "inputs": list(inputs), "outputs": list(outputs)}


def dataset(name: str, **facets) -> dict:
    return {"namespace": "duckdb://warehouse", "name": name, "facets": facets}


def dbt_failed_run() -> dict:
    return run_event("FAIL", run_facets={"errorMessage": facet(
        "ErrorMessageRunFacet", message="Database Error in model orders",
        programmingLanguage="sql", stackTrace=None)})


def dbt_duckdb_test_run() -> dict:
    return run_event(job="shop.test.not_null_orders_id", inputs=[dataset(
        "main.orders",
        schema=facet("SchemaDatasetFacet", fields=[{"name": "order_id", "type": None},
                                                   {"name": "amount", "type": "DOUBLE"}]),
        documentation=facet("DocumentationDatasetFacet", description="One row per order."))])


def dbt_bigquery_run() -> dict:
    return run_event(outputs=[dataset("shop.orders", dataSource=facet(
        "DatasourceDatasetFacet", name="bigquery", uri="bigquery"))])


def python_client_run() -> dict:
    """The client's example: a date-only nominal time; here on a failed run, whose error facet
    is valid."""
    return run_event("FAIL", producer=PYTHON, run_facets={
        "nominalTime": facet("NominalTimeRunFacet", nominalStartTime="2020-12-17"),
        "errorMessage": facet("ErrorMessageRunFacet", message="boom",
                              programmingLanguage="python")})


def spark_child_run() -> dict:
    return run_event("START", producer=SPARK, job="nightly.load", run_facets={"parent": facet(
        "ParentRunFacet", job={"namespace": "spark", "name": "nightly"})})


def warning(field: str, message: str) -> dict:
    return {"field": field, "message": message}


# A null where the definition wants a string: the facet is read with the null as absent.
NULL_STACK = warning("run.facets.errorMessage.stackTrace",
                     "expected string, got null (read as absent)")
NULL_TYPE = warning("inputs[0].facets.schema.fields[0].type",
                    "expected string, got null (read as absent)")
DATE_ONLY = warning("run.facets.nominalTime.nominalStartTime",
                    '"2020-12-17" is not a valid date-time')
NO_PARENT_RUN = warning("run.facets.parent.run", "required property is missing")


def fresh(session):
    session.rollback()  # end the snapshot so writes made since are seen
    return session


def run_of(session, ev: dict) -> Run:
    return fresh(session).scalar(select(Run).where(Run.uuid == ev["run"]["runId"]))


def payloads(session) -> list[dict]:
    return list(fresh(session).scalars(select(LineageEvent.payload).order_by(LineageEvent.id)))


def stored_warnings(session) -> list[tuple]:
    return [tuple(r) for r in fresh(session).execute(
        select(EventWarning.producer, EventWarning.facet_group, EventWarning.facet,
               EventWarning.field, EventWarning.message).order_by(EventWarning.id))]


def count(session, model) -> int:
    return fresh(session).scalar(select(func.count()).select_from(model))


# --------------------------------------------------------------------------- each shape


def test_dbt_failed_run_with_a_null_stack_trace(client, session):
    ev = dbt_failed_run()
    r = client.post(LINEAGE, json=ev)
    assert r.status_code == 201
    assert r.get_json() == {"status": "created", "kind": "RunEvent",
                            "runId": ev["run"]["runId"], "warnings": [NULL_STACK]}
    assert payloads(session) == [ev]  # verbatim: the null stack trace is kept
    run = run_of(session, ev)
    assert run.state == "FAIL" and run.ended_at is not None
    # Interpreted with the null stack trace as absent: an auditor sees why the run failed.
    assert run.error_message == ev["run"]["facets"]["errorMessage"]["message"]
    assert "stackTrace" not in run.facets["errorMessage"]
    assert stored_warnings(session) == [
        (DBT, "run", "errorMessage", NULL_STACK["field"], NULL_STACK["message"])]


def test_dbt_duckdb_null_column_types(client, session):
    ev = dbt_duckdb_test_run()
    r = client.post(LINEAGE, json=ev)
    assert r.status_code == 201 and r.get_json()["warnings"] == [NULL_TYPE]
    assert payloads(session) == [ev]
    orders = session.scalar(select(Dataset).where(Dataset.name == "main.orders"))
    # The schema is read with the null type as absent: the columns are known, one untyped.
    assert [(f.name, f.type) for f in sorted(orders.fields, key=lambda f: f.ordinal)] == [
        (f["name"], f["type"]) for f in ev["inputs"][0]["facets"]["schema"]["fields"]]
    assert orders.description == "One row per order."  # its valid neighbour too
    run = run_of(session, ev)
    assert [(io.dataset_id, io.direction) for io in session.scalars(
        select(RunIO).where(RunIO.run_id == run.id))] == [(orders.id, "input")]
    assert stored_warnings(session) == [
        (DBT, "dataset", "schema", NULL_TYPE["field"], NULL_TYPE["message"])]


def test_dbt_bigquery_source_uri_is_taken_as_sent(client, session):
    ev = dbt_bigquery_run()
    r = client.post(LINEAGE, json=ev)
    assert r.status_code == 201 and r.get_json()["warnings"] == []
    orders = fresh(session).scalar(select(Dataset).where(Dataset.name == "shop.orders"))
    source = session.get(Source, orders.source_id)
    assert (source.name, source.uri) == ("bigquery", "bigquery")
    assert stored_warnings(session) == []


def test_python_client_date_only_nominal_time(client, session):
    ev = python_client_run()
    r = client.post(LINEAGE, json=ev)
    assert r.status_code == 201 and r.get_json()["warnings"] == [DATE_ONLY]
    run = run_of(session, ev)
    assert run.nominal_start_time is None and run.nominal_end_time is None
    assert run.error_message == "boom"  # the valid facet beside it is interpreted
    assert sorted(run.facets) == ["errorMessage"]
    assert payloads(session) == [ev]
    # A later event with a nominal time the catalog can read sets it.
    later = run_event("COMPLETE", producer=PYTHON, run_id=ev["run"]["runId"], minute=5,
                      run_facets={"nominalTime": facet("NominalTimeRunFacet",
                                                       nominalStartTime="2020-12-17T00:00:00Z")})
    assert client.post(LINEAGE, json=later).get_json()["warnings"] == []
    assert run_of(session, ev).nominal_start_time.isoformat() == "2020-12-17T00:00:00+00:00"


def test_spark_parent_facet_without_its_run(client, session):
    ev = spark_child_run()
    r = client.post(LINEAGE, json=ev)
    assert r.status_code == 201 and r.get_json()["warnings"] == [NO_PARENT_RUN]
    run = run_of(session, ev)
    assert run.parent_run_uuid is None and run.state == "START"
    assert [(j.name, j.parent_job_id) for j in session.scalars(select(Job))] == [
        ("nightly.load", None)]  # the parent's job is not interpreted either
    assert payloads(session) == [ev]
    assert stored_warnings(session) == [
        (SPARK, "run", "parent", NO_PARENT_RUN["field"], NO_PARENT_RUN["message"])]


def test_the_envelope_stays_strict(client, session):
    ev = dbt_failed_run()
    ev["run"]["runId"] = "not-a-uuid"
    r = client.post(LINEAGE, json=ev)
    assert r.status_code == 422 and r.get_json()["field"] == "run.runId"
    ev = dbt_duckdb_test_run()
    del ev["inputs"][0]["name"]
    r = client.post(LINEAGE, json=ev)
    assert r.status_code == 422 and r.get_json()["field"] == "inputs[0].name"
    assert count(session, LineageEvent) == count(session, EventWarning) == 0


# --------------------------------------------------------------------------- strict groups


@pytest.fixture
def strict_client(app, db_url, monkeypatch):
    """An admin's client of an app over the same database, CATALOG_STRICT_FACETS=run,dataset."""
    monkeypatch.setenv("CATALOG_STRICT_FACETS", "Run, dataset")
    strict = create_app({"database_url": db_url})
    assert strict.extensions["catalog"].settings.strict_facets == ("dataset", "run")
    strict.test_client_class = client_class(app.config["TEST_TOKENS"]["admin"])
    yield strict.test_client()
    strict.extensions["catalog"].engine.dispose()
    strict.extensions["catalog"].read_engine.dispose()


@pytest.mark.parametrize(("build", "field"), [
    (dbt_failed_run, NULL_STACK["field"]),
    (dbt_duckdb_test_run, NULL_TYPE["field"]),
    (python_client_run, DATE_ONLY["field"]),
    (spark_child_run, NO_PARENT_RUN["field"]),
])
def test_a_strict_group_refuses_the_event_naming_the_field(strict_client, session, build, field):
    r = strict_client.post(LINEAGE, json=build())
    assert r.status_code == 422
    assert r.get_json()["field"] == field and r.get_json()["error"] == "ValidationFailed"
    assert count(session, LineageEvent) == count(session, Run) == 0


def test_groups_not_named_strict_stay_lenient(strict_client, session):
    ev = run_event(outputs=[{**dataset("shop.orders"), "outputFacets": {
        "outputStatistics": facet("OutputStatisticsOutputDatasetFacet", rowCount="many")}}])
    ev["job"]["facets"]["sql"] = facet("SQLJobFacet", query=None)
    r = strict_client.post(LINEAGE, json=ev)
    assert r.status_code == 201
    assert r.get_json()["warnings"] == [
        warning("job.facets.sql.query", "expected string, got null"),
        warning("outputs[0].outputFacets.outputStatistics.rowCount",
                "expected integer, got string")]
    r = strict_client.post(BATCH, json=[dbt_failed_run()])
    assert r.status_code == 207
    (result,) = r.get_json()["results"]
    assert (result["status"], result["code"], result["field"]) == ("error", 422,
                                                                    NULL_STACK["field"])
    assert [p["run"]["runId"] for p in payloads(session)] == [ev["run"]["runId"]]


def test_the_setting_names_facet_groups():
    def parse(raw):
        return Settings.from_env({"CATALOG_STRICT_FACETS": raw}).strict_facets

    assert Settings().strict_facets == ()  # all lenient by default
    assert parse("job,run") == parse(" RUN , job ,") == ("job", "run")
    assert parse("all") == FACET_GROUPS
    for bad in ("runs", "run;job", "all,run"):
        with pytest.raises(ConfigError, match="CATALOG_STRICT_FACETS"):
            parse(bad)
    with pytest.raises(ConfigError, match="CATALOG_STRICT_FACETS"):
        Settings(strict_facets="run").validated()  # a string, not a tuple of groups


# --------------------------------------------------------------------------- batches


class Inserts:
    """INSERT statements sent into event_warnings (each cursor execution counts once)."""

    def __init__(self, app):
        self.n = 0
        event.listen(app.extensions["catalog"].engine, "before_cursor_execute", self._seen)

    def _seen(self, _conn, _cursor, statement, *_args):
        if statement.lstrip().upper().startswith("INSERT INTO EVENT_WARNINGS"):
            self.n += 1


def test_a_batch_answers_warnings_per_event_and_stores_them_in_one_insert(app, client, session):
    inserts = Inserts(app)
    refused = dbt_failed_run()
    refused["eventType"] = "DONE"
    many = dbt_duckdb_test_run()
    many["inputs"].append(dataset("main.payments", schema=facet(
        "SchemaDatasetFacet", fields=[{"name": "id", "type": None}])))
    events = [run_event(), dbt_failed_run(), refused, many, python_client_run()]
    r = client.post(BATCH, json=events)
    assert r.status_code == 207
    results = r.get_json()["results"]
    assert [x["status"] for x in results] == ["created", "created", "error", "created", "created"]
    assert [x.get("warnings") for x in results] == [
        [], [NULL_STACK], None, [NULL_TYPE, warning("inputs[1].facets.schema.fields[0].type",
                                                    NULL_TYPE["message"])], [DATE_ONLY]]
    assert inserts.n == 1
    assert [(w[1], w[2], w[3]) for w in stored_warnings(session)] == [
        ("run", "errorMessage", NULL_STACK["field"]),
        ("dataset", "schema", NULL_TYPE["field"]),
        ("dataset", "schema", "inputs[1].facets.schema.fields[0].type"),
        ("run", "nominalTime", DATE_ONLY["field"])]
    by_run = lambda e: e["run"]["runId"]  # noqa: E731 - events are recorded in hash order
    assert sorted(payloads(session), key=by_run) == sorted(
        [e for e in events if e is not refused], key=by_run)

    # Re-sent: duplicates answer the same warnings, and nothing more is stored.
    r = client.post(BATCH, json=events[:2])
    assert [(x["status"], x["warnings"]) for x in r.get_json()["results"]] == [
        ("duplicate", []), ("duplicate", [NULL_STACK])]
    r = client.post(LINEAGE, json=events[1])
    assert r.get_json()["status"] == "duplicate" and r.get_json()["warnings"] == [NULL_STACK]
    assert inserts.n == 1 and count(session, EventWarning) == 4


def test_an_event_refused_while_folding_leaves_no_warnings(client, session):
    first = run_event(job="shop.orders")
    assert client.post(LINEAGE, json=first).status_code == 201
    other_job = dbt_failed_run()  # its run id belongs to shop.orders, not to shop.payments
    other_job["job"]["name"] = "shop.payments"
    other_job["run"]["runId"] = first["run"]["runId"]
    r = client.post(BATCH, json=[other_job, dbt_duckdb_test_run()])
    results = r.get_json()["results"]
    assert (results[0]["status"], results[0]["field"]) == ("error", "run.runId")
    assert results[1]["warnings"] == [NULL_TYPE]
    assert [w[3] for w in stored_warnings(session)] == [NULL_TYPE["field"]]
    assert len(payloads(session)) == 2


# --------------------------------------------------------------------------- who sees them


def test_the_run_page_lists_its_warnings(client, session):
    ev = python_client_run()
    client.post(LINEAGE, json=ev)
    client.post(LINEAGE, json=run_event("COMPLETE", producer=PYTHON, run_id=ev["run"]["runId"],
                                        minute=1, run_facets={"errorMessage": facet(
                                            "ErrorMessageRunFacet", message="x",
                                            programmingLanguage="python", stackTrace=None)}))
    page = html.unescape(client.get(f"/runs/{ev['run']['runId']}").get_data(as_text=True))
    assert "Facets not interpreted (2)" in page
    rows = page[page.index("Facets not interpreted"):]
    assert rows.index(DATE_ONLY["field"]) < rows.index(NULL_STACK["field"])  # event time order
    assert DATE_ONLY["message"] in rows and NULL_STACK["message"] in rows
    quiet = run_event()
    client.post(LINEAGE, json=quiet)
    assert "Facets not interpreted" not in client.get(
        f"/runs/{quiet['run']['runId']}").get_data(as_text=True)


def test_stewards_see_warnings_per_producer(client, client_as, session):
    failed = [dbt_failed_run() for _ in range(3)]
    duckdb, spark = dbt_duckdb_test_run(), spark_child_run()
    client.post(BATCH, json=[*failed, duckdb, spark, run_event()])
    assert [(p.producer, p.group, p.facet, p.warnings, p.events, p.field, p.run_uuid)
            for p in producer_warnings(fresh(session))] == [
        (DBT, "run", "errorMessage", 3, 3, NULL_STACK["field"], failed[2]["run"]["runId"]),
        (DBT, "dataset", "schema", 1, 1, NULL_TYPE["field"], duckdb["run"]["runId"]),
        (SPARK, "run", "parent", 1, 1, NO_PARENT_RUN["field"], spark["run"]["runId"])]
    r = client_as("steward").get("/health")
    assert r.status_code == 200
    page = r.get_data(as_text=True)
    section = page[page.index("Producers sending facets that break their schema (3)"):]
    assert section.index(DBT) < section.index(SPARK)
    assert "run errorMessage</td><td>3</td><td>3</td>" in section
    assert f"run {failed[2]['run']['runId'][:8]}" in section
