"""``catalog demo``: serve the catalog and run the whole loop into it on seeded synthetic data.

synthetic events -> feature pipeline -> train -> register -> promote -> score -> feedback ->
feature pipeline again. It drives the pipelines and the ranker the way a user would, over the
catalog's HTTP API; only the demo's login and token are made in the database directly.
"""

from __future__ import annotations

import sys

import click

from catalog.cli_options import DB_URL_OPTION
from catalog.cli_options import database_url as _url


@click.command()
@click.option("--host", default="127.0.0.1", envvar="CATALOG_HOST", help="Interface to bind.")
@click.option("--port", default=5000, type=int, envvar="CATALOG_PORT", help="Port to listen on.")
@click.option("--events", default=100_000, type=int, show_default=True,
              help="Synthetic events to generate.")
@click.option("--workdir", type=click.Path(), default="var/demo", show_default=True,
              help="Folder for the demo's data files.")
@DB_URL_OPTION
def demo(host: str, port: int, events: int, workdir: str, database_url: str | None) -> None:
    """Serve the catalog and run the whole demo loop on seeded synthetic data into it."""
    import subprocess
    import time
    from pathlib import Path

    from catalog.client import CatalogClient

    url = f"http://{host}:{port}"
    probe = CatalogClient(url, retries=0, timeout=1)
    if probe.health():
        raise click.ClickException(f"something already answers on {url}; pick another --port")
    server = subprocess.Popen([sys.executable, "-m", "catalog.cli", "serve", "--host", host,
                               "--port", str(port), "--database-url", _url(database_url)])
    try:
        deadline = time.monotonic() + 30
        while not probe.health():
            if server.poll() is not None or time.monotonic() > deadline:
                raise click.ClickException("the catalog server did not start")
            time.sleep(0.1)
        login, token = _demo_credentials(_url(database_url))
        click.echo(f"demo login: {login}; demo API token (admin): {token}", err=True)
        _demo_loop(CatalogClient(url, timeout=60, token=token), Path(workdir), events)
        click.echo(f"catalog ready at {url}/api/v1/namespaces (Ctrl-C to stop)", err=True)
        click.echo(f"log in at {url}/login as {login}; API token (admin): {token}", err=True)
        server.wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.terminate()
        server.wait(timeout=10)


def _demo_credentials(url: str) -> tuple[str, str]:
    """An admin login and an admin token for the demo: ("admin / <password>", token)."""
    import secrets

    from catalog import db as catalog_db
    from catalog.services import auth

    engine = catalog_db.make_engine(url)
    try:
        with catalog_db.session_scope(catalog_db.make_sessionmaker(engine)) as s:
            if any(u.name == "admin" for u in auth.list_users(s)):
                login = "admin (password as set before)"
            else:
                password = secrets.token_urlsafe(12)
                auth.create_user(s, "admin", password, "admin", actor="system:demo")
                login = f"admin / {password}"
            token, _ = auth.create_token(s, f"demo-{secrets.token_hex(3)}", "admin",
                                         actor="system:demo")
    finally:
        engine.dispose()
    return login, token


def _demo_loop(client, workdir, events: int) -> None:
    """generate -> pipeline -> train -> register -> promote -> score -> feedback -> pipeline."""
    from pipelines.report import Reporter, register
    from pipelines.service import land_and_run
    from ranker.feedback import simulate_and_report
    from ranker.registry import score_and_report, train_and_register
    from ranker.train import TrainConfig

    say = lambda text: click.echo(text, err=True)  # noqa: E731
    say(f"1/6 feature pipeline on {events:,} synthetic events...")
    register(Reporter(client))  # the catalog lists it, and can start runs of it, from here on
    result = land_and_run(workdir, "synthetic", reporter=Reporter(client), events=events)
    say(f"    {len(result.steps)} steps in {result.seconds:.1f}s -> {result.database}")
    say("2/6 training a small ranker (demo configuration)...")
    cfg = TrainConfig(max_epochs=8, patience=3, batch_size=128,
                      model={"d_model": 32, "n_layers": 1, "max_len": 30})
    trained, version = train_and_register(workdir, cfg, client, dataset="synthetic-demo")
    say(f"    version {version['version']}: test ndcg@10 {trained.test_metrics['ndcg@10']:.4f} "
        f"(popularity {trained.popularity_test['ndcg@10']:.4f})")
    say("3/6 promoting it to production (gated on its data's quality checks)...")
    client.put("api/v1/models/ranker/aliases/production", {"version": version["version"]})
    say("4/6 scoring every user with ranker@production...")
    scored, _ = score_and_report(workdir, "ranker@production", client, k=10)
    say(f"    {scored.rows} recommendations at {scored.users_per_second:.0f} users/s")
    say("5/6 simulating user feedback on the shown lists...")
    fb = simulate_and_report(workdir, scored.output, client)
    say(f"    {fb['pv']} clicks, {fb['cart']} carts, {fb['buy']} purchases -> raw events v2")
    say("6/6 feature pipeline again on the new raw events...")
    again = land_and_run(workdir, "synthetic", reporter=Reporter(client), land=False)
    say(f"    {len(again.steps)} steps in {again.seconds:.1f}s")
