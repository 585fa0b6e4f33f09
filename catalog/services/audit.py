"""Append to, query and verify the hash-chained audit trail.

Every service that changes catalog metadata calls :func:`record_change` in the same transaction as
the change, so the change and its audit entry commit or roll back together.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from catalog import csvsafe
from catalog.errors import BadRequest
from catalog.models import AuditEntry
from catalog.models.base import utcnow

# Key of the PostgreSQL transaction-level advisory lock that serialises appends to the chain.
_CHAIN_LOCK = 7_301_120_001


def canonical(value) -> str:
    """The JSON text hashed for ``value``: sorted keys, no spaces, non-JSON values as strings."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str, ensure_ascii=False)


def _stamp(at: datetime) -> str:
    at = at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
    return at.isoformat(timespec="microseconds")


def entry_hash(prev_hash: str, seq: int, at: datetime, actor: str, action: str,
               entity_type: str, entity_key: str, before, after) -> str:
    """sha256 over the previous hash and this entry's canonical content."""
    body = canonical({
        "seq": seq, "at": _stamp(at), "actor": actor, "action": action,
        "entity_type": entity_type, "entity_key": entity_key, "before": before, "after": after,
    })
    return hashlib.sha256((prev_hash + "\n" + body).encode()).hexdigest()


def record_change(session: Session, *, actor: str, action: str, entity_type: str,
                  entity_key: str, before: dict | None = None,
                  after: dict | None = None) -> AuditEntry:
    """Append one entry after the chain's last; call inside the transaction making the change."""
    if not actor:
        raise BadRequest("an audit entry needs an actor")
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _CHAIN_LOCK})
    last = session.execute(
        select(AuditEntry.seq, AuditEntry.hash).order_by(AuditEntry.seq.desc()).limit(1)
    ).first()
    seq, prev = (last.seq + 1, last.hash) if last else (1, "")
    # Store exactly what is hashed: JSON round-tripped values, microsecond UTC time.
    before = None if before is None else json.loads(canonical(before))
    after = None if after is None else json.loads(canonical(after))
    at = utcnow()
    entry = AuditEntry(
        seq=seq, at=at, actor=actor, action=action, entity_type=entity_type,
        entity_key=entity_key, before=before, after=after, prev_hash=prev,
        hash=entry_hash(prev, seq, at, actor, action, entity_type, entity_key, before, after),
    )
    session.add(entry)
    session.flush()
    return entry


@dataclass
class ChainReport:
    """Outcome of :func:`verify_chain`: entries checked and the first broken one, if any."""

    checked: int
    ok: bool
    broken_seq: int | None = None
    reason: str | None = None


def verify_chain(session: Session, batch: int = 5000) -> ChainReport:
    """Walk the whole chain in order, recomputing every hash and checking seq has no gaps."""
    prev, expected_seq, checked = "", 1, 0
    last_seq = 0
    while True:
        rows = session.scalars(
            select(AuditEntry).where(AuditEntry.seq > last_seq).order_by(AuditEntry.seq)
            .limit(batch)
        ).all()
        if not rows:
            return ChainReport(checked, True)
        for e in rows:
            if e.seq != expected_seq:
                return ChainReport(checked, False, expected_seq,
                                   f"entry {expected_seq} is missing (next is {e.seq})")
            if e.prev_hash != prev:
                return ChainReport(checked, False, e.seq, "prev_hash does not match entry before")
            want = entry_hash(prev, e.seq, e.at, e.actor, e.action, e.entity_type,
                              e.entity_key, e.before, e.after)
            if e.hash != want:
                return ChainReport(checked, False, e.seq, "content does not match its hash")
            prev, expected_seq, checked = e.hash, expected_seq + 1, checked + 1
        last_seq = rows[-1].seq


def query_entries(session: Session, *, entity_type: str | None = None,
                  entity_key: str | None = None, actor: str | None = None,
                  since: datetime | None = None, until: datetime | None = None,
                  limit: int = 100, offset: int = 0) -> list[AuditEntry]:
    """Entries matching every given filter, oldest first; ``until`` is exclusive."""
    q = select(AuditEntry)
    if entity_type is not None:
        q = q.where(AuditEntry.entity_type == entity_type)
    if entity_key is not None:
        q = q.where(AuditEntry.entity_key == entity_key)
    if actor is not None:
        q = q.where(AuditEntry.actor == actor)
    if since is not None:
        q = q.where(AuditEntry.at >= since)
    if until is not None:
        q = q.where(AuditEntry.at < until)
    return list(session.scalars(q.order_by(AuditEntry.seq).limit(limit).offset(offset)))


def as_dict(e: AuditEntry) -> dict:
    """JSON shape of an entry (API responses and JSON-lines export)."""
    return {
        "seq": e.seq, "at": _stamp(e.at), "actor": e.actor, "action": e.action,
        "entityType": e.entity_type, "entityKey": e.entity_key, "before": e.before,
        "after": e.after, "prevHash": e.prev_hash, "hash": e.hash,
    }


# --- export ----------------------------------------------------------------------------------

CSV_COLUMNS = ("seq", "at", "actor", "action", "entityType", "entityKey", "before", "after",
               "prevHash", "hash")
# Rows read per query while exporting.
EXPORT_BATCH = 1000


def csv_row(entry: dict) -> list[str]:
    """One entry as CSV cells; before and after as canonical JSON; text a spreadsheet would run
    as a formula made inert (see :mod:`catalog.csvsafe`)."""
    return [canonical(entry[c]) if c in ("before", "after")
            else csvsafe.cell(entry[c]) if isinstance(entry[c], str) else str(entry[c])
            for c in CSV_COLUMNS]


def export_lines(read, filters: dict, fmt: str):
    """Yield the filtered trail as JSON lines or CSV text, a batch at a time.

    ``read()`` opens a session context per batch, so a long export holds no transaction open.
    """
    if fmt == "csv":
        buf = io.StringIO()
        csv.writer(buf).writerow(CSV_COLUMNS)
        yield buf.getvalue()
    offset = 0
    while True:
        with read() as session:
            rows = [as_dict(e) for e in query_entries(
                session, **filters, limit=EXPORT_BATCH, offset=offset)]
        if not rows:
            return
        buf = io.StringIO()
        for entry in rows:
            if fmt == "csv":
                csv.writer(buf).writerow(csv_row(entry))
            else:
                buf.write(json.dumps(entry, ensure_ascii=False, sort_keys=True) + "\n")
        yield buf.getvalue()
        offset += len(rows)
