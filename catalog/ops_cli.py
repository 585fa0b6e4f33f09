"""Operations commands: ``catalog runs reap``, ``catalog export``, ``catalog import``."""

from __future__ import annotations

from datetime import timedelta

import click

from catalog.cli_contract import (
    JSON_OPTION,
    PROGRESS_OPTION,
    CommandFailed,
    ExitCode,
    echo_json,
    progress,
)
from catalog.cli_options import DB_URL_OPTION


def _engine(database_url: str | None, *, at_head: bool = True):
    from catalog import db as catalog_db
    from catalog.config import Settings

    url = database_url or Settings.from_env().database_url
    Settings(database_url=url).validated()
    engine = catalog_db.make_engine(url)
    if at_head:
        catalog_db.check_at_head(engine)
    return engine


@click.group()
def runs() -> None:
    """Maintain runs: close the ones whose producer died."""


@runs.command()
@click.option("--older-than", type=click.IntRange(min=0), envvar="CATALOG_STALE_RUN_SECONDS",
              default=6 * 3600, show_default=True,
              help="Seconds without an event after which an open run is stale "
              "(env CATALOG_STALE_RUN_SECONDS).")
@click.option("--dry-run", is_flag=True, help="List the stale runs without changing them.")
@JSON_OPTION
@DB_URL_OPTION
def reap(older_than: int, dry_run: bool, as_json: bool, database_url: str | None) -> None:
    """Mark runs in NEW/START/RUNNING with no event for --older-than seconds as ABORT."""
    from catalog.db import in_transaction, make_sessionmaker
    from catalog.services.runs import reap_stale_runs

    engine = _engine(database_url)
    try:
        reaped = in_transaction(make_sessionmaker(engine), lambda s: reap_stale_runs(
            s, timedelta(seconds=older_than), dry_run=dry_run))
    finally:
        engine.dispose()
    if as_json:
        echo_json({"dry_run": dry_run, "older_than": older_than, "runs": [
            {"run_id": r.run_id, "job": r.job, "state": r.state,
             "last_activity": r.last_activity.isoformat(), "reason": r.message}
            for r in reaped]})
        return
    for r in reaped:
        click.echo(f"{'would abort' if dry_run else 'aborted'} {r.run_id} {r.job} "
                   f"(was {r.state}, last event {r.last_activity.isoformat()})")
    click.echo(f"{len(reaped)} stale run(s){' found' if dry_run else ' marked ABORT'}", err=True)


def _report_rows(verb: str, file: str, counts: dict[str, int], as_json: bool) -> None:
    if as_json:
        echo_json({"file": file, "rows": sum(counts.values()), "tables": counts})
    else:
        into = "from" if verb == "exported" else "into"
        click.echo(f"{verb} {sum(counts.values())} rows {into} {len(counts)} tables", err=True)


@click.command("export")
@click.argument("file")
@JSON_OPTION
@PROGRESS_OPTION
@DB_URL_OPTION
def export_cmd(file: str, as_json: bool, show_progress: bool | None,
               database_url: str | None) -> None:
    """Write the whole metadata store to FILE as JSON lines (.gz compresses; - is stdout)."""
    from catalog.backup import export

    if file == "-" and as_json:
        raise click.UsageError("--json prints its summary on stdout, where FILE - writes the "
                               "export; name a file")
    engine = _engine(database_url)
    try:
        with progress("export", unit="rows", show=show_progress) as shown:
            counts = export(engine, file, progress=shown.update)
    except OSError as exc:
        raise CommandFailed(f"{file}: {exc.strerror or exc}", ExitCode.BAD_INPUT) from None
    finally:
        engine.dispose()
    _report_rows("exported", file, counts, as_json)


@click.command("import")
@click.argument("file")
@click.option("--replace", is_flag=True,
              help="Delete every row of the target first (same transaction); without it a "
              "non-empty target is refused.")
@JSON_OPTION
@PROGRESS_OPTION
@DB_URL_OPTION
def import_cmd(file: str, replace: bool, as_json: bool, show_progress: bool | None,
               database_url: str | None) -> None:
    """Load an export FILE into an empty catalog database, all or nothing."""
    from catalog.backup import import_

    engine = _engine(database_url)
    try:
        with progress("import", unit="rows", show=show_progress) as shown:
            counts = import_(engine, file, replace=replace, progress=shown.update)
    except (OSError, EOFError, UnicodeDecodeError) as exc:  # unreadable, or damaged gzip
        reason = getattr(exc, "strerror", None) or exc
        raise CommandFailed(f"{file}: {reason}; nothing was imported",
                            ExitCode.BAD_INPUT) from None
    finally:
        engine.dispose()
    _report_rows("imported", file, counts, as_json)


def register(main: click.Group) -> None:
    """Attach these commands to the ``catalog`` group."""
    main.add_command(runs)
    main.add_command(export_cmd)
    main.add_command(import_cmd)
