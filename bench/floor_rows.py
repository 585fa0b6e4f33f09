"""The rows the catalog keeps per event, as plain tables and tuples: the database floors' work.

``bench/catalog_bench.py``'s ``floor`` mode inserts them straight into the database (no HTTP);
``bench/http_floor_app.py`` with ``FLOOR_ROWS=model`` inserts them inside each request (the
``model-single`` and ``model-batch`` modes). Both use these tables and rows, so the two floors
measure the same writes: per event the raw event (with its hash, unique), the run's state change
and its three run I/O rows. The catalog writes more than this per event (the run row, versions,
edges, their indexes and foreign keys) and reads and locks before it writes; nothing it does can
cost less.
"""

from __future__ import annotations

import hashlib
import json

FLOOR_DDL = [
    """create table events (id {pk}, event_hash varchar(64) unique, kind varchar(16),
       event_type varchar(16), event_time {ts}, run_uuid varchar(36), job_namespace text,
       job_name text, payload {js})""",
    "create table run_states (id {pk}, run_uuid varchar(36), state varchar(16), event_time {ts})",
    """create table run_io (id {pk}, run_uuid varchar(36), namespace text, name text,
       direction varchar(6))""",
]
TYPES = {
    "postgresql": {"pk": "bigserial primary key", "ts": "timestamptz", "js": "jsonb"},
    "sqlite": {"pk": "integer primary key", "ts": "text", "js": "text"},
}


def floor_sql(mark: str) -> list[str]:
    """The three INSERTs, with ``mark`` as the driver's placeholder (``%s`` or ``?``)."""
    return [
        f"insert into events (event_hash, kind, event_type, event_time, run_uuid, job_namespace,"
        f" job_name, payload) values ({', '.join([mark] * 8)})",
        f"insert into run_states (run_uuid, state, event_time) values ({mark}, {mark}, {mark})",
        f"insert into run_io (run_uuid, namespace, name, direction) values "
        f"({mark}, {mark}, {mark}, {mark})",
    ]


def floor_rows(events: list[dict]):
    """The rows kept per event, as plain tuples: (events, run states, run I/O)."""
    ev, st, io = [], [], []
    for e in events:
        payload = json.dumps(e, sort_keys=True, separators=(",", ":"))
        rid, at = e["run"]["runId"], e["eventTime"]
        ev.append((hashlib.sha256(payload.encode()).hexdigest(), "RunEvent", e["eventType"], at,
                   rid, e["job"]["namespace"], e["job"]["name"], payload))
        st.append((rid, e["eventType"], at))
        io += [(rid, d["namespace"], d["name"], "input") for d in e.get("inputs") or []]
        io += [(rid, d["namespace"], d["name"], "output") for d in e.get("outputs") or []]
    return ev, st, io
