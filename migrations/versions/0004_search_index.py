"""full-text search index

Revision ID: 0004
Revises: 0003

Why: the catalog's pages search names, descriptions, columns, tags and owners with facets (kind,
namespace, tag, owner, quality status); LIKE over every dataset and column does not scale to
100,000 datasets. The index is derived data: ``search_documents`` (one row per dataset and job,
``doc_id`` = 2*id for datasets, 2*id+1 for jobs) with a weighted tsvector and GIN index on
PostgreSQL, and an FTS5 table ``search_fts`` on SQLite. Triggers on datasets, dataset_fields,
dataset_tags, dataset_owners, quality_assertions and jobs rewrite a document whenever what it
indexes changes, so every writer keeps it current. See catalog/models/search.py.
Existing rows: every dataset and job is indexed at upgrade. Downgrade drops index and triggers.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Status of a dataset's current version: the outcome of its latest check (quality_status.py).
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

# Text of each indexed part of a dataset document; {agg} is group_concat or string_agg.
_COLUMNS = ("(SELECT {agg}(f.name || ' ' || COALESCE(f.description, ''), ' ') "
            "FROM dataset_fields f WHERE f.dataset_id = d.id)")
_TAGS = ("(SELECT {agg}(t.name, ' ') FROM dataset_tags dt JOIN tags t ON t.id = dt.tag_id "
         "WHERE dt.dataset_id = d.id)")
_OWNERS = "(SELECT {agg}(o.name, ' ') FROM dataset_owners o WHERE o.dataset_id = d.id)"

_DOC_COLUMNS = "doc_id, entity, entity_id, namespace, name, kind, quality"
_DATASET_DOC = f"""
SELECT d.id * 2, 'd', d.id, n.name, d.name, d.kind, {_QUALITY}
FROM datasets d JOIN namespaces n ON n.id = d.namespace_id"""
_JOB_DOC = """
SELECT j.id * 2 + 1, 'j', j.id, n.name, j.name, 'job', NULL
FROM jobs j JOIN namespaces n ON n.id = j.namespace_id"""

# --- SQLite ---------------------------------------------------------------------------------------

_SQLITE_FTS_DATASET = """
SELECT d.id * 2, d.name, n.name, COALESCE(d.description, ''),
       COALESCE({columns}, ''), COALESCE({tags}, ''), COALESCE({owners}, '')
FROM datasets d JOIN namespaces n ON n.id = d.namespace_id""".format(
    columns=_COLUMNS.format(agg="group_concat"), tags=_TAGS.format(agg="group_concat"),
    owners=_OWNERS.format(agg="group_concat"))
_SQLITE_FTS_JOB = """
SELECT j.id * 2 + 1, j.name, n.name, COALESCE(j.description, ''), '', '', ''
FROM jobs j JOIN namespaces n ON n.id = j.namespace_id"""
_FTS_COLUMNS = "rowid, name, namespace, description, columns, tags, owners"


def _sqlite_refresh_dataset(x: str) -> str:
    return f"""
    DELETE FROM search_fts WHERE rowid = ({x}) * 2;
    DELETE FROM search_documents WHERE doc_id = ({x}) * 2;
    INSERT INTO search_documents ({_DOC_COLUMNS}) {_DATASET_DOC} WHERE d.id = {x};
    INSERT INTO search_fts ({_FTS_COLUMNS}) {_SQLITE_FTS_DATASET} WHERE d.id = {x};"""


def _sqlite_refresh_job(x: str) -> str:
    return f"""
    DELETE FROM search_fts WHERE rowid = ({x}) * 2 + 1;
    DELETE FROM search_documents WHERE doc_id = ({x}) * 2 + 1;
    INSERT INTO search_documents ({_DOC_COLUMNS}) {_JOB_DOC} WHERE j.id = {x};
    INSERT INTO search_fts ({_FTS_COLUMNS}) {_SQLITE_FTS_JOB} WHERE j.id = {x};"""


# (trigger name, event, table, refresh kind, id expression)
_SQLITE_TRIGGERS = [
    ("ds_ins", "AFTER INSERT", "datasets", "d", "NEW.id"),
    ("ds_upd", "AFTER UPDATE OF name, namespace_id, kind, description, current_version_id",
     "datasets", "d", "NEW.id"),
    ("ds_del", "AFTER DELETE", "datasets", "d", "OLD.id"),
    ("fld_ins", "AFTER INSERT", "dataset_fields", "d", "NEW.dataset_id"),
    ("fld_upd", "AFTER UPDATE OF name, description", "dataset_fields", "d", "NEW.dataset_id"),
    ("fld_del", "AFTER DELETE", "dataset_fields", "d", "OLD.dataset_id"),
    ("tag_ins", "AFTER INSERT", "dataset_tags", "d", "NEW.dataset_id"),
    ("tag_del", "AFTER DELETE", "dataset_tags", "d", "OLD.dataset_id"),
    ("own_ins", "AFTER INSERT", "dataset_owners", "d", "NEW.dataset_id"),
    ("own_upd", "AFTER UPDATE", "dataset_owners", "d", "NEW.dataset_id"),
    ("own_del", "AFTER DELETE", "dataset_owners", "d", "OLD.dataset_id"),
    ("qa_ins", "AFTER INSERT", "quality_assertions", "d",
     "(SELECT v.dataset_id FROM dataset_versions v WHERE v.id = NEW.dataset_version_id)"),
    ("qa_del", "AFTER DELETE", "quality_assertions", "d",
     "(SELECT v.dataset_id FROM dataset_versions v WHERE v.id = OLD.dataset_version_id)"),
    ("job_ins", "AFTER INSERT", "jobs", "j", "NEW.id"),
    ("job_upd", "AFTER UPDATE OF name, namespace_id, description", "jobs", "j", "NEW.id"),
    ("job_del", "AFTER DELETE", "jobs", "j", "OLD.id"),
]


def _sqlite_upgrade() -> None:
    op.execute("""
        CREATE TABLE search_documents (
            doc_id INTEGER PRIMARY KEY, entity VARCHAR(1) NOT NULL, entity_id INTEGER NOT NULL,
            namespace TEXT NOT NULL, name TEXT NOT NULL, kind VARCHAR(32) NOT NULL,
            quality VARCHAR(16))""")
    op.execute("CREATE INDEX ix_search_documents_kind ON search_documents (kind)")
    op.execute("CREATE INDEX ix_search_documents_namespace ON search_documents (namespace)")
    # Separators split on anything but letters and digits, as the query side does.
    op.execute("""
        CREATE VIRTUAL TABLE search_fts USING fts5(
            name, namespace, description, columns, tags, owners,
            tokenize = 'unicode61 remove_diacritics 2')""")
    op.execute(f"INSERT INTO search_documents ({_DOC_COLUMNS}) {_DATASET_DOC}")
    op.execute(f"INSERT INTO search_documents ({_DOC_COLUMNS}) {_JOB_DOC}")
    op.execute(f"INSERT INTO search_fts ({_FTS_COLUMNS}) {_SQLITE_FTS_DATASET}")
    op.execute(f"INSERT INTO search_fts ({_FTS_COLUMNS}) {_SQLITE_FTS_JOB}")
    for name, event, table, kind, x in _SQLITE_TRIGGERS:
        body = _sqlite_refresh_dataset(x) if kind == "d" else _sqlite_refresh_job(x)
        op.execute(f"CREATE TRIGGER search_{name} {event} ON {table} FOR EACH ROW BEGIN "
                   f"{body}\nEND")


def _sqlite_downgrade() -> None:
    for name, *_ in _SQLITE_TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS search_{name}")
    op.execute("DROP TABLE IF EXISTS search_fts")
    op.execute("DROP TABLE IF EXISTS search_documents")


# --- PostgreSQL -----------------------------------------------------------------------------------


def _pg_text(expr: str) -> str:
    # Split on anything but letters and digits, as the query side and SQLite's tokenizer do
    # (PostgreSQL's parser would keep "s3://bucket/a.b" as one path token).
    return f"to_tsvector('simple', regexp_replace(COALESCE({expr}, ''), '[^[:alnum:]]+', ' ', 'g'))"


_PG_DOCUMENT = " || ".join(
    f"setweight({_pg_text(expr)}, '{weight}')"
    for expr, weight in (
        ("d.name", "A"), (_COLUMNS.format(agg="string_agg"), "B"),
        (_TAGS.format(agg="string_agg"), "B"), ("d.description", "C"), ("n.name", "C"),
        (_OWNERS.format(agg="string_agg"), "C"),
    )
)
_PG_JOB_DOCUMENT = (f"setweight({_pg_text('j.name')}, 'A') || "
                    f"setweight({_pg_text('j.description')}, 'C') || "
                    f"setweight({_pg_text('n.name')}, 'C')")

_PG_DATASET_DOC = f"""
SELECT d.id * 2::bigint, 'd', d.id, n.name, d.name, d.kind, {_QUALITY}, {_PG_DOCUMENT}
FROM datasets d JOIN namespaces n ON n.id = d.namespace_id"""
_PG_JOB_DOC = f"""
SELECT j.id * 2::bigint + 1, 'j', j.id, n.name, j.name, 'job', NULL, {_PG_JOB_DOCUMENT}
FROM jobs j JOIN namespaces n ON n.id = j.namespace_id"""

_PG_FUNCTIONS = f"""
CREATE FUNCTION search_refresh_dataset(ds_id integer) RETURNS void LANGUAGE sql AS $$
    DELETE FROM search_documents WHERE doc_id = ds_id * 2::bigint
      AND NOT EXISTS (SELECT 1 FROM datasets WHERE id = ds_id);
    INSERT INTO search_documents ({_DOC_COLUMNS}, document)
    {_PG_DATASET_DOC}
    WHERE d.id = ds_id
    ON CONFLICT (doc_id) DO UPDATE SET namespace = EXCLUDED.namespace, name = EXCLUDED.name,
        kind = EXCLUDED.kind, quality = EXCLUDED.quality, document = EXCLUDED.document;
$$;
CREATE FUNCTION search_refresh_job(job_id integer) RETURNS void LANGUAGE sql AS $$
    DELETE FROM search_documents WHERE doc_id = job_id * 2::bigint + 1
      AND NOT EXISTS (SELECT 1 FROM jobs WHERE id = job_id);
    INSERT INTO search_documents ({_DOC_COLUMNS}, document)
    {_PG_JOB_DOC}
    WHERE j.id = job_id
    ON CONFLICT (doc_id) DO UPDATE SET namespace = EXCLUDED.namespace, name = EXCLUDED.name,
        kind = EXCLUDED.kind, quality = EXCLUDED.quality, document = EXCLUDED.document;
$$;
"""

# (table, trigger function body returning the id to refresh, refresh function, events)
_PG_TRIGGERS = [
    ("datasets", "COALESCE(NEW.id, OLD.id)", "search_refresh_dataset",
     "INSERT OR DELETE OR UPDATE OF name, namespace_id, kind, description, current_version_id"),
    ("dataset_fields", "COALESCE(NEW.dataset_id, OLD.dataset_id)", "search_refresh_dataset",
     "INSERT OR DELETE OR UPDATE OF name, description"),
    ("dataset_tags", "COALESCE(NEW.dataset_id, OLD.dataset_id)", "search_refresh_dataset",
     "INSERT OR DELETE"),
    ("dataset_owners", "COALESCE(NEW.dataset_id, OLD.dataset_id)", "search_refresh_dataset",
     "INSERT OR DELETE OR UPDATE"),
    ("quality_assertions",
     "(SELECT v.dataset_id FROM dataset_versions v "
     "WHERE v.id = COALESCE(NEW.dataset_version_id, OLD.dataset_version_id))",
     "search_refresh_dataset", "INSERT OR DELETE"),
    ("jobs", "COALESCE(NEW.id, OLD.id)", "search_refresh_job",
     "INSERT OR DELETE OR UPDATE OF name, namespace_id, description"),
]


def _pg_upgrade() -> None:
    op.execute("""
        CREATE TABLE search_documents (
            doc_id BIGINT PRIMARY KEY, entity VARCHAR(1) NOT NULL, entity_id INTEGER NOT NULL,
            namespace TEXT NOT NULL, name TEXT NOT NULL, kind VARCHAR(32) NOT NULL,
            quality VARCHAR(16), document TSVECTOR NOT NULL)""")
    op.execute("CREATE INDEX ix_search_documents_document ON search_documents "
               "USING gin (document)")
    op.execute("CREATE INDEX ix_search_documents_kind ON search_documents (kind)")
    op.execute("CREATE INDEX ix_search_documents_namespace ON search_documents (namespace)")
    op.execute(_PG_FUNCTIONS)
    for table, id_expr, fn, events in _PG_TRIGGERS:
        op.execute(f"""
            CREATE FUNCTION search_trg_{table}() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                PERFORM {fn}({id_expr});
                RETURN NULL;
            END $$""")
        op.execute(f"CREATE TRIGGER search_{table} AFTER {events} ON {table} "
                   f"FOR EACH ROW EXECUTE FUNCTION search_trg_{table}()")
    op.execute(f"INSERT INTO search_documents ({_DOC_COLUMNS}, document) {_PG_DATASET_DOC}")
    op.execute(f"INSERT INTO search_documents ({_DOC_COLUMNS}, document) {_PG_JOB_DOC}")


def _pg_downgrade() -> None:
    for table, *_ in _PG_TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS search_{table} ON {table}")
        op.execute(f"DROP FUNCTION IF EXISTS search_trg_{table}()")
    op.execute("DROP FUNCTION IF EXISTS search_refresh_dataset(integer)")
    op.execute("DROP FUNCTION IF EXISTS search_refresh_job(integer)")
    op.execute("DROP TABLE IF EXISTS search_documents")


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        _pg_upgrade()
    else:
        _sqlite_upgrade()


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        _pg_downgrade()
    else:
        _sqlite_downgrade()
