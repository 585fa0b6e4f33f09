"""Facets the catalog interprets, as openlineage-python ``facet_v2`` objects, for its clients.

Used with :mod:`catalog.client`; like it, this imports nothing from the catalog's app, models or
services::

    from catalog import client as cc, facets as cf

    run.add_output("shop", "user_features", facets={
        "schema": cf.schema([("user_id", "BIGINT"), ("clicks", "INTEGER")]),
        "outputStatistics": cf.output_statistics(n),
    })
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from openlineage.client import facet_v2 as olf

# Stamped on events by default (catalog.client) and on every facet built here.
PRODUCER = "https://github.com/recocatalog/recocatalog"


def schema(fields: Iterable[tuple[str, str] | str]) -> olf.schema_dataset.SchemaDatasetFacet:
    """A schema facet from ``(name, type)`` pairs (or bare names)."""
    m = olf.schema_dataset
    return m.SchemaDatasetFacet(fields=[
        m.SchemaDatasetFacetFields(name=f) if isinstance(f, str)
        else m.SchemaDatasetFacetFields(name=f[0], type=f[1])
        for f in fields
    ], producer=PRODUCER)


def column_lineage(
    fields: Mapping[str, Iterable[tuple]],
) -> olf.column_lineage_dataset.ColumnLineageDatasetFacet:
    """Column lineage from ``{out_field: [(ns, name, field[, type[, subtype[, description]]])]}``.

    ``type`` defaults to DIRECT and ``subtype`` to IDENTITY. For the facet's own JSON shape (several
    transformations per input, masking) use :func:`column_lineage_from_fields`.
    """
    def source(ns, name, field, type_="DIRECT", subtype="IDENTITY", description=None) -> dict:
        t = {"type": type_, "subtype": subtype, "description": description}
        return {"namespace": ns, "name": name, "field": field, "transformations": [t]}

    return column_lineage_from_fields(
        {out: {"inputFields": [source(*src) for src in srcs]} for out, srcs in fields.items()}
    )


def column_lineage_from_fields(
    fields: Mapping[str, Mapping[str, Any]],
) -> olf.column_lineage_dataset.ColumnLineageDatasetFacet:
    """Column lineage from the facet's ``fields`` as JSON: ``{out: {"inputFields": [...]}}``."""
    m = olf.column_lineage_dataset

    def input_field(f: Mapping[str, Any]) -> m.InputField:
        ts = [m.Transformation(**t) for t in f.get("transformations") or []]
        return m.InputField(namespace=f["namespace"], name=f["name"], field=f["field"],
                            transformations=ts)

    return m.ColumnLineageDatasetFacet(fields={
        out: m.Fields(inputFields=[input_field(f) for f in spec["inputFields"]],
                      transformationDescription=spec.get("transformationDescription"),
                      transformationType=spec.get("transformationType"))
        for out, spec in fields.items()
    }, producer=PRODUCER)


def data_quality_metrics(
    row_count: int | None = None, columns: Mapping[str, Mapping[str, Any]] | None = None, *,
    size: int | None = None,
) -> olf.data_quality_metrics_dataset.DataQualityMetricsDatasetFacet:
    """Dataset metrics; ``columns`` maps a column to ColumnMetrics fields (nullCount, min...)."""
    m = olf.data_quality_metrics_dataset
    return m.DataQualityMetricsDatasetFacet(
        rowCount=row_count, bytes=size, producer=PRODUCER,
        columnMetrics={c: m.ColumnMetrics(**v) for c, v in (columns or {}).items()},
    )


def data_quality_assertions(
    results: Iterable[tuple | Mapping[str, Any]],
) -> olf.data_quality_assertions_dataset.DataQualityAssertionsDatasetFacet:
    """Assertion outcomes from ``(assertion, success[, column])`` tuples or Assertion-field dicts.

    A dict may carry any field of the facet's assertions (severity, expected, actual, params...).
    """
    m = olf.data_quality_assertions_dataset

    def assertion(r) -> m.Assertion:
        if isinstance(r, Mapping):
            return m.Assertion(**r)
        return m.Assertion(assertion=r[0], success=r[1], column=(r[2:] or (None,))[0])

    return m.DataQualityAssertionsDatasetFacet(
        assertions=[assertion(r) for r in results], producer=PRODUCER
    )


def dataset_version(fingerprint: str) -> olf.dataset_version_dataset.DatasetVersionDatasetFacet:
    """The content fingerprint of a dataset (same content, same fingerprint)."""
    return olf.dataset_version_dataset.DatasetVersionDatasetFacet(
        datasetVersion=fingerprint, producer=PRODUCER
    )


def output_statistics(
    row_count: int, *, size: int | None = None, file_count: int | None = None,
) -> olf.output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet:
    """Rows (and bytes, files) written; goes in ``output_facets``."""
    return olf.output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet(
        rowCount=row_count, size=size, fileCount=file_count, producer=PRODUCER
    )


def datasource(name: str, uri: str | None = None) -> olf.datasource_dataset.DatasourceDatasetFacet:
    """Where a dataset is stored: a named source and its URI (no credentials)."""
    return olf.datasource_dataset.DatasourceDatasetFacet(name=name, uri=uri, producer=PRODUCER)


def dataset_type(
    kind: str, sub_type: str | None = None,
) -> olf.dataset_type_dataset.DatasetTypeDatasetFacet:
    """The dataset's kind, e.g. ``dataset_type("feature_table")`` or ``dataset_type("file")``."""
    return olf.dataset_type_dataset.DatasetTypeDatasetFacet(
        datasetType=kind, subType=sub_type, producer=PRODUCER
    )


def sql(query: str, dialect: str | None = None) -> olf.sql_job.SQLJobFacet:
    """The SQL a job runs (part of the job's version)."""
    return olf.sql_job.SQLJobFacet(query=query, dialect=dialect, producer=PRODUCER)


def job_type(
    processing_type: str, integration: str, job_type: str | None = None,
) -> olf.job_type_job.JobTypeJobFacet:
    """What kind of job this is, in the facet's order: ``job_type("BATCH", "DUCKDB", "QUERY")``."""
    return olf.job_type_job.JobTypeJobFacet(
        processingType=processing_type, integration=integration, jobType=job_type,
        producer=PRODUCER,
    )


def source_code_location(
    url: str, *, vcs: str = "git", version: str | None = None, path: str | None = None,
) -> olf.source_code_location_job.SourceCodeLocationJobFacet:
    """Where the job's code lives (part of the job's version)."""
    return olf.source_code_location_job.SourceCodeLocationJobFacet(
        type=vcs, url=url, version=version, path=path, producer=PRODUCER
    )


def processing_engine(
    name: str, version: str, adapter_version: str | None = None,
) -> olf.processing_engine_run.ProcessingEngineRunFacet:
    """The engine that ran the job, e.g. ``processing_engine("duckdb", duckdb.__version__)``."""
    return olf.processing_engine_run.ProcessingEngineRunFacet(
        version=version, name=name, openlineageAdapterVersion=adapter_version, producer=PRODUCER
    )


def job_documentation(description: str) -> olf.documentation_job.DocumentationJobFacet:
    """A job's description."""
    return olf.documentation_job.DocumentationJobFacet(description=description, producer=PRODUCER)


def dataset_documentation(description: str) -> olf.documentation_dataset.DocumentationDatasetFacet:
    """A dataset's description."""
    return olf.documentation_dataset.DocumentationDatasetFacet(
        description=description, producer=PRODUCER
    )


def dataset_ownership(
    owners: Iterable[tuple[str, str | None]],
) -> olf.ownership_dataset.OwnershipDatasetFacet:
    """A dataset's owners from ``(name, type)`` pairs, e.g. ``("team:recsys", "MAINTAINER")``."""
    m = olf.ownership_dataset
    return m.OwnershipDatasetFacet(owners=[m.Owner(name=n, type=t) for n, t in owners],
                                   producer=PRODUCER)


def job_ownership(owners: Iterable[tuple[str, str | None]]) -> olf.ownership_job.OwnershipJobFacet:
    """A job's owners from ``(name, type)`` pairs."""
    m = olf.ownership_job
    return m.OwnershipJobFacet(owners=[m.Owner(name=n, type=t) for n, t in owners],
                               producer=PRODUCER)


def custom_facet(schema_url: str | None = None, **fields) -> olf.BaseFacet:
    """A facet of this project's own making (run, job or dataset), kept verbatim by the catalog.

    ``schema_url`` should name the JSON schema of ``fields``; by default the base facet's.
    """
    facet = olf.BaseFacet(producer=PRODUCER).with_additional_properties(**fields)
    if schema_url:
        facet._schemaURL = schema_url
    return facet


def error_message(
    message: str, stack_trace: str | None = None,
) -> olf.error_message_run.ErrorMessageRunFacet:
    """A Python error as a run facet (what RunReporter sends with FAIL)."""
    return olf.error_message_run.ErrorMessageRunFacet(
        message=message, programmingLanguage="python", stackTrace=stack_trace, producer=PRODUCER
    )


def parent_run(namespace: str, job_name: str, run_id: str) -> olf.parent_run.ParentRunFacet:
    """The parent facet linking a run to the run that started it (e.g. a pipeline's step)."""
    m = olf.parent_run
    return m.ParentRunFacet(run=m.Run(runId=run_id), job=m.Job(namespace=namespace, name=job_name),
                            producer=PRODUCER)
