"""Options and error handling every ``catalog`` service command shares, defined once."""

from __future__ import annotations

import sys

import click

from catalog.errors import CatalogError

DB_URL_OPTION = click.option(
    "--database-url",
    envvar="CATALOG_DATABASE_URL",
    help="SQLAlchemy URL of the catalog database (env CATALOG_DATABASE_URL; default: SQLite "
    "file var/catalog.db).",
)


def database_url(value: str | None) -> str:
    """``--database-url``, else the configured default."""
    from catalog.config import Settings

    return value or Settings.from_env().database_url


class CatalogGroup(click.Group):
    """Click group that turns catalog errors into one line on stderr and exit status 1."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except CatalogError as exc:
            click.echo(f"error: {exc.message}", err=True)
            sys.exit(1)
