"""The HTTP floor for ingest: what a WSGI app that only stores each posted event costs here.

Served by gunicorn exactly as the catalog is (same workers, same client), it parses the JSON body
and inserts the raw event text into one table with no index, one transaction per request (a
batch: one ``executemany`` per request). No validation, no model, no auth: whatever the catalog
does beyond this is its own cost. ``FLOOR_DATABASE_URL`` is a SQLAlchemy-style URL of the
database (PostgreSQL or SQLite). Used by ``bench/catalog_bench.py --modes http-single,http-batch``.

With ``FLOOR_ROWS=model`` it stores instead, in the same one transaction per request, the rows the
catalog keeps per event (``bench/floor_rows.py``: the raw event with its hash, the run's state
change, its three run I/O rows) in plain tables: the ``model-single`` and ``model-batch`` modes,
the least any catalog of this model writes per request, without reading, locking or validating.
"""

from __future__ import annotations

import json
import os
import sqlite3

from flask import Flask, request

from bench.floor_rows import floor_rows, floor_sql

URL = os.environ["FLOOR_DATABASE_URL"]
MODEL = os.environ.get("FLOOR_ROWS") == "model"
app = Flask(__name__)
_conn = None


def _connection():
    """One connection per worker process, opened on first use (after gunicorn forks)."""
    global _conn
    if _conn is None:
        if URL.startswith("sqlite"):
            _conn = sqlite3.connect(URL.removeprefix("sqlite:///"), isolation_level=None,
                                    check_same_thread=False, timeout=30)
            _conn.execute("pragma journal_mode=wal")
            _conn.execute("pragma synchronous=normal")
        else:
            import psycopg
            from sqlalchemy.engine import make_url

            u = make_url(URL)
            _conn = psycopg.connect(host=u.host, port=u.port or 5432, user=u.username,
                                    password=u.password, dbname=u.database, autocommit=True)
    return _conn


def _mark() -> str:
    return "?" if URL.startswith("sqlite") else "%s"


def _store(events: list) -> None:
    conn = _connection()
    cur = conn.cursor()
    cur.execute("begin")
    if MODEL:
        for stmt, rows in zip(floor_sql(_mark()), floor_rows(events), strict=True):
            cur.executemany(stmt, rows)
    else:
        cur.executemany(f"insert into floor_events (payload) values ({_mark()})",
                        [(json.dumps(e),) for e in events])
    cur.execute("commit")


@app.get("/healthz")
def healthz():
    return {"status": "ok"}


@app.post("/api/v1/lineage")
def one():
    event = json.loads(request.get_data())
    _store([event])
    return {"status": "created"}, 201


@app.post("/api/v1/lineage/batch")
def batch():
    events = json.loads(request.get_data())
    _store(events)
    return {"accepted": len(events), "failed": 0, "results": []}, 201
