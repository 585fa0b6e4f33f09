"""The statements of the ingest path, built once per backend.

Building a SQLAlchemy statement (columns, aliases, cache key) cost more CPU than running it, and
ingestion runs the same dozen statements for every event; so they are built here once, with bound
parameters, and SQLAlchemy reuses their compiled form. Row locks are FOR NO KEY UPDATE: they do not
wait for the FOR KEY SHARE locks that foreign-key checks of concurrent inserts take.
"""

from __future__ import annotations

from functools import cache

from sqlalchemy import bindparam, func, select, tuple_
from sqlalchemy.dialects import postgresql, sqlite

from catalog.models import (
    ColumnLineage,
    Dataset,
    DatasetVersion,
    Job,
    JobVersion,
    LineageEdge,
    LineageEvent,
    Namespace,
    Run,
    RunIO,
    RunStateChange,
)

EVENTS, NAMESPACES, JOBS, JOB_VERSIONS = (
    LineageEvent.__table__, Namespace.__table__, Job.__table__, JobVersion.__table__)
DATASETS, VERSIONS, RUNS, IO = (
    Dataset.__table__, DatasetVersion.__table__, Run.__table__, RunIO.__table__)
EDGES, STATES, COLUMN_LINEAGE = (
    LineageEdge.__table__, RunStateChange.__table__, ColumnLineage.__table__)
# Run columns other than the id, as RunRow holds them.
RUN_COLUMNS = ("uuid", "job_id", "state", "state_at", "nominal_start_time", "nominal_end_time",
               "started_at", "ended_at", "facets", "error_message", "parent_run_uuid",
               "job_version_id", "created_at")


def insert_for(dialect: str, table):
    """The backend's INSERT, which knows ON CONFLICT."""
    return (postgresql if dialect == "postgresql" else sqlite).insert(table)


def _expanding(name: str):
    return bindparam(name, expanding=True)


# --- reads and locks ----------------------------------------------------------------------------

_CURRENT_JOB_VERSION = JOB_VERSIONS.alias("jv")
_JOBS = (
    select(JOBS, NAMESPACES.c.name.label("ns"), _CURRENT_JOB_VERSION.c.uuid.label("jv_uuid"))
    .join(NAMESPACES, NAMESPACES.c.id == JOBS.c.namespace_id)
    .outerjoin(_CURRENT_JOB_VERSION, _CURRENT_JOB_VERSION.c.id == JOBS.c.current_version_id)
    .order_by(JOBS.c.id).with_for_update(key_share=True, of=JOBS)
)
#: Jobs by (namespace, name) ``keys``, locked in id order, with their current version's uuid.
JOBS_LOCKED = _JOBS.where(tuple_(NAMESPACES.c.name, JOBS.c.name).in_(_expanding("keys")))

_DATASETS = select(DATASETS, NAMESPACES.c.name.label("ns")).join(
    NAMESPACES, NAMESPACES.c.id == DATASETS.c.namespace_id)
#: Datasets by (namespace, name) ``keys``, not locked.
DATASETS_BY_KEY = _DATASETS.where(tuple_(NAMESPACES.c.name, DATASETS.c.name).in_(
    _expanding("keys")))
_CURRENT = VERSIONS.alias("cv")
#: Datasets by ``ids``, locked in id order, with what the version rules need of the current one.
DATASETS_LOCKED = (
    _DATASETS.add_columns(_CURRENT.c.created_at.label("cv_at"),
                          _CURRENT.c.fingerprint.label("cv_fp"),
                          _CURRENT.c.schema_fields.label("cv_fields"))
    .outerjoin(_CURRENT, _CURRENT.c.id == DATASETS.c.current_version_id)
    .where(DATASETS.c.id.in_(_expanding("ids")))
    .order_by(DATASETS.c.id).with_for_update(key_share=True, of=DATASETS)
)
#: The same of versions by ``ids``.
VERSIONS_BY_ID = select(VERSIONS.c.id, VERSIONS.c.created_at, VERSIONS.c.fingerprint,
                        VERSIONS.c.schema_fields).where(VERSIONS.c.id.in_(_expanding("ids")))
#: Versions by (dataset id, fingerprint) ``keys``, oldest first.
VERSIONS_BY_FINGERPRINT = (
    select(VERSIONS.c.dataset_id, VERSIONS.c.fingerprint, VERSIONS.c.id)
    .where(tuple_(VERSIONS.c.dataset_id, VERSIONS.c.fingerprint).in_(_expanding("keys")))
    .order_by(VERSIONS.c.version)
)
#: Runs by ``uuids``, a row per run I/O row (io_* columns NULL for a run without I/O).
RUNS_BY_UUID = (
    select(RUNS, IO.c.dataset_id.label("io_dataset_id"), IO.c.direction.label("io_direction"),
           IO.c.dataset_version_id.label("io_version_id"), IO.c.facets.label("io_facets"))
    .outerjoin(IO, IO.c.run_id == RUNS.c.id).where(RUNS.c.uuid.in_(_expanding("uuids")))
)
#: A job version's id by ``uuid``.
JOB_VERSION_BY_UUID = select(JOB_VERSIONS.c.id).where(JOB_VERSIONS.c.uuid == bindparam("uuid"))

# --- writes -------------------------------------------------------------------------------------

INSERT_RUN = RUNS.insert().returning(RUNS.c.id)
INSERT_RUNS = RUNS.insert().returning(RUNS.c.uuid, RUNS.c.id)
DELETE_RUNS = RUNS.delete().where(RUNS.c.id.in_(_expanding("ids")))
# inline(): no RETURNING of the new id (nobody reads it; and the flush pipelines these writes).
INSERT_STATES = STATES.insert().inline()
INSERT_VERSIONS = VERSIONS.insert().inline()  # ids are given (staged versions)


@cache
def record_events(dialect: str):
    """Raw events, skipping stored hashes; returns the hashes stored."""
    return insert_for(dialect, EVENTS).on_conflict_do_nothing(
        index_elements=["event_hash"]).returning(EVENTS.c.event_hash)


@cache
def insert_runs(dialect: str):
    """Runs, skipping uuids that exist; returns (uuid, id) of those inserted."""
    return insert_for(dialect, RUNS).on_conflict_do_nothing(index_elements=["uuid"]).returning(
        RUNS.c.uuid, RUNS.c.id)


@cache
def insert_version(dialect: str):
    """A dataset version numbered after the dataset's last (``ds``); nothing if ``uuid`` exists.

    The caller holds the dataset's lock, so the number cannot race.
    """
    number = select(func.coalesce(func.max(VERSIONS.c.version), 0) + 1).where(
        VERSIONS.c.dataset_id == bindparam("ds")).scalar_subquery()
    return insert_for(dialect, VERSIONS).values(
        uuid=bindparam("uuid"), dataset_id=bindparam("ds"), version=number,
        schema_fields=bindparam("schema_fields"), row_count=bindparam("row_count"),
        fingerprint=bindparam("fingerprint"), run_id=bindparam("run_id"),
        lifecycle_state=bindparam("lifecycle_state"), facets=bindparam("facets"),
        created_at=bindparam("created_at"),
    ).on_conflict_do_nothing(index_elements=["uuid"]).returning(VERSIONS.c.id)


@cache
def upsert_io(dialect: str):
    """Run I/O rows, replacing the facets of existing ones and giving them a version."""
    stmt = insert_for(dialect, IO).inline()
    return stmt.on_conflict_do_update(
        index_elements=["run_id", "dataset_id", "direction"],
        # A version, once linked, stays (as registration may have linked one meanwhile).
        set_={"facets": stmt.excluded.facets, "dataset_version_id": func.coalesce(
            IO.c.dataset_version_id, stmt.excluded.dataset_version_id)})


@cache
def upsert_edges(dialect: str):
    """Edges, or widen a stored edge's first/last seen window; unchanged rows are not rewritten."""
    stmt = insert_for(dialect, EDGES).inline()
    t, new = EDGES.c, stmt.excluded
    least, greatest = (func.least, func.greatest) if dialect == "postgresql" else (
        func.min, func.max)
    return stmt.on_conflict_do_update(
        index_elements=["src_kind", "src_id", "dst_kind", "dst_id"],
        set_={"first_seen_at": least(t.first_seen_at, new.first_seen_at),
              "last_seen_at": greatest(t.last_seen_at, new.last_seen_at)},
        where=(new.first_seen_at < t.first_seen_at) | (new.last_seen_at > t.last_seen_at),
    )


@cache
def insert_column_lineage(dialect: str):
    """Column lineage rows, skipping those already recorded."""
    return insert_for(dialect, COLUMN_LINEAGE).on_conflict_do_nothing(index_elements=[
        "output_version_id", "output_field", "input_dataset_id", "input_field",
        "transformation_type", "transformation_subtype"])

