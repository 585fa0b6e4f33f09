"""``catalog ranker``: train, evaluate, promote and score the Transformer ranker."""

from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path

import click

from catalog.client_options import (
    CATALOG_URL_OPTION,
    JSON_OPTION,
    PROGRESS_OPTION,
    TOKEN_OPTION,
    CommandFailed,
    ExitCode,
    echo_json,
    progress,
)

WORKDIR = click.option("--workdir", type=click.Path(path_type=Path), default=Path("work"),
                       show_default=True, help="Folder holding features.duckdb (the pipeline's).")


@click.group("ranker")
def ranker() -> None:
    """Train, evaluate, promote and score the Transformer ranker."""


def _bad_input(message: str) -> CommandFailed:
    return CommandFailed(message, ExitCode.BAD_INPUT)


def _client(url: str, token: str | None):
    from catalog.client import CatalogClient

    client = CatalogClient(url, token=token, retries=2, timeout=60)
    if not client.health():
        raise CommandFailed(f"catalog at {url} is unreachable (start it with `catalog serve`)",
                            ExitCode.UNAVAILABLE)
    return client


def _config(path: Path | None, overrides: dict):
    from ranker.train import TrainConfig

    values = {}
    if path is not None:
        try:
            values = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise _bad_input(f"--config {path}: {exc}") from None
        if not isinstance(values, dict):
            raise _bad_input(f"--config {path}: expected a JSON object")
    known = {f.name for f in fields(TrainConfig)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise _bad_input(f"--config {path}: unknown keys {unknown}; known: {sorted(known)}")
    values.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return TrainConfig(**values)
    except TypeError as exc:
        raise _bad_input(f"bad training configuration: {exc}") from None


def _need_features(workdir: Path) -> None:
    if not (workdir / "features.duckdb").is_file():
        raise _bad_input(f"no features.duckdb in {workdir}: run `catalog pipeline run "
                         f"--workdir {workdir}`")


@ranker.command()
@click.option("--model", default="ranker", show_default=True, help="Registered model name.")
@click.option("--dataset", help="Label of the training data (e.g. beauty), kept with the model.")
@click.option("--config", "config_path", type=click.Path(path_type=Path),
              help="JSON file of TrainConfig fields (model overrides under 'model').")
@click.option("--max-epochs", type=click.IntRange(min=1), help="Cap on epochs.")
@click.option("--threads", type=click.IntRange(min=1), help="torch CPU threads (per process).")
@click.option("--refit/--no-refit", default=True, show_default=True,
              help="After selecting the epoch count on validation, train the registered "
                   "version afresh on every event (train, valid and test splits).")
@click.option("--processes", type=click.IntRange(min=1), default=1, show_default=True,
              help="Train on N processes (torchrun, DistributedDataParallel: gloo on CPU, "
                   "NCCL on GPUs); the batch size stays the global batch.")
@WORKDIR
@CATALOG_URL_OPTION
@TOKEN_OPTION
@JSON_OPTION
@PROGRESS_OPTION
def train(model, dataset, config_path, max_epochs, threads, refit, processes, workdir,
          catalog_url, token, as_json, show_progress):
    """Train on the workdir's feature tables and register the model version.

    Selection (the train split, early stopping on validation NDCG@10) is a child run of the
    training run; with --refit the registered version is the refit, and its metrics are the
    selection's. A failed process fails the run (exit 1) and registers nothing.
    """
    from ranker.registry import train_and_register

    _need_features(workdir)
    cfg = _config(config_path, {"max_epochs": max_epochs, "threads": threads})
    client = _client(catalog_url, token)
    with progress("training", cfg.max_epochs, unit="epochs", show=show_progress) as shown:

        def epoch_done(epoch, info):
            shown.update(epoch, note=f"valid ndcg@10 {info['ndcg@10']:.4f} "
                                     f"best {info['best']:.4f}")

        def refit_done(epoch, epochs):
            shown.update(epoch, epochs, note="refit on every event")

        try:
            result, version = train_and_register(workdir, cfg, client, model=model,
                                                 dataset=dataset, progress=epoch_done,
                                                 refit=refit, processes=processes,
                                                 refit_progress=refit_done)
        except ValueError as exc:  # a checkpoint to resume from that fits other data
            raise _bad_input(str(exc)) from None
        except RuntimeError as exc:  # a torchrun rank failed; its last lines are in the message
            raise CommandFailed(str(exc), ExitCode.UNEXPECTED) from None
    summary = {
        "model": model, "version": version["version"],
        "valid": {k: v for k, v in result.valid_metrics.items() if k != "users"},
        "test": {k: v for k, v in result.test_metrics.items() if k != "users"},
        "epochs": result.epochs, "best_epoch": result.best_epoch,
        "train_seconds": round(result.train_seconds, 1),
        "popularity_test": {k: result.popularity_test[k] for k in ("hr@10", "ndcg@10")},
        "world_size": result.world_size,
        "refit": ({"epochs": result.refit.epochs,
                   "train_seconds": round(result.refit.train_seconds, 1),
                   "selection_run": version["hyperparameters"]["refit"]["selectionRunId"]}
                  if result.refit else None),
        "artifact": str(result.artifact),
    }
    if as_json:
        echo_json(summary)
    else:
        refitted = (f"; refit on every event for {result.refit.epochs} epochs in "
                    f"{result.refit.train_seconds:.0f}s" if result.refit else "")
        click.echo(f"{model} version {version['version']}: test ndcg@10 "
                   f"{summary['test']['ndcg@10']:.4f} hr@10 {summary['test']['hr@10']:.4f} "
                   f"after {result.epochs} epochs in {result.train_seconds:.0f}s{refitted}")


@ranker.command()
@click.option("--trials", type=click.IntRange(min=1), required=True,
              help="Trials to have completed or pruned (counting those of an interrupted "
                   "earlier call: it resumes).")
@click.option("--model", default="ranker", show_default=True, help="Registered model name.")
@click.option("--max-epochs", type=click.IntRange(min=1), default=30, show_default=True,
              help="Cap on each trial's epochs (early stopping on validation as in train).")
@click.option("--patience", type=click.IntRange(min=1), default=5, show_default=True,
              help="Evaluations without improvement before a trial stops.")
@click.option("--threads", type=click.IntRange(min=1), help="torch CPU threads.")
@click.option("--seed", type=int, default=42, show_default=True,
              help="Seeds the sampler and every trial's training.")
@click.option("--refit/--no-refit", default=True, show_default=True,
              help="Register the best trial's configuration refit on every event (train, "
                   "valid and test) for its selected epochs, rather than its checkpoint.")
@WORKDIR
@CATALOG_URL_OPTION
@TOKEN_OPTION
@JSON_OPTION
@PROGRESS_OPTION
def tune(trials, model, max_epochs, patience, threads, seed, refit, workdir, catalog_url,
         token, as_json, show_progress):
    """Search hyperparameters with Optuna on validation; register the best trial's model.

    The tuning run and each trial (a child run: parameters, validation metrics, COMPLETE,
    pruned or failed) are recorded in the catalog; the study is kept under
    <workdir>/tuning/<model>/, so calling it again resumes.
    """
    from ranker.tune import tune as run_tune

    _need_features(workdir)
    base = {"max_epochs": max_epochs, "patience": patience, "seed": seed}
    if threads:
        base["threads"] = threads
    client = _client(catalog_url, token)
    with progress("tuning", trials, unit="trials", show=show_progress) as shown:
        result = run_tune(workdir, client, trials=trials, model=model, base=base, seed=seed,
                          refit=refit,
                          progress=lambda done, total, note: shown.update(done, note=note))
    summary = {"model": model, "version": result.version["version"], "run_id": result.run_id,
               "study": result.study, "trials": result.trials, "best_trial": result.best_trial,
               "best_valid_ndcg@10": result.best_value, "best_params": result.best_params,
               "test": {k: v for k, v in result.test_metrics.items() if k != "users"}}
    if as_json:
        echo_json(summary)
    else:
        click.echo(f"{model} version {result.version['version']}, the best trial's "
                   f"({result.best_trial}: valid ndcg@10 {result.best_value:.4f}; test ndcg@10 "
                   f"{summary['test']['ndcg@10']:.4f}); trials: "
                   + ", ".join(f"{n} {s.lower()}" for s, n in sorted(result.trials.items())))


@ranker.command()
@click.option("--model", "ref", default="ranker", show_default=True,
              help="NAME[@ALIAS|@VERSION] of a registered model (default: latest version).")
@click.option("--split", type=click.Choice(["valid", "test"]), default="test", show_default=True,
              help="Held-out split to evaluate on: test (each user's last item) or valid "
                   "(the second last).")
@WORKDIR
@CATALOG_URL_OPTION
@TOKEN_OPTION
@JSON_OPTION
def evaluate(ref, split, workdir, catalog_url, token, as_json):
    """Evaluate a registered model version on the workdir's leave-one-out split."""
    from ranker import data as rdata
    from ranker.checkpoint import load_checkpoint
    from ranker.evaluate import evaluate as run_eval
    from ranker.evaluate import popularity
    from ranker.registry import resolve

    _need_features(workdir)
    client = _client(catalog_url, token)
    try:
        version = resolve(client, ref)
    except (FileNotFoundError, ValueError) as exc:  # its artifact is gone or was changed
        raise _bad_input(str(exc)) from None
    model, _ = load_checkpoint(Path(version["artifactPath"]))
    data = rdata.load(workdir / "features.duckdb")
    result = {"model": ref.partition("@")[0], "version": version["version"], "split": split,
              "metrics": run_eval(model, data, split), "popularity": popularity(data, split)}
    refit = (version.get("hyperparameters") or {}).get("refit")
    if refit:  # a refit learned every split: these numbers flatter it
        result["learned_split"] = True
        result["selection_metrics"] = {
            k.split(".", 1)[1]: v for k, v in (version.get("metrics") or {}).items()
            if k.startswith(f"{split}.")}
        click.echo(f"warning: version {version['version']} was refit on every event, the "
                   f"{split} events included; its held-out {split} metrics are selection run "
                   f"{refit.get('selectionRunId')}'s (selection_metrics)", err=True)
    if as_json:
        echo_json(result)
    else:
        m = result["metrics"]
        click.echo(f"{split}: ndcg@10 {m['ndcg@10']:.4f} hr@10 {m['hr@10']:.4f} "
                   f"precision@10 {m['precision@10']:.4f} recall@10 {m['recall@10']:.4f} "
                   f"f1@10 {m['f1@10']:.4f} mrr {m['mrr']:.4f} ({int(m['users'])} users)")


@ranker.command()
@click.argument("model")
@click.argument("version", type=int)
@click.option("--alias", required=True, help="Alias to point at the version (e.g. production).")
@click.option("--tolerance", type=float, default=0.05, show_default=True,
              help="Allowed relative regression of validation metrics against production.")
@CATALOG_URL_OPTION
@TOKEN_OPTION
@JSON_OPTION
def promote(model, version, alias, tolerance, catalog_url, token, as_json):
    """Point an alias at a model version; production refuses failed data or regressions.

    A refusal by the promotion gate exits 6, naming its reasons.
    """
    from catalog.client import CatalogRequestError

    client = _client(catalog_url, token)
    try:
        body = client.put(f"api/v1/models/{model}/aliases/{alias}",
                          {"version": version, "tolerance": tolerance})
    except CatalogRequestError as exc:
        reasons = exc.body.get("reasons") if isinstance(exc.body, dict) else None
        if not reasons:
            raise
        # The same error with the gate's reasons as its message: its code stays the gate's.
        raise CatalogRequestError(exc.status, exc.body, "; ".join(reasons)) from None
    if as_json:
        echo_json({"model": model, "alias": alias, "version": version,
                   "aliases": body["aliases"]})
    else:
        click.echo(f"{model}@{alias} -> version {version}")


@ranker.command()
@click.option("--model", "ref", default="ranker", show_default=True,
              help="NAME[@ALIAS|@VERSION] of the registered version to compress.")
@click.option("--method", type=click.Choice(["int8", "prune"]), required=True,
              help="int8: dynamic quantization of the Linear layers; prune: global L1 "
                   "magnitude pruning of the Linear and embedding weights, stored sparse.")
@click.option("--amount", type=click.FloatRange(0, 1, min_open=True, max_open=True),
              default=0.3, show_default=True,
              help="Fraction of the prunable weights to zero (prune only).")
@click.option("--users", type=click.IntRange(min=1),
              help="Time scoring on the first N users (default: all).")
@click.option("--batch-size", type=click.IntRange(min=1), default=1024, show_default=True,
              help="Users per forward pass when timing scoring.")
@click.option("--output", type=click.Path(path_type=Path),
              help="Compressed checkpoint to write (default: beside the source's, "
                   "NAME-vN-METHOD.pt).")
@WORKDIR
@CATALOG_URL_OPTION
@TOKEN_OPTION
@JSON_OPTION
@PROGRESS_OPTION
def compress(ref, method, amount, users, batch_size, output, workdir, catalog_url, token,
             as_json, show_progress):
    """Compress a registered version into a new version derived from it, measured against it."""
    from ranker.registry import compress_and_register

    _need_features(workdir)
    client = _client(catalog_url, token)
    try:
        with progress("compressing", unit="steps", show=show_progress) as shown:
            result, version = compress_and_register(
                workdir, ref, client, method=method, amount=amount, output=output,
                users=users, batch_size=batch_size,
                progress=lambda done, total, note: shown.update(done, total, note=note))
    except (FileNotFoundError, ValueError) as exc:  # artifact gone or changed; other data
        raise _bad_input(str(exc)) from None
    source = version["derivedFrom"]["version"]
    summary = {
        "model": version["model"], "version": version["version"], "source_version": source,
        "method": method, "amount": result.amount, "sparsity": result.sparsity,
        "output": str(result.output), "file_bytes": result.file_bytes,
        "weights_bytes": result.weights_bytes,
        "users_per_second": {k: round(v, 1) for k, v in result.users_per_second.items()},
        "speed_users": result.speed_users, "valid": result.valid_changes,
    }
    if as_json:
        echo_json(summary)
    else:
        ndcg, size, speed = (result.valid_changes["ndcg@10"], result.file_bytes,
                             result.users_per_second)
        click.echo(f"{version['model']} version {version['version']} ({method} of version "
                   f"{source}): {size['source']:,} -> {size['derived']:,} bytes, "
                   f"{speed['source']:.0f} -> {speed['derived']:.0f} users/s, valid ndcg@10 "
                   f"{ndcg['source']:.4f} -> {ndcg['derived']:.4f}")


@ranker.command()
@click.option("--model", "ref", default="ranker", show_default=True,
              help="NAME[@ALIAS|@VERSION] of a registered model (default: latest version).")
@click.option("--top-k", type=click.IntRange(min=1), default=10, show_default=True,
              help="How many items each user's list holds.")
@click.option("--batch-size", type=click.IntRange(min=1), default=1024, show_default=True,
              help="Users scored per forward pass.")
@click.option("--output", type=click.Path(path_type=Path),
              help="Parquet file to write (default: <workdir>/recommendations.parquet).")
@click.option("--processes", type=click.IntRange(min=1),
              help="Shard users over N torchrun processes (default: one per GPU if several, "
                   "else 1).")
@WORKDIR
@CATALOG_URL_OPTION
@TOKEN_OPTION
@JSON_OPTION
@PROGRESS_OPTION
def score(ref, top_k, batch_size, output, processes, workdir, catalog_url, token, as_json,
          show_progress):
    """Write every user's top-K list and record the scoring run in the catalog."""
    from ranker.registry import score_and_report

    _need_features(workdir)
    client = _client(catalog_url, token)
    try:
        with progress("scoring", unit="users", show=show_progress) as shown:
            result, run_id = score_and_report(workdir, ref, client, k=top_k, output=output,
                                              batch_size=batch_size, processes=processes,
                                              progress=shown.update)
    except (FileNotFoundError, ValueError) as exc:  # artifact gone or changed; other data
        raise _bad_input(str(exc)) from None
    except RuntimeError as exc:  # a torchrun rank failed; its last lines are in the message
        raise CommandFailed(str(exc), ExitCode.UNEXPECTED) from None
    summary = {"output": str(result.output), "rows": result.rows, "users": result.users,
               "users_per_second": round(result.users_per_second, 1), "device": result.device,
               "world_size": result.world_size, "run_id": run_id}
    if as_json:
        echo_json(summary)
    else:
        click.echo(f"{result.rows} recommendations for {result.users} users in "
                   f"{result.seconds:.1f}s -> {result.output}")


@ranker.command()
@click.option("--model", "ref", default="ranker@production", show_default=True,
              envvar="RANKER_SERVE_MODEL",
              help="NAME@ALIAS to follow (swapped when the alias moves), NAME@VERSION to pin, "
                   "or NAME for its latest version (env RANKER_SERVE_MODEL).")
@click.option("--workdir", type=click.Path(path_type=Path), default=Path("work"),
              show_default=True, envvar="RANKER_SERVE_WORKDIR",
              help="Folder holding features.duckdb (the pipeline's): the users' histories and "
                   "the popularity list come from it (env RANKER_SERVE_WORKDIR).")
@click.option("--data-dir", type=click.Path(path_type=Path), envvar="RANKER_SERVE_DATA_DIR",
              help="Folder of the journal and the impressions and events Parquet parts "
                   "(default: <workdir>/serving; env RANKER_SERVE_DATA_DIR).")
@click.option("--host", default="127.0.0.1", show_default=True, envvar="RANKER_SERVE_HOST",
              help="Interface to bind (env RANKER_SERVE_HOST).")
@click.option("--port", type=click.IntRange(1, 65535), default=8100, show_default=True,
              envvar="RANKER_SERVE_PORT", help="Port to listen on (env RANKER_SERVE_PORT).")
@click.option("--threads", type=click.IntRange(min=1), default=4, show_default=True,
              envvar="RANKER_SERVE_THREADS",
              help="Requests served at once by the worker (env RANKER_SERVE_THREADS).")
@click.option("--torch-threads", type=click.IntRange(min=1), default=1, show_default=True,
              envvar="RANKER_SERVE_TORCH_THREADS",
              help="torch CPU threads per forward pass (env RANKER_SERVE_TORCH_THREADS).")
@click.option("--max-k", type=click.IntRange(min=1), default=100, show_default=True,
              envvar="RANKER_SERVE_MAX_K",
              help="Largest k a request may ask for (env RANKER_SERVE_MAX_K).")
@click.option("--flush-seconds", type=click.FloatRange(min=0.05), default=5.0,
              show_default=True, envvar="RANKER_SERVE_FLUSH_SECONDS",
              help="Write a micro-batch of impressions at least this often "
                   "(env RANKER_SERVE_FLUSH_SECONDS).")
@click.option("--flush-rows", type=click.IntRange(min=1), default=1000, show_default=True,
              envvar="RANKER_SERVE_FLUSH_ROWS",
              help="... or once this many lists and events wait in the journal "
                   "(env RANKER_SERVE_FLUSH_ROWS).")
@click.option("--heartbeat-seconds", type=click.FloatRange(min=0.1), default=30.0,
              show_default=True, envvar="RANKER_SERVE_HEARTBEAT_SECONDS",
              help="Report the serving run as RUNNING, with its counts, this often "
                   "(env RANKER_SERVE_HEARTBEAT_SECONDS).")
@click.option("--poll-seconds", type=click.FloatRange(min=0), default=30.0, show_default=True,
              envvar="RANKER_SERVE_POLL_SECONDS",
              help="Ask the catalog where the alias points this often; 0 never swaps "
                   "(env RANKER_SERVE_POLL_SECONDS).")
@click.option("--fsync/--no-fsync", default=True, show_default=True, envvar="RANKER_SERVE_FSYNC",
              help="fsync the journal before answering: without it an acknowledged list "
                   "survives the process dying, not the host (env RANKER_SERVE_FSYNC).")
@click.option("--graceful-timeout", type=click.IntRange(min=1), default=30, show_default=True,
              envvar="RANKER_SERVE_GRACEFUL_TIMEOUT",
              help="Seconds a stopping worker has for its last requests and flush "
                   "(env RANKER_SERVE_GRACEFUL_TIMEOUT).")
@click.option("--challenger", "challenger_ref", envvar="RANKER_SERVE_CHALLENGER",
              help="NAME@ALIAS of the same model to serve beside --model to a share of users "
                   "(A/B; followed like --model; env RANKER_SERVE_CHALLENGER).")
@click.option("--challenger-share", type=click.FloatRange(0, 1), default=0.1,
              show_default=True, envvar="RANKER_SERVE_CHALLENGER_SHARE",
              help="Share of users, picked by a hash of their id, the challenger serves "
                   "(env RANKER_SERVE_CHALLENGER_SHARE).")
@CATALOG_URL_OPTION
@TOKEN_OPTION
def serve(ref, workdir, data_dir, host, port, threads, torch_threads, max_k, flush_seconds,
          flush_rows, heartbeat_seconds, poll_seconds, fsync, graceful_timeout, challenger_ref,
          challenger_share, catalog_url, token):
    """Serve top-K lists over HTTP from a registered model version (gunicorn, own port).

    Refuses to start (exit 3) when the version's artifact is missing or does not match its
    registered sha256. SIGTERM stops it cleanly: acknowledged impressions are flushed and the
    serving run is reported COMPLETE.
    """
    from ranker.registry import resolve
    from ranker.serve.runtime import ServeSettings
    from ranker.serve.server import ServeApplication

    _need_features(workdir)
    if challenger_ref and challenger_ref.partition("@")[0] != ref.partition("@")[0]:
        raise _bad_input(f"--challenger {challenger_ref}: must be a version of the model "
                         f"{ref.partition('@')[0]}")
    client = _client(catalog_url, token)
    try:
        version = resolve(client, ref)
        if challenger_ref:
            resolve(client, challenger_ref)
    except (FileNotFoundError, ValueError) as exc:  # artifact gone or changed
        raise _bad_input(str(exc)) from None
    finally:
        client.close()
    data_dir = Path(data_dir or workdir / "serving").resolve()
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _bad_input(f"--data-dir {data_dir}: {exc.strerror}") from None
    settings = ServeSettings(
        model_ref=ref, workdir=Path(workdir).resolve(), data_dir=data_dir,
        catalog_url=catalog_url, token=token, max_k=max_k, flush_seconds=flush_seconds,
        flush_rows=flush_rows, heartbeat_seconds=heartbeat_seconds, poll_seconds=poll_seconds,
        fsync=fsync, torch_threads=torch_threads, challenger_ref=challenger_ref,
        challenger_share=challenger_share)
    click.echo(f"serving {ref} (version {version['version']}) on http://{host}:{port}",
               err=True)
    try:
        ServeApplication(settings, bind=f"{host}:{port}", threads=threads,
                         graceful_timeout=graceful_timeout).run()
    except SystemExit as exc:
        if exc.code not in (0, None):
            raise CommandFailed("the serving process stopped on an error (see the log above)",
                                ExitCode.UNEXPECTED) from None


@ranker.command("land-events")
@click.option("--data-dir", type=click.Path(path_type=Path), envvar="RANKER_SERVE_DATA_DIR",
              help="The serving process's data folder (default: <workdir>/serving; env "
                   "RANKER_SERVE_DATA_DIR).")
@WORKDIR
@CATALOG_URL_OPTION
@TOKEN_OPTION
@JSON_OPTION
def land_events(data_dir, workdir, catalog_url, token, as_json):
    """Append the events and feedback posted to `ranker serve` to the raw events.

    The next `catalog pipeline run --skip-landing` consumes them.
    """
    from ranker.serve.landing import land_and_report

    client = _client(catalog_url, token)
    try:
        result = land_and_report(workdir, data_dir or workdir / "serving", client)
    except FileNotFoundError as exc:
        raise _bad_input(str(exc)) from None
    if as_json:
        echo_json(result)
    else:
        click.echo(f"{result['rows']} served events in {result['parts']} batches appended "
                   f"to {workdir}/raw/events.parquet")


@ranker.command("serve-report")
@click.option("--data-dir", type=click.Path(path_type=Path), envvar="RANKER_SERVE_DATA_DIR",
              help="The serving process's data folder (default: <workdir>/serving; env "
                   "RANKER_SERVE_DATA_DIR).")
@WORKDIR
@JSON_OPTION
def serve_report(data_dir, workdir, as_json):
    """Lists, CTR and purchase rate per served model version (and A/B arm)."""
    from ranker.serve.report import serving_report

    rows = serving_report(data_dir or workdir / "serving")
    if as_json:
        echo_json({"versions": rows})
        return
    if not rows:
        click.echo("nothing served yet", err=True)
        return
    click.echo(f"{'arm':<11}{'version':>8} {'strategy':<13}{'lists':>8}{'shown':>9}"
               f"{'ctr':>9}{'purchase':>10}")
    for r in rows:
        click.echo(f"{r['arm']:<11}{r['model_version']:>8} {r['strategy']:<13}{r['lists']:>8}"
                   f"{r['items_shown']:>9}{r['ctr']:>9.4f}{r['purchase_rate']:>10.4f}")
