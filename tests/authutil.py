"""Credentials for tests: tokens minted straight into the database, clients that send them."""

from __future__ import annotations

import secrets

from flask.testing import FlaskClient

from catalog.db import make_engine, make_sessionmaker, session_scope
from catalog.models import ApiToken
from catalog.services import auth


def mint_token(db_url_or_app, role: str = "admin", name: str | None = None) -> str:
    """A new token of ``role`` (named ``test-<role>`` unless given); the plain token."""
    if hasattr(db_url_or_app, "extensions"):
        factory = db_url_or_app.extensions["catalog"].sessions
        engine = None
    else:
        engine = make_engine(db_url_or_app)
        factory = make_sessionmaker(engine)
    try:
        with session_scope(factory) as s:
            # Inserted directly rather than through auth.create_token, so test set-up leaves
            # the audit trail empty (the audit tests count its entries from the first).
            token = auth.TOKEN_PREFIX + secrets.token_urlsafe(32)
            s.add(ApiToken(name=name or f"test-{role}", token_hash=auth.hash_token(token),
                           prefix=token[:10], role=role, created_by="test-setup"))
    finally:
        if engine is not None:
            engine.dispose()
    return token


def client_class(token: str | None):
    """A FlaskClient class whose requests carry ``token`` unless they set Authorization."""

    class TokenClient(FlaskClient):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            if token is not None:
                self.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"

    return TokenClient


def bearer(token: str) -> dict:
    """Headers for ``requests`` calls to a live server."""
    return {"Authorization": f"Bearer {token}"}


def as_admin(app):
    """``app`` with an admin token minted and sent by every ``app.test_client()``; returns it."""
    name = f"test-admin-{secrets.token_hex(4)}"  # unique: several apps may share a database
    token = mint_token(app, "admin", name=name)
    app.config["TEST_TOKENS"] = {"admin": token}
    app.test_client_class = client_class(token)
    return app


def form_csrf(page) -> str:
    """The CSRF token a rendered page (a response, or its HTML) carries in its forms."""
    import re

    html = page if isinstance(page, str) else page.get_data(as_text=True)
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "the page carries no CSRF token"
    return found.group(1)
