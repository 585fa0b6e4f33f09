"""The ``catalog`` command: serve the catalog, manage its database."""

from __future__ import annotations

import logging
import os
import sys

import click

from catalog.errors import CatalogError

DB_URL_OPTION = click.option(
    "--database-url",
    envvar="CATALOG_DATABASE_URL",
    help="SQLAlchemy URL of the catalog database (env CATALOG_DATABASE_URL; default: SQLite "
    "file var/catalog.db).",
)


def _url(database_url: str | None) -> str:
    from catalog.config import Settings

    return database_url or Settings.from_env().database_url


class CatalogGroup(click.Group):
    """Click group that turns catalog errors into one line on stderr and exit status 1."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except CatalogError as exc:
            click.echo(f"error: {exc.message}", err=True)
            sys.exit(1)


@click.group(cls=CatalogGroup)
def main() -> None:
    """Data catalog for recommendation pipelines: lineage, quality, models."""
    # Every file a catalog command creates (the SQLite database, logs, backups, a run's data)
    # is readable by its owner only.
    os.umask(0o077)


@main.command()
@click.option("--host", default="127.0.0.1", envvar="CATALOG_HOST", help="Interface to bind.")
@click.option("--port", default=5000, type=int, envvar="CATALOG_PORT", help="Port to listen on.")
@DB_URL_OPTION
def serve(host: str, port: int, database_url: str | None) -> None:
    """Serve the catalog's API (development server; use gunicorn in production)."""
    from catalog.app import create_app
    from catalog.config import own_url

    # Workers started through the API report here unless CATALOG_PUBLIC_URL says otherwise.
    app = create_app({"database_url": _url(database_url), "self_url": own_url(host, port)})
    click.echo(f"catalog serving on http://{host}:{port}", err=True)
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        click.echo("warning: serving as root; pipeline runs started through the API run as root "
                   "too. Serve as an unprivileged user in production.", err=True)
    # The app writes one JSON line per request; werkzeug's own access line would repeat it.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    app.run(host=host, port=port, threaded=True)


@main.group()
def db() -> None:
    """Manage the catalog database schema."""


@db.command()
@click.option("--revision", default="head", help="Target revision (default: head).")
@DB_URL_OPTION
def upgrade(revision: str, database_url: str | None) -> None:
    """Apply migrations up to the target revision."""
    from catalog import db as catalog_db

    url = _url(database_url)
    catalog_db.upgrade(url, revision)
    engine = catalog_db.make_engine(url)
    click.echo(f"database at {catalog_db.current_revision(engine)}")
    engine.dispose()


@db.command()
@click.option("--revision", required=True, help="Target revision, e.g. base or 0001.")
@DB_URL_OPTION
def downgrade(revision: str, database_url: str | None) -> None:
    """Revert migrations down to the target revision."""
    from catalog import db as catalog_db

    url = _url(database_url)
    catalog_db.downgrade(url, revision)
    engine = catalog_db.make_engine(url)
    click.echo(f"database at {catalog_db.current_revision(engine) or 'base'}")
    engine.dispose()


@db.command()
@DB_URL_OPTION
def current(database_url: str | None) -> None:
    """Print the database's revision and whether it is at head."""
    from catalog import db as catalog_db

    url = _url(database_url)
    engine = catalog_db.make_engine(url)
    rev, head = catalog_db.current_revision(engine), catalog_db.head_revision(url)
    engine.dispose()
    click.echo(f"{rev or 'base'} ({'head' if rev == head else f'head is {head}'})")
    if rev != head:
        sys.exit(1)


@main.command()
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
    from pipelines.report import Reporter
    from pipelines.service import land_and_run
    from ranker.feedback import simulate_and_report
    from ranker.registry import score_and_report, train_and_register
    from ranker.train import TrainConfig

    say = lambda text: click.echo(text, err=True)  # noqa: E731
    say(f"1/6 feature pipeline on {events:,} synthetic events...")
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


def _register_subcommands() -> None:
    from catalog import ops_cli
    from catalog.cli_governance import register
    from pipelines.cli import pipeline
    from ranker.cli import ranker

    main.add_command(pipeline)
    main.add_command(ranker)
    ops_cli.register(main)
    register(main)


_register_subcommands()

if __name__ == "__main__":
    main()
