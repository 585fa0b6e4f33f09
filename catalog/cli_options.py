"""Options and error handling every ``catalog`` service command shares, defined once."""

from __future__ import annotations

import click

from catalog.cli_contract import CommandFailed, ExitCode
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


def status_exit_code(status: int, error: str | None = None) -> ExitCode:
    """The exit code for the catalog's answer ``status`` (``error``: its error's name).

    The same for an error raised in this process (``catalog.errors``, with its HTTP status) and
    for one the catalog answered over HTTP, so a command means the same whichever way it went.
    """
    if error == "PromotionRefused":
        return ExitCode.CHECKS_FAILED
    if status in (400, 413, 422):
        return ExitCode.BAD_INPUT
    if status == 429 or status >= 500:
        return ExitCode.UNAVAILABLE
    return ExitCode.REFUSED


def exit_code_for(exc: BaseException) -> tuple[ExitCode, str] | None:
    """(exit code, one-line message) of a known failure; None for a bug, left to its traceback.

    The one place that maps what commands raise to :class:`ExitCode`: the service's errors,
    the client kit's (the catalog unreachable, or refusing a request), and a database that is
    unreachable. Commands raise :class:`CommandFailed` for failures only they know about.
    """
    from catalog.client import CatalogRequestError, CatalogUnavailable
    from catalog.db import as_catalog_error

    if isinstance(exc, CatalogError):
        return status_exit_code(exc.status, type(exc).__name__), exc.message
    if isinstance(exc, CatalogUnavailable):
        return ExitCode.UNAVAILABLE, str(exc)
    if isinstance(exc, CatalogRequestError):
        error = exc.body.get("error") if isinstance(exc.body, dict) else None
        return status_exit_code(exc.status, error), str(exc)
    database_error = as_catalog_error(exc)
    if database_error is not None:
        return exit_code_for(database_error)
    return None


class CatalogGroup(click.Group):
    """Click group that turns every known failure into one line on stderr and its exit code."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise  # click's own (usage: 2) and CommandFailed, which carries its code
        except Exception as exc:
            known = exit_code_for(exc)
            if known is None:
                raise
            code, message = known
            raise CommandFailed(message, code) from None
