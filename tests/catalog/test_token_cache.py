"""The per-process cache of verified bearer tokens: revocation within the TTL, expiry at once."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import event

from catalog.app import create_app
from catalog.auth import token_cache
from catalog.auth.token_cache import TokenCache
from catalog.db import session_scope
from catalog.models.base import utcnow
from catalog.services import auth
from catalog.services.auth import Principal


def _write(app):
    return session_scope(app.extensions["catalog"].sessions)


def _bearer(token):
    return {"Authorization": f"Bearer {token}"}


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        return self.t


def _count_token_lookups(app):
    seen = []

    def on_execute(conn, cursor, statement, *args):
        if "api_tokens" in statement:
            seen.append(statement)

    state = app.extensions["catalog"]
    # On PostgreSQL the read engine is the writers' with other options, sharing its events.
    engines = {state.engine} | ({state.read_engine}
                                if state.read_engine.pool is not state.engine.pool else set())
    for engine in engines:
        event.listen(engine, "before_cursor_execute", on_execute)
    return seen


def test_verified_token_is_not_looked_up_again_within_the_ttl(app, anon_client):
    with _write(app) as s:
        token, _ = auth.create_token(s, "reader", "viewer", actor="a")
    clock = Clock()
    token_cache(app).clock = clock
    lookups = _count_token_lookups(app)
    for _ in range(3):
        assert anon_client.get("/api/v1/namespaces", headers=_bearer(token)).status_code == 200
    # The first request selects the token and writes last_used_at; the others touch nothing.
    assert len([s for s in lookups if s.lstrip().upper().startswith("SELECT")]) == 1
    clock.t += token_cache(app).ttl + 1
    assert anon_client.get("/api/v1/namespaces", headers=_bearer(token)).status_code == 200
    assert len([s for s in lookups if s.lstrip().upper().startswith("SELECT")]) == 2


def test_revoked_token_stops_working_once_the_ttl_has_passed(app, anon_client):
    with _write(app) as s:
        token, _ = auth.create_token(s, "etl", "pipeline", actor="a")
    clock = Clock()
    token_cache(app).clock = clock
    assert token_cache(app).ttl == 30  # the documented default (CATALOG_TOKEN_CACHE_SECONDS)
    assert anon_client.get("/api/v1/namespaces", headers=_bearer(token)).status_code == 200
    with _write(app) as s:
        auth.revoke_token(s, "etl", actor="a")
    clock.t += 29  # within the TTL this process still trusts what it verified
    assert anon_client.get("/api/v1/namespaces", headers=_bearer(token)).status_code == 200
    clock.t += 2  # past it: the database is asked again and says revoked
    r = anon_client.get("/api/v1/namespaces", headers=_bearer(token))
    assert r.status_code == 401 and "revoked" in r.get_json()["message"]
    # Refusals are not cached: still refused on the next request.
    assert anon_client.get("/api/v1/namespaces", headers=_bearer(token)).status_code == 401


def test_expired_token_is_refused_at_once_though_cached(app, anon_client):
    with _write(app) as s:
        token, row = auth.create_token(s, "short", "viewer", actor="a",
                                       expires_in=timedelta(hours=1))
        expires_at = row.expires_at
    cache = token_cache(app)
    cache.clock = Clock()  # the TTL never runs out in this test
    assert anon_client.get("/api/v1/namespaces", headers=_bearer(token)).status_code == 200
    assert len(cache) == 1
    cache.now = lambda: expires_at + timedelta(seconds=1)
    r = anon_client.get("/api/v1/namespaces", headers=_bearer(token))
    assert r.status_code == 401 and "expired" in r.get_json()["message"]
    assert len(cache) == 0


def test_cache_off_asks_the_database_every_time(db_url, engine):
    from tests.dbutil import wipe

    wipe(engine)
    app = create_app({"database_url": db_url, "token_cache_seconds": 0})
    try:
        with _write(app) as s:
            token, _ = auth.create_token(s, "etl", "pipeline", actor="a")
        client = app.test_client()
        assert client.get("/api/v1/namespaces", headers=_bearer(token)).status_code == 200
        with _write(app) as s:
            auth.revoke_token(s, "etl", actor="a")
        assert client.get("/api/v1/namespaces", headers=_bearer(token)).status_code == 401
        assert len(token_cache(app)) == 0
    finally:
        app.extensions["catalog"].engine.dispose()
        app.extensions["catalog"].read_engine.dispose()


def test_cache_is_bounded_least_recently_used_first():
    clock = Clock()
    cache = TokenCache(ttl=30, max_size=2, clock=clock, now=utcnow)
    p = [Principal(f"token:{i}", "viewer", "token") for i in range(3)]
    cache.put("a", p[0], None)
    cache.put("b", p[1], None)
    assert cache.get("a") == (True, p[0])  # "a" is now the most recently used
    cache.put("c", p[2], None)
    assert len(cache) == 2
    assert cache.get("b") == (False, None)  # the least recently used one went
    assert cache.get("a") == (True, p[0]) and cache.get("c") == (True, p[2])
    clock.t += 30
    assert cache.get("a") == (False, None) and len(cache) == 1
