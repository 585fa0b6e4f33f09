"""Data health for stewards: failing checks, stale and unused datasets, metadata coverage, and
producers whose facets the catalog could not interpret."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, case, func, select, text
from sqlalchemy.orm import Session

from catalog.models import (
    Dataset,
    DatasetOwner,
    DatasetVersion,
    EventWarning,
    Job,
    LineageEvent,
    MLModel,
    QualityAssertion,
    Run,
)
from catalog.models.base import UTCDateTime, utcnow

# Rows listed per section.
LIST_LIMIT = 100
# Days of checks and runs the trend covers.
TREND_DAYS = 30


@dataclass
class Row:
    """A dataset in a health list, with what makes it listed."""

    namespace: str
    name: str
    detail: str
    at: datetime | None = None


@dataclass
class Coverage:
    """How many datasets have an owner, a description and a quality suite (checks ever run)."""

    total: int
    owned: int
    described: int
    checked: int

    def share(self, n: int) -> float:
        """``n`` as a fraction of all datasets (0 when there are none)."""
        return n / self.total if self.total else 0.0


@dataclass
class ProducerWarnings:
    """A producer's facets of one name that broke their schema: how often, and the latest."""

    producer: str
    group: str
    facet: str | None
    warnings: int
    events: int
    # The latest warning: its event's arrival, run (None outside runs), field and message.
    last_at: datetime
    run_uuid: str | None
    field: str
    message: str


@dataclass
class Day:
    """One day of activity: expectation results recorded (and passed), runs ended well or not."""

    day: str  # YYYY-MM-DD, UTC
    checks: int
    passed: int
    completed: int
    failed: int

    @property
    def pass_rate(self) -> float | None:
        return self.passed / self.checks if self.checks else None


def trend(session: Session, days: int, now: datetime) -> list[Day]:
    """The last ``days`` days with any checks or runs, oldest first (one statement each).

    Days by the producers' clock, as lineage is: a run's by when it ended, a check's by when
    the run that reported it ended (when it was stored, for a check outside a run).
    """
    since = now - timedelta(days=days)
    out: dict[str, Day] = {}

    def day(value) -> Day:
        key = str(value)[:10]
        return out.setdefault(key, Day(key, 0, 0, 0, 0))

    at = func.coalesce(Run.ended_at, QualityAssertion.created_at)
    for d, n, ok in session.execute(
            select(func.date(at), func.count(),
                   func.sum(case((QualityAssertion.success, 1), else_=0)))
            .select_from(QualityAssertion).outerjoin(Run, Run.id == QualityAssertion.run_id)
            .where(at >= since).group_by(func.date(at))):
        day(d).checks, day(d).passed = int(n), int(ok or 0)
    ended = func.coalesce(Run.ended_at, Run.created_at)
    for d, state, n in session.execute(
            select(func.date(ended), Run.state, func.count())
            .where(ended >= since, Run.state.in_(("COMPLETE", "FAIL")))
            .group_by(func.date(ended), Run.state)):
        if state == "COMPLETE":
            day(d).completed = int(n)
        else:
            day(d).failed = int(n)
    return [out[k] for k in sorted(out)]


@dataclass
class Health:
    """The data-health overview."""

    failing: list[Row]
    failing_count: int
    stale: list[Row]
    unused: list[Row]
    unused_count: int
    unused_days: int
    coverage: Coverage
    producers: list[ProducerWarnings]
    days: list[Day]


def failing(session: Session) -> tuple[list[Row], int]:
    """Datasets whose current version failed its latest check (from the search index)."""
    rows = session.execute(text(
        "SELECT s.namespace, s.name FROM search_documents s "
        "WHERE s.entity = 'd' AND s.quality = 'failing' ORDER BY s.namespace, s.name "
        "LIMIT :n"), {"n": LIST_LIMIT}).all()
    count = session.scalar(text(
        "SELECT COUNT(*) FROM search_documents WHERE entity = 'd' AND quality = 'failing'"))
    return [Row(ns, name, "latest check failed") for ns, name in rows], int(count or 0)


def stale(session: Session, now: datetime) -> list[Row]:
    """Datasets with a declared freshness window and no new version within it."""
    if session.get_bind().dialect.name == "postgresql":
        hours = "(d.facets -> 'freshness' ->> 'windowHours')"
        has = "d.facets ? 'freshness'"
    else:
        hours = "json_extract(d.facets, '$.freshness.windowHours')"
        has = "json_extract(d.facets, '$.freshness') IS NOT NULL"
    rows = session.execute(
        text(f"SELECT d.id, n.name, d.name, {hours}, v.created_at FROM datasets d "
             "JOIN namespaces n ON n.id = d.namespace_id "
             "LEFT JOIN dataset_versions v ON v.id = d.current_version_id "
             f"WHERE {has} AND NOT d.is_deleted")
        .columns(created_at=UTCDateTime())
    ).all()
    out = []
    for _, ns, name, window, last in rows:
        try:
            window = int(window)
        except (TypeError, ValueError):
            continue
        if last is None:
            out.append(Row(ns, name, f"no version yet; window {window} h"))
        elif last + timedelta(hours=window) < now:
            late = now - last - timedelta(hours=window)
            out.append(Row(ns, name, f"window {window} h, overdue by "
                                     f"{late.total_seconds() / 3600:.1f} h", last))
    out.sort(key=lambda r: (r.at is not None, r.at or now))
    return out[:LIST_LIMIT]


def unused(session: Session, days: int, now: datetime) -> tuple[list[Row], int]:
    """Datasets older than ``days`` that no run has read in the last ``days`` days."""
    cutoff = now - timedelta(days=days)
    sql = text("""
        FROM datasets d JOIN namespaces n ON n.id = d.namespace_id
        WHERE d.created_at < :cutoff AND NOT d.is_deleted AND NOT EXISTS (
            SELECT 1 FROM run_io io WHERE io.dataset_id = d.id AND io.direction = 'input'
              AND io.created_at >= :cutoff)""".replace("\n", " "))
    params = {"cutoff": cutoff}
    at = bindparam("cutoff", type_=UTCDateTime())
    count = session.scalar(text("SELECT COUNT(*) " + sql.text).bindparams(at), params)
    rows = session.execute(
        text("SELECT n.name, d.name, d.last_modified_at " + sql.text
             + " ORDER BY d.last_modified_at, n.name, d.name LIMIT :n")
        .bindparams(at).columns(last_modified_at=UTCDateTime()),
        {**params, "n": LIST_LIMIT}).all()
    return [Row(ns, name, f"not read for {days} days", at) for ns, name, at in rows], int(count)


def coverage(session: Session) -> Coverage:
    """Shares of live datasets with an owner, a description and a quality suite."""
    live = Dataset.is_deleted.is_(False)
    total = session.scalar(select(func.count()).select_from(Dataset).where(live))
    owned = session.scalar(select(func.count(func.distinct(DatasetOwner.dataset_id)))
                           .join(Dataset, Dataset.id == DatasetOwner.dataset_id).where(live))
    described = session.scalar(select(func.count()).select_from(Dataset).where(
        live, func.length(func.trim(func.coalesce(Dataset.description, ""))) > 0))
    checked = session.scalar(
        select(func.count(func.distinct(DatasetVersion.dataset_id)))
        .join(QualityAssertion, QualityAssertion.dataset_version_id == DatasetVersion.id)
        .join(Dataset, Dataset.id == DatasetVersion.dataset_id).where(live))
    return Coverage(total or 0, owned or 0, described or 0, checked or 0)


def producer_warnings(session: Session) -> list[ProducerWarnings]:
    """Per producer and facet, the stored facets that broke their schema (most warnings first).

    Two statements: the counts with the id of each group's latest warning, then those warnings.
    """
    w = EventWarning
    groups = session.execute(
        select(w.producer, w.facet_group, w.facet, func.count(), func.count(func.distinct(
            w.event_hash)), func.max(w.id))
        .group_by(w.producer, w.facet_group, w.facet)
        .order_by(func.count().desc(), w.producer, w.facet_group, w.facet).limit(LIST_LIMIT)
    ).all()
    latest = {row.id: row for row in session.execute(
        select(w.id, w.field, w.message, LineageEvent.received_at, LineageEvent.run_uuid)
        .join(LineageEvent, LineageEvent.event_hash == w.event_hash)
        .where(w.id.in_([g[5] for g in groups])))} if groups else {}
    return [ProducerWarnings(producer, group, facet, n, events, latest[last].received_at,
                             latest[last].run_uuid, latest[last].field, latest[last].message)
            for producer, group, facet, n, events, last in groups]


def health(session: Session, unused_days: int = 30, now: datetime | None = None) -> Health:
    """The whole overview."""
    now = now or utcnow()
    fail, fail_count = failing(session)
    idle, idle_count = unused(session, unused_days, now)
    return Health(fail, fail_count, stale(session, now), idle, idle_count, unused_days,
                  coverage(session), producer_warnings(session), trend(session, TREND_DAYS, now))


@dataclass
class Overview:
    """Counts and recent activity for the home page."""

    datasets: int
    jobs: int
    runs: int
    models: int
    recent: list[Dataset]
    failed_runs: list[Run]


def overview(session: Session) -> Overview:
    """What the home page shows."""
    count = lambda model: session.scalar(select(func.count()).select_from(model))  # noqa: E731
    recent = list(session.scalars(
        select(Dataset).where(Dataset.last_modified_at.is_not(None))
        .order_by(Dataset.last_modified_at.desc()).limit(10)))
    failed = list(session.scalars(
        select(Run).where(Run.state == "FAIL").order_by(Run.created_at.desc()).limit(10)))
    return Overview(count(Dataset), count(Job), count(Run), count(MLModel), recent, failed)

