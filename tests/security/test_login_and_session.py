"""Finding 4 (open redirect after login) and the session findings of 5: logout that did not end
the session, no Secure-cookie setting, login and logout forms without CSRF tokens, lockout per
name (anyone could lock ``admin`` out, and behind a proxy everyone shared one address)."""

from __future__ import annotations

from urllib.parse import unquote

import pytest
from sqlalchemy import func, select

from catalog.db import session_scope
from catalog.models import LoginAttempt
from catalog.services import auth
from tests.authutil import form_csrf

PASSWORD = "a long password"


def _user(app, name="ada", role="viewer"):
    with session_scope(app.extensions["catalog"].sessions) as s:
        auth.create_user(s, name, PASSWORD, role, actor="test")


def _attempts(app) -> int:
    with app.extensions["catalog"].read_sessions() as s:
        return s.scalar(select(func.count()).select_from(LoginAttempt))


# Raw query strings, as an attacker would put them in a link.
REDIRECTS = [
    "/%09/evil.example",           # the reported one: a tab, which browsers drop
    "/%0a/evil.example",           # newline (was a 500)
    "/%0d%0aSet-Cookie:%20x=1",    # header injection
    "//evil.example",
    "/%2f/evil.example",           # decoded by the query string: //evil.example
    "/%5cevil.example",            # backslash
    "/%5c%5cevil.example",
    "https://evil.example/",
    "http:evil.example",
    "%20/evil.example",
    "/%20/evil.example",
    "javascript:alert(1)",
]


@pytest.mark.parametrize("raw", REDIRECTS)
def test_login_never_redirects_off_site(make_app, raw):
    app = make_app()
    _user(app)
    client = app.test_client()
    page = client.get(f"/login?next={raw}")
    assert page.status_code == 200 and 'value="/"' in page.get_data(as_text=True)
    r = client.post(f"/login?next={raw}", data={"name": "ada", "password": PASSWORD,
                                                  "csrf_token": form_csrf(page)})
    assert r.status_code == 302 and r.headers["Location"] == "/"
    # The hidden field, as the browser would post it decoded.
    r = client.post("/login", data={"name": "ada", "password": PASSWORD, "next": unquote(raw),
                                    "csrf_token": form_csrf(client.get("/login"))})
    assert r.status_code == 302 and r.headers["Location"] == "/"


def test_a_path_on_the_site_is_kept(make_app):
    app = make_app()
    _user(app)
    client = app.test_client()
    page = client.get("/login?next=/datasets/shop/orders%3Fv%3D1")
    r = client.post("/login?next=/datasets/shop/orders", data={
        "name": "ada", "password": PASSWORD, "csrf_token": form_csrf(page)})
    assert r.headers["Location"] == "/datasets/shop/orders"


def test_logout_ends_the_session_on_the_server(make_app):
    app = make_app()
    _user(app)
    client = app.test_client()
    assert client.post("/login", json={"name": "ada", "password": PASSWORD}).status_code == 200
    stolen = client.get_cookie("session").value
    thief = app.test_client()
    thief.set_cookie("session", stolen)
    assert thief.get("/api/v1/namespaces").status_code == 200
    page = client.get("/")
    assert client.post("/logout", data={"csrf_token": form_csrf(page)}).status_code == 302
    assert client.get("/api/v1/namespaces").status_code == 401
    assert thief.get("/api/v1/namespaces").status_code == 401  # the copy died with the session


def test_forms_without_the_csrf_token_are_refused(make_app):
    app = make_app()
    _user(app)
    client = app.test_client()
    r = client.post("/login", data={"name": "ada", "password": PASSWORD})
    assert r.status_code == 403 and _attempts(app) == 0
    r = client.post("/login", data={"name": "ada", "password": PASSWORD, "csrf_token": "x"})
    assert r.status_code == 403 and _attempts(app) == 0
    r = client.post("/login", data="name=ada", headers={"Content-Type": "text/plain"})
    assert r.status_code == 415 and _attempts(app) == 0
    assert client.post("/login", json={"name": "ada", "password": PASSWORD}).status_code == 200
    # A forged logout (no token, or a plain cross-site post) leaves the session alone.
    assert client.post("/logout", data={"go": "1"}).status_code == 403
    assert client.post("/logout", data="x", headers={"Content-Type": "text/plain"}
                       ).status_code == 415
    assert client.post("/logout").status_code == 415
    assert client.get("/api/v1/namespaces").status_code == 200


def test_the_cookie_can_be_marked_secure(make_app):
    for secure in (False, True):
        app = make_app(secure_cookies=secure)
        _user(app, name=f"u{int(secure)}")
        r = app.test_client().post("/login", json={"name": f"u{int(secure)}",
                                                   "password": PASSWORD})
        cookie = r.headers["Set-Cookie"]
        assert ("Secure" in cookie) is secure
        assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def _login_from(app, addr: str, password: str, **headers):
    client = app.test_client()
    return client.post("/login", json={"name": "admin", "password": password},
                       environ_base={"REMOTE_ADDR": addr}, headers=headers)


def test_failures_from_one_address_do_not_lock_the_name_out_elsewhere(make_app):
    app = make_app()
    _user(app, "admin", "admin")
    for i in range(auth.MAX_FAILURES_PER_NAME):
        assert _login_from(app, "203.0.113.9", f"wrong {i}").status_code == 401
    assert _login_from(app, "203.0.113.9", PASSWORD).status_code == 429
    assert _login_from(app, "198.51.100.7", PASSWORD).status_code == 200


def test_forwarded_addresses_count_only_behind_a_trusted_proxy(make_app):
    # No trusted proxy: X-Forwarded-For is anyone's to send, so it cannot dodge the lockout.
    app = make_app()
    _user(app, "admin", "admin")
    for i in range(auth.MAX_FAILURES_PER_NAME):
        _login_from(app, "10.0.0.1", f"wrong {i}", **{"X-Forwarded-For": f"192.0.2.{i}"})
    r = _login_from(app, "10.0.0.1", PASSWORD, **{"X-Forwarded-For": "192.0.2.200"})
    assert r.status_code == 429
    # Behind one trusted proxy (10.0.0.1), each client is counted on its own.
    proxied = make_app(trusted_proxies=1)
    _user(proxied, "admin2", "admin")
    client = proxied.test_client()

    def attempt(client_addr, password):
        return client.post("/login", json={"name": "admin2", "password": password},
                           environ_base={"REMOTE_ADDR": "10.0.0.1"},
                           headers={"X-Forwarded-For": client_addr})

    for i in range(auth.MAX_FAILURES_PER_NAME):
        assert attempt("203.0.113.9", f"wrong {i}").status_code == 401
    assert attempt("203.0.113.9", PASSWORD).status_code == 429
    assert attempt("198.51.100.7", PASSWORD).status_code == 200
    with proxied.extensions["catalog"].read_sessions() as s:
        addrs = set(s.scalars(select(LoginAttempt.remote_addr)
                              .where(LoginAttempt.name == "admin2")))
    assert {"203.0.113.9", "198.51.100.7"} <= addrs and "10.0.0.1" not in addrs
