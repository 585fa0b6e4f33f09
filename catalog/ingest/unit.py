"""What one ingest transaction holds: the rows it read and locked, and what it has to write.

The events of a batch touch the same few rows again and again: their jobs, runs, datasets and run
I/O. :mod:`catalog.ingest.read` reads those rows into a :class:`Unit` in bulk once per
transaction, locking them in one global order (jobs, then datasets, each by id); every event then
changes them in memory, and :mod:`catalog.ingest.flush` writes the changes at the end with one
statement per table. In a batch, dataset versions, quality results and column lineage are staged
too (:mod:`catalog.ingest.stage`); the rare rows that need ids at once (new jobs and datasets, job
versions) are created here during the event, inside its SAVEPOINT. When an event fails, its
savepoint is rolled back and :meth:`Unit.event` undoes its changes in memory and drops what it
staged.
"""

from __future__ import annotations

from contextlib import contextmanager
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from catalog.ingest import sql as q
from catalog.ingest import versions
from catalog.ingest.datasets import DatasetRow
from catalog.ingest.rows import (
    IORow,
    JobRow,
    RunRow,
    dataset_row,
    job_row,
)
from catalog.ingest.stage import Stage
from catalog.ingest.writes import insert_ignore, namespace_ids
from catalog.models import Job

_MISSING = object()


class Scope:
    """One event's undo log (row snapshots, cache entries) and the rows it adds at the end."""

    def __init__(self, isolate: bool):
        self.isolate = isolate
        self.savepoint = None
        self.snaps: dict[object, tuple[object, dict]] = {}
        self.undo: list[tuple[dict, object, object]] = []
        self.edges: dict[tuple, datetime] = {}
        self.states: list[tuple[RunRow, str, datetime]] = []


class Unit:
    """Rows of one ingest transaction, read once, changed in memory, written by ``flush``."""

    def __init__(self, session: Session, staged: bool = False):
        self.session = session
        self.dialect = session.get_bind().dialect.name
        # Versions, quality and column lineage written at the end (batches), or at once.
        self.stage = Stage(session, self.dialect) if staged else None
        self.jobs: dict[tuple[str, str], JobRow] = {}
        self.job_ids: dict[tuple[str, str], int] = {}  # jobs only pointed at (parents)
        self.datasets: dict[tuple[str, str], DatasetRow] = {}
        self.runs: dict[str, RunRow] = {}
        self.io: dict[str, dict[tuple[int, str], IORow]] = {}
        self.locked: dict[int, bool] = {}  # dataset ids locked and read with their version
        self.provisional: dict[str, bool] = {}  # runs inserted ahead of their events
        self.absent: set[str] = set()  # runs looked for and not found (with their jobs locked)
        self.fingerprints: dict[tuple[int, str], int | None] = {}
        self.job_versions: dict[str, int] = {}
        self.namespaces: dict[str, int] = {}
        self.edges: dict[tuple, list[datetime]] = {}
        self.states: list[tuple[RunRow, str, datetime]] = []
        self.scope: Scope | None = None

    # --- events and undo -------------------------------------------------------------------------

    @contextmanager
    def event(self, isolate: bool):
        """Fold one event; with ``isolate`` its statements run in a SAVEPOINT, and a failure
        rolls that back and the event's changes in memory, leaving earlier events' intact."""
        scope = self.scope = Scope(isolate)
        mark = self.stage.mark() if self.stage is not None else None
        try:
            yield
        except BaseException:
            if scope.savepoint is not None and scope.savepoint.is_active:
                scope.savepoint.rollback()
            if mark is not None:
                self.stage.rewind(mark)
            for obj, state in scope.snaps.values():
                target = obj if isinstance(obj, dict) else vars(obj)
                target.clear()
                target.update(state)
            for cache, key, old in reversed(scope.undo):
                if old is _MISSING:
                    cache.pop(key, None)
                else:
                    cache[key] = old
            raise
        else:
            if scope.savepoint is not None:
                scope.savepoint.commit()
            for edge, at in scope.edges.items():
                seen = self.edges.setdefault(edge, [at, at])
                seen[0], seen[1] = min(seen[0], at), max(seen[1], at)
            self.states += scope.states
        finally:
            self.scope = None

    @property
    def sql(self) -> Session:
        """The session, for a statement of the current event (opens its SAVEPOINT first)."""
        scope = self.scope
        if scope is not None and scope.isolate and scope.savepoint is None:
            scope.savepoint = self.session.begin_nested()
        return self.session

    def touch(self, row):
        """``row``, snapshotted for undo before the current event changes it."""
        if self.scope is not None and id(row) not in self.scope.snaps:
            state = dict(vars(row))
            state["changes"] = dict(state["changes"])
            self.scope.snaps[id(row)] = (row, state)
        return row

    def put(self, cache: dict, key, value) -> None:
        """Set a cache entry, undone if the current event fails."""
        if self.scope is not None:
            self.scope.undo.append((cache, key, cache.get(key, _MISSING)))
        cache[key] = value

    def edge(self, src_kind: str, src_id: int, dst_kind: str, dst_id: int, at: datetime) -> None:
        """An edge the current event exercised at ``at``."""
        key = (src_kind, src_id, dst_kind, dst_id)
        self.scope.edges[key] = min(at, self.scope.edges.get(key, at))

    def state_change(self, run: RunRow, state: str, at: datetime) -> None:
        """A state the current event reported for ``run``."""
        self.scope.states.append((run, state, at))

    # --- jobs ------------------------------------------------------------------------------------

    def job(self, key: tuple[str, str]) -> JobRow:
        """The locked job ``key``, created if new."""
        if key not in self.jobs:
            session = self.sql
            ns = self.namespace_ids([key[0]])[key[0]]
            insert_ignore(session, Job, {"namespace_id": ns, "name": key[1], "facets": {}},
                          ["namespace_id", "name"])
            self.put(self.jobs, key, job_row(session.execute(q.JOBS_LOCKED, {"keys": [key]}).one()))
        return self.touch(self.jobs[key])

    def job_id(self, key: tuple[str, str]) -> int:
        """The id of job ``key`` (not locked: it is only pointed at), created if new."""
        if key in self.jobs:
            return self.jobs[key].id
        if key not in self.job_ids:
            session = self.sql
            ns = self.namespace_ids([key[0]])[key[0]]
            query = select(q.JOBS.c.id).where(q.JOBS.c.namespace_id == ns,
                                              q.JOBS.c.name == key[1])
            found = session.scalar(query)
            if found is None:
                insert_ignore(session, Job, {"namespace_id": ns, "name": key[1], "facets": {}},
                              ["namespace_id", "name"])
                found = session.scalar(query)
            self.put(self.job_ids, key, found)
        return self.job_ids[key]

    def job_name(self, job_id: int) -> str:
        """``namespace:name`` of the job with id ``job_id``."""
        query = select(q.NAMESPACES.c.name, q.JOBS.c.name).join(
            q.NAMESPACES, q.NAMESPACES.c.id == q.JOBS.c.namespace_id).where(q.JOBS.c.id == job_id)
        return ":".join(self.sql.execute(query).one())

    def namespace_ids(self, names) -> dict[str, int]:
        missing = sorted(set(names) - set(self.namespaces))
        if missing:
            for name, ns_id in namespace_ids(self.sql, missing).items():
                self.put(self.namespaces, name, ns_id)
        return self.namespaces

    # --- datasets --------------------------------------------------------------------------------

    def dataset_rows(self, keys) -> dict[tuple[str, str], DatasetRow]:
        """The datasets ``keys``, created (in (namespace, name) order) if new."""
        missing = sorted(set(keys) - set(self.datasets))
        if missing:
            session = self.sql
            ns = self.namespace_ids([k[0] for k in missing])
            stmt = q.insert_for(self.dialect, q.DATASETS).on_conflict_do_nothing(
                index_elements=["namespace_id", "name"])
            session.execute(stmt, [{"namespace_id": ns[n], "name": m, "physical_name": m,
                                    "facets": {}} for n, m in missing])
            for r in session.execute(q.DATASETS_BY_KEY, {"keys": missing}):
                self.put(self.datasets, (r.ns, r.name), dataset_row(r))
        return {k: self.touch(self.datasets[k]) for k in keys}

    def dataset_names(self, ids) -> dict[int, tuple[str, str]]:
        """(namespace, name) of the datasets with ``ids``."""
        query = select(q.DATASETS.c.id, q.NAMESPACES.c.name, q.DATASETS.c.name).join(
            q.NAMESPACES, q.NAMESPACES.c.id == q.DATASETS.c.namespace_id
        ).where(q.DATASETS.c.id.in_(ids))
        return {i: (n, m) for i, n, m in self.sql.execute(query)}

    # --- runs ------------------------------------------------------------------------------------

    def confirm(self, run: RunRow) -> None:
        """An event of ``run`` was folded: a provisional run is here to stay."""
        if self.provisional.get(run.uuid):
            self.put(self.provisional, run.uuid, False)

    def new_run(self, run: RunRow) -> RunRow:
        """Remember a new run; it is inserted by :meth:`run_id` or :meth:`flush`."""
        self.put(self.runs, run.uuid, run)
        self.put(self.io, run.uuid, {})
        return self.touch(run)

    def run_id(self, run: RunRow) -> int:
        """The run's id, inserting the run now if it is new."""
        if run.id is None:
            values = {c: getattr(run, c) for c in q.RUN_COLUMNS}
            run.id = self.sql.scalar(q.INSERT_RUN, values)
            run.changes = {}
        return run.id

    def run_io(self, run: RunRow) -> dict[tuple[int, str], IORow]:
        """The run's I/O rows by (dataset id, direction), to replace entries of."""
        ios = self.io[run.uuid]
        if self.scope is not None and ("io", run.uuid) not in self.scope.snaps:
            self.scope.snaps["io", run.uuid] = (ios, dict(ios))
        return ios

    # --- versions, quality, column lineage: staged in a batch, else written at once -------------

    def write_version(self, row: DatasetRow, *, uuid_str: str, facets: dict,
                      run_id: int | None, created_at) -> int:
        """:func:`~catalog.ingest.versions.write_version` of ``row`` (held locked)."""
        if self.stage is None:
            return versions.write_version(self.sql, row, uuid_str=uuid_str, facets=facets,
                                      run_id=run_id, created_at=created_at)
        return versions.write_version(self.session, row, uuid_str=uuid_str, facets=facets,
                                  run_id=run_id, created_at=created_at, stage=self.stage.version)

    def static_version(self, row: DatasetRow, facets: dict, at) -> int | None:
        """:func:`~catalog.ingest.versions.static_row_version` of ``row`` (held locked)."""
        if self.stage is None:
            return versions.static_row_version(self.sql, row, facets, at)
        return versions.static_row_version(self.session, row, facets, at, stage=self.stage.version)

    def record_quality(self, version_id: int, run_id: int | None, facets: dict) -> None:
        """Quality facets of a version, stored against it."""
        if self.stage is None:
            versions.record_quality(self.sql, version_id, run_id, facets)
        else:
            self.stage.quality.append((version_id, run_id, facets))

    def column_lineage(self, rows: list[dict]) -> None:
        """Column lineage rows of an output version."""
        if self.stage is None:
            self.sql.execute(q.insert_column_lineage(self.dialect), rows)
        else:
            self.stage.column_lineage += rows
