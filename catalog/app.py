"""Flask application factory."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, replace

from flask import Flask
from flask.json.provider import DefaultJSONProvider
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.routing import IntegerConverter

from catalog import jsoncodec
from catalog.config import Settings
from catalog.db import check_at_head, head_revision, is_sqlite, make_engine, make_sessionmaker


class BoundedInt(IntegerConverter):
    """``<int:...>`` path parts up to 2**31 - 1: a larger one is no such resource (404), never an
    integer the database cannot hold (it failed there: 500)."""

    def __init__(self, map, *args, **kwargs):
        kwargs.setdefault("max", 2**31 - 1)
        super().__init__(map, *args, **kwargs)


@dataclass
class CatalogState:
    """What the app shares between requests: settings, engines and session factories."""

    settings: Settings
    engine: Engine
    # Writers; on SQLite their transactions take the write lock at BEGIN.
    sessions: sessionmaker[Session]
    # Readers; on SQLite a separate engine whose transactions never wait for the write lock, on
    # PostgreSQL the same pool in autocommit.
    read_sessions: sessionmaker[Session]
    read_engine: Engine
    # The migrations' head revision, which /readyz compares the database against.
    head: str = ""
    # Set when the server process starts shutting down: /readyz answers 503 from then on.
    stopping: threading.Event = field(default_factory=threading.Event)
    # The same, set by a SIGTERM handler: a plain attribute, because Event.set() takes a lock
    # that a second SIGTERM, arriving while the first handler holds it, would wait on forever.
    stop_requested: bool = False
    # Where requested pipeline runs wait for a worker (catalog.run_queue): Redis, or this
    # process's own supervised pool.
    run_queue: object = None


class FastJSONProvider(DefaultJSONProvider):
    """Flask's JSON provider with orjson writing responses (a lineage graph or a page of runs is
    tens of KB); keys keep their insertion order, and Flask's rules serialise the rest."""

    sort_keys = False

    def dumps(self, obj, **kwargs) -> str:
        if kwargs and kwargs != {"separators": (",", ":")}:
            return super().dumps(obj, **kwargs)  # indented for a human, or special options
        return jsoncodec.dumps_response(obj, self.default)


def create_app(config: dict | Settings | None = None) -> Flask:
    """Build the app; ``config`` overrides settings read from ``CATALOG_*`` variables.

    Refuses (raises :class:`catalog.errors.SchemaNotCurrent`) a database not at the head revision.
    """
    if isinstance(config, Settings):
        settings = config.validated()
    else:
        settings = replace(Settings.from_env(), **(config or {})).validated()
    engine = make_engine(settings.database_url, statement_timeout_ms=settings.statement_timeout_ms)
    if not settings.skip_schema_check:
        check_at_head(engine)

    app = Flask(__name__)
    app.json = FastJSONProvider(app)
    # Namespaces such as s3://bucket travel in paths: keep their double slashes.
    app.url_map.merge_slashes = False
    app.url_map.converters["int"] = BoundedInt
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    # PostgreSQL readers run in autocommit: at READ COMMITTED every statement takes its own
    # snapshot anyway, so BEGIN and COMMIT were two round trips a request that bought nothing.
    # The pool is the writers' (execution_options shares it).
    read_engine = (
        make_engine(settings.database_url, immediate=False) if is_sqlite(engine)
        else engine.execution_options(isolation_level="AUTOCOMMIT")
    )
    catalog_state = CatalogState(
        settings, engine, make_sessionmaker(engine), make_sessionmaker(read_engine), read_engine,
        head=head_revision(settings.database_url),
    )
    app.extensions["catalog"] = catalog_state

    from catalog import requestlog
    from catalog.api import register_api
    from catalog.auth import register_auth

    requestlog.configure_logging()
    requestlog.install(app)
    register_api(app)

    from catalog.web import register_web

    register_web(app)
    register_auth(app)
    if settings.trusted_proxies:
        from werkzeug.middleware.proxy_fix import ProxyFix

        # The client's address (login lockout, request log) and scheme as the proxies saw them;
        # without this setting X-Forwarded-* headers are ignored, since anyone can send them.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=settings.trusted_proxies,
                                x_proto=settings.trusted_proxies)
    from catalog.run_queue import LocalPool, make_queue

    catalog_state.run_queue = make_queue(settings, catalog_state.sessions,
                                         catalog_state.read_sessions)
    if isinstance(catalog_state.run_queue, LocalPool):
        # Runs that waited in the database when this process (re)started.
        catalog_state.run_queue.resume()
    if settings.reap_interval_seconds:
        from catalog.reaper import start_reaper

        start_reaper(catalog_state)
    return app
