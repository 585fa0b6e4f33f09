"""``catalog ranker tune``: hyperparameter search with Optuna on validation only, every trial a run.

One tuning run (job ``tune_<model>``) reads the feature tables; each trial is a child run
(job ``tune_<model>.trial``, parent facet naming the tuning run) carrying its parameters and, as
it ends, its validation metrics: COMPLETE, or ABORT with ``state: PRUNED`` when Optuna's pruner
stopped it on its intermediate validation NDCG@10, or FAIL. Trials never read the test split.
When the study has its trials, the best one's checkpoint becomes the tuning run's output and is
registered as a model version (``runId`` = the tuning run; its hyperparameters name the study,
the trial and the run); the test split is read once, for that version.

The study lives in ``<workdir>/tuning/<model>/study.log`` (Optuna's journal file storage), the
trials' checkpoints beside it: run the command again after an interruption and it goes on with
the same study and the same tuning run until ``--trials`` trials have completed or been pruned;
trials an interrupted process left running are marked failed (their runs ABORT).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from catalog import client as cc
from catalog import facets as cf

# The search space: name -> (kind, bounds or choices); "log" floats are sampled on a log scale.
# Width 128 with AdamW's decay at 0.1 gave Beauty's best validation (bench/RESULTS.md, session
# 10), so both lie inside it.
SPACE: dict[str, tuple] = {
    "lr": ("log", 2e-4, 3e-3),
    "weight_decay": ("log", 1e-4, 0.3),
    "d_model": ("choice", (32, 64, 96, 128)),
    "n_layers": ("choice", (1, 2, 3)),
    "dropout": ("float", 0.1, 0.6),
    "max_len": ("choice", (30, 50)),
    "freq_alpha": ("float", 0.0, 0.9),
    "freq_cutoff": ("choice", (3, 5, 9)),
}
# RankerConfig's; the rest are TrainConfig's.
MODEL_KEYS = {"d_model", "n_layers", "dropout", "max_len", "freq_alpha", "freq_cutoff"}
METRIC = "ndcg@10"


@dataclass
class TuneResult:
    """What a tuning run did: its trials by state, the best, and the version it registered."""

    run_id: str
    study: str
    trials: dict[str, int]  # COMPLETE, PRUNED, FAIL -> count
    best_trial: int
    best_value: float
    best_params: dict
    version: dict  # the registered model version
    test_metrics: dict = field(default_factory=dict)


def sample(trial, space: dict[str, tuple]) -> dict:
    """One trial's parameters from ``space``."""
    params = {}
    for name, spec in space.items():
        kind = spec[0]
        if kind == "log":
            params[name] = trial.suggest_float(name, spec[1], spec[2], log=True)
        elif kind == "float":
            params[name] = trial.suggest_float(name, spec[1], spec[2])
        else:
            params[name] = trial.suggest_categorical(name, list(spec[1]))
    return params


def config_for(params: dict, base: dict, out_dir: Path):
    """The TrainConfig of a trial: ``base`` fields, the sampled ones, no test split."""
    from ranker.train import TrainConfig

    model = {**base.get("model", {}), **{k: v for k, v in params.items() if k in MODEL_KEYS}}
    if "dropout" in model:
        model["attn_dropout"] = model["dropout"]
    train = {k: v for k, v in params.items() if k not in MODEL_KEYS}
    return TrainConfig(**{**{k: v for k, v in base.items() if k != "model"}, **train,
                          "model": model, "out_dir": str(out_dir), "resume": False,
                          "test": False})


def tune(workdir: Path, client: cc.CatalogClient, *, trials: int, model: str = "ranker",
         namespace: str = "recsys", base: dict | None = None, seed: int = 42,
         pruner=None, space: dict[str, tuple] | None = None, progress=None,
         refit: bool = True) -> TuneResult:
    """Run (or resume) the study until ``trials`` trials completed or were pruned; register the
    best. ``base`` holds TrainConfig fields every trial shares (max_epochs, patience, threads,
    batch_size...); ``pruner`` defaults to Optuna's median pruner after 3 trials and 2 epochs.
    ``progress(done, total, note)`` follows the trials. With ``refit`` the registered version
    is the best trial's configuration trained afresh on every event for its selected epochs
    (as ``catalog ranker train`` does), its metrics the best trial's."""
    import optuna

    from ranker import data as rdata
    from ranker.checkpoint import load_checkpoint
    from ranker.evaluate import evaluate, popularity
    from ranker.registry import (
        JOB_NAMESPACE,
        MODEL_NAMESPACE,
        code_version,
        feature_inputs,
        refit_description,
        refit_record,
        sha256_file,
    )
    from ranker.train import rates
    from ranker.train import refit as refit_model

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    space = space if space is not None else SPACE
    workdir = Path(workdir).resolve()
    folder = workdir / "tuning" / model
    folder.mkdir(parents=True, exist_ok=True)
    storage = optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(folder / "study.log")))
    study = optuna.create_study(
        study_name=f"tune_{model}", storage=storage, direction="maximize", load_if_exists=True,
        sampler=optuna.samplers.TPESampler(seed=seed),
        pruner=pruner or optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=2))
    base = dict(base or {})
    inputs = feature_inputs(workdir, namespace)
    run_id = study.user_attrs.get("run_id")
    job = f"tune_{model}"
    job_facets = {
        "jobType": cf.job_type("BATCH", "OPTUNA", "TUNE"),
        "documentation": cf.job_documentation(
            "Hyperparameter search for the ranker with Optuna (TPE sampler, median pruner) on "
            "validation NDCG@10; each trial is a child run; the best is registered."),
    }
    with client.run(JOB_NAMESPACE, job, inputs=inputs, job_facets=job_facets,
                    run_id=run_id) as run:
        if run_id is None:
            study.set_user_attr("run_id", run.run_id)
            study.set_user_attr("base", json.loads(json.dumps(base)))
        _abandon_stale(study, client, run, job, inputs)

        def objective(trial) -> float:
            return _trial(trial, workdir, folder, client, run, job, inputs, base, space)

        def finished() -> int:
            states = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
            return len(study.get_trials(deepcopy=False, states=states))

        while finished() < trials:
            study.optimize(objective, n_trials=1, catch=(RuntimeError, ValueError))
            if progress:
                t = study.trials[-1]
                progress(finished(), trials, f"trial {t.number} {t.state.name.lower()}"
                         + (f" valid {METRIC} {t.value:.4f}" if t.value is not None else ""))
        best = study.best_trial
        checkpoint = Path(best.user_attrs["checkpoint"])
        data = rdata.load(workdir / "features.duckdb")  # the test split, read once
        best_model, best_ckpt = load_checkpoint(checkpoint)
        test = {"metrics": evaluate(best_model, data, "test"),
                "popularity": popularity(data, "test")}
        cfg = config_for(best.params, base, checkpoint.parent)
        artifact, refitted = checkpoint, None
        if refit:
            refitted = refit_model(workdir, cfg, best_ckpt["best_epoch"],
                                   lrs=rates(best_ckpt["history"], best_ckpt["best_epoch"],
                                             cfg.lr))
            artifact = refitted.checkpoint.resolve()
        sha = sha256_file(artifact)
        uri = f"file://{artifact}"
        run.add_output(MODEL_NAMESPACE, model, facets={
            "version": cf.dataset_version(sha), "datasetType": cf.dataset_type("model"),
            "dataSource": cf.datasource(uri, uri)})
        counts = _counts(study)
        run.add_run_facets(tuning=cf.custom_facet(
            study=study.study_name, trials=counts, best_trial=best.number,
            best_value=best.value, best_params=best.params, metric=f"valid.{METRIC}",
            trained_on=list(rdata.SPLITS) if refit else ["train"],
            **({"refit_epochs": refitted.epochs, "selection_run": best.user_attrs["run_id"],
                "metrics_from": "selection_run"} if refit else {})))
    valid = best.user_attrs["valid"]
    metrics = {f"valid.{k}": v for k, v in valid.items() if k != "users"}
    metrics.update({f"test.{k}": v for k, v in test["metrics"].items() if k != "users"})
    metrics.update({f"popularity.test.{k}": v for k, v in test["popularity"].items()
                    if k in ("hr@10", "ndcg@10")})
    hyper = {**asdict(cfg), "tuning": {
        "study": study.study_name, "run_id": run.run_id, "trial": best.number}}
    body = {"runId": run.run_id, "artifactPath": str(artifact), "sha256": sha,
            "codeVersion": code_version(), "metrics": metrics, "hyperparameters": hyper,
            "namespace": MODEL_NAMESPACE}
    if refit:
        selection = best.user_attrs["run_id"]
        hyper["refit"] = refit_record(selection, refitted.epochs)
        body["description"] = refit_description(
            selection, refitted.epochs, f"Trial {best.number}'s configuration refit")
    version = client.post(f"api/v1/models/{model}/versions", body)
    return TuneResult(run.run_id, study.study_name, counts, best.number, best.value,
                      best.params, version, test["metrics"])


def _trial(trial, workdir, folder, client, parent, job, inputs, base, space) -> float:
    import optuna

    from ranker.train import train

    params = sample(trial, space)
    cfg = config_for(params, base, folder / f"trial-{trial.number:03d}")
    child = client.run(parent.job.namespace, f"{job}.trial", inputs=inputs, parent=parent,
                       run_facets={"tuningTrial": cf.custom_facet(
                           number=trial.number, params=params, state="RUNNING")})
    trial.set_user_attr("run_id", child.run_id)
    seen: list[dict] = []

    def report(epoch: int, info: dict) -> None:
        seen.append({"epoch": epoch, METRIC: info[METRIC]})
        trial.report(info[METRIC], epoch)
        if trial.should_prune():
            raise optuna.TrialPruned(f"pruned after epoch {epoch}: valid {METRIC} "
                                     f"{info[METRIC]:.4f}")

    try:
        with child:
            try:
                result = train(workdir, cfg, progress=report)
            except optuna.TrialPruned as exc:
                child.add_run_facets(tuningTrial=cf.custom_facet(
                    number=trial.number, params=params, state="PRUNED", intermediate=seen))
                raise cc.RunAborted(str(exc)) from None
            valid = {k: v for k, v in result.valid_metrics.items() if k != "users"}
            child.add_run_facets(tuningTrial=cf.custom_facet(
                number=trial.number, params=params, state="COMPLETE", valid=valid,
                intermediate=seen, best_epoch=result.best_epoch, epochs=result.epochs))
    except cc.RunAborted as exc:
        raise optuna.TrialPruned(str(exc)) from None
    trial.set_user_attr("checkpoint", str(result.best_checkpoint.resolve()))
    trial.set_user_attr("valid", valid)
    return valid[METRIC]


def _abandon_stale(study, client, parent, job, inputs) -> None:
    """Trials an interrupted process left running: failed in the study, ABORT in the catalog."""
    import optuna

    for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        study.tell(t.number, state=optuna.trial.TrialState.FAIL)
        run_id = t.user_attrs.get("run_id")
        if run_id:
            reporter = client.run(parent.job.namespace, f"{job}.trial", inputs=inputs,
                                  parent=parent, run_id=run_id)
            client.emit(reporter.event(cc.RunState.ABORT, {"errorMessage": cf.error_message(
                "the tuning process stopped during this trial", "")}))


def _counts(study) -> dict[str, int]:
    out: dict[str, int] = {}
    for t in study.get_trials(deepcopy=False):
        out[t.state.name] = out.get(t.state.name, 0) + 1
    return out
