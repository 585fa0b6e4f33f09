"""Full-text search with facets over the search index (migration 0004; models/search.py).

Words of the query must all occur (each as a word prefix) in a document's name, namespace,
description, columns and their descriptions, tags or owners; hits rank by weight (name first).
Facets count the matching documents by kind, namespace, quality status, tag and owner, within
the filters already chosen. SQLite answers with FTS5 and bm25, PostgreSQL with a GIN-indexed
tsvector and ts_rank. Two statements per search: the page of hits, then count and facets.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from sqlalchemy import text
from sqlalchemy.orm import Session

from catalog.errors import BadRequest
from catalog.services.quality_status import STATUSES

FACETS = ("kind", "namespace", "quality", "tag", "owner")
# Values listed per facet (most frequent first).
FACET_VALUES = 15
MAX_TERMS = 12
_WORD = re.compile(r"[^\W_]+", re.UNICODE)


@dataclass
class SearchHit:
    """One matching dataset (entity "d") or job ("j")."""

    entity: str
    id: int
    namespace: str
    name: str
    kind: str
    quality: str | None
    description: str | None


@dataclass
class SearchResult:
    """A page of hits, the total, and facet counts ``{facet: [(value, count)]}``."""

    hits: list[SearchHit]
    total: int
    facets: dict[str, list[tuple[str, int]]] = field(default_factory=dict)
    terms: list[str] = field(default_factory=list)


def terms_of(q: str) -> list[str]:
    """The words of a query (letters and digits; everything else separates), lower-cased."""
    return [w.lower() for w in _WORD.findall(q or "")][:MAX_TERMS]


def _match(dialect: str, terms: list[str]) -> tuple[str, str, dict]:
    """(FROM clause, rank expression, params) of documents matching every term as a prefix."""
    if dialect == "postgresql":
        if not terms:
            return "search_documents s", "0", {}
        return ("search_documents s", "ts_rank(s.document, to_tsquery('simple', :tsq))",
                {"tsq": " & ".join(f"{t}:*" for t in terms)})
    if not terms:
        return "search_documents s", "0", {}
    # Terms are letters and digits only, so quoting them is enough for FTS5's syntax.
    fts = " ".join(f'"{t}"*' for t in terms)
    return ("search_fts JOIN search_documents s ON s.doc_id = search_fts.rowid",
            "-bm25(search_fts, 10.0, 2.0, 1.0, 4.0, 4.0, 2.0)", {"fts": fts})


def _where(dialect: str, terms: list[str], filters: dict[str, str]) -> tuple[str, dict]:
    clauses, params = [], {}
    if terms:
        clauses.append("s.document @@ to_tsquery('simple', :tsq)" if dialect == "postgresql"
                       else "search_fts MATCH :fts")
    for key in ("kind", "namespace", "quality"):
        if filters.get(key):
            clauses.append(f"s.{key} = :f_{key}")
            params[f"f_{key}"] = filters[key]
    if filters.get("tag"):
        clauses.append("s.entity = 'd' AND EXISTS (SELECT 1 FROM dataset_tags dt JOIN tags t "
                       "ON t.id = dt.tag_id WHERE dt.dataset_id = s.entity_id AND t.name = :f_tag)")
        params["f_tag"] = filters["tag"]
    if filters.get("owner"):
        clauses.append("s.entity = 'd' AND EXISTS (SELECT 1 FROM dataset_owners o "
                       "WHERE o.dataset_id = s.entity_id AND o.name = :f_owner)")
        params["f_owner"] = filters["owner"]
    return ("WHERE " + " AND ".join(clauses)) if clauses else "", params


def search_catalog(
    session: Session, q: str, filters: dict[str, str] | None = None, *,
    limit: int = 20, offset: int = 0,
) -> SearchResult:
    """Datasets and jobs matching ``q`` and ``filters`` (facet -> value), best first."""
    filters = {k: v for k, v in (filters or {}).items() if v}
    unknown = sorted(set(filters) - set(FACETS))
    if unknown:
        raise BadRequest(f"unknown filter {unknown[0]!r}; use one of {list(FACETS)}",
                         field=unknown[0])
    if filters.get("quality") and filters["quality"] not in STATUSES:
        raise BadRequest(f"quality must be one of {list(STATUSES)}", field="quality")
    terms = terms_of(q)
    if (q or "").strip() and not terms:
        return SearchResult([], 0, {}, [])
    dialect = session.get_bind().dialect.name
    source, rank, params = _match(dialect, terms)
    where, fparams = _where(dialect, terms, filters)
    params.update(fparams)
    order = "rank DESC, s.name, s.namespace, s.doc_id" if terms else "s.name, s.namespace, s.doc_id"
    rows = session.execute(text(f"""
        SELECT s.entity, s.entity_id, s.namespace, s.name, s.kind, s.quality, {rank} AS rank,
               CASE WHEN s.entity = 'd' THEN (SELECT d.description FROM datasets d
                                              WHERE d.id = s.entity_id)
                    ELSE (SELECT j.description FROM jobs j WHERE j.id = s.entity_id) END
        FROM {source} {where}
        ORDER BY {order} LIMIT :limit OFFSET :offset"""),
        {**params, "limit": limit, "offset": offset}).all()
    hits = [SearchHit(r[0], r[1], r[2], r[3], r[4], r[5], r[7]) for r in rows]
    facets: dict[str, list[tuple[str, int]]] = {f: [] for f in FACETS}
    top = FACET_VALUES
    facet_sql = f"""
        WITH m AS MATERIALIZED (SELECT s.entity, s.entity_id, s.namespace, s.kind, s.quality
                                FROM {source} {where})
        SELECT 'kind', kind, COUNT(*) FROM m GROUP BY kind
        UNION ALL
        SELECT * FROM (SELECT 'namespace', namespace, COUNT(*) AS n FROM m GROUP BY namespace
                       ORDER BY n DESC, namespace LIMIT {top}) a
        UNION ALL
        SELECT 'quality', quality, COUNT(*) FROM m WHERE quality IS NOT NULL GROUP BY quality
        UNION ALL
        SELECT * FROM (SELECT 'tag', t.name, COUNT(*) AS n FROM m
                       JOIN dataset_tags dt ON m.entity = 'd' AND dt.dataset_id = m.entity_id
                       JOIN tags t ON t.id = dt.tag_id
                       GROUP BY t.name ORDER BY n DESC, t.name LIMIT {top}) b
        UNION ALL
        SELECT * FROM (SELECT 'owner', o.name, COUNT(*) AS n FROM m
                       JOIN dataset_owners o ON m.entity = 'd' AND o.dataset_id = m.entity_id
                       GROUP BY o.name ORDER BY n DESC, o.name LIMIT {top}) c"""
    total = 0
    for facet, value, count in session.execute(text(facet_sql), params):
        facets[facet].append((value, int(count)))
        if facet == "kind":
            total += int(count)
    for facet in ("kind", "quality"):
        facets[facet].sort(key=lambda vc: (-vc[1], vc[0]))
    return SearchResult(hits, total, facets, terms)
