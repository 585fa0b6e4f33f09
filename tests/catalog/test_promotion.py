"""Promotion gates: no production model on data that failed its checks, or on worse metrics."""

from __future__ import annotations

from tests.factories import complete_run, ds, facet

PASS = facet("DataQualityAssertionsDatasetFacet", assertions=[
    {"assertion": "expect_column_values_to_not_be_null", "column": "user_id", "success": True}])


def fail(severity="critical"):
    return facet("DataQualityAssertionsDatasetFacet", assertions=[
        {"assertion": "expect_column_values_to_not_be_null", "column": "user_id",
         "success": False, "severity": severity},
        {"assertion": "expect_table_row_count_to_be_between", "success": True}])


def version_fp(fp):
    return facet("DatasetVersionDatasetFacet", datasetVersion=fp)


def validate(client, name, fp, assertions, minutes):
    """A validation run that reads ``name`` at fingerprint ``fp`` and reports assertions."""
    inp = ds(name, version=version_fp(fp))
    inp["inputFacets"] = {"dataQualityAssertions": assertions}
    complete_run(client, f"validate_{name}", inputs=[inp], minutes=minutes)


def train(client, metrics, minutes, features_fp="f1"):
    """raw -> clean (checked) -> features -> train: returns the registered model version."""
    run = complete_run(client, "train", inputs=[ds("features", version=version_fp(features_fp))],
                       minutes=minutes)
    r = client.post("/api/v1/models/ranker/versions", json={"runId": run, "metrics": metrics})
    assert r.status_code == 201, r.get_json()
    return r.get_json()["version"]


def build_data(client, clean_assertions, minutes=0, fp="c1", features_fp="f1"):
    complete_run(client, "clean", inputs=[ds("raw", version=version_fp("r1"))],
                 outputs=[ds("clean", version=version_fp(fp))], minutes=minutes)
    validate(client, "clean", fp, clean_assertions, minutes + 2)
    complete_run(client, "features", inputs=[ds("clean", version=version_fp(fp))],
                 outputs=[ds("features", version=version_fp(features_fp))], minutes=minutes + 4)


def promote(client, version, **kw):
    return client.put("/api/v1/models/ranker/aliases/production", json={"version": version, **kw})


def test_clean_lineage_promotes(client):
    build_data(client, PASS)
    v = train(client, {"valid.ndcg@10": 0.05}, 10)
    r = promote(client, v)
    assert r.status_code == 200 and r.get_json()["aliases"] == {"production": v}


def test_failed_check_two_hops_upstream_refuses_and_says_why(client):
    build_data(client, fail())
    v = train(client, {"valid.ndcg@10": 0.05}, 10)
    r = promote(client, v)
    assert r.status_code == 409
    body = r.get_json()
    assert body["reasons"] == [
        "training data shop:clean version 1 failed critical checks: "
        "expect_column_values_to_not_be_null(user_id)"]
    assert client.get("/api/v1/models/ranker").get_json()["aliases"] == {}
    # A candidate alias is not gated.
    assert client.put("/api/v1/models/ranker/aliases/candidate",
                      json={"version": v}).status_code == 200


def test_warning_failures_do_not_block(client):
    build_data(client, fail(severity="warning"))
    v = train(client, {"valid.ndcg@10": 0.05}, 10)
    assert promote(client, v).status_code == 200


def test_a_later_passing_check_of_the_same_version_clears_it(client):
    build_data(client, fail())
    validate(client, "clean", "c1", PASS, 8)
    v = train(client, {"valid.ndcg@10": 0.05}, 10)
    assert promote(client, v).status_code == 200


def test_metric_regression_beyond_tolerance_refuses(client):
    build_data(client, PASS)
    v1 = train(client, {"valid.ndcg@10": 0.050, "valid.hr@10": 0.09}, 10)
    assert promote(client, v1).status_code == 200
    v2 = train(client, {"valid.ndcg@10": 0.046, "valid.hr@10": 0.09}, 20)
    r = promote(client, v2)
    assert r.status_code == 409
    assert r.get_json()["reasons"] == [
        "validation valid.ndcg@10 0.0460 regresses beyond 5% of production version 1 (0.0500)"]
    # Within a looser tolerance it goes through.
    assert promote(client, v2, tolerance=0.1).status_code == 200
    assert promote(client, v1, tolerance=1.5).status_code == 422
