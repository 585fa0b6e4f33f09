"""The catalog service's commands: serve it, manage its database, users, tokens and trail.

The installed ``catalog`` command (:mod:`recocatalog.cli`) adds the pipeline, ranker and demo
commands to these; this module never imports them.
"""

from __future__ import annotations

import logging
import os

import click

from catalog.cli_contract import JSON_OPTION, CommandFailed, ExitCode, echo_json
from catalog.cli_options import DB_URL_OPTION, CatalogGroup
from catalog.cli_options import database_url as _url


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
@JSON_OPTION
def upgrade(revision: str, database_url: str | None, as_json: bool) -> None:
    """Apply migrations up to the target revision."""
    from catalog import db as catalog_db

    url = _url(database_url)
    catalog_db.upgrade(url, revision)
    _report_revision(url, as_json)


def _report_revision(url: str, as_json: bool) -> None:
    from catalog import db as catalog_db

    engine = catalog_db.make_engine(url)
    try:
        rev = catalog_db.current_revision(engine)
    finally:
        engine.dispose()
    if as_json:
        echo_json({"revision": rev})
    else:
        click.echo(f"database at {rev or 'base'}")


@db.command()
@click.option("--revision", required=True, help="Target revision, e.g. base or 0001.")
@DB_URL_OPTION
@JSON_OPTION
def downgrade(revision: str, database_url: str | None, as_json: bool) -> None:
    """Revert migrations down to the target revision."""
    from catalog import db as catalog_db

    url = _url(database_url)
    catalog_db.downgrade(url, revision)
    _report_revision(url, as_json)


@db.command()
@DB_URL_OPTION
@JSON_OPTION
def current(database_url: str | None, as_json: bool) -> None:
    """Print the database's revision and whether it is at head (exit 6 if not)."""
    from catalog import db as catalog_db

    url = _url(database_url)
    engine = catalog_db.make_engine(url)
    try:
        rev, head = catalog_db.current_revision(engine), catalog_db.head_revision(url)
    finally:
        engine.dispose()
    if as_json:
        echo_json({"revision": rev, "head": head, "at_head": rev == head})
    else:
        click.echo(f"{rev or 'base'} ({'head' if rev == head else f'head is {head}'})")
    if rev != head:
        raise CommandFailed(f"database at {rev or 'base'}, not at head {head}: run "
                            "`catalog db upgrade`", ExitCode.CHECKS_FAILED)


def _register_subcommands() -> None:
    from catalog import ops_cli, queue_cli
    from catalog.cli_governance import register

    ops_cli.register(main)
    queue_cli.register(main)
    register(main)


_register_subcommands()

if __name__ == "__main__":
    main()
