"""The lineage page's depth selector shows the depth the page shows (it showed 1 for 5)."""

from __future__ import annotations

import re


def test_the_depth_selector_shows_the_depth_the_page_shows(client):
    admin = client
    admin.post("/api/v1/lineage", json={
        "eventType": "COMPLETE", "eventTime": "2026-01-01T00:00:00Z",
        "run": {"runId": "0b2f6f8e-3c1d-4a5e-9f7a-1b2c3d4e5f60"},
        "job": {"namespace": "ns", "name": "j"}, "inputs": [{"namespace": "ns", "name": "a"}],
        "outputs": [{"namespace": "ns", "name": "b"}],
        "producer": "https://example.com/p",
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"})
    for depth in (5, 7, 20):
        html = admin.get(f"/lineage?node=dataset:ns:a&depth={depth}").get_data(as_text=True)
        select = re.search(r'<select id="g-depth".*?</select>', html, re.S).group(0)
        assert re.findall(r'<option value="(\d+)" selected>', select) == [str(depth)]
        values = [int(v) for v in re.findall(r'<option value="(\d+)"', select)]
        assert values == sorted(values) and depth in values
        assert f"within {depth} hops" in html
