"""A requests adapter that sends a CatalogClient's calls to an in-process Flask app.

Pipelines and the ranker talk to the catalog over HTTP through ``catalog.client``; in tests this
adapter routes those same requests (openlineage-python's included) to the app under test, with
no server process.
"""

from __future__ import annotations

import requests
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict

from catalog.client import CatalogClient

URL = "http://catalog.test"


class WSGIAdapter(BaseAdapter):
    """Serve ``requests`` calls from a Flask test client."""

    def __init__(self, app):
        super().__init__()
        self.client = app.test_client()

    def send(self, request, **kwargs):
        path, _, query = request.url.removeprefix(URL).partition("?")
        resp = self.client.open(
            path=path, query_string=query, method=request.method,
            headers=dict(request.headers), data=request.body,
        )
        out = requests.Response()
        out.status_code = resp.status_code
        out._content = resp.get_data()
        out.headers = CaseInsensitiveDict(resp.headers)
        out.url, out.request, out.encoding = request.url, request, "utf-8"
        return out

    def close(self):
        pass


def in_process_client(app, **kwargs) -> CatalogClient:
    """A CatalogClient whose every request is served by ``app``."""
    client = CatalogClient(URL, retries=0, **kwargs)
    client.session.mount(client.url, WSGIAdapter(app))
    return client
