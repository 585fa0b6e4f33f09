"""Registering the feature pipeline's definition with a catalog, as the pipeline itself does."""

from __future__ import annotations

from pipelines.report import Reporter, register
from tests.wsgi_client import in_process_client


def register_pipeline(app, token: str | None = None) -> int:
    """Register ``feature_pipeline`` with the in-process ``app``; the number of jobs."""
    client = in_process_client(app, token=token)
    try:
        return register(Reporter(client))
    finally:
        client.close()


def register_live(url: str) -> int:
    """Register ``feature_pipeline`` with a catalog served at ``url`` (token from CATALOG_TOKEN)."""
    from catalog.client import CatalogClient

    client = CatalogClient(url, retries=0)
    try:
        return register(Reporter(client))
    finally:
        client.close()
