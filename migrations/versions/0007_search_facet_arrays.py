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

import importlib.util
from collections.abc import Sequence
from pathlib import Path

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


def _search_index_0004():
    """Migration 0004's module: the document SQL and the original refresh function."""
    path = Path(__file__).with_name("0004_search_index.py")
    spec = importlib.util.spec_from_file_location("search_index_0004", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _refresh_dataset_function(m) -> str:
    """0004's ``search_refresh_dataset`` with the tags and owners columns written as well."""
    return f"""
CREATE OR REPLACE FUNCTION search_refresh_dataset(ds_id integer) RETURNS void LANGUAGE sql AS $$
    DELETE FROM search_documents WHERE doc_id = ds_id * 2::bigint
      AND NOT EXISTS (SELECT 1 FROM datasets WHERE id = ds_id);
    INSERT INTO search_documents ({m._DOC_COLUMNS}, document, tags, owners)
    SELECT doc.*, {_TAG_ARRAY.format(id="ds_id")}, {_OWNER_ARRAY.format(id="ds_id")}
    FROM ({m._PG_DATASET_DOC}
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
    op.execute(_refresh_dataset_function(_search_index_0004()))
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
    m = _search_index_0004()
    # 0004's functions, minus the job function (unchanged here), restore the old refresh.
    dataset_fn = m._PG_FUNCTIONS.split("CREATE FUNCTION search_refresh_job")[0]
    op.execute(dataset_fn.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION"))
    op.execute("DROP INDEX ix_search_documents_name")
    op.execute("ALTER TABLE search_documents DROP COLUMN tags, DROP COLUMN owners")
