"""Click options every program reporting to the catalog shares (pipelines, ranker), and the
command-line contract of :mod:`catalog.cli_contract` (exit codes, JSON, progress) re-exported
for them.

Part of the client kit, like :mod:`catalog.client`: it imports nothing of the catalog's app.
"""

from __future__ import annotations

import click

from catalog.cli_contract import (
    JSON_OPTION,
    PROGRESS_OPTION,
    CommandFailed,
    ExitCode,
    echo_json,
    progress,
)
from catalog.client import DEFAULT_URL

__all__ = ["CATALOG_URL_OPTION", "JSON_OPTION", "PROGRESS_OPTION", "TOKEN_OPTION",
           "CommandFailed", "ExitCode", "echo_json", "progress"]

CATALOG_URL_OPTION = click.option(
    "--catalog-url", envvar="CATALOG_URL", default=DEFAULT_URL, show_default=True,
    help="Catalog to report to (env CATALOG_URL).")
TOKEN_OPTION = click.option(
    "--token", envvar="CATALOG_TOKEN", default=None,
    help="API token sent to the catalog (env CATALOG_TOKEN, which keeps it off the process "
    "list other local users can read).")
