"""search index: tags and owners on each PostgreSQL search document

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-28 06:40:00

Why: the search page counts tag and owner facets over every matching document. Joining the
matches to dataset_tags and dataset_owners cost one index probe per match per facet (~200 ms of
the 240 ms a common word took with 100,000 datasets; profile in bench/RESULTS.md). With the names
on the document row, both facets are counted in the same pass over the matches as kind,
namespace and quality, and tag/owner filters are a test on the row.
Existing rows: every dataset document gets its tags and owners (sorted) at upgrade; job documents
get empty arrays. ``search_refresh_dataset`` (0004's triggers call it) now writes them too, so the
triggers and every writer stay unchanged. SQLite: nothing changes (its search still joins; its
catalogs are small). GIN indexes on both arrays serve tag and owner filters without words, a
(name, namespace, doc_id) index the unworded list. Downgrade drops the columns and indexes and
restores 0004's refresh function.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Sorted names, so a document's arrays do not depend on insertion order.
_TAG_ARRAY = ("ARRAY(SELECT t.name FROM dataset_tags dt JOIN tags t ON t.id = dt.tag_id "
              "WHERE dt.dataset_id = {id} ORDER BY t.name)")
_OWNER_ARRAY = ("ARRAY(SELECT o.name FROM dataset_owners o WHERE o.dataset_id = {id} "
                "ORDER BY o.name)")


# What this revision uses of 0004's SQL, frozen here as it was (a revision never imports another:
# 0004's module may change without changing what this one did).
_DOC_COLUMNS = 'doc_id, entity, entity_id, namespace, name, kind, quality'
_PG_DATASET_DOC = """
SELECT d.id * 2::bigint, 'd', d.id, n.name, d.name, d.kind,
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
END, setweight(to_tsvector('simple', regexp_replace(COALESCE(d.name, ''), '[^[:alnum:]]+', ' ', 'g')), 'A') || setweight(to_tsvector('simple', regexp_replace(COALESCE((SELECT string_agg(f.name || ' ' || COALESCE(f.description, ''), ' ') FROM dataset_fields f WHERE f.dataset_id = d.id), ''), '[^[:alnum:]]+', ' ', 'g')), 'B') || setweight(to_tsvector('simple', regexp_replace(COALESCE((SELECT string_agg(t.name, ' ') FROM dataset_tags dt JOIN tags t ON t.id = dt.tag_id WHERE dt.dataset_id = d.id), ''), '[^[:alnum:]]+', ' ', 'g')), 'B') || setweight(to_tsvector('simple', regexp_replace(COALESCE(d.description, ''), '[^[:alnum:]]+', ' ', 'g')), 'C') || setweight(to_tsvector('simple', regexp_replace(COALESCE(n.name, ''), '[^[:alnum:]]+', ' ', 'g')), 'C') || setweight(to_tsvector('simple', regexp_replace(COALESCE((SELECT string_agg(o.name, ' ') FROM dataset_owners o WHERE o.dataset_id = d.id), ''), '[^[:alnum:]]+', ' ', 'g')), 'C')
FROM datasets d JOIN namespaces n ON n.id = d.namespace_id"""
# 0004's search_refresh_dataset, restored by the downgrade.
_PG_DATASET_FUNCTION_0004 = """
CREATE FUNCTION search_refresh_dataset(ds_id integer) RETURNS void LANGUAGE sql AS $$
    DELETE FROM search_documents WHERE doc_id = ds_id * 2::bigint
      AND NOT EXISTS (SELECT 1 FROM datasets WHERE id = ds_id);
    INSERT INTO search_documents (doc_id, entity, entity_id, namespace, name, kind, quality, document)

SELECT d.id * 2::bigint, 'd', d.id, n.name, d.name, d.kind,
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
END, setweight(to_tsvector('simple', regexp_replace(COALESCE(d.name, ''), '[^[:alnum:]]+', ' ', 'g')), 'A') || setweight(to_tsvector('simple', regexp_replace(COALESCE((SELECT string_agg(f.name || ' ' || COALESCE(f.description, ''), ' ') FROM dataset_fields f WHERE f.dataset_id = d.id), ''), '[^[:alnum:]]+', ' ', 'g')), 'B') || setweight(to_tsvector('simple', regexp_replace(COALESCE((SELECT string_agg(t.name, ' ') FROM dataset_tags dt JOIN tags t ON t.id = dt.tag_id WHERE dt.dataset_id = d.id), ''), '[^[:alnum:]]+', ' ', 'g')), 'B') || setweight(to_tsvector('simple', regexp_replace(COALESCE(d.description, ''), '[^[:alnum:]]+', ' ', 'g')), 'C') || setweight(to_tsvector('simple', regexp_replace(COALESCE(n.name, ''), '[^[:alnum:]]+', ' ', 'g')), 'C') || setweight(to_tsvector('simple', regexp_replace(COALESCE((SELECT string_agg(o.name, ' ') FROM dataset_owners o WHERE o.dataset_id = d.id), ''), '[^[:alnum:]]+', ' ', 'g')), 'C')
FROM datasets d JOIN namespaces n ON n.id = d.namespace_id
    WHERE d.id = ds_id
    ON CONFLICT (doc_id) DO UPDATE SET namespace = EXCLUDED.namespace, name = EXCLUDED.name,
        kind = EXCLUDED.kind, quality = EXCLUDED.quality, document = EXCLUDED.document;
$$;
"""


def _refresh_dataset_function() -> str:
    """0004's ``search_refresh_dataset`` with the tags and owners columns written as well."""
    return f"""
CREATE OR REPLACE FUNCTION search_refresh_dataset(ds_id integer) RETURNS void LANGUAGE sql AS $$
    DELETE FROM search_documents WHERE doc_id = ds_id * 2::bigint
      AND NOT EXISTS (SELECT 1 FROM datasets WHERE id = ds_id);
    INSERT INTO search_documents ({_DOC_COLUMNS}, document, tags, owners)
    SELECT doc.*, {_TAG_ARRAY.format(id="ds_id")}, {_OWNER_ARRAY.format(id="ds_id")}
    FROM ({_PG_DATASET_DOC}
          WHERE d.id = ds_id) doc
    ON CONFLICT (doc_id) DO UPDATE SET namespace = EXCLUDED.namespace, name = EXCLUDED.name,
        kind = EXCLUDED.kind, quality = EXCLUDED.quality, document = EXCLUDED.document,
        tags = EXCLUDED.tags, owners = EXCLUDED.owners;
$$;
"""


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("ALTER TABLE search_documents ADD COLUMN tags TEXT[] NOT NULL DEFAULT '{}', "
               "ADD COLUMN owners TEXT[] NOT NULL DEFAULT '{}'")
    op.execute(_refresh_dataset_function())
    op.execute(f"""
        UPDATE search_documents s SET tags = {_TAG_ARRAY.format(id="s.entity_id")},
                                      owners = {_OWNER_ARRAY.format(id="s.entity_id")}
        WHERE s.entity = 'd'""")
    # Browsing by tag or owner without words finds the documents through these, and the
    # unworded list (ordered by name) reads its page off the name index.
    op.execute("CREATE INDEX ix_search_documents_tags ON search_documents USING gin (tags)")
    op.execute("CREATE INDEX ix_search_documents_owners ON search_documents USING gin (owners)")
    op.execute("CREATE INDEX ix_search_documents_name ON search_documents "
               "(name, namespace, doc_id)")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    # 0004's dataset function (its job function is unchanged here) restores the old refresh.
    op.execute(_PG_DATASET_FUNCTION_0004.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION"))
    op.execute("DROP INDEX ix_search_documents_name")
    op.execute("ALTER TABLE search_documents DROP COLUMN tags, DROP COLUMN owners")
