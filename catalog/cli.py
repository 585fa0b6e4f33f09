"""The catalog service's commands: serve it, manage its database, users, tokens and trail.

The installed ``catalog`` command (:mod:`recocatalog.cli`) adds the pipeline, ranker and demo
commands to these; this module never imports them.
"""

from __future__ import annotations

import logging
import os
import sys

import click

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


def _register_subcommands() -> None:
    from catalog import ops_cli
    from catalog.cli_governance import register

    ops_cli.register(main)
    register(main)


_register_subcommands()

if __name__ == "__main__":
    main()
