"""Every route x every role: 401 without credentials, 403 without the permission, else through.

The policy table must name every endpoint the app serves: a route added without a policy entry
fails ``test_every_route_is_in_the_policy_table`` (and is refused to all but admin meanwhile).
"""

from __future__ import annotations

import re

import pytest

from catalog.auth.policy import POLICY, PUBLIC, required_permission, role_allows
from catalog.models.auth import ROLES

# Bodies that every write endpoint refuses before doing anything (a JSON array where an object
# is wanted): the test exercises authorization, not the endpoints' work (no worker is started).
REFUSED_BODY = "[]"


def _routes(app) -> list[tuple[str, str, str]]:
    """(endpoint, method, concrete URL) for every rule of the app."""
    out = []
    for rule in app.url_map.iter_rules():
        url = re.sub(r"<int:[a-z_]+>", "1", rule.rule)
        url = re.sub(r"<(?:[a-z]+:)?[a-zA-Z_]+>", "x", url)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            out.append((rule.endpoint, method, url))
    return out


def _call(client, method: str, url: str):
    if rule_is_static(url):
        return client.open(url, method=method)
    return client.open(url, method=method, data=REFUSED_BODY, content_type="application/json")


def rule_is_static(url: str) -> bool:
    return url.startswith("/static/")


def _is_page(endpoint: str) -> bool:
    """HTML pages answer refusals with an HTML page; the API with JSON."""
    return endpoint.startswith("web_") and endpoint != "web_lineage.graph_json"


def _policy_refusal(endpoint: str, r) -> bool:
    """Whether ``r`` is the authorization hook's 403 (not, say, a form's CSRF refusal)."""
    if r.status_code != 403:
        return False
    if r.is_json:
        return r.get_json().get("error") == "Forbidden" and "permission" in r.get_json()
    return "lacks permission" in r.get_data(as_text=True)


def test_every_route_is_in_the_policy_table(app):
    missing = sorted({e for e, _, _ in _routes(app)
                      if required_permission(e, "GET") is None
                      and required_permission(e, "POST") is None})
    assert missing == [], f"endpoints missing from catalog.auth.policy.POLICY: {missing}"


def test_policy_names_no_unknown_role_and_admin_holds_all(app):
    assert set(ROLES) == {"admin", "steward", "pipeline", "auditor", "viewer"}
    for endpoint in POLICY:
        assert role_allows("admin", required_permission(endpoint, "GET"))


def test_unauthenticated_requests_get_401_json_except_public(app, anon_client):
    checked = 0
    for endpoint, method, url in _routes(app):
        r = _call(anon_client, method, url)
        if required_permission(endpoint, method) == PUBLIC:
            assert r.status_code not in (401, 403), (endpoint, r)
            continue
        assert r.status_code == 401, (endpoint, method, url, r.status_code)
        if _is_page(endpoint) or not r.is_json:
            assert "log in" in r.get_data(as_text=True).lower(), endpoint
        else:
            assert r.get_json()["error"] == "Unauthorized"
        checked += 1
    assert checked >= 35


@pytest.mark.parametrize("role", ROLES)
def test_each_role_gets_exactly_its_permissions(app, client_as, role):
    client = client_as(role)
    allowed = denied = 0
    for endpoint, method, url in _routes(app):
        permission = required_permission(endpoint, method)
        r = _call(client, method, url)
        if role_allows(role, permission):
            assert r.status_code != 401 and not _policy_refusal(endpoint, r), (
                role, endpoint, method, r.status_code)
            allowed += 1
        else:
            assert _policy_refusal(endpoint, r), (role, endpoint, method, r.status_code)
            if r.is_json:
                body = r.get_json()
                assert body["error"] == "Forbidden" and body["permission"] == permission
                assert permission in body["message"]
            else:
                assert permission in r.get_data(as_text=True)
            denied += 1
    # Each role is refused something, except admin; each may at least read the catalog.
    assert allowed >= 20
    assert (denied == 0) == (role == "admin")


def test_viewer_reads_catalog_but_not_audit(client_as):
    viewer, auditor = client_as("viewer"), client_as("auditor")
    assert viewer.get("/api/v1/namespaces").status_code == 200
    r = viewer.get("/api/v1/audit")
    assert r.status_code == 403 and r.get_json()["permission"] == "audit.read"
    assert auditor.get("/api/v1/audit").status_code == 200
    r = auditor.put("/api/v1/namespaces/shop/datasets/d", json={})
    assert r.status_code == 403 and r.get_json()["permission"] == "datasets.write"


def test_unmapped_endpoint_is_refused_to_all_but_admin(app, client_as):
    @app.get("/api/v1/not-in-policy")
    def not_in_policy():
        return {"ok": True}

    assert client_as("admin").get("/api/v1/not-in-policy").status_code == 200
    for role in ("steward", "pipeline", "auditor", "viewer"):
        r = client_as(role).get("/api/v1/not-in-policy")
        assert r.status_code == 403, role
        assert "not in the policy table" in r.get_json()["message"]
