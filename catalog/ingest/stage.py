"""Rows a batch ingest writes at the end instead of one statement (and one SAVEPOINT) per event.

In a batch every event folds inside its own SAVEPOINT, so that a bad event rolls back alone. An
event that writes a dataset version at once pays three round trips for it (SAVEPOINT, INSERT,
RELEASE), and a steady pipeline's COMPLETE events all write versions. :class:`Stage` instead hands
out version ids up front (PostgreSQL: from the table's sequence, a block at a time; SQLite: after
the largest id, as the transaction holds SQLite's only write lock) and keeps the version rows,
their quality results and column lineage in memory until :meth:`Stage.flush`, which numbers the
versions per dataset and writes each table with one statement. An event that fails drops what it
staged (:meth:`Stage.mark` / :meth:`Stage.rewind`), as its SAVEPOINT would have.

Whether a version uuid is already stored (a re-sent COMPLETE) is looked up before folding, for all
of a batch's COMPLETE outputs in one query, and at once for the rare other kinds of version.
A single event (no SAVEPOINT to save) writes at once, as before.
"""

from __future__ import annotations

from sqlalchemy import bindparam, func, select, text
from sqlalchemy.orm import Session

from catalog.driver import execute_many, fetch
from catalog.ingest import datasets as dsvc
from catalog.ingest import sql as q
from catalog.ingest import versions

_PG_IDS = text("SELECT nextval(pg_get_serial_sequence('dataset_versions', 'id')) "
               "FROM generate_series(1, :n)")
_SQLITE_MAX_ID = select(func.coalesce(func.max(q.VERSIONS.c.id), 0))
_MAX_VERSIONS = (select(q.VERSIONS.c.dataset_id, func.max(q.VERSIONS.c.version))
                 .where(q.VERSIONS.c.dataset_id.in_(bindparam("ids", expanding=True)))
                 .group_by(q.VERSIONS.c.dataset_id))
_IDS_BY_UUID = select(q.VERSIONS.c.uuid, q.VERSIONS.c.id).where(
    q.VERSIONS.c.uuid.in_(bindparam("uuids", expanding=True)))


class Stage:
    """Versions, quality results and column lineage of a batch, written by :meth:`flush`."""

    def __init__(self, session: Session, dialect: str):
        self.session = session
        self.dialect = dialect
        # Version uuid -> id for uuids looked up (None: not stored) or staged here.
        self.version_ids: dict[str, int | None] = {}
        self.versions: list[dict] = []
        self.quality: list[tuple[int, int | None, dict]] = []
        self.column_lineage: list[dict] = []
        self._ids: list[int] = []
        self._next_sqlite_id: int | None = None
        self.expected = 0  # versions the batch will likely write: the size of the next id block

    def mark(self) -> tuple[int, int, int]:
        """Where the lists stand before an event."""
        return len(self.versions), len(self.quality), len(self.column_lineage)

    def rewind(self, mark: tuple[int, int, int]) -> None:
        """Drop what a failed event staged after ``mark``."""
        for v in self.versions[mark[0]:]:
            self.version_ids[v["uuid"]] = None  # looked up before it was staged: not stored
        del self.versions[mark[0]:], self.quality[mark[1]:], self.column_lineage[mark[2]:]

    def lookup(self, uuids) -> None:
        """Find which of the version ``uuids`` are stored already (one query)."""
        todo = sorted(set(uuids) - set(self.version_ids))
        if todo:
            found = dict(fetch(self.session, _IDS_BY_UUID, {"uuids": todo}))
            for uuid in todo:
                self.version_ids[uuid] = found.get(uuid)

    def version(self, row: dsvc.DatasetRow, values: dict) -> tuple[int, bool]:
        """Stage a version of ``row``: (its id, True), or (the stored one's id, False)."""
        uuid = values["uuid"]
        self.lookup([uuid])
        if self.version_ids[uuid] is not None:
            return self.version_ids[uuid], False
        version_id = self._new_id()
        self.version_ids[uuid] = version_id
        self.versions.append({**values, "id": version_id, "dataset_id": values["ds"]})
        return version_id, True

    def _new_id(self) -> int:
        if self.dialect == "postgresql":
            if not self._ids:
                n = max(16, self.expected - len(self.versions))
                self._ids = [i for i, in fetch(self.session, _PG_IDS, {"n": n})][::-1]
            return self._ids.pop()
        if self._next_sqlite_id is None:
            self._next_sqlite_id = self.session.scalar(_SQLITE_MAX_ID) + 1
        self._next_sqlite_id += 1
        return self._next_sqlite_id - 1

    def flush(self) -> None:
        """Number and insert the staged versions, then their quality results and column lineage."""
        s = self.session
        if self.versions:
            ids = sorted({v["dataset_id"] for v in self.versions})
            last = dict(fetch(s, _MAX_VERSIONS, {"ids": ids}))
            rows = []
            for v in self.versions:
                number = last[v["dataset_id"]] = (last.get(v["dataset_id"]) or 0) + 1
                rows.append({c: v[c] for c in _VERSION_COLUMNS} | {"version": number})
            execute_many(s, q.INSERT_VERSIONS, rows, columnar=True)
        for version_id, run_id, facets in self.quality:
            versions.record_quality(s, version_id, run_id, facets)
        if self.column_lineage:
            execute_many(s, q.insert_column_lineage(self.dialect), self.column_lineage,
                         columnar=True)
        self.versions, self.quality, self.column_lineage = [], [], []


_VERSION_COLUMNS = ("id", "uuid", "dataset_id", "schema_fields", "row_count", "fingerprint",
                    "run_id", "lifecycle_state", "facets", "created_at")
