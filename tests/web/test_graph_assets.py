"""What the lineage graph loads: dagre from node_modules (by name, 503 when not installed) and
the column-level edges of a chosen column."""

from __future__ import annotations

from pathlib import Path

import pytest

from catalog.app import create_app
from tests.authutil import as_admin
from tests.dbutil import wipe
from tests.web.webdata import populate

ROOT = Path(__file__).resolve().parents[2]


def test_dagre_is_served_by_name_from_node_modules(anon_client):
    installed = ROOT / "node_modules" / "@dagrejs" / "dagre" / "dist" / "dagre.min.js"
    assert installed.is_file(), "make install puts @dagrejs/dagre into node_modules"
    r = anon_client.get("/vendor/dagre.min.js")  # public, like the stylesheet
    assert r.status_code == 200 and r.mimetype == "text/javascript"
    assert r.data == installed.read_bytes()
    assert r.headers["Cache-Control"] == "public, max-age=3600" and r.headers["ETag"]
    again = anon_client.get("/vendor/dagre.min.js", headers={"If-None-Match": r.headers["ETag"]})
    assert again.status_code == 304
    for name in ("../package.json", "axe.min.js", "%2e%2e%2fpackage.json"):
        r = anon_client.get(f"/vendor/{name}")
        assert r.status_code == 404, name


@pytest.fixture
def without_vendor(engine, db_url, tmp_path):
    wipe(engine)
    app = as_admin(create_app({"database_url": db_url,
                               "web_vendor_dir": str(tmp_path / "nothing-here")}))
    yield app.test_client()
    app.extensions["catalog"].engine.dispose()
    app.extensions["catalog"].read_engine.dispose()


def test_not_installed_is_a_503_naming_the_file(without_vendor):
    r = without_vendor.get("/vendor/dagre.min.js")
    assert r.status_code == 503 and r.mimetype == "application/json"
    assert "dagre.min.js is not installed" in r.get_json()["message"]


def test_column_edges_of_a_chosen_column(client):
    populate(client)
    r = client.get("/lineage/columns.json", query_string={
        "node": "dataset:shop:user_features", "field": "user_id", "depth": 3})
    assert r.status_code == 200
    assert r.get_json()["edges"] == [[["shop", "events_clean", "user_id"],
                                      ["shop", "user_features", "user_id"]]]
    # Downstream too: from events_clean's user_id.
    r = client.get("/lineage/columns.json", query_string={
        "node": "dataset:shop:events_clean", "field": "user_id"})
    assert r.get_json()["edges"] == [[["shop", "events_clean", "user_id"],
                                      ["shop", "user_features", "user_id"]]]
    r = client.get("/lineage/columns.json", query_string={"node": "dataset:shop:user_features"})
    assert r.status_code == 400
    r = client.get("/lineage/columns.json", query_string={
        "node": "job:pipelines:pipeline.clean", "field": "x"})
    assert r.status_code == 400
    # The page offers the dataset's columns.
    html = client.get("/lineage", query_string={"node": "dataset:shop:user_features"}
                      ).get_data(as_text=True)
    assert '<option value="user_id">user_id</option>' in html
    assert '<option value="clicks">clicks</option>' in html
