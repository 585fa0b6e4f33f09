"""search index: a new current version or a quality result refreshes only the quality status

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-28 11:20:00

Why: 0004's triggers rebuild a dataset's whole search document (its tsvector over name, columns,
tags, description and owners) when the dataset gets a new current version and for every quality
assertion row stored. Both happen on almost every COMPLETE event a pipeline sends, and neither
changes anything but the document's quality status; the rebuild was the costliest part of
ingesting an event on PostgreSQL (about 1 ms of server time per dataset row). Now a change of
``current_version_id`` only recomputes ``quality`` (and only when the id really changed), and
quality assertions do the same, on PostgreSQL once per statement for the datasets it touched.
Existing rows: unchanged (documents are already current). Downgrade restores 0004's triggers.
"""

import importlib.util
from collections.abc import Sequence
from pathlib import Path

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _search_index_0004():
    """Migration 0004's module: the quality expression and the original triggers."""
    path = Path(__file__).with_name("0004_search_index.py")
    spec = importlib.util.spec_from_file_location("search_index_0004", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _quality_update(ids: str, m) -> str:
    """Recompute the quality status of the dataset documents whose dataset ids ``ids`` selects."""
    return f"""
    UPDATE search_documents SET quality = q.status
    FROM (SELECT d.id, {m._QUALITY} AS status FROM datasets d WHERE d.id IN ({ids})) q
    WHERE search_documents.doc_id = q.id * 2
      AND search_documents.quality IS DISTINCT FROM q.status"""


def _sqlite_quality_update(x: str, m) -> str:
    return f"""
    UPDATE search_documents SET quality = (SELECT {m._QUALITY} FROM datasets d WHERE d.id = {x})
    WHERE doc_id = ({x}) * 2;"""


_QA_DATASET = "(SELECT v.dataset_id FROM dataset_versions v WHERE v.id = {row}.dataset_version_id)"


def upgrade() -> None:
    m = _search_index_0004()
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER search_datasets ON datasets")
        op.execute("CREATE TRIGGER search_datasets AFTER INSERT OR DELETE OR UPDATE OF name, "
                   "namespace_id, kind, description ON datasets "
                   "FOR EACH ROW EXECUTE FUNCTION search_trg_datasets()")
        op.execute(f"""
            CREATE FUNCTION search_trg_datasets_quality() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                {_quality_update("NEW.id", m)};
                RETURN NULL;
            END $$""")
        op.execute("CREATE TRIGGER search_datasets_quality AFTER UPDATE OF current_version_id "
                   "ON datasets FOR EACH ROW WHEN (OLD.current_version_id IS DISTINCT FROM "
                   "NEW.current_version_id) EXECUTE FUNCTION search_trg_datasets_quality()")
        op.execute("DROP TRIGGER search_quality_assertions ON quality_assertions")
        for event, table in (("INSERT", "NEW"), ("DELETE", "OLD")):
            ids = ("SELECT v.dataset_id FROM dataset_versions v "
                   "WHERE v.id IN (SELECT dataset_version_id FROM changed)")
            op.execute(f"""
                CREATE FUNCTION search_trg_quality_{event.lower()}() RETURNS trigger
                LANGUAGE plpgsql AS $$
                BEGIN
                    {_quality_update(ids, m)};
                    RETURN NULL;
                END $$""")
            op.execute(f"CREATE TRIGGER search_quality_{event.lower()} AFTER {event} ON "
                       f"quality_assertions REFERENCING {table} TABLE AS changed FOR EACH "
                       f"STATEMENT EXECUTE FUNCTION search_trg_quality_{event.lower()}()")
        return
    for name in ("ds_upd", "qa_ins", "qa_del"):
        op.execute(f"DROP TRIGGER search_{name}")
    op.execute(f"""CREATE TRIGGER search_ds_upd AFTER UPDATE OF name, namespace_id, kind,
        description ON datasets FOR EACH ROW BEGIN {m._sqlite_refresh_dataset("NEW.id")}
        END""")
    op.execute(f"""CREATE TRIGGER search_ds_ver AFTER UPDATE OF current_version_id ON datasets
        FOR EACH ROW WHEN OLD.current_version_id IS NOT NEW.current_version_id
        BEGIN {_sqlite_quality_update("NEW.id", m)} END""")
    for name, event, row in (("qa_ins", "INSERT", "NEW"), ("qa_del", "DELETE", "OLD")):
        op.execute(f"""CREATE TRIGGER search_{name} AFTER {event} ON quality_assertions
            FOR EACH ROW BEGIN {_sqlite_quality_update(_QA_DATASET.format(row=row), m)} END""")


def downgrade() -> None:
    m = _search_index_0004()
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER search_datasets_quality ON datasets")
        op.execute("DROP FUNCTION search_trg_datasets_quality()")
        for event in ("insert", "delete"):
            op.execute(f"DROP TRIGGER search_quality_{event} ON quality_assertions")
            op.execute(f"DROP FUNCTION search_trg_quality_{event}()")
        for table, _, _, events in m._PG_TRIGGERS:
            if table in ("datasets", "quality_assertions"):
                op.execute(f"DROP TRIGGER IF EXISTS search_{table} ON {table}")
                op.execute(f"CREATE TRIGGER search_{table} AFTER {events} ON {table} "
                           f"FOR EACH ROW EXECUTE FUNCTION search_trg_{table}()")
        return
    for name in ("ds_upd", "ds_ver", "qa_ins", "qa_del"):
        op.execute(f"DROP TRIGGER IF EXISTS search_{name}")
    for name, event, table, _kind, x in m._SQLITE_TRIGGERS:
        if name in ("ds_upd", "qa_ins", "qa_del"):
            op.execute(f"CREATE TRIGGER search_{name} {event} ON {table} FOR EACH ROW BEGIN "
                       f"{m._sqlite_refresh_dataset(x)}\nEND")
