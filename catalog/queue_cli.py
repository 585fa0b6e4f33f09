"""``catalog worker``: take runs off the queue (``CATALOG_QUEUE_URL``) and run them, on any host."""

from __future__ import annotations

import click

from catalog.cli_contract import JSON_OPTION, echo_json
from catalog.cli_options import DB_URL_OPTION


@click.command("worker")
@click.option("--queue-url", envvar="CATALOG_QUEUE_URL",
              help="Redis URL of the run queue (env CATALOG_QUEUE_URL), as the server's.")
@click.option("--queue", "queue_name", envvar="CATALOG_QUEUE_NAME", default="catalog-runs",
              show_default=True, help="Name of the queue on it (env CATALOG_QUEUE_NAME).")
@click.option("--burst", is_flag=True, help="Run the runs waiting now, then exit.")
@JSON_OPTION
@DB_URL_OPTION
def worker(queue_url: str | None, queue_name: str, burst: bool, as_json: bool,
           database_url: str | None) -> None:
    """Take pipeline runs off the queue and run each, confined, to its end (one at a time).

    Runs work in CATALOG_WORK_DIR/<pipeline>/<run id> and read inputs only under
    CATALOG_DATA_DIR of this host; workers report to CATALOG_PUBLIC_URL, else to the address the
    server had when the run was requested. Start one per run to run at once; at most
    CATALOG_MAX_API_RUNS run across all of them. SIGTERM: finish the run in hand, then exit.
    """
    from dataclasses import replace

    from catalog import db as catalog_db
    from catalog.config import Settings
    from catalog.errors import ConfigError
    from catalog.run_queue import work

    settings = Settings.from_env()
    settings = replace(settings, database_url=database_url or settings.database_url,
                       queue_url=queue_url or None, queue_name=queue_name).validated()
    if not settings.queue_url:
        raise ConfigError("catalog worker takes runs from a broker: set CATALOG_QUEUE_URL (or "
                          "--queue-url) as on the server; without one the server runs them")
    engine = catalog_db.make_engine(settings.database_url)
    read_engine = (catalog_db.make_engine(settings.database_url, immediate=False)
                   if catalog_db.is_sqlite(engine) else engine)
    try:
        catalog_db.check_at_head(engine)
        taken = work(settings, catalog_db.make_sessionmaker(engine),
                     catalog_db.make_sessionmaker(read_engine), burst=burst)
    finally:
        engine.dispose()
        read_engine.dispose()
    if as_json:
        echo_json({"jobsTaken": taken, "queue": settings.queue_name})
    else:
        click.echo(f"catalog worker: {taken} job(s) taken", err=True)


def register(main: click.Group) -> None:
    """Attach ``worker`` to the ``catalog`` group."""
    main.add_command(worker)
