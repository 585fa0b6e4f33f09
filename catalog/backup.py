"""Backup and restore of the whole metadata store as JSON lines (``catalog export|import``).

Generic over ``Base.metadata``: every mapped table is included, so tables added later are backed
up without touching this module. The file is::

    {"format": "recocatalog-export", "version": 1, "revision": "0002", "tables": {...}}
    {"table": "namespaces", "row": {"id": 1, "name": "shop", ...}}
    ...                                  (tables in foreign-key order, rows by primary key)
    {"end": true, "rows": {"namespaces": 1, ...}}

Ids are kept as they were, so every reference stays valid and read APIs answer the same after a
restore. Foreign keys that form cycles (a dataset's current version) are written NULL first and
set once every table is in. An import is one transaction: a truncated file, a bad row or a
database error leaves the target as it was.
"""

from __future__ import annotations

import base64
import gzip
import io
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path

from sqlalchemy import Connection, Engine, Table, func, select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql.ddl import sort_tables_and_constraints
from sqlalchemy.types import Date, DateTime, LargeBinary

from catalog.db import current_revision, is_sqlite
from catalog.errors import BadRequest, Conflict
from catalog.models import Base

FORMAT = "recocatalog-export"
VERSION = 1
BATCH = 1000
# Told ``(rows done, rows in all)`` every BATCH rows and at the end; the total None if unknown.
ProgressCallback = Callable[[int, int | None], None]


def table_order() -> tuple[list[Table], dict[str, list[str]]]:
    """Tables in foreign-key order, and per table the columns of foreign keys in cycles.

    Those columns are loaded NULL and set after every row is in.
    """
    ordered = sort_tables_and_constraints(Base.metadata.tables.values())
    tables = [t for t, _ in ordered if t is not None]
    deferred: dict[str, list[str]] = {}
    for t, fks in ordered:
        if t is None:
            for fk in fks:
                deferred.setdefault(fk.table.name, []).extend(fk.column_keys)
    return tables, deferred


def _encode(value):
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bytes | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    return value


def _decoder(column):
    affinity = column.type._type_affinity  # a TypeDecorator's is its implementation's
    if affinity is DateTime:
        return lambda v: None if v is None else datetime.fromisoformat(v)
    if affinity is Date:
        return lambda v: None if v is None else date.fromisoformat(v)
    if affinity is LargeBinary:
        return lambda v: None if v is None else base64.b64decode(v)
    return None


@contextmanager
def _open(path: str, mode: str) -> Iterator[io.TextIOBase]:
    """A text stream on ``path`` (gzip for ``*.gz``; ``-`` is stdin/stdout)."""
    if path == "-":
        yield sys.stdout if "w" in mode else sys.stdin
    elif path.endswith(".gz"):
        with gzip.open(path, mode + "t", encoding="utf-8") as fh:
            yield fh
    else:
        with open(path, mode, encoding="utf-8") as fh:
            yield fh


def export(engine: Engine, path: str, *, progress: ProgressCallback | None = None
           ) -> dict[str, int]:
    """Write every table of the catalog to ``path``; the row count of each table.

    Reads in one transaction, so the file is a consistent snapshot even while writers run: on
    PostgreSQL a REPEATABLE READ, read-only one (under the default READ COMMITTED every table
    would be read at its own moment, and a run could land in the file without its versions);
    SQLite's transaction is a snapshot already.
    """
    tables, _ = table_order()
    counts: dict[str, int] = {}
    snapshot = ({"isolation_level": "REPEATABLE READ", "postgresql_readonly": True}
                if engine.dialect.name == "postgresql" else {})
    with engine.connect().execution_options(**snapshot) as conn, _open(path, "w") as out:
        header = {"format": FORMAT, "version": VERSION, "revision": current_revision(engine),
                  "dialect": engine.dialect.name,
                  "exportedAt": datetime.now(UTC).isoformat(),
                  "tables": {t.name: [c.name for c in t.columns] for t in tables}}
        out.write(json.dumps(header) + "\n")
        # Counted in the export's own transaction (after the header's revision, read on another
        # connection that SQLite's write lock, taken at this one's BEGIN, would keep waiting).
        total = _row_count(conn, tables) if progress else None
        done = 0
        for table in tables:
            n = 0
            result = conn.execution_options(stream_results=True, yield_per=BATCH).execute(
                select(table).order_by(*table.primary_key.columns))
            for row in result.mappings():
                out.write(json.dumps({"table": table.name, "row": {
                    k: _encode(v) for k, v in row.items()}}, ensure_ascii=False) + "\n")
                n += 1
                if progress and (done + n) % BATCH == 0:
                    progress(done + n, total)
            counts[table.name] = n
            done += n
        out.write(json.dumps({"end": True, "rows": counts}) + "\n")
    if progress:
        progress(done, total)
    return counts


def _row_count(conn: Connection, tables: list[Table]) -> int:
    return sum(conn.scalar(select(func.count()).select_from(t)) for t in tables)


def _wipe(conn: Connection, tables: list[Table]) -> None:
    if conn.dialect.name == "postgresql":
        conn.execute(text("TRUNCATE " + ", ".join(f'"{t.name}"' for t in tables) + " CASCADE"))
        return
    conn.execute(text("PRAGMA defer_foreign_keys=ON"))  # cycles: checked at commit
    for t in reversed(tables):
        conn.execute(t.delete())


def _reset_sequences(conn: Connection, tables: list[Table]) -> None:
    """PostgreSQL: move each id sequence past the imported ids (SQLite does it by itself)."""
    if conn.dialect.name != "postgresql":
        return
    for t in tables:
        pk = list(t.primary_key.columns)
        if len(pk) == 1 and pk[0].autoincrement in (True, "auto") and \
                pk[0].type._type_affinity.__name__ == "Integer":
            conn.execute(text(
                f"SELECT setval(pg_get_serial_sequence('\"{t.name}\"', '{pk[0].name}'), "
                f"COALESCE(MAX(\"{pk[0].name}\"), 1), MAX(\"{pk[0].name}\") IS NOT NULL) "
                f"FROM \"{t.name}\""))


class _Loader:
    """Rows of one import, inserted in batches; cyclic foreign keys kept for the end."""

    def __init__(self, conn: Connection, header: dict):
        tables, self.deferred = table_order()
        self.conn, self.tables = conn, {t.name: t for t in tables}
        self.columns: dict[str, list[str]] = {}
        for name, cols in header["tables"].items():
            table = self.tables.get(name)
            if table is None:
                raise BadRequest(f"the export holds table {name!r}, which this catalog does not "
                                 "have; import it into the catalog version that wrote it")
            unknown = sorted(set(cols) - set(table.columns.keys()))
            if unknown:
                raise BadRequest(f"the export's table {name!r} has columns {unknown} this "
                                 "catalog does not have")
            self.columns[name] = cols
        self.decoders = {name: {c: d for c in cols if (d := _decoder(self.tables[name].c[c]))}
                         for name, cols in self.columns.items()}
        self.pending: list[dict] = []
        self.pending_table: str | None = None
        self.later: list[tuple[str, dict, dict]] = []  # (table, pk, deferred values)
        self.counts: dict[str, int] = {}

    def add(self, name: str, row: dict) -> None:
        if name not in self.columns:
            raise BadRequest(f"row of table {name!r}, which the export's header does not list")
        if name != self.pending_table:
            self.flush()
            self.pending_table = name
        for column, decode in self.decoders[name].items():
            if column in row:
                row[column] = decode(row[column])
        late = {c: row[c] for c in self.deferred.get(name, ()) if row.get(c) is not None}
        if late:
            table = self.tables[name]
            pk = {c.name: row[c.name] for c in table.primary_key.columns}
            # The UPDATE must not stamp "now" into onupdate columns (updated_at): keep theirs.
            kept = {c.name: row[c.name] for c in table.columns
                    if c.onupdate is not None and c.name in row}
            self.later.append((name, pk, {**late, **kept}))
            row = {**row, **dict.fromkeys(late)}
        self.pending.append(row)
        self.counts[name] = self.counts.get(name, 0) + 1
        if len(self.pending) >= BATCH:
            self.flush()

    def flush(self) -> None:
        if self.pending:
            self.conn.execute(self.tables[self.pending_table].insert(), self.pending)
            self.pending = []

    def finish(self) -> None:
        self.flush()
        for name, pk, values in self.later:
            table = self.tables[name]
            self.conn.execute(update(table).where(
                *[table.c[k] == v for k, v in pk.items()]).values(**values))
        _reset_sequences(self.conn, list(self.tables.values()))


def import_(engine: Engine, path: str, *, replace: bool = False,
            progress: ProgressCallback | None = None) -> dict[str, int]:
    """Load an export into ``engine``'s database, all or nothing; the row count of each table.

    The target must be at the export's schema revision and empty, unless ``replace`` (then its
    rows are deleted in the same transaction) and its audit trail is empty: the trail is
    append-only, so a restore over audited history is refused. ``progress`` learns the rows
    read so far; the total only at the end (the file states it in its last line).
    """
    if not (path == "-" or Path(path).is_file()):
        raise BadRequest(f"no such export file: {path}")
    target = current_revision(engine)
    try:
        return _import(engine, path, target, replace, progress)
    except DBAPIError as exc:
        first = (str(exc.orig).strip().splitlines() or [type(exc.orig).__name__])[0]
        raise BadRequest(f"{path}: the database refused the import ({first}); nothing was "
                         "imported") from None


def _import(engine: Engine, path: str, target: str | None, replace: bool,
            progress: ProgressCallback | None) -> dict[str, int]:
    with _open(path, "r") as fh:
        header = _header(fh.readline(), path)
        if header["revision"] != target:
            raise Conflict(f"the export is at schema revision {header['revision']}, the target "
                           f"database at {target or 'no revision'}: bring both to the same "
                           "revision with `catalog db upgrade` first")
        with engine.begin() as conn:
            tables, _ = table_order()
            if is_sqlite(engine):
                conn.execute(text("PRAGMA defer_foreign_keys=ON"))
            if _row_count(conn, tables):
                if not replace:
                    raise Conflict("the target database is not empty; import into an empty "
                                   "database, or pass --replace to delete its rows first")
                audited = conn.scalar(text("SELECT count(*) FROM audit_log"))
                if audited:
                    raise Conflict(
                        f"the target database's audit trail holds {audited} entries and is "
                        "append-only, so --replace cannot delete it: restore into a new, empty "
                        "database (`catalog db upgrade` on a fresh URL) instead")
                # The (empty) audit trail is left alone: its triggers refuse even an empty TRUNCATE.
                _wipe(conn, [t for t in tables if t.name != "audit_log"])
            loader = _Loader(conn, header)
            end = None
            rows = 0
            for number, line in enumerate(fh, start=2):
                if not line.strip():
                    continue
                record = _record(line, path, number)
                if record.get("end"):
                    end = record
                    break
                loader.add(record["table"], record["row"])
                rows += 1
                if progress and rows % BATCH == 0:
                    progress(rows, None)
            if end is None:
                raise BadRequest(f"{path} is truncated: no end record; nothing was imported")
            expected = {k: v for k, v in (end.get("rows") or {}).items() if v}
            if expected != loader.counts:
                raise BadRequest(f"{path}: row counts {loader.counts} differ from the end "
                                 f"record's {end.get('rows')}; nothing was imported")
            loader.finish()
    if progress:
        progress(rows, rows)
    return loader.counts


def _header(line: str, path: str) -> dict:
    try:
        header = json.loads(line)
    except json.JSONDecodeError:
        header = None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise BadRequest(f"{path} is not a catalog export (no {FORMAT} header line)")
    if header.get("version") != VERSION:
        raise BadRequest(f"{path} is export format version {header.get('version')}; this "
                         f"catalog reads version {VERSION}")
    return header


def _record(line: str, path: str, number: int) -> dict:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        raise BadRequest(f"{path} line {number}: not JSON ({exc.msg}); nothing was "
                         "imported") from None
    if not isinstance(record, dict) or not (record.get("end") or (
            isinstance(record.get("table"), str) and isinstance(record.get("row"), dict))):
        raise BadRequest(f"{path} line {number}: expected a table row record; nothing was "
                         "imported")
    return record
