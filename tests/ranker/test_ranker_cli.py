"""``catalog ranker``: train, promote, score and evaluate through a live catalog, JSON summaries,
exit codes, progress with its total."""

from __future__ import annotations

import json

import pytest

from catalog.cli_contract import ExitCode
from catalog.client import CatalogClient
from pipelines.report import Reporter
from pipelines.service import land_and_run
from recocatalog.cli import main
from tests.live_server import live_server

TINY = {"max_epochs": 2, "batch_size": 64, "threads": 1, "patience": 2,
        "model": {"d_model": 16, "n_layers": 1, "max_len": 20}}


RAW_USER_ID = "api/v1/namespaces/recsys/datasets/raw_events/fields/user_id/classifications"


def test_train_promote_score_evaluate(runner, tmp_path, sqlite_url, catalog):
    work = tmp_path / "w"
    (tmp_path / "tiny.json").write_text(json.dumps(TINY))
    with live_server(sqlite_url, tmp_path) as url:
        land_and_run(work, "synthetic", reporter=Reporter(CatalogClient(url)), events=3_000)
        common = ["--workdir", str(work), "--catalog-url", url, "--json"]
        # No refit: the version evaluated below is the one whose test metrics training reported.
        r = runner.invoke(main, ["ranker", "train", "--config", str(tmp_path / "tiny.json"),
                                 "--dataset", "synthetic", "--progress", "--no-refit", *common])
        assert r.exit_code == 0, r.output
        trained = json.loads(r.stdout)
        assert trained["model"] == "ranker" and trained["version"] == 1
        seed_article = {f"{m}@{k}" for m in ("hr", "ndcg", "precision", "recall", "f1")
                        for k in (5, 10, 20)} | {"mrr"}
        assert set(trained["valid"]) == set(trained["test"]) == seed_article
        for split in ("valid", "test"):  # one target per user: P@K = HR@K / K, R@K = HR@K
            m = trained[split]
            assert m["precision@10"] == pytest.approx(m["hr@10"] / 10, rel=1e-12)
            assert m["recall@10"] == m["hr@10"]
        assert trained["epochs"] == 2 and trained["train_seconds"] >= 0
        assert [x.split(" valid")[0] for x in r.stderr.splitlines()] == [
            "training: 1/2 epochs", "training: 2/2 epochs"]

        # The promotion gate: a user-id tag reaching the training data without an exemption.
        admin = CatalogClient(url)
        admin.put(f"{RAW_USER_ID}/pii.user_id", {})
        promote = ["ranker", "promote", "ranker", "1", "--alias", "production", "--catalog-url",
                   url]
        r = runner.invoke(main, promote)
        assert r.exit_code == ExitCode.CHECKS_FAILED and r.stdout == ""
        assert r.stderr.startswith("error: catalog refused the request (409): training input "
                                   "recsys:interactions_split.user_id carries pii.user_id")
        r = runner.invoke(main, [*promote, "--token", "cat_not_a_token"])
        assert r.exit_code == ExitCode.REFUSED
        assert r.stderr.startswith("error: catalog refused the request (401)")
        admin.post("api/v1/models/ranker/exemptions", {"tag": "pii.*", "reason": "test ids"})
        r = runner.invoke(main, promote)
        assert r.exit_code == 0, r.output

        r = runner.invoke(main, ["ranker", "score", "--model", "ranker@production",
                                 "--top-k", "3", "--processes", "2", *common])
        assert r.exit_code == 0, r.output
        scored = json.loads(r.stdout)
        assert scored["world_size"] == 2
        assert scored["rows"] == 3 * scored["users"] and scored["users_per_second"] > 0
        assert scored["output"].endswith("recommendations.parquet")
        r = runner.invoke(main, ["ranker", "score", "--model", "ranker@production",
                                 "--top-k", "3", "--processes", "1", "--batch-size", "7",
                                 "--progress", *common])
        assert r.exit_code == 0, r.output
        assert json.loads(r.stdout)["rows"] == scored["rows"]
        users = scored["users"]
        assert r.stderr.splitlines()[0] == f"scoring: 7/{users} users"
        assert r.stderr.splitlines()[-1] == f"scoring: {users}/{users} users"

        r = runner.invoke(main, ["ranker", "evaluate", "--model", "ranker@1", *common])
        assert r.exit_code == 0, r.output
        evaluated = json.loads(r.stdout)["metrics"]
        for key in ("ndcg@10", "precision@10", "recall@10", "f1@10"):
            assert evaluated[key] == trained["test"][key], key

        r = runner.invoke(main, ["ranker", "score", "--model", "ranker@staging", *common])
        assert r.exit_code == ExitCode.REFUSED and r.stdout == ""  # no such alias: 404
        assert r.stderr.startswith("error: catalog refused the request (404)")


def test_train_without_features_is_one_line(runner, tmp_path):
    r = runner.invoke(main, ["ranker", "train", "--workdir", str(tmp_path)])
    assert r.exit_code == ExitCode.BAD_INPUT
    assert r.output.strip() == (f"error: no features.duckdb in {tmp_path}: run "
                                f"`catalog pipeline run --workdir {tmp_path}`")


def test_bad_config_keys_are_named(runner, tmp_path):
    (tmp_path / "features.duckdb").write_bytes(b"")
    (tmp_path / "c.json").write_text('{"epochs": 3}')
    r = runner.invoke(main, ["ranker", "train", "--workdir", str(tmp_path),
                             "--config", str(tmp_path / "c.json")])
    assert r.exit_code == ExitCode.BAD_INPUT and "unknown keys ['epochs']" in r.output
