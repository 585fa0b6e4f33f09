"""The app's shared state and one transaction per request, for API, pages and auth alike."""

from __future__ import annotations

from flask import current_app

from catalog.db import session_scope


def state():
    """The app's :class:`catalog.app.CatalogState`."""
    return current_app.extensions["catalog"]


def db_session():
    """One write transaction for this request: commits on success, rolls back on error."""
    return session_scope(state().sessions)


def read_session():
    """One read-only transaction for this request (never waits for SQLite's write lock)."""
    return session_scope(state().read_sessions)
