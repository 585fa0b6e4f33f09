"""The full-text search index: derived tables kept by database triggers, not mapped by the ORM.

Migration 0004 creates them: ``search_documents`` (one row per dataset and job: identity and the
facets kind, namespace, quality status) on both backends, with a weighted ``tsvector`` column and
GIN index on PostgreSQL, and the FTS5 table ``search_fts`` (plus FTS5's own shadow tables) on
SQLite. Triggers on datasets, fields, tags, owners, quality assertions and jobs rewrite a row
whenever what it indexes changes, so every writer (ingestion, registration, stewards' edits) keeps
the index current without knowing it exists. Autogenerate leaves these tables alone.
"""

from __future__ import annotations

# Tables of the index, by backend; ``search_fts_*`` are FTS5's shadow tables.
SEARCH_TABLES = {"sqlite": ("search_fts", "search_documents"),
                 "postgresql": ("search_documents",)}


def is_search_table(name: str | None) -> bool:
    """True for the index's tables, which have no ORM model."""
    return bool(name) and (name == "search_documents" or name.startswith("search_fts"))


def include_name(name, type_, parent_names) -> bool:
    """Alembic ``include_name`` hook: leave the search index out of autogenerate comparisons."""
    return not (type_ == "table" and is_search_table(name))
