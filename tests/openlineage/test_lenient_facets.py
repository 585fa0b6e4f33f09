"""Liberal with facets, strict with the envelope: ``check_event`` and the enforced formats.

The events are written here, in the shapes real producers send: dbt (a null stack trace, null
column types, a data source URI that is no URI), the Python client's example (a date-only nominal
time) and Spark (a parent facet without its run).
"""

from __future__ import annotations

import copy
import uuid
from typing import Any

import pytest

from catalog.config import FACET_GROUPS
from catalog.openlineage import validate as ol_validate
from catalog.openlineage.validate import (
    EventValidationError,
    FacetProblem,
    check_event,
    validate_event,
)

SPEC = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/"


def facet(kind: str, **fields: Any) -> dict:
    return {"_producer": "https://github.com/dbt-labs/dbt-core/tree/1.8.0",
            "_schemaURL": f"https://openlineage.io/spec/facets/1-0-1/{kind}.json#/$defs/{kind}",
            **fields}


def event(*, run_facets=None, job_facets=None, inputs=(), outputs=(), event_type="COMPLETE",
          producer="https://github.com/OpenLineage/OpenLineage/tree/1.20.5/integration/dbt"):
    return {
        "eventType": event_type, "eventTime": "2024-06-03T08:00:00.000Z", "producer": producer,
        "schemaURL": SPEC + "RunEvent",
        "run": {"runId": "0190e1a2-3b4c-7d5e-8f60-718293a4b5c6", "facets": run_facets or {}},
        "job": {"namespace": "dbt", "name": "shop.orders", "facets": job_facets or {}},
        "inputs": list(inputs), "outputs": list(outputs),
    }


def dataset(name: str, facets=None, **extra) -> dict:
    return {"namespace": "duckdb://warehouse", "name": name, "facets": facets or {}, **extra}


def dbt_failed_run() -> dict:
    return event(event_type="FAIL", run_facets={"errorMessage": facet(
        "ErrorMessageRunFacet", message="Database Error in model orders", programmingLanguage="sql",
        stackTrace=None)})


def dbt_duckdb_test_run() -> dict:
    return event(inputs=[dataset("main.orders", {"schema": facet("SchemaDatasetFacet", fields=[
        {"name": "order_id", "type": None}, {"name": "amount", "type": "DOUBLE"}])})])


def dbt_bigquery_run() -> dict:
    return event(outputs=[dataset("shop.orders", {"dataSource": facet(
        "DatasourceDatasetFacet", name="bigquery", uri="bigquery")})])


def python_client_run() -> dict:
    return event(run_facets={"nominalTime": facet("NominalTimeRunFacet",
                                                  nominalStartTime="2020-12-17")})


def spark_child_run() -> dict:
    return event(run_facets={"parent": facet(
        "ParentRunFacet", job={"namespace": "spark", "name": "nightly"})})


SHAPES = [
    ("dbt failed run", dbt_failed_run, "run", "errorMessage",
     "run.facets.errorMessage.stackTrace", "expected string, got null (read as absent)"),
    ("dbt-duckdb test", dbt_duckdb_test_run, "dataset", "schema",
     "inputs[0].facets.schema.fields[0].type", "expected string, got null (read as absent)"),
    ("python client nominal date", python_client_run, "run", "nominalTime",
     "run.facets.nominalTime.nominalStartTime", '"2020-12-17" is not a valid date-time'),
    ("spark parent without run", spark_child_run, "run", "parent",
     "run.facets.parent.run", "required property is missing"),
]


@pytest.mark.parametrize(("build", "group", "name", "field", "message"),
                         [case[1:] for case in SHAPES], ids=[case[0] for case in SHAPES])
def test_a_bad_facet_is_a_problem_not_a_refusal(build, group, name, field, message):
    body = build()
    sent = copy.deepcopy(body)
    checked = check_event(body)
    location = tuple(int(p) if p.isdigit() else p
                     for p in field.replace("[", ".").replace("]", "").split("."))
    assert checked.kind == "RunEvent"
    facet_at = location[:location.index(name) + 1]
    facet = body
    for key in facet_at:
        facet = facet[key]
    # A null where the definition wants a value is read as absent: that copy is interpreted.
    repaired = ({k: v for k, v in facet.items() if k != "stackTrace"} if name == "errorMessage"
                else {**facet, "fields": [{k: v for k, v in f.items() if v is not None}
                                          for f in facet["fields"]]} if name == "schema"
                else None)
    assert checked.problems == [FacetProblem(group, name, facet_at, field, message, repaired)]
    assert body == sent  # the event is not changed


@pytest.mark.parametrize(("build", "group", "field"), [(c[1], c[2], c[4]) for c in SHAPES],
                         ids=[case[0] for case in SHAPES])
def test_a_strict_group_refuses_its_bad_facets_only(build, group, field):
    with pytest.raises(EventValidationError) as info:
        check_event(build(), strict=[group], event_index=3)
    assert (info.value.field, info.value.event_index) == (field, 3)
    others = [g for g in FACET_GROUPS if g != group]
    assert [p.field for p in check_event(build(), strict=others).problems] == [field]
    with pytest.raises(EventValidationError):
        validate_event(build())  # every group strict


def test_formats_are_annotations_where_the_catalog_does_not_read_the_value():
    body = dbt_bigquery_run()
    body["producer"] = "dbt"
    body["schemaURL"] = "OpenLineage.json#/$defs/RunEvent"
    body["job"]["facets"]["sourceCodeLocation"] = facet(
        "SourceCodeLocationJobFacet", type="git", url="git@github.com:shop/dbt.git")
    body["job"]["facets"]["sql"] = facet("SQLJobFacet", query="select 1", _schemaURL="nowhere")
    body["inputs"] = [dataset("main.payments", inputFacets={"dataQualityMetrics": facet(
        "DataQualityMetricsInputDatasetFacet", rowCount=3, columnMetrics={},
        lastUpdated="last tuesday")})]
    body["run"]["facets"]["parent"] = facet(
        "ParentRunFacet", run={"runId": str(uuid.uuid4())},
        job={"namespace": "airflow", "name": "dag"},
        root={"run": {"runId": "not-a-uuid"}, "job": {"namespace": "airflow", "name": "dag"}})
    assert validate_event(body) == "RunEvent"
    assert check_event(body).problems == []


@pytest.mark.parametrize(("pointer", "value", "field", "fmt"), [
    ("eventTime", "2024-06-03", "eventTime", "date-time"),
    ("run/runId", "run-1", "run.runId", "uuid"),
])
def test_the_envelope_formats_the_catalog_needs_stay_enforced(pointer, value, field, fmt):
    body = dbt_failed_run()
    node = body
    *path, last = pointer.split("/")
    for key in path:
        node = node[key]
    node[last] = value
    with pytest.raises(EventValidationError) as info:
        check_event(body)  # lenient facets change nothing about the envelope
    assert info.value.field == field and info.value.message == f'"{value}" is not a valid {fmt}'


def test_a_parent_run_id_that_is_no_uuid_is_a_problem():
    body = spark_child_run()
    body["run"]["facets"]["parent"]["run"] = {"runId": "application_1718_0007"}
    (problem,) = check_event(body).problems
    assert (problem.field, problem.message) == (
        "run.facets.parent.run.runId", '"application_1718_0007" is not a valid uuid')


@pytest.mark.parametrize(("mutate", "field"), [
    (lambda b: b.update(eventType="DONE"), "eventType"),
    (lambda b: b["run"].pop("runId"), "run.runId"),
    (lambda b: b["job"].pop("namespace"), "job.namespace"),
    (lambda b: b.pop("producer"), "producer"),
    (lambda b: b.update(schemaURL=5), "schemaURL"),
    (lambda b: b["inputs"][0].pop("name"), "inputs[0].name"),
    (lambda b: b["inputs"][0].update(namespace=None), "inputs[0].namespace"),
])
def test_the_envelope_stays_strict_whatever_the_facets(mutate, field):
    body = dbt_duckdb_test_run()  # its bad facet does not change which field is named
    mutate(body)
    with pytest.raises(EventValidationError) as info:
        check_event(body)
    assert info.value.field == field


def test_every_group_and_a_facets_object_that_is_no_object():
    bad = {"_producer": "https://x"}  # no _schemaURL: breaks every standard facet
    body = event(run_facets={"tags": bad}, job_facets={"sql": bad},
                 inputs=[dataset("a", {"version": bad}, inputFacets={"dataQualityMetrics": []})],
                 outputs=[dataset("b", ["schema"], outputFacets={"outputStatistics": bad})])
    problems = check_event(body).problems
    assert [(p.group, p.facet, p.location, p.field, p.message) for p in problems] == [
        ("run", "tags", ("run", "facets", "tags"), "run.facets.tags._schemaURL",
         "required property is missing"),
        ("job", "sql", ("job", "facets", "sql"), "job.facets.sql._schemaURL",
         "required property is missing"),
        ("dataset", "version", ("inputs", 0, "facets", "version"),
         "inputs[0].facets.version._schemaURL", "required property is missing"),
        ("input", "dataQualityMetrics", ("inputs", 0, "inputFacets", "dataQualityMetrics"),
         "inputs[0].inputFacets.dataQualityMetrics", "expected object, got array"),
        ("dataset", None, ("outputs", 0, "facets"), "outputs[0].facets",
         "expected object, got array"),
        ("output", "outputStatistics", ("outputs", 0, "outputFacets", "outputStatistics"),
         "outputs[0].outputFacets.outputStatistics._schemaURL", "required property is missing"),
    ]


def test_job_and_dataset_events_have_facet_problems_too():
    job_event = {"eventTime": "2024-06-03T08:00:00Z", "producer": "p",
                 "schemaURL": SPEC + "JobEvent",
                 "job": {"namespace": "dbt", "name": "m", "facets": {"sql": facet("SQLJobFacet")}},
                 "outputs": [dataset("o", {"schema": facet("SchemaDatasetFacet", fields="id")})]}
    checked = check_event(job_event)
    assert checked.kind == "JobEvent"
    assert [(p.group, p.field) for p in checked.problems] == [
        ("job", "job.facets.sql.query"), ("dataset", "outputs[0].facets.schema.fields")]
    dataset_event = {"eventTime": "2024-06-03T08:00:00Z", "producer": "p",
                     "schemaURL": SPEC + "DatasetEvent",
                     "dataset": dataset("d", {"ownership": facet("OwnershipDatasetFacet",
                                                                 owners=[{"type": "x"}])})}
    checked = check_event(dataset_event)
    assert checked.kind == "DatasetEvent"
    assert [(p.group, p.field) for p in checked.problems] == [
        ("dataset", "dataset.facets.ownership.owners[0].name")]
    with pytest.raises(EventValidationError) as info:
        check_event(dataset_event, strict=["dataset"])
    assert info.value.field == "dataset.facets.ownership.owners[0].name"


def test_the_enforced_formats_point_at_formats_of_the_schema():
    document = ol_validate.load_schema()
    for pointer in ol_validate.ENFORCED_FORMATS:
        node = document
        for part in pointer.strip("/").split("/"):
            node = node[int(part)] if isinstance(node, list) else node[part]
        assert node["format"] in ("uuid", "date-time"), pointer
    enforced = ol_validate.enforced_schema()
    defs = enforced["$defs"]
    assert defs["Run"]["properties"]["runId"]["format"] == "uuid"
    assert "format" not in defs["BaseEvent"]["properties"]["producer"]
    assert "format" not in defs["DatasourceDatasetFacet"]["allOf"][1]["properties"]["uri"]
    # The cached schema keeps every format: enforced_schema works on a copy.
    assert document["$defs"]["BaseEvent"]["properties"]["producer"]["format"] == "uri"


def test_only_the_format_keyword_is_dropped_never_a_property_called_format(monkeypatch):
    document = {"$defs": {"StorageFacet": {"properties": {
        "format": {"type": "string", "format": "uri"}, "uri": {"format": "uri"}}}}}
    monkeypatch.setattr(ol_validate, "load_schema", lambda: document)
    assert ol_validate.enforced_schema() == {"$defs": {"StorageFacet": {"properties": {
        "format": {"type": "string"}, "uri": {}}}}}
