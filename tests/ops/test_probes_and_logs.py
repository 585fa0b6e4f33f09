"""/healthz, /readyz, structured request logs, and configuration validated at start."""

from __future__ import annotations

import json
import logging
import signal

import pytest
from sqlalchemy.orm import sessionmaker

from catalog.cli_contract import ExitCode
from catalog.config import Settings
from catalog.db import make_engine
from catalog.errors import ConfigError

# Nothing listens on port 1: connecting fails at once, like a database that is down.
DOWN_URL = "postgresql+psycopg://postgres@127.0.0.1:1/catalog"


def test_healthz_and_readyz_when_all_is_well(client):
    r = client.get("/healthz")
    assert r.status_code == 200 and r.get_json() == {"status": "ok", "database": "ok"}
    r = client.get("/readyz")
    body = r.get_json()
    assert r.status_code == 200 and body["status"] == "ready"
    assert body["revision"] == body["head"] and body["head"]


def test_probes_have_stable_endpoint_names(app):
    endpoints = {rule.rule: rule.endpoint for rule in app.url_map.iter_rules()}
    assert endpoints["/healthz"] == "ops.healthz" and endpoints["/readyz"] == "ops.readyz"


@pytest.fixture
def database_down(app):
    """Point the app's engines at a database server that is not there."""
    state = app.extensions["catalog"]
    down = make_engine(DOWN_URL, connect_args={"connect_timeout": 2})
    saved = state.read_engine, state.read_sessions, state.sessions
    state.read_engine = down
    state.read_sessions = state.sessions = sessionmaker(bind=down)
    yield
    state.read_engine, state.read_sessions, state.sessions = saved
    down.dispose()


def test_healthz_is_503_json_when_the_database_is_down(client, database_down):
    r = client.get("/healthz")
    assert r.status_code == 503
    body = r.get_json()
    assert body["error"] == "DatabaseUnavailable" and body["status"] == "unhealthy"
    assert "database check failed" in body["message"]
    r = client.get("/readyz")
    assert r.status_code == 503 and "database check failed" in r.get_json()["message"]


def test_api_answers_503_json_not_500_when_the_database_is_down(client, database_down):
    r = client.get("/api/v1/namespaces")
    assert r.status_code == 503
    assert r.get_json()["error"] == "DatabaseUnavailable" and r.headers["Retry-After"] == "1"


def test_readyz_is_503_when_schema_is_behind_or_shutting_down(app, client):
    state = app.extensions["catalog"]
    head = state.head
    state.head = "9999"  # as if the code had a newer migration than the database
    r = client.get("/readyz")
    assert r.status_code == 503
    assert r.get_json()["message"] == f"database schema is at {head}, code expects 9999"
    state.head = head
    state.stopping.set()
    r = client.get("/readyz")
    assert r.status_code == 503 and r.get_json()["message"] == "shutting down"
    assert client.get("/healthz").status_code == 200  # alive, just not taking new traffic


def test_gunicorn_sigterm_marks_the_worker_stopping(app, monkeypatch):
    from catalog import gunicorn_conf

    monkeypatch.setattr(gunicorn_conf, "WARMUP", False)  # tests/ops/test_warmup.py covers it
    calls = []
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: calls.append(signum))
    try:
        worker = type("Worker", (), {"wsgi": app})()
        gunicorn_conf.post_worker_init(worker)
        handler = signal.getsignal(signal.SIGTERM)
        handler(signal.SIGTERM, None)
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert app.extensions["catalog"].stop_requested
    assert calls == [signal.SIGTERM]  # gunicorn's own handler still runs
    r = app.test_client().get("/readyz")
    assert r.status_code == 503 and r.get_json()["message"] == "shutting down"


def test_a_second_sigterm_during_the_first_cannot_deadlock_the_worker(app, monkeypatch):
    """The handler takes no lock: a second SIGTERM, handled while the first handler was inside
    Event.set() (holding its lock), used to wait on that lock until the graceful timeout."""
    import threading

    from catalog import gunicorn_conf

    monkeypatch.setattr(gunicorn_conf, "WARMUP", False)
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: None)
    try:
        gunicorn_conf.post_worker_init(type("Worker", (), {"wsgi": app})())
        handler = signal.getsignal(signal.SIGTERM)
    finally:
        signal.signal(signal.SIGTERM, previous)
    state = app.extensions["catalog"]
    with state.stopping._cond:  # as if the first handler were inside Event.set()
        second = threading.Thread(target=handler, args=(signal.SIGTERM, None), daemon=True)
        second.start()
        second.join(5)
        assert not second.is_alive()  # it returned without waiting for the lock
    assert state.stop_requested


class Lines(logging.Handler):
    def __init__(self):
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record):
        self.lines.append(record.getMessage())


@pytest.fixture
def request_log():
    handler = Lines()
    logger = logging.getLogger("catalog.requests")
    logger.addHandler(handler)
    yield handler.lines
    logger.removeHandler(handler)


def test_request_log_is_one_json_line_without_secrets(app, client, request_log):
    token = app.config["TEST_TOKENS"]["admin"]
    r = client.get("/api/v1/namespaces?limit=5&token=s3cret-query",
                   headers={"Authorization": f"Bearer {token}", "X-Request-ID": "abc-123",
                            "Cookie": "session=s3cret-cookie"})
    assert r.status_code == 200 and r.headers["X-Request-ID"] == "abc-123"
    (line,) = request_log
    assert "s3cret" not in line and token not in line and token[:10] not in line
    entry = json.loads(line)
    assert {k: entry[k] for k in ("event", "method", "path", "status", "request_id",
                                  "endpoint")} == {
        "event": "request", "method": "GET", "path": "/api/v1/namespaces", "status": 200,
        "request_id": "abc-123", "endpoint": "namespaces.list_namespaces"}
    assert isinstance(entry["duration_ms"], float) and entry["duration_ms"] >= 0


def test_request_log_makes_its_own_id_for_a_forged_one(client, request_log):
    r = client.get("/healthz", headers={"X-Request-ID": "x\" injected"})
    rid = r.headers["X-Request-ID"]
    assert len(rid) == 32 and rid.isalnum()
    assert json.loads(request_log[0])["request_id"] == rid
    client.post("/api/v1/lineage", data=b"{", content_type="application/json")
    entry = json.loads(request_log[1])
    assert (entry["status"], entry["path"]) == (400, "/api/v1/lineage")


@pytest.mark.parametrize(("env", "message"), [
    ({"CATALOG_MAX_PAGE_SIZE": "lots"}, "CATALOG_MAX_PAGE_SIZE must be an integer, got 'lots'"),
    ({"CATALOG_MAX_BODY_BYTES": "0"}, "CATALOG_MAX_BODY_BYTES must be positive, got 0"),
    ({"CATALOG_STATEMENT_TIMEOUT_MS": "-5"}, "CATALOG_STATEMENT_TIMEOUT_MS must be >= 0, got -5"),
    ({"CATALOG_DATABASE_URL": "mysql://h/db"}, "CATALOG_DATABASE_URL must be a sqlite:// or "),
    ({"CATALOG_PUBLIC_URL": "catalog:5000"}, "CATALOG_PUBLIC_URL must be an http:// or https://"),
])
def test_bad_environment_is_one_clear_line(env, message):
    with pytest.raises(ConfigError) as info:
        Settings.from_env(env)
    assert str(info.value).startswith(message) and "\n" not in str(info.value)


def test_settings_read_from_environment():
    s = Settings.from_env({"CATALOG_DATABASE_URL": "sqlite:///x.db",
                           "CATALOG_STATEMENT_TIMEOUT_MS": "0", "CATALOG_MAX_PAGE_SIZE": "50",
                           "CATALOG_STALE_RUN_SECONDS": "60", "CATALOG_REAP_INTERVAL_SECONDS": "5"})
    assert (s.statement_timeout_ms, s.max_page_size, s.stale_run_seconds,
            s.reap_interval_seconds) == (0, 50, 60, 5)
    with pytest.raises(ConfigError, match="CATALOG_MAX_PAGE_SIZE must be an integer positive"):
        Settings(max_page_size=True).validated()


def test_cli_and_gunicorn_refuse_bad_settings_in_one_line(runner, monkeypatch, capsys):
    from catalog import gunicorn_conf
    from catalog.cli import main

    monkeypatch.setenv("CATALOG_MAX_LINEAGE_DEPTH", "deep")
    r = runner.invoke(main, ["serve", "--database-url", "sqlite:///x.db"])
    assert r.exit_code == ExitCode.BAD_INPUT
    assert r.output == "error: CATALOG_MAX_LINEAGE_DEPTH must be an integer, got 'deep'\n"
    with pytest.raises(SystemExit) as info:
        gunicorn_conf.on_starting(None)
    assert info.value.code == 1
    assert capsys.readouterr().err == (
        "error: CATALOG_MAX_LINEAGE_DEPTH must be an integer, got 'deep'\n")


def test_gunicorn_refuses_unreachable_database_in_one_line(monkeypatch, capsys):
    from catalog import gunicorn_conf

    monkeypatch.setenv("CATALOG_DATABASE_URL", DOWN_URL)
    with pytest.raises(SystemExit):
        gunicorn_conf.on_starting(None)
    err = capsys.readouterr().err
    assert err.startswith("error: cannot reach the catalog database: ") and err.count("\n") == 1
