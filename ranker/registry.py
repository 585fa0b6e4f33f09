"""The ranker's runs in the catalog: training registers a model version, scoring a list version.

Training is reported as a run whose inputs are the feature tables at the exact versions read
(matched by content fingerprint) and whose output is the model artifact (fingerprint = its
sha256); the model version registered afterwards points at that run, so lineage flows
raw events -> features -> model -> recommendations.
"""

from __future__ import annotations

import contextlib
import hashlib
import subprocess
from dataclasses import asdict
from pathlib import Path

import duckdb

from catalog import client as cc
from catalog import facets as cf
from pipelines.tables import columns, fingerprint
from ranker.data import SPLITS

FEATURE_TABLES = ("interactions_split", "item_features", "feature_selection")
MODEL_NAMESPACE = "models"  # where the catalog keeps model artifacts as datasets
JOB_NAMESPACE = "recsys-ranker"
SELECTION_FACETS = {"jobType": cf.job_type("BATCH", "TORCH", "SELECT"),
                    "documentation": cf.job_documentation(
                        "Model selection: trains on the train split and picks the epoch by "
                        "validation NDCG@10.")}


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, streamed."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def code_version() -> str | None:
    """The git commit of the code, if it runs from a checkout."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                             cwd=Path(__file__).parent, timeout=5, check=True)
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def feature_inputs(workdir: Path, namespace: str, tables=FEATURE_TABLES) -> list:
    """The feature tables as OpenLineage inputs with schema and content fingerprint."""
    con = duckdb.connect(str(Path(workdir) / "features.duckdb"), read_only=True)
    try:
        out = []
        for t in tables:
            fp, rows = fingerprint(con, t)
            out.append(cc.InputDataset(namespace, t, facets={
                "schema": cf.schema(columns(con, t)), "version": cf.dataset_version(fp)}))
        return out
    finally:
        con.close()


def train_and_register(workdir: Path, cfg, client: cc.CatalogClient, *, model: str = "ranker",
                       namespace: str = "recsys", dataset: str | None = None, progress=None,
                       refit: bool = True, processes: int = 1, timeout: float | None = None,
                       refit_progress=None):
    """Select on validation, refit on every event, report the runs, register the version.

    The training run (job ``train_<model>``) reads the feature tables and writes the model
    artifact. With ``refit`` (the default) model selection is its child run
    (``train_<model>.selection``: the train split, early stopping on validation), and the artifact
    is a fresh model trained for the selected number of epochs on every event (train, valid and
    test splits); the version's metrics are then the selection run's, marked so in its
    hyperparameters (``refit``) and description. Without it, the selected checkpoint is the
    artifact. ``processes`` > 1 trains each phase on that many DDP ranks (``torchrun``); the
    world size is recorded. If any rank fails, the run fails and nothing is registered.
    ``progress(epoch, info)`` follows selection, ``refit_progress(epoch, epochs)`` the refit.

    Returns (TrainResult with ``refit`` set when refitted, registered version JSON).
    """
    from ranker.train import rates, train_processes

    workdir = Path(workdir).resolve()
    inputs = feature_inputs(workdir, namespace)
    job_facets = {
        "jobType": cf.job_type("BATCH", "TORCH", "TRAIN"),
        "documentation": cf.job_documentation(
            "Trains the Transformer ranker on the user behaviour sequences and item features: "
            "selects the number of epochs by early stopping on validation NDCG@10, then "
            "refits on every event."
            if refit else
            "Trains the Transformer ranker on the user behaviour sequences and item features; "
            "early stopping on validation NDCG@10."),
    }
    with client.run(JOB_NAMESPACE, f"train_{model}", inputs=inputs,
                    job_facets=job_facets) as run:
        selection = (client.run(JOB_NAMESPACE, f"train_{model}.selection", inputs=inputs,
                                parent=run, job_facets=SELECTION_FACETS)
                     if refit else contextlib.nullcontext())
        with selection as sel:
            result = train_processes(workdir, cfg, processes, progress=progress,
                                     timeout=timeout)
            if refit:
                sel.add_run_facets(training=cf.custom_facet(
                    **_training_facet(result, dataset, ["train"]),
                    valid={k: v for k, v in result.valid_metrics.items() if k != "users"}))
        if refit:
            epochs = max(result.best_epoch, 1)
            result.refit = train_processes(
                workdir, cfg, processes, refit_epochs=epochs, timeout=timeout,
                refit_lrs=rates(result.history, epochs, cfg.lr),
                progress=(lambda epoch, info: refit_progress(epoch, epochs))
                if refit_progress else None)
        sha = sha256_file(result.artifact)
        uri = f"file://{result.artifact.resolve()}"
        run.add_output(MODEL_NAMESPACE, model, facets={
            "version": cf.dataset_version(sha), "datasetType": cf.dataset_type("model"),
            "dataSource": cf.datasource(uri, uri)})
        facet = _training_facet(result, dataset, list(SPLITS) if refit else ["train"])
        if refit:
            facet.update(selection_run=sel.run_id, refit_epochs=result.refit.epochs,
                         refit_seconds=round(result.refit.train_seconds, 3),
                         refit_examples=result.refit.examples, metrics_from="selection_run")
        run.add_run_facets(training=cf.custom_facet(**facet))
    metrics = {f"valid.{k}": v for k, v in result.valid_metrics.items() if k != "users"}
    metrics.update({f"test.{k}": v for k, v in result.test_metrics.items() if k != "users"})
    metrics.update({f"popularity.test.{k}": v for k, v in result.popularity_test.items()
                    if k in ("hr@10", "ndcg@10")})
    hyper = {**asdict(cfg), "dataset": dataset, "world_size": result.world_size}
    body = {
        "runId": run.run_id, "artifactPath": str(result.artifact.resolve()),
        "sha256": sha, "codeVersion": code_version(), "metrics": metrics,
        "hyperparameters": hyper, "namespace": MODEL_NAMESPACE,
    }
    if refit:
        hyper["refit"] = refit_record(sel.run_id, result.refit.epochs)
        body["description"] = refit_description(sel.run_id, result.refit.epochs)
    version = client.post(f"api/v1/models/{model}/versions", body)
    return result, version


def refit_record(selection_run: str, epochs: int) -> dict:
    """``hyperparameters.refit`` of a version refit on every event after a selection run."""
    return {"selectionRunId": selection_run, "epochs": epochs, "trainedOn": list(SPLITS),
            "metricsFrom": "selection run"}


def refit_description(selection_run: str, epochs: int, subject: str = "Refit") -> str:
    """The version's description: what it learned from, and whose metrics it carries."""
    return (f"{subject} on every event ({', '.join(SPLITS)} splits) for {epochs} epochs, "
            f"the number selection run {selection_run} chose on validation; the metrics are "
            "that run's.")


def _training_facet(result, dataset: str | None, splits: list[str]) -> dict:
    return {"epochs": result.epochs, "best_epoch": result.best_epoch,
            "train_seconds": round(result.train_seconds, 3), "dataset": dataset,
            "world_size": result.world_size, "trained_on": splits}


def resolve(client: cc.CatalogClient, ref: str) -> dict:
    """A registered version from ``NAME``, ``NAME@ALIAS`` or ``NAME@VERSION`` (default latest).

    Checks the artifact on disk still has the registered sha256.
    """
    name, _, which = ref.partition("@")
    version = client.get(f"api/v1/models/{name}/versions/{which or 'latest'}")
    path = Path(version["artifactPath"] or "")
    if not path.is_file():
        raise FileNotFoundError(f"{name} version {version['version']}: artifact {path} is missing")
    if version.get("sha256") and sha256_file(path) != version["sha256"]:
        raise ValueError(f"{name} version {version['version']}: {path} does not match its "
                         "registered sha256; refusing to use it")
    return version


def compress_and_register(workdir: Path, ref: str, client: cc.CatalogClient, *, method: str,
                          amount: float = 0.3, output: Path | None = None,
                          users: int | None = None, batch_size: int = 1024, progress=None):
    """Compress a registered version, report the run and register the result as a new version.

    The run reads the source version's artifact and writes the compressed one; the new version
    is ``derivedFrom`` the source, with what ``ranker.compress`` measured (also the run's
    ``compression`` facet). ``progress(done, total, note)`` follows compress's steps.
    Returns (CompressResult, registered version JSON).
    """
    from ranker.compress import compress

    workdir = Path(workdir).resolve()
    source = resolve(client, ref)
    name, number = ref.partition("@")[0], source["version"]
    if not source.get("sha256"):
        raise ValueError(f"{name} version {number} has no sha256: a compressed version "
                         "could not name the artifact it is made of")
    label = method if method == "int8" else f"prune{round(amount * 100)}"
    src_path = Path(source["artifactPath"])
    output = Path(output or src_path.parent / f"{name}-v{number}-{label}.pt").resolve()
    # The artifact is made from the source's alone (quantizing and pruning read no data); the
    # feature tables it is measured on are the ones the source was validated on (checked below).
    inputs = [cc.InputDataset(MODEL_NAMESPACE, name, facets={
        "version": cf.dataset_version(source["sha256"])})]
    job_facets = {"jobType": cf.job_type("BATCH", "TORCH", "COMPRESS"),
                  "documentation": cf.job_documentation(
                      "Compresses a registered ranker version (int8 dynamic quantization or "
                      "global magnitude pruning) and measures it against its source.")}
    with client.run(JOB_NAMESPACE, f"compress_{name}", inputs=inputs,
                    job_facets=job_facets) as run:
        result = compress(src_path, output, workdir, method=method, amount=amount, users=users,
                          batch_size=batch_size, progress=progress)
        refit = (source.get("hyperparameters") or {}).get("refit")
        if not refit:
            _same_validation(source, name, result, workdir)
        sha = sha256_file(output)
        uri = f"file://{output}"
        run.add_output(MODEL_NAMESPACE, name, facets={
            "version": cf.dataset_version(sha), "datasetType": cf.dataset_type("model"),
            "dataSource": cf.datasource(uri, uri),
            "documentation": cf.dataset_documentation(
                f"{name} version {number} compressed ({label})."),
        })
        measured = derivation_report(result, batch_size)
        run.add_run_facets(compression=cf.custom_facet(source_version=number, **measured))
    metrics = {f"valid.{k}": v for k, v in result.valid_metrics.items() if k != "users"}
    metrics.update({f"test.{k}": v for k, v in result.test_metrics.items() if k != "users"})
    hyper = {**(source.get("hyperparameters") or {}), "compression": {
        "method": method, **({"amount": amount} if method == "prune" else {})}}
    description = f"{label} of version {number}"
    if refit:
        metrics = scaled_selection_metrics(source.get("metrics") or {}, result)
        hyper["refit"] = {**refit, "metricsFrom": "selection run, scaled by the change the "
                          "compression measured against its source"}
        description += ("; its source learned from every event, so its metrics are the "
                        "selection run's scaled by the change measured against the source")
    version = client.post(f"api/v1/models/{name}/versions", {
        "runId": run.run_id, "artifactPath": str(output), "sha256": sha,
        "codeVersion": code_version(), "metrics": metrics,
        "hyperparameters": hyper,
        "description": description,
        "namespace": MODEL_NAMESPACE,
        "derivedFrom": {"version": number, **measured},
    })
    return result, version


def scaled_selection_metrics(recorded: dict, result) -> dict:
    """A refit source's recorded (selection) validation metrics, each times the ratio of the
    compressed model's value to the source's as measured side by side on the same events.

    A refit learned the validation and test events, so measuring it there flatters both models
    alike; their ratio is still the compression's effect, and the selection run's metric is the
    one honest absolute value (the promotion gate compares it within 2%).
    """
    out = {}
    for key, change in result.valid_changes.items():
        old = recorded.get(f"valid.{key}")
        if old is not None and change["source"]:
            out[f"valid.{key}"] = old * change["derived"] / change["source"]
    return out


def derivation_report(result, batch_size: int) -> dict:
    """What a compression measured, in the shape the registry's ``derivedFrom`` shows."""
    report = {"method": result.method}
    if result.method == "prune":
        report.update(amount=result.amount, sparsity=result.sparsity)
    report.update(
        fileBytes=result.file_bytes, weightsBytes=result.weights_bytes,
        usersPerSecond=result.users_per_second, speedUsers=result.speed_users,
        speedDevice="cpu", speedBatchSize=batch_size, validation=result.valid_changes)
    return report


def _same_validation(source: dict, name: str, result, workdir: Path) -> None:
    """Refuse (and drop the output) when the source's validation NDCG@10 measured here is not
    the one it recorded.

    The promotion gate compares the compressed version's recorded metric with its source's, so
    both must come from the same validation split.
    """
    recorded = (source.get("metrics") or {}).get("valid.ndcg@10")
    measured = result.valid_changes["ndcg@10"]["source"]
    if recorded is not None and abs(recorded - measured) > 1e-9:
        result.output.unlink(missing_ok=True)
        raise ValueError(
            f"{name} version {source['version']} scores validation ndcg@10 {measured:.6f} on "
            f"{workdir}, but recorded {recorded:.6f}: compress it on the data it was "
            "trained on")


def score_and_report(workdir: Path, ref: str, client: cc.CatalogClient, *, k: int = 10,
                     namespace: str = "recsys", output: Path | None = None,
                     batch_size: int = 1024, processes: int | None = None, progress=None):
    """Score every user with a registered model version and record the run in the catalog.

    Inputs: the model version and the feature tables; output: the recommendations dataset.
    ``processes`` > 1 shards the users over that many ``torchrun`` ranks; the default is one
    per GPU when there are several, else one. This process reports the run either way.
    ``progress(done, total)`` counts the users scored.
    """
    from ranker.score import default_processes, score_processes

    workdir = Path(workdir).resolve()
    version = resolve(client, ref)
    name = ref.partition("@")[0]
    output = Path(output or workdir / "recommendations.parquet").resolve()
    model_in = cc.InputDataset(MODEL_NAMESPACE, name, facets={
        "version": cf.dataset_version(version["sha256"])})
    inputs = [model_in] + feature_inputs(workdir, namespace, ("interactions_split",
                                                              "item_features"))
    job_facets = {"jobType": cf.job_type("BATCH", "TORCH", "SCORE"),
                  "documentation": cf.job_documentation(
                      "Writes every user's personalised top-K list from a registered model "
                      "version.")}
    with client.run(JOB_NAMESPACE, f"score_{name}", inputs=inputs, job_facets=job_facets) as run:
        result = score_processes(workdir, Path(version["artifactPath"]), output, k=k,
                                 batch_size=batch_size,
                                 processes=processes or default_processes(), progress=progress)
        con = duckdb.connect()
        try:
            con.read_parquet(str(output)).create_view("recs")
            fp, rows = fingerprint(con, "recs")
            cols = columns(con, "recs")
        finally:
            con.close()
        uri = f"file://{output}"
        # Lists are keyed by the user they are for: the key column is copied from the feature
        # table, so the catalog can carry the user id's classification onto the lists.
        names = {c if isinstance(c, str) else c[0] for c in cols}
        keys = {out: [(namespace, src, out)] for out, src in
                (("user_id", "interactions_split"), ("item_id", "item_features")) if out in names}
        lineage = {"columnLineage": cf.column_lineage(keys)} if keys else {}
        run.add_output(namespace, "recommendations", facets={
            **lineage,
            "version": cf.dataset_version(fp), "schema": cf.schema(cols),
            "datasetType": cf.dataset_type("recommendations"),
            "dataSource": cf.datasource(uri, uri),
            "documentation": cf.dataset_documentation(
                f"Top-{k} recommendations per user from {name} version {version['version']}."),
        }, output_facets={"outputStatistics": cf.output_statistics(rows)})
        run.add_run_facets(scoring=cf.custom_facet(
            device=result.device, world_size=result.world_size, users=result.users,
            users_per_second=round(result.users_per_second, 2),
            wall_seconds=round(result.seconds, 3), top_k=k, model=name,
            model_version=version["version"]))
    return result, run.run_id
