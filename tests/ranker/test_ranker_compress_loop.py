"""Compressed versions in the catalog: lineage to their source, what they measured, and the
promotion gate's 2% rule, through the client and through ``catalog ranker``."""

from __future__ import annotations

import json

import pytest

from catalog.cli_contract import ExitCode
from ranker.registry import compress_and_register, train_and_register
from ranker.train import TrainConfig
from recocatalog.cli import main
from tests.live_server import live_server
from tests.ranker.conftest import cyclic_sequences, write_feature_db

SMALL = {"max_epochs": 15, "batch_size": 32, "threads": 1, "patience": 20,
         "model": {"d_model": 16, "n_layers": 1, "max_len": 20, "dropout": 0.1,
                   "attn_dropout": 0.1}}


def _allowed(version: dict, source: dict) -> bool:
    """The gate's rule, from what the two versions recorded."""
    new, old = version["metrics"]["valid.ndcg@10"], source["metrics"]["valid.ndcg@10"]
    return new >= old * 0.98


def test_compressed_versions_derive_from_their_source_and_face_the_gate(tmp_path, catalog):
    client, http = catalog
    work = tmp_path / "work"
    write_feature_db(work, cyclic_sequences(60, 30))
    # No refit: the source's recorded validation is measured on events it never learned.
    _, source = train_and_register(work, TrainConfig(**SMALL), client, refit=False)
    assert http.put("/api/v1/models/ranker/aliases/production",
                    json={"version": 1}).status_code == 200

    int8, v_int8 = compress_and_register(work, "ranker@production", client, method="int8",
                                         users=30)
    prune, v_prune = compress_and_register(work, "ranker@1", client, method="prune",
                                           amount=0.9, users=30)
    assert (v_int8["version"], v_prune["version"]) == (2, 3)
    for result, v in ((int8, v_int8), (prune, v_prune)):
        d = v["derivedFrom"]
        assert d["version"] == 1 and d["method"] == result.method
        assert d["fileBytes"] == result.file_bytes and d["weightsBytes"] == result.weights_bytes
        assert d["speedUsers"] == 30 and d["speedDevice"] == "cpu"
        assert d["validation"] == result.valid_changes
        assert d["validation"]["ndcg@10"]["source"] == source["metrics"]["valid.ndcg@10"]
        assert v["metrics"]["valid.ndcg@10"] == d["validation"]["ndcg@10"]["derived"]
        assert {"valid.precision@10", "valid.recall@10", "valid.f1@10",
                "test.ndcg@10"} <= set(v["metrics"])
        assert v["artifactPath"] == str(result.output) and result.output.is_file()
        # Lineage: the run read the source's artifact and wrote this one.
        run = http.get(f"/api/v1/jobs/runs/{v['runId']}").get_json()
        assert run["jobVersion"]["name"] == "compress_ranker" and run["state"] == "COMPLETED"
        read = [i["datasetVersionId"] for i in run["inputDatasetVersions"]]
        assert read == [source["datasetVersion"]]
        assert [o["datasetVersionId"] for o in run["outputDatasetVersions"]] == [
            v["datasetVersion"]]
        assert run["facets"]["compression"]["source_version"] == 1
    assert d["amount"] == 0.9 and d["sparsity"] == pytest.approx(0.9, abs=0.001)
    assert v_prune["hyperparameters"]["compression"] == {"method": "prune", "amount": 0.9}

    # On this model int8 loses nothing measurable and 90% pruning a lot: the gate lets the
    # first through and refuses the second, as the rule on the recorded metrics says.
    assert _allowed(v_int8, source) and not _allowed(v_prune, source)
    r = http.put("/api/v1/models/ranker/aliases/production", json={"version": 3})
    assert r.status_code == 409
    assert [x for x in r.get_json()["reasons"] if "it derives from" in x] == [
        f"prune version 3 has valid.ndcg@10 {v_prune['metrics']['valid.ndcg@10']:.4f}, "
        f"{-prune.valid_changes['ndcg@10']['relative']:.2%} below version 1 it derives from "
        f"({source['metrics']['valid.ndcg@10']:.4f}); a derived version may lose at most 2%"]
    r = http.put("/api/v1/models/ranker/aliases/production", json={"version": 2})
    assert r.status_code == 200, r.get_json()


def test_compress_refuses_data_its_source_was_not_validated_on(tmp_path, catalog):
    client, http = catalog
    work = tmp_path / "work"
    write_feature_db(work, cyclic_sequences(60, 30))
    train_and_register(work, TrainConfig(**{**SMALL, "max_epochs": 3}), client, refit=False)
    other = tmp_path / "other"  # the same items, other users: another validation split
    write_feature_db(other, cyclic_sequences(60, 30, seed=1))
    with pytest.raises(ValueError, match="compress it on the data it was trained on"):
        compress_and_register(other, "ranker@1", client, method="int8", users=5)
    assert [v["version"] for v in http.get("/api/v1/models/ranker").get_json()["versions"]] == [1]
    assert not list((work / "ranker").glob("ranker-v1-*.pt"))
    runs = http.get("/api/v1/namespaces/recsys-ranker/jobs/compress_ranker/runs").get_json()
    assert [r["state"] for r in runs["runs"]] == ["FAILED"]
    assert "compress it on the data it was trained on" in runs["runs"][0]["errorMessage"]


def test_a_refit_source_gives_its_selection_metrics_scaled_by_the_measured_change(
        tmp_path, catalog):
    client, http = catalog
    work = tmp_path / "work"
    write_feature_db(work, cyclic_sequences(60, 30))
    _, source = train_and_register(work, TrainConfig(**SMALL), client)
    assert source["hyperparameters"]["refit"]["trainedOn"] == ["train", "valid", "test"]
    result, v = compress_and_register(work, "ranker@1", client, method="prune", amount=0.5,
                                      users=10)
    measured = result.valid_changes["ndcg@10"]
    # Measured on events the refit learned, the source beats its own (selection) record ...
    assert measured["source"] > source["metrics"]["valid.ndcg@10"]
    # ... so the version records the selection's metric times the measured ratio, and says so.
    assert v["metrics"]["valid.ndcg@10"] == pytest.approx(
        source["metrics"]["valid.ndcg@10"] * measured["derived"] / measured["source"])
    assert not any(k.startswith("test.") for k in v["metrics"])
    assert "scaled" in v["hyperparameters"]["refit"]["metricsFrom"]
    assert "selection run's scaled" in v["description"]
    assert v["derivedFrom"]["validation"] == result.valid_changes


def test_cli_compress_and_promote_refuses_and_allows(runner, tmp_path, sqlite_url, catalog):
    work = tmp_path / "w"
    write_feature_db(work, cyclic_sequences(60, 30))
    (tmp_path / "small.json").write_text(json.dumps(SMALL))
    with live_server(sqlite_url, tmp_path) as url:
        common = ["--workdir", str(work), "--catalog-url", url, "--json"]
        r = runner.invoke(main, ["ranker", "train", "--config", str(tmp_path / "small.json"),
                                 "--no-refit", *common])
        assert r.exit_code == 0, r.output
        trained = json.loads(r.stdout)
        r = runner.invoke(main, ["ranker", "promote", "ranker", "1", "--alias", "production",
                                 "--catalog-url", url])
        assert r.exit_code == 0, r.output

        r = runner.invoke(main, ["ranker", "compress", "--model", "ranker@production",
                                 "--method", "prune", "--amount", "0.9", "--users", "20",
                                 "--progress", *common])
        assert r.exit_code == 0, r.output
        pruned = json.loads(r.stdout)
        shown = r.stderr.splitlines()  # the first step, then at most one a second, the last
        assert shown[0] == "compressing: 1/5 steps written"
        assert shown[-1] == "compressing: 5/5 steps timed"
        assert (pruned["version"], pruned["source_version"], pruned["method"]) == (2, 1, "prune")
        assert pruned["output"].endswith("ranker-v1-prune90.pt")
        assert pruned["file_bytes"]["derived"] < pruned["file_bytes"]["source"]
        assert pruned["weights_bytes"]["derived"] < pruned["weights_bytes"]["source"]
        ndcg = pruned["valid"]["ndcg@10"]
        assert ndcg["source"] == trained["valid"]["ndcg@10"]
        assert ndcg["relative"] == pytest.approx(ndcg["absolute"] / ndcg["source"])
        assert set(pruned["valid"]) == set(trained["valid"])  # every validation metric
        assert ndcg["relative"] < -0.02  # 90% of the weights gone: far more than 2% lost

        r = runner.invoke(main, ["ranker", "promote", "ranker", "2", "--alias", "production",
                                 "--catalog-url", url])
        assert r.exit_code == ExitCode.CHECKS_FAILED and r.stdout == ""
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(
            "error: catalog refused the request (409): prune version 2 has valid.ndcg@10")
        assert f"{-ndcg['relative']:.2%} below version 1 it derives from" in lines[0]

        r = runner.invoke(main, ["ranker", "compress", "--model", "ranker@production",
                                 "--method", "int8", "--users", "20", "--catalog-url", url,
                                 "--workdir", str(work)])
        assert r.exit_code == 0, r.output
        assert r.output.startswith("ranker version 3 (int8 of version 1): ")
        r = runner.invoke(main, ["ranker", "promote", "ranker", "3", "--alias", "production",
                                 "--catalog-url", url, "--json"])
        assert r.exit_code == 0, r.output
        assert json.loads(r.stdout)["aliases"] == {"production": 3}

        # The compressed production version scores through the usual command.
        r = runner.invoke(main, ["ranker", "score", "--model", "ranker@production",
                                 "--top-k", "3", *common])
        assert r.exit_code == 0, r.output
        scored = json.loads(r.stdout)
        assert scored["rows"] == 3 * scored["users"] == 180 and scored["device"] == "cpu"

        r = runner.invoke(main, ["ranker", "compress", "--model", "ranker@production",
                                 "--method", "int8", *common])
        assert r.exit_code == ExitCode.BAD_INPUT and r.stdout == ""
        assert r.stderr.strip() == (f"error: {work / 'ranker' / 'ranker-v1-int8.pt'} is already "
                                    "compressed (int8); compress its source")
