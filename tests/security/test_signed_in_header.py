"""Every page says who is signed in and offers to log out (or in); the login page wears the
site's style."""

from __future__ import annotations

import re

from catalog.db import session_scope
from catalog.services import auth
from tests.authutil import form_csrf
from tests.security.conftest import bearer_client

PASSWORD = "a long password"


def _signed_in(make_app, role="steward"):
    app = make_app()
    with session_scope(app.extensions["catalog"].sessions) as s:
        auth.create_user(s, "grace", PASSWORD, role, actor="test")
    client = app.test_client()
    page = client.get("/login")
    r = client.post("/login", data={"name": "grace", "password": PASSWORD,
                                    "csrf_token": form_csrf(page)})
    assert r.status_code == 302
    return app, client


def _who(html: str) -> str:
    return re.sub(r"\s+", " ", re.search(r'<div class="who">(.*?)</div>', html, re.S).group(1))


def test_a_signed_in_user_sees_name_role_and_logout_on_every_page(make_app):
    _, client = _signed_in(make_app)
    for path in ("/", "/search?q=x", "/models", "/pipelines", "/health"):
        who = _who(client.get(path).get_data(as_text=True))
        assert "Signed in as <strong>grace</strong>" in who, path
        assert '<span class="role">steward</span>' in who, path
        assert 'action="/logout"' in who and ">Log out</button>" in who, path
    page = client.get("/")
    assert client.post("/logout", data={"csrf_token": form_csrf(page)}).status_code == 302
    gone = client.get("/", headers={"Accept": "text/html"})
    assert gone.status_code == 302 and gone.headers["Location"].startswith("/login")


def test_a_token_caller_is_named_and_has_nothing_to_log_out_of(make_app):
    admin = bearer_client(make_app(), "admin")
    who = _who(admin.get("/").get_data(as_text=True))
    assert "Token <strong>" in who and '<span class="role">admin</span>' in who
    assert "logout" not in who


def test_an_anonymous_reader_is_offered_the_login_page_back_to_where_they_were(make_app):
    client = make_app(anonymous_read=True).test_client()
    who = _who(client.get("/models?x=1").get_data(as_text=True))
    assert "Not signed in" in who
    assert 'href="/login?next=/models%3Fx%3D1"' in who


def test_the_login_page_wears_the_site_style(make_app):
    r = make_app().test_client().get("/login")
    html = r.get_data(as_text=True)
    assert re.search(r'<link rel="stylesheet" href="[^"]*style\.css">', html)
    assert 'class="login-card"' in html and '<label for="login-name">' in html
    with make_app().test_client().get(re.search(r'href="([^"]*style\.css)"', html).group(1)) as css:
        assert css.status_code == 200 and ".login-card" in css.get_data(as_text=True)
