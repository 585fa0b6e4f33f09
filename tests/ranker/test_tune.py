"""``catalog ranker tune``: trials recorded as child runs (pruned ones as pruned), the best
registered with lineage to the tuning run, validation only, and resuming after an interruption."""

from __future__ import annotations

import json

import optuna
import pytest
from openlineage.client.event_v2 import RunState

from ranker.cli import ranker as ranker_cli
from ranker.tune import SPACE, tune

# A small space: tiny models, a few epochs.
SMALL = {"lr": ("log", 1e-3, 5e-3), "d_model": ("choice", (16, 24)),
         "n_layers": ("choice", (1,)), "dropout": ("float", 0.0, 0.3),
         "max_len": ("choice", (10,))}
BASE = {"max_epochs": 3, "patience": 3, "batch_size": 32, "threads": 1}


def _runs(http, job: str) -> list[dict]:
    return http.get(f"/api/v1/namespaces/recsys-ranker/jobs/{job}/runs",
                    query_string={"limit": 100}).get_json()["runs"]


def test_trials_are_child_runs_and_the_best_is_registered(cyclic_db, catalog, monkeypatch):
    client, http = catalog
    read = []
    import ranker.evaluate as ev
    import ranker.train as rt
    real = ev.evaluate

    def counted(m, d, split, *a, **k):
        read.append(split)
        return real(m, d, split, *a, **k)

    monkeypatch.setattr(ev, "evaluate", counted)
    monkeypatch.setattr(rt, "evaluate", counted)
    # Prunes every trial whose first validation falls below 2.0 after the first two trials:
    # NDCG never reaches it, so trials 2 and 3 are pruned at their first epoch.
    pruner = optuna.pruners.ThresholdPruner(lower=2.0, n_warmup_steps=0)

    class FirstTwoComplete(optuna.pruners.BasePruner):
        def prune(self, study, trial) -> bool:
            done = [t for t in study.get_trials(deepcopy=False)
                    if t.state == optuna.trial.TrialState.COMPLETE]
            return len(done) >= 2 and pruner.prune(study, trial)

    result = tune(cyclic_db, client, trials=4, base=BASE, space=SMALL, seed=3,
                  pruner=FirstTwoComplete())
    assert result.trials == {"COMPLETE": 2, "PRUNED": 2}
    # The test split was read once, for the registered version; every trial read validation.
    assert read.count("test") == 1 and read.count("valid") >= 2 * 3 + 2

    (parent,) = _runs(http, "tune_ranker")
    assert parent["id"] == result.run_id and parent["state"] == "COMPLETED"
    facet = parent["facets"]["tuning"]
    assert facet["trials"] == {"COMPLETE": 2, "PRUNED": 2}
    assert facet["best_trial"] == result.best_trial in (0, 1)
    children = _runs(http, "tune_ranker.trial")
    assert len(children) == 4
    by_number = {c["facets"]["tuningTrial"]["number"]: c for c in children}
    for n, child in by_number.items():
        assert child["facets"]["parent"]["run"]["runId"] == result.run_id
        trial = child["facets"]["tuningTrial"]
        assert set(trial["params"]) == set(SMALL)
        if n < 2:
            assert child["state"] == "COMPLETED" and trial["state"] == "COMPLETE"
            assert trial["valid"]["ndcg@10"] > 0 and len(trial["intermediate"]) == 3
        else:
            assert child["state"] == "ABORTED" and trial["state"] == "PRUNED"
            assert len(trial["intermediate"]) == 1
    best = by_number[result.best_trial]["facets"]["tuningTrial"]
    assert best["valid"]["ndcg@10"] == pytest.approx(result.best_value)
    assert best["valid"]["ndcg@10"] == max(
        by_number[n]["facets"]["tuningTrial"]["valid"]["ndcg@10"] for n in (0, 1))

    # The version: the best trial's checkpoint, made by the tuning run, its metrics the trial's.
    version = http.get(f"/api/v1/models/ranker/versions/{result.version['version']}"
                       ).get_json()
    assert version["metrics"]["valid.ndcg@10"] == pytest.approx(result.best_value)
    assert "test.ndcg@10" in version["metrics"]
    assert version["hyperparameters"]["tuning"] == {
        "study": "tune_ranker", "run_id": result.run_id, "trial": result.best_trial}
    # The registered artifact is the best trial's configuration refit on every event.
    assert version["artifactPath"].endswith(f"trial-{result.best_trial:03d}/refit/model.pt")
    best_run = by_number[result.best_trial]
    best_epoch = best_run["facets"]["tuningTrial"]["best_epoch"]
    assert version["hyperparameters"]["refit"] == {
        "selectionRunId": best_run["id"], "epochs": best_epoch,
        "trainedOn": ["train", "valid", "test"], "metricsFrom": "selection run"}
    assert parent["facets"]["tuning"]["selection_run"] == best_run["id"]
    assert f"Trial {result.best_trial}'s configuration refit" in version["description"]
    runs = http.get(f"/api/v1/jobs/runs/{result.run_id}").get_json()
    assert [o["datasetVersionId"]["name"] for o in runs["outputDatasetVersions"]] == ["ranker"]


def test_resumes_the_study_and_its_run_after_an_interruption(cyclic_db, catalog, monkeypatch):
    client, http = catalog
    import ranker.train as rt

    real_train = rt.train
    calls = {"n": 0}

    def crash_on_third(*a, **k):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt  # the process is stopped during trial 2
        return real_train(*a, **k)

    monkeypatch.setattr(rt, "train", crash_on_third)
    never = optuna.pruners.NopPruner()
    with pytest.raises(KeyboardInterrupt):
        tune(cyclic_db, client, trials=3, base=BASE, space=SMALL, seed=5, pruner=never)
    (parent,) = _runs(http, "tune_ranker")
    assert parent["state"] == "ABORTED"
    monkeypatch.setattr(rt, "train", real_train)
    result = tune(cyclic_db, client, trials=3, base=BASE, space=SMALL, seed=5, pruner=never)
    # Same study, same tuning run (now COMPLETE); the interrupted trial failed, one more ran.
    assert result.run_id == parent["id"]
    assert result.trials == {"COMPLETE": 3, "FAIL": 1}
    (parent,) = _runs(http, "tune_ranker")
    assert parent["state"] == "COMPLETED"
    states = sorted(c["state"] for c in _runs(http, "tune_ranker.trial"))
    assert states == ["ABORTED", "COMPLETED", "COMPLETED", "COMPLETED"]


def test_cli_tunes_and_prints_json(cyclic_db, catalog, runner, monkeypatch):
    import ranker.tune as rtune

    client, _ = catalog
    monkeypatch.setattr(rtune, "SPACE", SMALL)
    monkeypatch.setattr("ranker.cli._client", lambda url, token: client)
    r = runner.invoke(ranker_cli, ["tune", "--trials", "2", "--max-epochs", "2",
                                   "--workdir", str(cyclic_db), "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["trials"]["COMPLETE"] == 2 and out["version"] >= 1
    assert set(out["best_params"]) == set(SMALL) and "ndcg@10" in out["test"]
    r = runner.invoke(ranker_cli, ["tune", "--trials", "0", "--workdir", str(cyclic_db)])
    assert r.exit_code == 2  # a usage error, one line


def test_the_default_space_covers_the_models_shape_optimiser_and_frequency_branch():
    assert {"lr", "weight_decay", "d_model", "n_layers", "dropout", "max_len", "freq_alpha",
            "freq_cutoff"} == set(SPACE)


def test_a_trial_left_running_by_a_killed_process_is_failed_and_its_run_aborted(
        cyclic_db, catalog):
    """A SIGKILL leaves the study's trial RUNNING and its run RUNNING; the next call ends both."""
    client, http = catalog
    never = optuna.pruners.NopPruner()
    first = tune(cyclic_db, client, trials=1, base=BASE, space=SMALL, seed=7, pruner=never)
    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(
        str(cyclic_db / "tuning" / "ranker" / "study.log")))
    study = optuna.load_study(study_name="tune_ranker", storage=storage)
    killed = study.ask()  # as the killed process left it: RUNNING, with its run started
    child = client.run("recsys-ranker", "tune_ranker.trial",
                       parent=("recsys-ranker", "tune_ranker", first.run_id))
    client.emit(child.event(RunState.START))  # and nothing after: the process died
    killed.set_user_attr("run_id", child.run_id)
    run_id = child.run_id
    assert http.get(f"/api/v1/jobs/runs/{run_id}").get_json()["state"] == "RUNNING"
    result = tune(cyclic_db, client, trials=2, base=BASE, space=SMALL, seed=7, pruner=never)
    assert result.trials == {"COMPLETE": 2, "FAIL": 1}
    states = {t.number: t.state.name for t in optuna.load_study(
        study_name="tune_ranker", storage=storage).trials}
    assert states[killed.number] == "FAIL"
    run = http.get(f"/api/v1/jobs/runs/{run_id}").get_json()
    assert run["state"] == "ABORTED"
