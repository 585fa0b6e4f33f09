"""The ingest fast path: unchanged metadata is not rewritten; an event costs a few statements."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import event, select, text

from catalog.models import Dataset, DatasetField
from tests.factories import complete_run, ds, run_event, schema


def fields_of(session, name: str) -> list[tuple]:
    session.rollback()
    return session.execute(
        select(DatasetField.id, DatasetField.name, DatasetField.type, DatasetField.description,
               DatasetField.updated_at)
        .join(Dataset, Dataset.id == DatasetField.dataset_id).where(Dataset.name == name)
        .order_by(DatasetField.ordinal)).all()


def updated_at(session, name: str):
    session.rollback()
    return session.scalar(select(Dataset.updated_at).where(Dataset.name == name))


def test_same_facets_again_leave_the_dataset_alone(client, session, app):
    out = ds("out", schema=schema("a", ("b", "BIGINT")))
    complete_run(client, "j", inputs=[ds("in", schema=schema("x"))], outputs=[out])
    before, touched = fields_of(session, "out"), updated_at(session, "in")
    complete_run(client, "j", inputs=[ds("in", schema=schema("x"))], outputs=[out], minutes=10)
    assert fields_of(session, "out") == before  # not even their updated_at
    assert updated_at(session, "in") == touched  # an input already seen is not written at all

    # A steward describes a field; a changed schema keeps that field (and its description),
    # retypes it, adds and drops the others.
    with app.extensions["catalog"].engine.begin() as conn:
        conn.execute(text("UPDATE dataset_fields SET description = 'steward' WHERE name = 'b'"))
    changed = ds("out", schema=schema(("b", "VARCHAR"), "c"))
    complete_run(client, "j", outputs=[changed], minutes=20)
    after = fields_of(session, "out")
    assert [(f.name, f.type, f.description) for f in after] == [
        ("b", "VARCHAR", "steward"), ("c", "VARCHAR", None)]
    assert after[0].id == before[1].id


@pytest.fixture
def statements(app):
    """Count the statements the app's writer engine executes."""
    engine, seen = app.extensions["catalog"].engine, []

    def count(conn, cursor, statement, *args):
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    yield seen
    event.remove(engine, "before_cursor_execute", count)


def pair(job: str, minutes: int) -> list[dict]:
    """START and COMPLETE of a new run reading two datasets and writing one, with schemas."""
    rid = str(uuid.uuid4())
    return [run_event(et, job, run_id=rid, minutes=minutes + i,
                      inputs=[ds("a", schema=schema("x")), ds("b", schema=schema("y"))],
                      outputs=[ds(f"out_{job}", schema=schema("z"))])
            for i, et in enumerate(("START", "COMPLETE"))]


def test_a_known_event_costs_a_dozen_statements(client, statements):
    for ev in pair("j", 0) + pair("k", 0):  # first sight of the jobs and datasets
        assert client.post("/api/v1/lineage", json=ev).status_code == 201
    start, complete = pair("j", 10)
    statements.clear()
    assert client.post("/api/v1/lineage", json=start).status_code == 201
    assert len(statements) <= 10, statements
    statements.clear()
    assert client.post("/api/v1/lineage", json=complete).status_code == 201
    assert len(statements) <= 14, statements


def test_a_batch_costs_statements_per_batch_not_per_event(client, statements):
    warm = pair("j", 0) + pair("k", 0)
    assert client.post("/api/v1/lineage/batch", json=warm).status_code == 201
    events = [ev for i in range(20) for ev in pair("jk"[i % 2], 10 * i + 10)]
    statements.clear()
    r = client.post("/api/v1/lineage/batch", json=events)
    assert r.status_code == 201
    assert [x["status"] for x in r.get_json()["results"]] == ["created"] * 40
    # Per COMPLETE: its output's version (in a savepoint); the rest once per batch.
    assert len(statements) <= 3 * 20 + 15, statements
