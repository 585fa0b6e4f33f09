"""Tests for catalog.openlineage.validate and the OpenLineage 2-0-2 schema written for it."""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from openlineage.client.event_v2 import (
    DatasetEvent,
    InputDataset,
    Job,
    JobEvent,
    OutputDataset,
    Run,
    RunEvent,
    RunState,
    StaticDataset,
)
from openlineage.client.facet_v2 import (
    column_lineage_dataset,
    data_quality_assertions_dataset,
    data_quality_metrics_input_dataset,
    dataset_version_dataset,
    datasource_dataset,
    documentation_dataset,
    documentation_job,
    error_message_run,
    job_type_job,
    lifecycle_state_change_dataset,
    nominal_time_run,
    output_statistics_output_dataset,
    ownership_dataset,
    ownership_job,
    parent_run,
    processing_engine_run,
    schema_dataset,
    source_code_location_job,
    sql_job,
    tags_dataset,
    tags_job,
    tags_run,
)
from openlineage.client.serde import Serde

from catalog.openlineage import checks as ol_checks
from catalog.openlineage import validate as ol_validate
from catalog.openlineage.validate import EventValidationError, event_kind, validate_event

RUN_ID = "3f5e83fa-3480-44ff-99c5-ff943904e5e8"
PARENT_RUN_ID = "c9a1b2d3-0e4f-4a5b-8c6d-7e8f9a0b1c2d"
ROOT_RUN_ID = "0b9f7f4e-1d2c-4e3b-9a8f-7c6d5e4f3a2b"
EVENT_TIME = "2024-05-01T10:15:30.123456+00:00"
PRODUCER = "https://github.com/example/recocatalog-tests/v1"
SCHEMA_URL = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/"


# --------------------------------------------------------------------------- builders


def _field(name: str, type_: str, nested: list | None = None):
    return schema_dataset.SchemaDatasetFacetFields(
        name=name, type=type_, description=f"column {name}", fields=nested or []
    )


def _schema_facet() -> schema_dataset.SchemaDatasetFacet:
    return schema_dataset.SchemaDatasetFacet(
        fields=[
            _field("user_id", "BIGINT"),
            _field("context", "STRUCT", nested=[_field("device", "VARCHAR")]),
            _field("score", "DOUBLE"),
        ]
    )


def _dataset_facets() -> dict[str, Any]:
    transformation = column_lineage_dataset.Transformation(
        type="DIRECT", subtype="IDENTITY", description="copied", masking=False
    )
    source = column_lineage_dataset.InputField(
        namespace="postgres://db:5432",
        name="shop.public.clicks",
        field="user_id",
        transformations=[transformation],
    )
    return {
        "schema": _schema_facet(),
        "columnLineage": column_lineage_dataset.ColumnLineageDatasetFacet(
            fields={
                "user_id": column_lineage_dataset.Fields(
                    inputFields=[source],
                    transformationDescription="identity",
                    transformationType="IDENTITY",
                )
            },
            dataset=[
                column_lineage_dataset.InputField(
                    namespace="postgres://db:5432",
                    name="shop.public.clicks",
                    field="ts",
                    transformations=[
                        column_lineage_dataset.Transformation(type="INDIRECT", subtype="FILTER")
                    ],
                )
            ],
        ),
        "dataSource": datasource_dataset.DatasourceDatasetFacet(
            name="postgres://db:5432", uri="postgres://db:5432/shop"
        ),
        "documentation": documentation_dataset.DocumentationDatasetFacet(
            description="Click features per user."
        ),
        "ownership": ownership_dataset.OwnershipDatasetFacet(
            owners=[ownership_dataset.Owner(name="team:reco", type="MAINTAINER")]
        ),
        "version": dataset_version_dataset.DatasetVersionDatasetFacet(datasetVersion="v42"),
    }


def _input_dataset() -> InputDataset:
    metrics = data_quality_metrics_input_dataset
    assertions = data_quality_assertions_dataset
    return InputDataset(
        namespace="postgres://db:5432",
        name="shop.public.clicks",
        facets={"schema": _schema_facet()},
        inputFacets={
            "dataQualityMetrics": metrics.DataQualityMetricsInputDatasetFacet(
                rowCount=1000,
                bytes=65536,
                fileCount=3,
                columnMetrics={
                    "user_id": metrics.ColumnMetrics(
                        nullCount=0,
                        distinctCount=250,
                        sum=125000.0,
                        count=1000,
                        min=1,
                        max=500,
                        quantiles={"0.5": 250.0, "0.99": 495.0},
                    )
                },
            ),
            "dataQualityAssertions": assertions.DataQualityAssertionsDatasetFacet(
                assertions=[
                    assertions.Assertion(assertion="not_null", success=True, column="user_id"),
                    assertions.Assertion(assertion="row_count", success=False),
                ]
            ),
        },
    )


def _output_dataset() -> OutputDataset:
    stats = output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet
    return OutputDataset(
        namespace="s3://features",
        name="reco/user_clicks",
        facets=_dataset_facets(),
        outputFacets={"outputStatistics": stats(rowCount=250, size=4096, fileCount=1)},
    )


def _job(with_facets: bool = True) -> Job:
    facets: dict[str, Any] = {}
    if with_facets:
        facets = {
            "sql": sql_job.SQLJobFacet(query="SELECT user_id, count(*) FROM clicks GROUP BY 1"),
            "jobType": job_type_job.JobTypeJobFacet(
                processingType="BATCH", integration="AIRFLOW", jobType="TASK"
            ),
            "sourceCodeLocation": source_code_location_job.SourceCodeLocationJobFacet(
                type="git",
                url="https://github.com/example/pipelines/blob/main/dags/clicks.py",
                branch="main",
            ),
        }
    return Job(namespace="airflow://prod", name="features.user_clicks", facets=facets)


def _run_facets(event_type: RunState) -> dict[str, Any]:
    facets: dict[str, Any] = {
        "parent": parent_run.ParentRunFacet(
            run=parent_run.Run(runId=PARENT_RUN_ID),
            job=parent_run.Job(namespace="airflow://prod", name="features"),
            root=parent_run.Root(
                run=parent_run.RootRun(runId=ROOT_RUN_ID),
                job=parent_run.RootJob(namespace="airflow://prod", name="nightly"),
            ),
        ),
        "processing_engine": processing_engine_run.ProcessingEngineRunFacet(
            version="2.10.1", name="Airflow", openlineageAdapterVersion="1.54.0"
        ),
        "nominalTime": nominal_time_run.NominalTimeRunFacet(
            nominalStartTime="2024-05-01T00:00:00Z", nominalEndTime="2024-05-02T00:00:00Z"
        ),
    }
    if event_type is RunState.FAIL:
        facets["errorMessage"] = error_message_run.ErrorMessageRunFacet(
            message="division by zero",
            programmingLanguage="python",
            stackTrace="Traceback (most recent call last): ...",
        )
    return facets


def make_run_event(event_type: RunState = RunState.COMPLETE) -> RunEvent:
    """Return a RunEvent carrying every standard facet the catalog interprets."""
    return RunEvent(
        eventType=event_type,
        eventTime=EVENT_TIME,
        producer=PRODUCER,
        run=Run(runId=RUN_ID, facets=_run_facets(event_type)),
        job=_job(),
        inputs=[_input_dataset()],
        outputs=[_output_dataset()],
    )


def make_dataset_event() -> DatasetEvent:
    """Return a DatasetEvent for a static dataset with the standard dataset facets."""
    return DatasetEvent(
        eventTime=EVENT_TIME,
        producer=PRODUCER,
        dataset=StaticDataset(
            namespace="s3://features", name="reco/user_clicks", facets=_dataset_facets()
        ),
    )


def make_job_event() -> JobEvent:
    """Return a JobEvent with job facets, one input and one output."""
    return JobEvent(
        eventTime=EVENT_TIME,
        producer=PRODUCER,
        job=_job(),
        inputs=[_input_dataset()],
        outputs=[_output_dataset()],
    )


def as_dict(event: Any) -> dict[str, Any]:
    """Serialise a client event the way the client sends it (JSON round trip)."""
    return json.loads(Serde.to_json(event))


def run_event_dict() -> dict[str, Any]:
    return as_dict(make_run_event())


def raises_at(event: object) -> EventValidationError:
    with pytest.raises(EventValidationError) as info:
        validate_event(event)
    return info.value


# --------------------------------------------------------------------------- the schema file


def test_schema_is_a_valid_draft_2020_12_schema():
    document = ol_validate.load_schema()
    Draft202012Validator.check_schema(document)
    assert document["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert "written for" in document["$comment"].lower()
    assert "2-0-2" in document["$comment"]


def test_schema_defines_the_core_model_and_every_ref_resolves():
    defs = ol_validate.load_schema()["$defs"]
    for name in (
        "BaseEvent", "RunEvent", "DatasetEvent", "JobEvent", "Run", "Job", "Dataset",
        "InputDataset", "OutputDataset", "StaticDataset", "BaseFacet", "RunFacet", "JobFacet",
        "DatasetFacet", "InputDatasetFacet", "OutputDatasetFacet",
    ):  # fmt: skip
        assert name in defs, name
    assert defs["RunEvent"]["allOf"][1]["properties"]["eventType"]["enum"] == [
        "START", "RUNNING", "COMPLETE", "ABORT", "FAIL", "OTHER",
    ]  # fmt: skip
    assert defs["BaseFacet"]["required"] == ["_producer", "_schemaURL"]

    refs: list[str] = []

    def collect(node: Any) -> None:
        if isinstance(node, dict):
            if "$ref" in node:
                refs.append(node["$ref"])
            for value in node.values():
                collect(value)
        elif isinstance(node, list):
            for value in node:
                collect(value)

    collect(defs)
    assert refs
    for ref in refs:
        assert ref.startswith("#/$defs/") and ref.removeprefix("#/$defs/") in defs, ref


@pytest.mark.parametrize(
    ("container", "key", "definition"),
    [
        ("DatasetFacets", "schema", "SchemaDatasetFacet"),
        ("DatasetFacets", "columnLineage", "ColumnLineageDatasetFacet"),
        ("DatasetFacets", "dataSource", "DatasourceDatasetFacet"),
        ("DatasetFacets", "documentation", "DocumentationDatasetFacet"),
        ("DatasetFacets", "ownership", "OwnershipDatasetFacet"),
        ("DatasetFacets", "version", "DatasetVersionDatasetFacet"),
        ("DatasetFacets", "tags", "TagsDatasetFacet"),
        ("DatasetFacets", "lifecycleStateChange", "LifecycleStateChangeDatasetFacet"),
        ("InputDatasetFacets", "dataQualityMetrics", "DataQualityMetricsInputDatasetFacet"),
        ("InputDatasetFacets", "dataQualityAssertions", "DataQualityAssertionsDatasetFacet"),
        ("OutputDatasetFacets", "outputStatistics", "OutputStatisticsOutputDatasetFacet"),
        ("JobFacets", "sql", "SQLJobFacet"),
        ("JobFacets", "jobType", "JobTypeJobFacet"),
        ("JobFacets", "sourceCodeLocation", "SourceCodeLocationJobFacet"),
        ("RunFacets", "parent", "ParentRunFacet"),
        ("RunFacets", "errorMessage", "ErrorMessageRunFacet"),
        ("RunFacets", "processing_engine", "ProcessingEngineRunFacet"),
        ("RunFacets", "nominalTime", "NominalTimeRunFacet"),
    ],
)
def test_standard_facets_are_referenced_by_key(container, key, definition):
    defs = ol_validate.load_schema()["$defs"]
    assert defs[container]["properties"][key] == {"$ref": f"#/$defs/{definition}"}
    assert defs[container]["additionalProperties"] == {"type": "object"}


# --------------------------------------------------------------------------- valid events


@pytest.mark.parametrize("event_type", list(RunState), ids=lambda state: state.value)
def test_client_run_events_validate_for_every_event_type(event_type):
    event = make_run_event(event_type)
    assert validate_event(as_dict(event)) == "RunEvent"
    assert validate_event(Serde.to_dict(event)) == "RunEvent"


def test_run_event_without_event_type_or_facets_validates():
    event = RunEvent(
        eventTime=datetime.now(UTC).isoformat(),
        producer=PRODUCER,
        run=Run(runId=str(uuid.uuid4())),
        job=_job(with_facets=False),
    )
    body = as_dict(event)
    assert "eventType" not in body
    assert validate_event(body) == "RunEvent"


def test_client_dataset_event_validates():
    body = as_dict(make_dataset_event())
    assert body["schemaURL"].endswith("#/$defs/DatasetEvent")
    assert validate_event(body) == "DatasetEvent"
    assert validate_event(Serde.to_dict(make_dataset_event())) == "DatasetEvent"


def test_client_job_event_validates():
    body = as_dict(make_job_event())
    assert body["schemaURL"].endswith("#/$defs/JobEvent")
    assert validate_event(body) == "JobEvent"
    assert validate_event(Serde.to_dict(make_job_event())) == "JobEvent"


def test_tags_lifecycle_and_job_documentation_facets_validate():
    lifecycle = lifecycle_state_change_dataset
    event = make_run_event()
    event.run.facets["tags"] = tags_run.TagsRunFacet(
        tags=[tags_run.TagsRunFacetFields(key="env", value="prod", source="USER")]
    )
    event.job.facets["tags"] = tags_job.TagsJobFacet(
        tags=[tags_job.TagsJobFacetFields(key="team", value="reco")]
    )
    event.job.facets["documentation"] = documentation_job.DocumentationJobFacet(
        description="Builds click features."
    )
    event.job.facets["ownership"] = ownership_job.OwnershipJobFacet(
        owners=[ownership_job.Owner(name="user:jdoe")]
    )
    event.outputs[0].facets["tags"] = tags_dataset.TagsDatasetFacet(
        tags=[tags_dataset.TagsDatasetFacetFields(key="pii", value="false", field="user_id")]
    )
    event.outputs[0].facets["lifecycleStateChange"] = lifecycle.LifecycleStateChangeDatasetFacet(
        lifecycleStateChange=lifecycle.LifecycleStateChange.RENAME,
        previousIdentifier=lifecycle.PreviousIdentifier(name="old_clicks", namespace="s3://x"),
    )
    body = as_dict(event)
    assert validate_event(body) == "RunEvent"

    body["outputs"][0]["facets"]["lifecycleStateChange"]["lifecycleStateChange"] = "MOVE"
    assert raises_at(body).field == "outputs[0].facets.lifecycleStateChange.lifecycleStateChange"
    body = as_dict(event)
    del body["run"]["facets"]["tags"]["tags"][0]["value"]
    assert raises_at(body).field == "run.facets.tags.tags[0].value"


def test_unknown_facets_are_accepted_verbatim():
    body = run_event_dict()
    custom = {"_producer": "https://x", "_schemaURL": "https://x#/y", "anything": [1]}
    body["run"]["facets"]["myCompany_x"] = custom
    body["job"]["facets"]["myCompany_x"] = {"no": "base fields at all"}
    body["inputs"][0]["inputFacets"]["myCompany_x"] = {}
    body["outputs"][0]["facets"]["myCompany_x"] = {"nested": {"deep": [None, True]}}
    original = copy.deepcopy(body)
    assert validate_event(body) == "RunEvent"
    assert body == original


def test_deleted_job_and_dataset_facets_need_only_base_fields():
    body = run_event_dict()
    marker = {"_producer": PRODUCER, "_schemaURL": "https://x#/y", "_deleted": True}
    body["outputs"][0]["facets"]["version"] = dict(marker)
    body["job"]["facets"]["sql"] = dict(marker)
    assert validate_event(body) == "RunEvent"

    body["outputs"][0]["facets"]["version"]["_deleted"] = False
    error = raises_at(body)
    assert error.field == "outputs[0].facets.version.datasetVersion"


def test_naive_and_zulu_event_times_validate():
    body = run_event_dict()
    for event_time in ("2024-05-01T10:15:30", "2024-05-01T10:15:30Z", "2024-05-01 10:15:30+02:00"):
        body["eventTime"] = event_time
        assert validate_event(body) == "RunEvent", event_time


# --------------------------------------------------------------------------- invalid events


def _walk(body: dict, pointer: str) -> tuple[Any, Any]:
    """Return (parent, key) for a slash-separated pointer such as ``inputs/0/name``."""
    parts: list[Any] = [int(part) if part.isdigit() else part for part in pointer.split("/")]
    node = body
    for part in parts[:-1]:
        node = node[part]
    return node, parts[-1]


def _delete(pointer: str) -> Callable[[dict], None]:
    def mutate(body: dict) -> None:
        node, key = _walk(body, pointer)
        del node[key]

    return mutate


def _set(pointer: str, value: Any) -> Callable[[dict], None]:
    def mutate(body: dict) -> None:
        node, key = _walk(body, pointer)
        node[key] = value

    return mutate


INVALID_RUN_EVENTS = [
    ("missing runId", _delete("run/runId"), "run.runId", "required"),
    ("runId not a uuid", _set("run/runId", "run-42"), "run.runId", "uuid"),
    ("runId not a string", _set("run/runId", 42), "run.runId", "string"),
    ("runId without hyphens", _set("run/runId", RUN_ID.replace("-", "")), "run.runId", "uuid"),
    ("bad eventTime", _set("eventTime", "yesterday"), "eventTime", "date-time"),
    ("date-only eventTime", _set("eventTime", "2024-05-01"), "eventTime", "date-time"),
    ("bad month", _set("eventTime", "2024-13-01T00:00:00Z"), "eventTime", "date-time"),
    ("lowercase zulu", _set("eventTime", "2024-05-01T10:00:00z"), "eventTime", "date-time"),
    ("missing eventTime", _delete("eventTime"), "eventTime", "required"),
    ("eventType DONE", _set("eventType", "DONE"), "eventType", "DONE"),
    ("missing job name", _delete("job/name"), "job.name", "required"),
    ("missing job", _delete("job"), "job", "required"),
    ("inputs not a list", _set("inputs", {"name": "x"}), "inputs", "array"),
    (
        "schema field without name",
        _delete("outputs/0/facets/schema/fields/0/name"),
        "outputs[0].facets.schema.fields[0].name",
        "required",
    ),
    (
        "nested schema field without name",
        _delete("inputs/0/facets/schema/fields/1/fields/0/name"),
        "inputs[0].facets.schema.fields[1].fields[0].name",
        "required",
    ),
    (
        "assertion success is a string",
        _set("inputs/0/inputFacets/dataQualityAssertions/assertions/0/success", "yes"),
        "inputs[0].inputFacets.dataQualityAssertions.assertions[0].success",
        "boolean",
    ),
    ("producer not a string", _set("producer", 7), "producer", "string"),
    (
        "known facet without _producer",
        _delete("run/facets/parent/_producer"),
        "run.facets.parent._producer",
        "required",
    ),
    (
        "parent runId not a uuid",
        _set("run/facets/parent/run/runId", "nope"),
        "run.facets.parent.run.runId",
        "uuid",
    ),
    (
        "parent root without job",
        _delete("run/facets/parent/root/job"),
        "run.facets.parent.root.job",
        "required",
    ),
    (
        "sql facet without query",
        _delete("job/facets/sql/query"),
        "job.facets.sql.query",
        "required",
    ),
    (
        "jobType without integration",
        _delete("job/facets/jobType/integration"),
        "job.facets.jobType.integration",
        "required",
    ),
    (
        "transformation type not DIRECT/INDIRECT",
        _set(
            "outputs/0/facets/columnLineage/fields/user_id/inputFields/0/transformations/0/type",
            "COPY",
        ),
        "outputs[0].facets.columnLineage.fields.user_id.inputFields[0].transformations[0].type",
        "COPY",
    ),
    (
        "metrics nullCount not an integer",
        _set("inputs/0/inputFacets/dataQualityMetrics/columnMetrics/user_id/nullCount", "none"),
        "inputs[0].inputFacets.dataQualityMetrics.columnMetrics.user_id.nullCount",
        "integer",
    ),
    (
        "outputStatistics rowCount is a bool",
        _set("outputs/0/outputFacets/outputStatistics/rowCount", True),
        "outputs[0].outputFacets.outputStatistics.rowCount",
        "integer",
    ),
    (
        "nominal start time not a date-time",
        _set("run/facets/nominalTime/nominalStartTime", "midnight"),
        "run.facets.nominalTime.nominalStartTime",
        "date-time",
    ),
    (
        "processing engine without version",
        _delete("run/facets/processing_engine/version"),
        "run.facets.processing_engine.version",
        "required",
    ),
    (
        "owner without name",
        _delete("outputs/0/facets/ownership/owners/0/name"),
        "outputs[0].facets.ownership.owners[0].name",
        "required",
    ),
    (
        "unknown facet that is not an object",
        _set("job/facets/myCompany_x", "plain string"),
        "job.facets.myCompany_x",
        "object",
    ),
    (
        "_deleted not a boolean",
        _set("outputs/0/facets/documentation/_deleted", "yes"),
        "outputs[0].facets.documentation._deleted",
        "boolean",
    ),
]


@pytest.mark.parametrize(
    ("mutate", "field", "in_message"),
    [case[1:] for case in INVALID_RUN_EVENTS],
    ids=[case[0] for case in INVALID_RUN_EVENTS],
)
def test_invalid_run_event_names_the_offending_field(mutate, field, in_message):
    body = run_event_dict()
    mutate(body)
    error = raises_at(body)
    assert error.field == field
    assert in_message in error.message
    assert error.event_index is None
    assert str(error) == f"{field}: {error.message}"


def test_error_message_for_bad_event_type_lists_allowed_values():
    body = run_event_dict()
    body["eventType"] = "DONE"
    error = raises_at(body)
    assert error.message == '"DONE" is not one of START, RUNNING, COMPLETE, ABORT, FAIL, OTHER'


def test_deepest_error_wins_and_choice_is_stable():
    body = run_event_dict()
    body["eventType"] = "DONE"
    del body["outputs"][0]["facets"]["schema"]["fields"][2]["name"]
    body["inputs"][0]["inputFacets"]["dataQualityAssertions"]["assertions"][1]["success"] = "no"
    fields = {raises_at(copy.deepcopy(body)).field for _ in range(3)}
    assert fields == {"inputs[0].inputFacets.dataQualityAssertions.assertions[1].success"}


def test_ties_between_equally_deep_errors_go_to_the_earliest_in_schema_order():
    body = run_event_dict()
    del body["job"]["name"]
    body["run"]["runId"] = "not-a-uuid"
    assert raises_at(body).field == "run.runId"


def test_keys_that_are_not_identifiers_are_quoted_in_the_path():
    body = run_event_dict()
    metrics = body["inputs"][0]["inputFacets"]["dataQualityMetrics"]["columnMetrics"]
    metrics["ctx.device"] = {"nullCount": -1.5}
    error = raises_at(body)
    assert error.field == (
        'inputs[0].inputFacets.dataQualityMetrics.columnMetrics["ctx.device"].nullCount'
    )


def test_dataset_event_errors():
    body = as_dict(make_dataset_event())
    del body["dataset"]["namespace"]
    assert raises_at(body).field == "dataset.namespace"

    body = as_dict(make_dataset_event())
    body["dataset"]["facets"]["schema"]["fields"] = "user_id"
    assert raises_at(body).field == "dataset.facets.schema.fields"


def test_job_event_errors():
    body = as_dict(make_job_event())
    body["outputs"] = [{"namespace": "s3://x"}]
    assert raises_at(body).field == "outputs[0].name"


@pytest.mark.parametrize("body", [[], "event", None, 42, 1.5, True])
def test_non_object_body_is_rejected(body):
    error = raises_at(body)
    assert error.field == ""
    assert "JSON object" in error.message
    with pytest.raises(EventValidationError) as info:
        event_kind(body)
    assert info.value.field == ""


def test_event_index_is_reported():
    body = run_event_dict()
    del body["run"]["runId"]
    with pytest.raises(EventValidationError) as info:
        validate_event(body, event_index=7)
    assert (info.value.field, info.value.event_index) == ("run.runId", 7)
    assert str(info.value).startswith("event 7: run.runId: ")


# --------------------------------------------------------------------------- event kinds


@pytest.mark.parametrize(
    ("body", "kind"),
    [
        ({"schemaURL": SCHEMA_URL + "RunEvent"}, "RunEvent"),
        ({"schemaURL": SCHEMA_URL + "JobEvent", "run": {}}, "JobEvent"),
        ({"schemaURL": SCHEMA_URL + "DatasetEvent", "job": {}}, "DatasetEvent"),
        ({"schemaURL": "https://x/OpenLineage.json#/definitions/JobEvent"}, "JobEvent"),
        ({"schemaURL": SCHEMA_URL + "BaseEvent", "dataset": {}, "run": {}}, "DatasetEvent"),
        ({"schemaURL": SCHEMA_URL + "BaseEvent", "run": {}, "job": {}}, "RunEvent"),
        ({"job": {}}, "JobEvent"),
        ({"schemaURL": 5, "run": {}}, "RunEvent"),
    ],
)
def test_event_kind(body, kind):
    assert event_kind(body) == kind


def test_event_kind_rejects_unclassifiable_bodies():
    with pytest.raises(EventValidationError) as info:
        event_kind({"schemaURL": SCHEMA_URL + "BaseEvent", "eventTime": EVENT_TIME})
    assert info.value.field == ""
    assert raises_at({"producer": PRODUCER}).field == ""


def test_kind_from_schema_url_decides_which_definition_applies():
    body = as_dict(make_job_event())
    body["schemaURL"] = SCHEMA_URL + "RunEvent"
    assert raises_at(body).field == "run"


# --------------------------------------------------------------------------- internals


def test_fast_checker_agrees_with_jsonschema():
    bodies = [as_dict(make_run_event(state)) for state in RunState]
    bodies += [as_dict(make_dataset_event()), as_dict(make_job_event())]
    for _name, mutate, _field, _message in INVALID_RUN_EVENTS:
        body = run_event_dict()
        mutate(body)
        bodies.append(body)
    validators = ol_validate._validators()
    whole = {kind: Draft202012Validator(
        {**ol_validate.enforced_schema(), "$ref": f"#/$defs/{kind}"},
        format_checker=ol_checks.format_checker()) for kind in ol_validate.EVENT_KINDS}
    verdicts = []
    for body in bodies:
        kind = event_kind(body)
        is_valid = validators.events[kind]
        assert is_valid(body) == whole[kind].is_valid(body), body
        envelope_valid, envelope = validators.envelopes[kind]
        assert envelope_valid(body) == envelope.is_valid(body), body
        verdicts.append(is_valid(body))
    assert verdicts.count(True) == len(RunState) + 2
    assert verdicts.count(False) == len(INVALID_RUN_EVENTS)
    for known, (other_valid, other) in validators.containers.values():
        for facet_valid, facet in known.values():
            for value in ({}, {"_producer": PRODUCER, "_schemaURL": SCHEMA_URL}, [], None):
                assert facet_valid(value) == facet.is_valid(value), value
        assert other_valid("x") == other.is_valid("x") is False


def test_valid_events_never_reach_jsonschema(monkeypatch):
    class Unreachable:
        def iter_errors(self, instance):
            raise AssertionError("jsonschema ran for a valid event")

    validators = ol_validate._validators()
    for kind, (is_valid, _validator) in list(validators.envelopes.items()):
        monkeypatch.setitem(validators.envelopes, kind, (is_valid, Unreachable()))
    assert validate_event(run_event_dict()) == "RunEvent"
    assert validate_event(as_dict(make_dataset_event())) == "DatasetEvent"
    assert validate_event(as_dict(make_job_event())) == "JobEvent"
    with pytest.raises(AssertionError, match="jsonschema ran"):
        validate_event({**run_event_dict(), "eventType": "DONE"})


def test_fast_checker_refuses_keywords_it_does_not_implement():
    with pytest.raises(ValueError, match="patternProperties"):
        ol_checks.FastCompiler({"X": {"patternProperties": {"^a": {"type": "string"}}}})


def test_schema_and_validators_are_built_once():
    assert ol_validate.load_schema() is ol_validate.load_schema()
    assert ol_validate._validators() is ol_validate._validators()


def test_remembered_checks_answer_each_json_value_on_its_own(monkeypatch):
    seen = []

    def is_int(value):
        seen.append(value)
        return type(value) is int

    check = ol_checks.remembered(is_int)
    assert [check(v) for v in (1, 1, 1.0, True, {"a": 1}, {"a": 1.0}, {"a": 1})] == [
        True, True, False, False, False, False, False]
    assert seen == [1, 1.0, True, {"a": 1}, {"a": 1.0}]  # each distinct value checked once
    seen.clear()
    assert check(2**70) and check(2**70) and seen == [2**70, 2**70]  # not orjson's: not kept
    monkeypatch.setattr(ol_checks, "MEMO_ENTRIES", 2)
    for v in (3, 4, 5, 3):
        check(v)
    assert seen[2:] == [3, 4, 5, 3]  # the memo started afresh when full


def test_facets_remembered_valid_do_not_excuse_a_changed_facet():
    body = run_event_dict()
    assert validate_event(body) == "RunEvent" and validate_event(copy.deepcopy(body))
    output = body["outputs"][0]
    assert output["facets"], "the factory's output has facets to break"
    name = next(iter(output["facets"]))
    broken = copy.deepcopy(body)
    broken["outputs"][0]["facets"][name]["_producer"] = 7
    with pytest.raises(EventValidationError, match="_producer"):
        validate_event(broken)
    assert validate_event(body) == "RunEvent"
