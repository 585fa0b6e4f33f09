"""A small, realistic catalog for the page tests: raw events -> cleaning -> features -> ranker.

Reported the way the pipelines do (OpenLineage events through the API), plus the model registry.
Holds HTML in user text (a description and a tag-like owner) to check pages keep it inert.
"""

from __future__ import annotations

from tests.factories import complete_run, ds, facet, schema

RAW_NS = "s3://shop-lake"
RAW = "raw/events.parquet"
XSS = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def _quality(*results) -> dict:
    return facet("DataQualityAssertionsDatasetFacet", assertions=[
        {"assertion": a, "column": c, "success": ok, "severity": "critical"}
        for a, c, ok in results])


def _metrics(rows: int) -> dict:
    return facet("DataQualityMetricsDatasetFacet", rowCount=rows, columnMetrics={
        "user_id": {"nullCount": 0, "distinctCount": 1200, "min": 1, "max": 5000},
        "item_id": {"nullCount": 3, "distinctCount": 800},
    })


def populate(client) -> dict:
    """Report the loop into the catalog behind Flask test ``client``; return names used."""
    raw = ds(RAW, ns=RAW_NS, schema=schema("user_id", "item_id", "event", "ts"),
             documentation=facet("DocumentationDatasetFacet",
                                 description="Raw click and purchase events from the shop."))
    complete_run(client, "ingest.events", outputs=[raw], minutes=0)
    clean_out = ds("events_clean", schema=schema(("user_id", "BIGINT"), ("item_id", "BIGINT"),
                                                 ("event", "VARCHAR")),
                   documentation=facet("DocumentationDatasetFacet",
                                       description=f"Cleaned events {XSS}"),
                   ownership=facet("OwnershipDatasetFacet",
                                   owners=[{"name": "data-platform", "type": "TEAM"}]),
                   dataQualityAssertions=_quality(("not_null", "user_id", True),
                                                  ("unique", "item_id", False)),
                   dataQualityMetrics=_metrics(12345))
    complete_run(client, "pipeline.clean", inputs=[ds(RAW, ns=RAW_NS)], outputs=[clean_out],
                 minutes=10)
    # A second version of the cleaned table whose schema adds a column and passes its checks.
    clean_v2 = dict(clean_out, facets=dict(
        clean_out["facets"],
        schema=schema(("user_id", "BIGINT"), ("item_id", "BIGINT"), ("event", "VARCHAR"),
                      ("session_id", "VARCHAR")),
        dataQualityAssertions=_quality(("not_null", "user_id", True),
                                       ("unique", "item_id", True))))
    clean_run = complete_run(client, "pipeline.clean", inputs=[ds(RAW, ns=RAW_NS)],
                             outputs=[clean_v2], minutes=20)
    lineage = facet("ColumnLineageDatasetFacet", fields={
        "user_id": {"inputFields": [{"namespace": "shop", "name": "events_clean",
                                     "field": "user_id", "transformations": [
                                         {"type": "DIRECT", "subtype": "IDENTITY"}]}]},
        "clicks": {"inputFields": [{"namespace": "shop", "name": "events_clean",
                                    "field": "event", "transformations": [
                                        {"type": "DIRECT", "subtype": "AGGREGATION"}]}]},
    })
    features = ds("user_features", schema=schema(("user_id", "BIGINT"), ("clicks", "INT")),
                  columnLineage=lineage)
    features_run = complete_run(client, "pipeline.features", inputs=[ds("events_clean")],
                                outputs=[features], minutes=30)
    train_run = complete_run(client, "ranker.train", inputs=[ds("user_features")], minutes=40)
    r = client.post("/api/v1/models/ranker/versions", json={
        "runId": train_run, "metrics": {"valid.ndcg@10": 0.31, "valid.hr@10": 0.52},
        "hyperparameters": {"d_model": 64}})
    assert r.status_code == 201, r.get_json()
    score_run = complete_run(client, "ranker.score", inputs=[ds("ranker", ns="models")],
                             outputs=[ds("recommendations", datasetType=facet(
                                 "DatasetTypeDatasetFacet", datasetType="recommendations"))],
                             minutes=50)
    complete_run(client, "pipeline.fail", inputs=[ds("user_features")], minutes=55)
    return {"clean_run": clean_run, "features_run": features_run, "train_run": train_run,
            "score_run": score_run}
