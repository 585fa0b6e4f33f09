"""Flask application factory."""

from __future__ import annotations

from dataclasses import dataclass, replace

from flask import Flask
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from catalog.config import Settings
from catalog.db import check_at_head, is_sqlite, make_engine, make_sessionmaker


@dataclass
class CatalogState:
    """What the app shares between requests: settings, engines and session factories."""

    settings: Settings
    engine: Engine
    # Writers; on SQLite their transactions take the write lock at BEGIN.
    sessions: sessionmaker[Session]
    # Readers; on SQLite a separate engine whose transactions never wait for the write lock.
    read_sessions: sessionmaker[Session]
    read_engine: Engine


def create_app(config: dict | Settings | None = None) -> Flask:
    """Build the app; ``config`` overrides settings read from ``CATALOG_*`` variables.

    Refuses (raises :class:`catalog.errors.SchemaNotCurrent`) a database not at the head revision.
    """
    if isinstance(config, Settings):
        settings = config.validated()
    else:
        settings = replace(Settings.from_env(), **(config or {})).validated()
    engine = make_engine(settings.database_url)
    if not settings.skip_schema_check:
        check_at_head(engine)

    app = Flask(__name__)
    # Namespaces such as s3://bucket travel in paths: keep their double slashes.
    app.url_map.merge_slashes = False
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.json.sort_keys = False
    read_engine = (
        make_engine(settings.database_url, immediate=False) if is_sqlite(engine) else engine
    )
    app.extensions["catalog"] = CatalogState(
        settings, engine, make_sessionmaker(engine), make_sessionmaker(read_engine), read_engine
    )

    from catalog.api import register_api
    from catalog.auth import register_auth

    register_api(app)
    register_auth(app)
    return app
