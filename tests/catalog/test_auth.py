"""Authentication: tokens (hashed, expiring, revocable), logins (rate-limited), anonymous reads."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from catalog.app import create_app
from catalog.auth import token_cache
from catalog.client import CatalogRequestError
from catalog.db import session_scope
from catalog.models import ApiToken, AuditEntry
from catalog.services import auth
from tests.authutil import client_class, form_csrf
from tests.factories import run_event
from tests.wsgi_client import in_process_client


def _write(app):
    return session_scope(app.extensions["catalog"].sessions)


def _bearer(token):
    return {"Authorization": f"Bearer {token}"}


def test_token_is_stored_hashed_and_works_until_revoked(app, anon_client, session):
    with _write(app) as s:
        token, row = auth.create_token(s, "etl", "pipeline", actor="alice")
    assert token.startswith("cat_") and len(token) > 40
    session.rollback()
    stored = session.scalar(select(ApiToken).where(ApiToken.name == "etl"))
    assert stored.token_hash == auth.hash_token(token) and token not in stored.token_hash
    assert stored.prefix == token[:10] and stored.last_used_at is None
    r = anon_client.get("/api/v1/namespaces", headers=_bearer(token))
    assert r.status_code == 200
    session.rollback()
    used = session.scalar(select(ApiToken.last_used_at).where(ApiToken.name == "etl"))
    assert used is not None
    with _write(app) as s:
        auth.revoke_token(s, "etl", actor="alice")
    # A process trusts a token it verified for the cache's TTL (test_token_cache.py pins that);
    # once the database is asked again, the revoked token is refused.
    token_cache(app).clear()
    r = anon_client.get("/api/v1/namespaces", headers=_bearer(token))
    assert r.status_code == 401 and "revoked" in r.get_json()["message"]
    session.rollback()
    actions = session.scalars(select(AuditEntry.action).order_by(AuditEntry.seq)).all()
    assert actions == ["token.create", "token.revoke"]


def test_expired_and_unknown_tokens_are_refused(app, anon_client):
    with _write(app) as s:
        token, row = auth.create_token(s, "short", "viewer", actor="a",
                                       expires_in=timedelta(seconds=60))
        row.expires_at = row.created_at - timedelta(seconds=1)
    for bad in (token, "cat_" + "x" * 43, "not-even-a-token"):
        r = anon_client.get("/api/v1/namespaces", headers=_bearer(bad))
        assert r.status_code == 401, bad
        assert bad not in r.get_data(as_text=True)
    r = anon_client.get("/api/v1/namespaces", headers={"Authorization": "Basic c2VjcmV0"})
    assert r.status_code == 401 and "c2VjcmV0" not in r.get_data(as_text=True)
    assert r.headers["WWW-Authenticate"].startswith("Bearer")


def test_token_names_and_roles_are_checked(app):
    with _write(app) as s, pytest.raises(Exception, match="role must be one of"):
        auth.create_token(s, "x", "root", actor="a")
    with _write(app) as s:
        auth.create_token(s, "dup", "viewer", actor="a")
    with _write(app) as s, pytest.raises(Exception, match="already exists"):
        auth.create_token(s, "dup", "viewer", actor="a")


def test_openlineage_client_sends_its_token_and_role_is_enforced(app):
    with _write(app) as s:
        pipeline, _ = auth.create_token(s, "ol-pipeline", "pipeline", actor="a")
        viewer, _ = auth.create_token(s, "ol-viewer", "viewer", actor="a")
    app.test_client_class = client_class(None)  # only what the client itself sends
    ok = in_process_client(app, token=pipeline)
    ok.emit_batch([run_event("START", "job")])
    refused = in_process_client(app, token=viewer)
    with pytest.raises(CatalogRequestError) as err:
        refused.emit_batch([run_event("START", "job2")])
    assert err.value.status == 403 and err.value.body["permission"] == "lineage.write"
    nobody = in_process_client(app)
    with pytest.raises(CatalogRequestError) as err:
        nobody.get("api/v1/namespaces")
    assert err.value.status == 401


def _login(client, name, password, **kw):
    return client.post("/login", json={"name": name, "password": password}, **kw)


def test_login_sets_a_safe_cookie_that_authenticates_pages_and_api(app, anon_client, session):
    with _write(app) as s:
        auth.create_user(s, "stella", "correct horse battery", "steward", actor="admin")
    r = _login(anon_client, "stella", "correct horse battery")
    assert r.status_code == 200
    assert {k: v for k, v in r.get_json().items() if k != "csrfToken"} == {
        "user": "stella", "role": "steward"}
    csrf = {"X-CSRF-Token": r.get_json()["csrfToken"]}
    cookie = r.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert anon_client.get("/api/v1/namespaces").status_code == 200
    r = anon_client.get("/api/v1/audit")
    assert r.status_code == 403 and r.get_json()["role"] == "steward"
    r = anon_client.put("/api/v1/namespaces/shop/datasets/d", json={}, headers=csrf)
    assert r.status_code == 403 and r.get_json()["permission"] == "datasets.write"
    assert anon_client.post("/logout", json={}).status_code == 200
    assert anon_client.get("/api/v1/namespaces").status_code == 401
    session.rollback()
    user = session.scalar(select(AuditEntry).where(AuditEntry.action == "user.create"))
    assert user.after == {"name": "stella", "role": "steward", "disabled": False}
    assert "correct horse" not in str(user.after)


def test_login_page_form_and_wrong_password(app, anon_client):
    page = anon_client.get("/login?next=/datasets")
    assert page.status_code == 200 and b'name="password"' in page.data
    with _write(app) as s:
        auth.create_user(s, "ann", "a long password", "viewer", actor="admin")
    token = form_csrf(page)
    r = anon_client.post("/login", data={"name": "ann", "password": "nope", "next": "/x",
                                         "csrf_token": token})
    assert r.status_code == 401 and b"wrong user name or password" in r.data
    r = anon_client.post("/login", data={"name": "ann", "password": "a long password",
                                         "next": "https://evil.example/", "csrf_token": token})
    assert r.status_code == 302 and r.headers["Location"] == "/"


def test_login_is_rate_limited_across_workers(app, db_url):
    with _write(app) as s:
        auth.create_user(s, "bob", "the right password", "viewer", actor="admin")
    # Two apps over one database stand for two gunicorn workers.
    other = create_app({"database_url": db_url})
    workers = [client_class(None)(a, a.response_class) for a in (app, other)]
    for i in range(auth.MAX_FAILURES_PER_NAME):
        r = _login(workers[i % 2], "bob", f"wrong {i}")
        assert r.status_code == 401
    for w in workers:
        r = _login(w, "bob", "the right password")
        assert r.status_code == 429 and "too many failed logins" in r.get_json()["message"]
    other.extensions["catalog"].engine.dispose()
    other.extensions["catalog"].read_engine.dispose()


def test_disabled_user_cannot_log_in(app, anon_client):
    with _write(app) as s:
        auth.create_user(s, "cy", "a long password", "viewer", actor="admin")
        auth.set_user_disabled(s, "cy", True, actor="admin")
    assert _login(anon_client, "cy", "a long password").status_code == 401


def test_anonymous_read_setting_allows_reads_only(db_url, app):
    demo = create_app({"database_url": db_url, "anonymous_read": True})
    anon = client_class(None)(demo, demo.response_class)
    assert anon.get("/api/v1/namespaces").status_code == 200
    r = anon.post("/api/v1/lineage", json=run_event("START", "j"))
    assert r.status_code == 401
    assert anon.get("/api/v1/audit").status_code == 401
    demo.extensions["catalog"].engine.dispose()
    demo.extensions["catalog"].read_engine.dispose()


def test_actor_of_a_change_is_the_token_or_user(app, client, anon_client, session):
    assert client.put("/api/v1/namespaces/shop/datasets/orders",
                      json={"description": "by token"}).status_code == 200
    with _write(app) as s:
        auth.create_user(s, "dora", "a long password", "admin", actor="admin")
    csrf = _login(anon_client, "dora", "a long password").get_json()["csrfToken"]
    assert anon_client.put("/api/v1/namespaces/shop/datasets/orders",
                           json={"description": "by dora"},
                           headers={"X-CSRF-Token": csrf}).status_code == 200
    session.rollback()
    rows = session.execute(select(AuditEntry.actor, AuditEntry.action).where(
        AuditEntry.entity_type == "dataset").order_by(AuditEntry.seq)).all()
    assert rows == [("token:test-admin", "dataset.create"), ("dora", "dataset.update")]
