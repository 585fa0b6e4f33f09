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

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# What this revision uses of 0004's SQL, frozen here as it was (a revision never imports another:
# 0004's module may change without changing what this one did).
_QUALITY = """
CASE
  WHEN d.current_version_id IS NULL THEN 'unchecked'
  WHEN NOT EXISTS (SELECT 1 FROM quality_assertions qa
                   WHERE qa.dataset_version_id = d.current_version_id) THEN 'unchecked'
  WHEN EXISTS (
    SELECT 1 FROM quality_assertions qa
    WHERE qa.dataset_version_id = d.current_version_id AND NOT qa.success
      AND COALESCE(qa.run_id, -1) = COALESCE((
        SELECT q2.run_id FROM quality_assertions q2
        WHERE q2.dataset_version_id = d.current_version_id
        ORDER BY q2.created_at DESC, q2.id DESC LIMIT 1), -1)) THEN 'failing'
  ELSE 'passing'
END"""
# 0004's SQLite refresh of one dataset's search rows; {x} is the dataset id's expression.
_SQLITE_REFRESH_DATASET = """
    DELETE FROM search_fts WHERE rowid = ({x}) * 2;
    DELETE FROM search_documents WHERE doc_id = ({x}) * 2;
    INSERT INTO search_documents (doc_id, entity, entity_id, namespace, name, kind, quality)
SELECT d.id * 2, 'd', d.id, n.name, d.name, d.kind,
CASE
  WHEN d.current_version_id IS NULL THEN 'unchecked'
  WHEN NOT EXISTS (SELECT 1 FROM quality_assertions qa
                   WHERE qa.dataset_version_id = d.current_version_id) THEN 'unchecked'
  WHEN EXISTS (
    SELECT 1 FROM quality_assertions qa
    WHERE qa.dataset_version_id = d.current_version_id AND NOT qa.success
      AND COALESCE(qa.run_id, -1) = COALESCE((
        SELECT q2.run_id FROM quality_assertions q2
        WHERE q2.dataset_version_id = d.current_version_id
        ORDER BY q2.created_at DESC, q2.id DESC LIMIT 1), -1)) THEN 'failing'
  ELSE 'passing'
END
FROM datasets d JOIN namespaces n ON n.id = d.namespace_id WHERE d.id = {x};
    INSERT INTO search_fts (rowid, name, namespace, description, columns, tags, owners)
SELECT d.id * 2, d.name, n.name, COALESCE(d.description, ''),
       COALESCE((SELECT group_concat(f.name || ' ' || COALESCE(f.description, ''), ' ') FROM dataset_fields f WHERE f.dataset_id = d.id), ''), COALESCE((SELECT group_concat(t.name, ' ') FROM dataset_tags dt JOIN tags t ON t.id = dt.tag_id WHERE dt.dataset_id = d.id), ''), COALESCE((SELECT group_concat(o.name, ' ') FROM dataset_owners o WHERE o.dataset_id = d.id), '')
FROM datasets d JOIN namespaces n ON n.id = d.namespace_id WHERE d.id = {x};"""
# 0004's PostgreSQL row triggers that this revision replaces: table -> events.
_PG_TRIGGERS_0004 = {
    'datasets': 'INSERT OR DELETE OR UPDATE OF name, namespace_id, kind, description, '
                'current_version_id',
    'quality_assertions': 'INSERT OR DELETE',
}
# 0004's SQLite triggers that this revision replaces: (name, event, table, dataset id).
_SQLITE_TRIGGERS_0004 = [
    ('ds_upd', 'AFTER UPDATE OF name, namespace_id, kind, description, current_version_id',
     'datasets',
     'NEW.id'),
    ('qa_ins', 'AFTER INSERT',
     'quality_assertions',
     '(SELECT v.dataset_id FROM dataset_versions v WHERE v.id = NEW.dataset_version_id)'),
    ('qa_del', 'AFTER DELETE',
     'quality_assertions',
     '(SELECT v.dataset_id FROM dataset_versions v WHERE v.id = OLD.dataset_version_id)'),
]


def _quality_update(ids: str) -> str:
    """Recompute the quality status of the dataset documents whose dataset ids ``ids`` selects."""
    return f"""
    UPDATE search_documents SET quality = q.status
    FROM (SELECT d.id, {_QUALITY} AS status FROM datasets d WHERE d.id IN ({ids})) q
    WHERE search_documents.doc_id = q.id * 2
      AND search_documents.quality IS DISTINCT FROM q.status"""


def _sqlite_quality_update(x: str) -> str:
    return f"""
    UPDATE search_documents SET quality = (SELECT {_QUALITY} FROM datasets d WHERE d.id = {x})
    WHERE doc_id = ({x}) * 2;"""


_QA_DATASET = "(SELECT v.dataset_id FROM dataset_versions v WHERE v.id = {row}.dataset_version_id)"


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER search_datasets ON datasets")
        op.execute("CREATE TRIGGER search_datasets AFTER INSERT OR DELETE OR UPDATE OF name, "
                   "namespace_id, kind, description ON datasets "
                   "FOR EACH ROW EXECUTE FUNCTION search_trg_datasets()")
        op.execute(f"""
            CREATE FUNCTION search_trg_datasets_quality() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                {_quality_update("NEW.id")};
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
                    {_quality_update(ids)};
                    RETURN NULL;
                END $$""")
            op.execute(f"CREATE TRIGGER search_quality_{event.lower()} AFTER {event} ON "
                       f"quality_assertions REFERENCING {table} TABLE AS changed FOR EACH "
                       f"STATEMENT EXECUTE FUNCTION search_trg_quality_{event.lower()}()")
        return
    for name in ("ds_upd", "qa_ins", "qa_del"):
        op.execute(f"DROP TRIGGER search_{name}")
    op.execute(f"""CREATE TRIGGER search_ds_upd AFTER UPDATE OF name, namespace_id, kind,
        description ON datasets FOR EACH ROW BEGIN {_SQLITE_REFRESH_DATASET.format(x="NEW.id")}
        END""")
    op.execute(f"""CREATE TRIGGER search_ds_ver AFTER UPDATE OF current_version_id ON datasets
        FOR EACH ROW WHEN OLD.current_version_id IS NOT NEW.current_version_id
        BEGIN {_sqlite_quality_update("NEW.id")} END""")
    for name, event, row in (("qa_ins", "INSERT", "NEW"), ("qa_del", "DELETE", "OLD")):
        op.execute(f"""CREATE TRIGGER search_{name} AFTER {event} ON quality_assertions
            FOR EACH ROW BEGIN {_sqlite_quality_update(_QA_DATASET.format(row=row))} END""")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER search_datasets_quality ON datasets")
        op.execute("DROP FUNCTION search_trg_datasets_quality()")
        for event in ("insert", "delete"):
            op.execute(f"DROP TRIGGER search_quality_{event} ON quality_assertions")
            op.execute(f"DROP FUNCTION search_trg_quality_{event}()")
        for table, events in _PG_TRIGGERS_0004.items():
            op.execute(f"DROP TRIGGER IF EXISTS search_{table} ON {table}")
            op.execute(f"CREATE TRIGGER search_{table} AFTER {events} ON {table} "
                       f"FOR EACH ROW EXECUTE FUNCTION search_trg_{table}()")
        return
    for name in ("ds_upd", "ds_ver", "qa_ins", "qa_del"):
        op.execute(f"DROP TRIGGER IF EXISTS search_{name}")
    for name, event, table, x in _SQLITE_TRIGGERS_0004:
        op.execute(f"CREATE TRIGGER search_{name} {event} ON {table} FOR EACH ROW BEGIN "
                   f"{_SQLITE_REFRESH_DATASET.format(x=x)}\nEND")
