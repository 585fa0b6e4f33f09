"""The whole governed loop on a small synthetic shop, through the catalog.

generate -> pipeline -> train -> register -> promote -> score -> feedback -> pipeline again.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from pipelines.report import Reporter
from pipelines.service import land_and_run
from ranker.feedback import simulate_and_report
from ranker.registry import resolve, score_and_report, train_and_register
from ranker.train import TrainConfig

TINY = TrainConfig(max_epochs=2, batch_size=64, threads=1, patience=2,
                   model={"d_model": 16, "n_layers": 1, "max_len": 20})


@pytest.fixture
def trained(tmp_path, catalog):
    client, http = catalog
    land_and_run(tmp_path, "synthetic", reporter=Reporter(client), events=4_000, seed=5)
    result, version = train_and_register(tmp_path, TINY, client, dataset="synthetic")
    return tmp_path, client, http, result, version


def test_training_registers_a_version_with_exact_input_versions(trained):
    workdir, client, http, result, version = trained
    assert version["version"] == 1
    assert set(version["metrics"]) >= {"valid.ndcg@10", "test.ndcg@10", "test.hr@10"}
    assert version["hyperparameters"]["dataset"] == "synthetic"
    run = http.get(f"/api/v1/jobs/runs/{version['runId']}").get_json()
    read = {i["datasetVersionId"]["name"]: i["datasetVersionId"]["version"]
            for i in run["inputDatasetVersions"]}
    for table in ("interactions_split", "item_features", "feature_selection"):
        current = http.get(f"/api/v1/namespaces/recsys/datasets/{table}").get_json()
        assert read[table] == current["currentVersion"], table
    outs = [o["datasetVersionId"] for o in run["outputDatasetVersions"]]
    assert outs == [version["datasetVersion"]]


def test_the_registered_version_is_the_refit_and_names_its_selection_run(trained):
    workdir, client, http, result, version = trained
    (select,) = http.get("/api/v1/namespaces/recsys-ranker/jobs/train_ranker.selection/runs"
                         ).get_json()["runs"]
    assert select["state"] == "COMPLETED"
    assert select["facets"]["parent"]["run"]["runId"] == version["runId"]
    assert select["facets"]["training"]["trained_on"] == ["train"]
    assert select["facets"]["training"]["valid"]["ndcg@10"] == pytest.approx(
        result.valid_metrics["ndcg@10"])
    run = http.get(f"/api/v1/jobs/runs/{version['runId']}").get_json()
    training = run["facets"]["training"]
    assert training["trained_on"] == ["train", "valid", "test"]
    assert training["selection_run"] == select["id"]
    assert training["refit_epochs"] == result.best_epoch == result.refit.epochs
    assert training["metrics_from"] == "selection_run"
    # The version: the refit's artifact, the selection's metrics, marked as such.
    assert version["artifactPath"].endswith("ranker/refit/model.pt")
    assert version["metrics"]["valid.ndcg@10"] == pytest.approx(result.valid_metrics["ndcg@10"])
    assert version["metrics"]["test.ndcg@10"] == pytest.approx(result.test_metrics["ndcg@10"])
    refit = version["hyperparameters"]["refit"]
    assert refit == {"selectionRunId": select["id"], "epochs": result.best_epoch,
                     "trainedOn": ["train", "valid", "test"], "metricsFrom": "selection run"}
    assert select["id"] in version["description"] and "every event" in version["description"]
    assert version["hyperparameters"]["world_size"] == 1


def test_scoring_is_deterministic_and_tracked(trained, tmp_path_factory):
    workdir, client, http, result, version = trained
    r1, run1 = score_and_report(workdir, "ranker@1", client, k=5)
    other = tmp_path_factory.mktemp("again") / "recs.parquet"
    r2, _ = score_and_report(workdir, "ranker", client, k=5, output=other)
    assert r1.output.read_bytes() == other.read_bytes()
    rows = duckdb.sql(f"select * from read_parquet('{r1.output}')").fetchall()
    assert len(rows) == r1.rows == 5 * r1.users
    # No recommended item is already in the user's history.
    con = duckdb.connect(str(workdir / "features.duckdb"), read_only=True)
    seen = set(con.execute("select user_id, item_id from interactions_split").fetchall())
    con.close()
    assert not any((u, i) in seen for u, i, _, _ in rows)
    assert [r[2] for r in rows[:5]] == [1, 2, 3, 4, 5]
    run = http.get(f"/api/v1/jobs/runs/{run1}").get_json()
    assert run["facets"]["scoring"]["world_size"] == 1
    assert run["facets"]["scoring"]["users_per_second"] > 0
    names = {i["datasetVersionId"]["name"] for i in run["inputDatasetVersions"]}
    assert names == {"ranker", "interactions_split", "item_features"}
    recs = http.get("/api/v1/namespaces/recsys/datasets/recommendations").get_json()
    assert recs["kind"] == "recommendations" and recs["rowCount"] == r1.rows
    # Identical lists the second time: still one version.
    assert recs["currentVersionNumber"] == 1


def test_two_process_scoring_is_tracked_and_equal(trained, tmp_path_factory):
    """torchrun with 2 gloo ranks: the catalog records world size 2 and the same output."""
    workdir, client, http, result, version = trained
    one, run1 = score_and_report(workdir, "ranker@1", client, k=5, processes=1)
    two_path = tmp_path_factory.mktemp("two") / "recs.parquet"
    two, run2 = score_and_report(workdir, "ranker@1", client, k=5, output=two_path,
                                 processes=2)
    assert two.world_size == 2 and two.rows == one.rows == 5 * one.users
    q = "select user_id, item_id, rank, score from read_parquet(?) order by user_id, rank"
    a = duckdb.execute(q, [str(one.output)]).fetchall()
    b = duckdb.execute(q, [str(two_path)]).fetchall()
    assert [r[:3] for r in a] == [r[:3] for r in b]
    assert all(abs(x[3] - y[3]) < 1e-4 for x, y in zip(a, b, strict=True))
    run = http.get(f"/api/v1/jobs/runs/{run2}").get_json()
    assert run["state"] == "COMPLETED"
    assert run["facets"]["scoring"]["world_size"] == 2
    assert run["facets"]["scoring"]["device"] == "cpu"
    outs = run["outputDatasetVersions"]
    assert [o["datasetVersionId"]["name"] for o in outs] == ["recommendations"]
    ins = {i["datasetVersionId"]["name"] for i in run["inputDatasetVersions"]}
    assert {"ranker", "interactions_split", "item_features"} <= ins
    assert not list(two_path.parent.glob("*.part*")) and not list(two_path.parent.glob("*.json"))


def test_failed_multiprocess_scoring_is_a_failed_run(trained, tmp_path_factory):
    """A rank that dies fails the catalog run and leaves no output file behind."""
    workdir, client, http, result, version = trained
    out = tmp_path_factory.mktemp("bad") / "recs.parquet"
    with pytest.raises(RuntimeError, match="2 processes failed"):
        # k larger than the catalogue: every rank refuses before writing anything.
        score_and_report(workdir, "ranker@1", client, k=10**7, output=out, processes=2)
    assert not out.exists()
    job_runs = "/api/v1/namespaces/recsys-ranker/jobs/score_ranker/runs"
    runs = http.get(job_runs).get_json()["runs"]
    assert runs[0]["state"] == "FAILED"


def test_tampered_artifact_is_refused(trained):
    workdir, client, http, result, version = trained
    path = Path(version["artifactPath"])
    assert path == result.artifact.resolve() == result.refit.checkpoint.resolve()
    path.write_bytes(path.read_bytes() + b"x")
    with pytest.raises(ValueError, match="does not match its registered sha256"):
        resolve(client, "ranker@1")


def test_the_loop_closes_and_lineage_traces_back(trained):
    workdir, client, http, result, version = trained
    assert http.put("/api/v1/models/ranker/aliases/production",
                    json={"version": 1}).status_code == 200
    score_and_report(workdir, "ranker@production", client, k=10)
    simulate_and_report(workdir, workdir / "recommendations.parquet", client)
    second = land_and_run(workdir, "synthetic", reporter=Reporter(client), land=False)
    assert not any(s.noop for s in second.steps[:1])
    # Upstream of the recommendations: the model, the features, the cleaning, the raw events.
    up = http.get("/api/v1/lineage/upstream?nodeId=dataset:recsys:recommendations"
                  "&depth=50").get_json()
    names = {n["name"] for n in up["nodes"]}
    assert {"ranker", "train_ranker", "user_features", "events_clean", "raw_events",
            "simulate_feedback", "recommendations"} <= names
    raw = http.get("/api/v1/namespaces/recsys/datasets/raw_events").get_json()
    assert raw["currentVersionNumber"] == 2
