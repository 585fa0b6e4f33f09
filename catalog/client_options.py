"""Click options that every program reporting to the catalog shares (pipelines, ranker).

Part of the client kit, like :mod:`catalog.client`: it imports nothing of the catalog's app.
"""

from __future__ import annotations

import click

from catalog.client import DEFAULT_URL

CATALOG_URL_OPTION = click.option(
    "--catalog-url", envvar="CATALOG_URL", default=DEFAULT_URL, show_default=True,
    help="Catalog to report to (env CATALOG_URL; the token comes from CATALOG_TOKEN).")
JSON_OPTION = click.option("--json", "as_json", is_flag=True,
                           help="End with a one-line JSON summary.")
