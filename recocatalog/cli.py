"""The installed ``catalog`` command: the service's commands with ``pipeline``, ``ranker`` and
``demo`` beside them, each group defined in its own package."""

from __future__ import annotations

import os

import click

from catalog.cli import main as service
from catalog.cli_options import CatalogGroup


@click.group(cls=CatalogGroup)
@click.version_option(package_name="recocatalog", prog_name="catalog")
def main() -> None:
    """Data catalog for recommendation pipelines: lineage, quality, models."""
    # Every file a command creates (the SQLite database, logs, backups, a run's data) is
    # readable by its owner only.
    os.umask(0o077)


def _compose() -> None:
    from pipelines.cli import pipeline
    from ranker.cli import ranker
    from recocatalog.demo import demo

    for name, command in service.commands.items():
        main.add_command(command, name)
    main.add_command(pipeline)
    main.add_command(ranker)
    main.add_command(demo)


_compose()

if __name__ == "__main__":
    main()
