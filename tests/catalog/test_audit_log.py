"""The audit trail: appends chain by hash, the database refuses edits, verify finds tampering."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from catalog.models import AuditEntry
from catalog.services import audit


@pytest.fixture
def writer(app):
    """A writing session on the app's database, committed by the test."""
    s = app.extensions["catalog"].sessions()
    yield s
    s.rollback()
    s.close()


def _append(s, n, actor="alice"):
    out = []
    for i in range(n):
        out.append(audit.record_change(
            s, actor=actor, action="dataset.update", entity_type="dataset",
            entity_key=f"ns/d{i % 2}", before={"description": f"v{i}"},
            after={"description": f"v{i + 1}", "when": 1.5, "tags": ["a", "b"]}))
    s.commit()
    return out


def test_entries_chain_and_verify(writer):
    entries = _append(writer, 5)
    assert [e.seq for e in entries] == [1, 2, 3, 4, 5]
    assert entries[0].prev_hash == ""
    assert all(b.prev_hash == a.hash for a, b in zip(entries, entries[1:], strict=False))
    assert len({e.hash for e in entries}) == 5
    report = audit.verify_chain(writer, batch=2)
    assert report.ok and report.checked == 5


def test_empty_chain_verifies(writer):
    report = audit.verify_chain(writer)
    assert report.ok and report.checked == 0


@pytest.mark.parametrize("statement", [
    "UPDATE audit_log SET actor = 'mallory' WHERE seq = 2",
    "DELETE FROM audit_log WHERE seq = 2",
])
def test_database_refuses_update_and_delete(writer, statement):
    _append(writer, 3)
    with pytest.raises(DBAPIError, match="append-only"):
        writer.execute(text(statement))
    writer.rollback()
    assert writer.scalar(text("SELECT count(*) FROM audit_log")) == 3
    assert writer.scalar(text("SELECT actor FROM audit_log WHERE seq = 2")) == "alice"


def test_verify_names_the_tampered_entry(writer, engine):
    _append(writer, 4)
    # Tamper as an attacker with table-owner rights would: bypass the triggers, rewrite a row.
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("SET LOCAL session_replication_role = replica"))
            conn.execute(text("UPDATE audit_log SET actor = 'mallory' WHERE seq = 3"))
        else:
            conn.execute(text("DROP TRIGGER audit_log_no_update"))
            conn.execute(text("UPDATE audit_log SET actor = 'mallory' WHERE seq = 3"))
            conn.execute(text(
                "CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log BEGIN "
                "SELECT RAISE(ABORT, 'audit_log is append-only: UPDATE refused'); END"))
    writer.rollback()
    report = audit.verify_chain(writer)
    assert not report.ok and report.broken_seq == 3 and report.checked == 2
    assert "hash" in report.reason


def test_verify_finds_a_removed_entry(writer, engine):
    _append(writer, 4)
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("SET LOCAL session_replication_role = replica"))
        else:
            conn.execute(text("DROP TRIGGER audit_log_no_delete"))
        conn.execute(text("DELETE FROM audit_log WHERE seq = 2"))
    writer.rollback()
    report = audit.verify_chain(writer)
    assert not report.ok and report.broken_seq == 2 and "missing" in report.reason


def test_query_by_entity_actor_and_time(writer):
    _append(writer, 4, actor="alice")
    _append(writer, 1, actor="bob")
    assert [e.seq for e in audit.query_entries(writer, entity_key="ns/d0")] == [1, 3, 5]
    assert [e.seq for e in audit.query_entries(writer, entity_key="ns/d1", actor="alice")] == [2, 4]
    assert [e.seq for e in audit.query_entries(writer, actor="bob")] == [5]
    first = writer.scalars(select(AuditEntry).where(AuditEntry.seq == 1)).one()
    later = audit.query_entries(writer, since=first.at + timedelta(microseconds=1))
    assert 1 not in [e.seq for e in later]
    assert audit.query_entries(writer, until=first.at) == []
    shape = audit.as_dict(audit.query_entries(writer, actor="bob")[0])
    assert shape["after"] == {"description": "v1", "when": 1.5, "tags": ["a", "b"]}
    assert shape["prevHash"] and len(shape["hash"]) == 64


def test_rollback_drops_the_entry_with_the_change(writer):
    audit.record_change(writer, actor="alice", action="x", entity_type="dataset", entity_key="k")
    writer.rollback()
    assert writer.scalar(text("SELECT count(*) FROM audit_log")) == 0
    assert audit.record_change(writer, actor="a", action="x", entity_type="t",
                               entity_key="k").seq == 1


def test_concurrent_appends_keep_one_chain(app):
    """Writers in parallel transactions queue on the chain; none forks it or loses an entry."""
    from concurrent.futures import ThreadPoolExecutor

    from catalog.db import in_transaction

    factory = app.extensions["catalog"].sessions

    def work(w):
        for i in range(10):
            def change(s, i=i):
                audit.record_change(s, actor=f"w{w}", action="tag.add", entity_type="dataset",
                                    entity_key=f"ns/{i}", after={"tag": w})
            in_transaction(factory, change)

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(work, range(4)))
    with factory() as s:
        report = audit.verify_chain(s)
        assert report.ok and report.checked == 40
