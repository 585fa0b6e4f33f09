"""Full-text search with facets over the search index (migration 0004; models/search.py).

Words of the query must all occur (each as a word prefix) in a document's name, namespace,
description, columns and their descriptions, tags or owners; hits rank by weight (name first).
Facets count the matching documents by kind, namespace, quality status, tag and owner, within
the filters already chosen. SQLite answers with FTS5 and bm25, PostgreSQL with a GIN-indexed
tsvector and ts_rank.

Counting is capped: the total and the facets count the first ``COUNT_CAP`` matches exactly; a
query matching more shows ``AtLeast`` numbers ("20,000+", like GitHub), counted over those first
matches, each a true lower bound. The hits are always ranked over every match. PostgreSQL answers
in one statement (one index scan: the first cap + 1 matches are kept with their rank, then ranked
for the page and counted, with tags and owners read from the document row, migration 0007; only
past the cap does a second scan rank every match); SQLite in two (the page, then the counts).

The same engine answers Marquez's ``GET /api/v1/search`` (``search_assets``): the same words
match the same documents, which come back sorted by name (``NAME``: name, namespace, datasets
before jobs) or latest update first (``UPDATE_AT``), with an exact total and no facets.
``filter`` keeps datasets (``DATASET``) or jobs (``JOB``); ``as_of`` keeps the datasets and jobs
that existed by then (a dataset created by then or with a version written by then; a job
created by then), read by joining the documents to their datasets and jobs. A word matches a
word of the document that begins with it, and names are split into words at every character
that is not a letter or digit (``_ . / - :``), so "features" and "user_feat" find
``user_features``, and "events parquet" or "lake" find ``events.parquet`` in namespace
``s3://lake``; a fragment inside a word ("eatures") finds nothing, unlike the LIKE search this
replaces. A query with no letters or digits ("%") matches nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import bindparam, text
from sqlalchemy.orm import Session

from catalog.errors import BadRequest
from catalog.models.base import UTCDateTime
from catalog.read.quality_status import STATUSES

FACETS = ("kind", "namespace", "quality", "tag", "owner")
# Values listed per facet (most frequent first).
FACET_VALUES = 15
# Matches counted exactly for the total and the facets; a word in every dataset would otherwise
# cost a pass over the whole catalog per search (see bench/RESULTS.md, issue 5).
COUNT_CAP = 20_000
MAX_TERMS = 12
# Marquez's ``filter`` values -> the documents' entity; its ``sort`` values -> ORDER BY.
ASSET_FILTERS = {"DATASET": "d", "JOB": "j"}
ASSET_SORTS = {"NAME": "s.name, s.namespace, s.entity, s.doc_id",
               "UPDATE_AT": "updated_at DESC, s.name, s.namespace, s.entity, s.doc_id"}
_WORD = re.compile(r"[^\W_]+", re.UNICODE)


class AtLeast(int):
    """A count known only as a lower bound: formats as ``"20,000+"``, ``str`` gives ``"20000+"``."""

    def __format__(self, spec: str) -> str:
        return format(int(self), spec) + "+"

    def __str__(self) -> str:
        return f"{int(self)}+"

    def __repr__(self) -> str:
        return f"AtLeast({int(self)})"


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
    """A page of hits, the total, and facet counts ``{facet: [(value, count)]}``.

    ``total`` and the counts are ``AtLeast`` when more than ``COUNT_CAP`` documents matched.
    """

    hits: list[SearchHit]
    total: int
    facets: dict[str, list[tuple[str, int]]] = field(default_factory=dict)
    terms: list[str] = field(default_factory=list)


@dataclass
class AssetHit:
    """One dataset (entity "d") or job ("j") of a sorted search, with its latest update."""

    entity: str
    namespace: str
    name: str
    updated_at: datetime


def terms_of(q: str) -> list[str]:
    """The words of a query (letters and digits; everything else separates), lower-cased."""
    return [w.lower() for w in _WORD.findall(q or "")][:MAX_TERMS]


def _match(dialect: str, terms: list[str]) -> tuple[str, str, dict]:
    """(FROM clause, rank expression, params) of documents matching every term as a prefix."""
    if dialect == "postgresql":
        if not terms:
            return "search_documents s", "0", {}
        # The query is parsed once as a row source; written inline, to_tsquery (stable, not
        # immutable) ran again for every ranked row (a third of a broad search's time).
        return ("to_tsquery('simple', :tsq) AS tq, search_documents s", "ts_rank(s.document, tq)",
                {"tsq": " & ".join(f"{t}:*" for t in terms)})
    if not terms:
        return "search_documents s", "0", {}
    # Terms are letters and digits only, so quoting them is enough for FTS5's syntax.
    fts = " ".join(f'"{t}"*' for t in terms)
    return ("search_fts JOIN search_documents s ON s.doc_id = search_fts.rowid",
            "-bm25(search_fts, 10.0, 2.0, 1.0, 4.0, 4.0, 2.0)", {"fts": fts})


def _where(dialect: str, terms: list[str], filters: dict[str, str]) -> tuple[list[str], dict]:
    """Conditions (to AND) on documents ``s`` matching the terms and facet filters, and params."""
    clauses, params = [], {}
    if terms:
        clauses.append("s.document @@ tq" if dialect == "postgresql"
                       else "search_fts MATCH :fts")
    for key in ("kind", "namespace", "quality"):
        if filters.get(key):
            clauses.append(f"s.{key} = :f_{key}")
            params[f"f_{key}"] = filters[key]
    for key, table in (("tag", "tags"), ("owner", "owners")):
        if not filters.get(key):
            continue
        params[f"f_{key}"] = filters[key]
        if dialect == "postgresql":
            clauses.append(f"s.entity = 'd' AND s.{table} @> ARRAY[CAST(:f_{key} AS TEXT)]")
        elif key == "tag":
            clauses.append("s.entity = 'd' AND EXISTS (SELECT 1 FROM dataset_tags dt JOIN tags t "
                           "ON t.id = dt.tag_id WHERE dt.dataset_id = s.entity_id "
                           "AND t.name = :f_tag)")
        else:
            clauses.append("s.entity = 'd' AND EXISTS (SELECT 1 FROM dataset_owners o "
                           "WHERE o.dataset_id = s.entity_id AND o.name = :f_owner)")
    return clauses, params


def _where_sql(clauses: list[str]) -> str:
    return ("WHERE " + " AND ".join(clauses)) if clauses else ""


# Description of a hit, read for the page's rows only.
_DESCRIPTION = """CASE WHEN {h}.entity = 'd'
    THEN (SELECT d.description FROM datasets d WHERE d.id = {h}.entity_id)
    ELSE (SELECT j.description FROM jobs j WHERE j.id = {h}.entity_id) END"""


def search_catalog(
    session: Session, q: str, filters: dict[str, str] | None = None, *,
    limit: int = 20, offset: int = 0, count_cap: int | None = None,
) -> SearchResult:
    """Datasets and jobs matching ``q`` and ``filters`` (facet -> value), best first.

    ``count_cap`` (default ``COUNT_CAP``) bounds the matches counted for the total and facets.
    """
    count_cap = COUNT_CAP if count_cap is None else count_cap
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
    clauses, fparams = _where(dialect, terms, filters)
    where = _where_sql(clauses)
    params.update(fparams, limit=limit, offset=offset, cap=count_cap, top=FACET_VALUES)
    # {p}: the documents' alias where FTS5's own name and namespace columns are in scope.
    order = ("rank DESC, " if terms else "") + "{p}name, {p}namespace, {p}doc_id"
    run = _search_pg if dialect == "postgresql" else _search_sqlite
    hits, counts, more = run(session, f"FROM {source} {where}", rank, order, params)
    facets: dict[str, list[tuple[str, int]]] = {f: [] for f in FACETS}
    for facet, value, n in counts:
        facets[facet].append((value, AtLeast(n) if more else int(n)))
    for facet in ("kind", "quality"):
        facets[facet].sort(key=lambda vc: (-vc[1], vc[0]))
    total = sum(n for _, n in facets["kind"])
    return SearchResult(hits, AtLeast(total) if more else total, facets, terms)


# The documents' datasets and jobs, for their update time and ``as_of``; each document joins
# one row by primary key, and a count that reads neither join leaves both out.
_ASSETS = """LEFT JOIN datasets d ON s.entity = 'd' AND d.id = s.entity_id
    LEFT JOIN jobs j ON s.entity = 'j' AND j.id = s.entity_id"""
# Existed by :as_of: a dataset created by then or with a version written by then (an event's
# time may precede the row's creation), a job created by then.
_EXISTED_BY = """((s.entity = 'd' AND (d.created_at <= :as_of OR EXISTS (
        SELECT 1 FROM dataset_versions v WHERE v.dataset_id = d.id AND v.created_at <= :as_of)))
    OR (s.entity = 'j' AND j.created_at <= :as_of))"""


def search_assets(
    session: Session, q: str, *, type_filter: str | None = None, sort: str = "NAME",
    limit: int = 10, offset: int = 0, as_of: datetime | None = None,
) -> tuple[list[AssetHit], int]:
    """Datasets and jobs matching ``q`` as ``search_catalog`` matches them, sorted, and their
    exact count (Marquez's search; see the module docstring).

    ``type_filter``: ``"DATASET"`` or ``"JOB"`` (Marquez's ``filter``), ``None`` for both;
    ``sort``: ``"NAME"`` or ``"UPDATE_AT"``; ``as_of``: only what existed by then. 400 naming
    the parameter for an empty query or a value outside those.
    """
    if not (q or "").strip():
        raise BadRequest("query parameter 'q' must not be empty", field="q")
    if type_filter is not None and type_filter not in ASSET_FILTERS:
        raise BadRequest(f"query parameter 'filter' must be one of {list(ASSET_FILTERS)}, "
                         f"got {type_filter!r}", field="filter")
    if sort not in ASSET_SORTS:
        raise BadRequest(f"query parameter 'sort' must be one of {list(ASSET_SORTS)}, "
                         f"got {sort!r}", field="sort")
    terms = terms_of(q)
    if not terms:
        return [], 0
    dialect = session.get_bind().dialect.name
    source, _rank, params = _match(dialect, terms)
    clauses, _ = _where(dialect, terms, {})
    if type_filter is not None:
        clauses.append("s.entity = :entity")
        params["entity"] = ASSET_FILTERS[type_filter]
    binds = []
    if as_of is not None:
        clauses.append(_EXISTED_BY)
        params["as_of"] = as_of
        binds.append(bindparam("as_of", type_=UTCDateTime()))
    matches = f"FROM {source} {_ASSETS} {_where_sql(clauses)}"
    page = text(f"""
        SELECT s.entity, s.namespace, s.name, COALESCE(d.updated_at, j.updated_at) AS updated_at
        {matches} ORDER BY {ASSET_SORTS[sort]} LIMIT :limit OFFSET :offset""").bindparams(
        *binds).columns(updated_at=UTCDateTime())
    rows = session.execute(page, {**params, "limit": limit, "offset": offset}).all()
    total = session.execute(text(f"SELECT COUNT(*) {matches}").bindparams(*binds),
                            params).scalar_one()
    return [AssetHit(*r) for r in rows], total


def _search_pg(session: Session, matches: str, rank: str, order: str, params: dict):
    """Hits, facet counts and whether more than the cap matched, in one statement.

    ``m`` keeps the first ``:cap`` + 1 matches with their rank (one scan of the GIN index and the
    heap; at most ~2 MB, so it stays in memory). ``c``, the first ``:cap`` of them, is counted in
    two passes with grouping sets: (kind, namespace, quality), then (tags, owners) unnested.
    The page ``p`` comes from ``m`` when ``m`` holds every match; only past the cap does a
    second scan rank every match (a top-N sort that keeps nothing else): keeping all of them
    spilled to disk and cost a word found in every document twice as much (issue 5). The two
    branches are gated by the count of ``m``, so only one of them runs. Without words nothing is
    kept: the page is read off the name index, the counts by a plain scan. Rows come back tagged:
    'hit' rows carry a hit and its place on the page, facet rows a value and count, one 'more'
    row says whether anything lies past the cap.
    """
    order = order.format(p="")
    columns = "s.doc_id, s.entity, s.entity_id, s.namespace, s.name, s.kind, s.quality"
    page = f"SELECT {columns}, {rank} AS rank {matches}"
    # Without words every reader is a plain scan, cheaper than keeping 20,000 rows.
    keep = "MATERIALIZED" if "@@" in matches else "NOT MATERIALIZED"
    if "@@" in matches:
        page = f"""SELECT doc_id, entity, entity_id, namespace, name, kind, quality, rank FROM m
                   WHERE (SELECT COUNT(*) FROM m) <= :cap
                   UNION ALL
                   SELECT * FROM ({page}) a WHERE (SELECT COUNT(*) FROM m) > :cap"""
    rows = session.execute(text(f"""
        WITH m AS {keep} (
            SELECT {columns}, s.tags, s.owners, {rank} AS rank {matches} LIMIT :cap + 1),
        c AS NOT MATERIALIZED (SELECT kind, namespace, quality, tags, owners FROM m LIMIT :cap),
        p AS ({page} ORDER BY {order} LIMIT :limit OFFSET :offset),
        h AS (SELECT *, row_number() OVER (ORDER BY {order}) AS place FROM p),
        g AS (SELECT CASE WHEN GROUPING(kind) = 0 THEN 'kind'
                          WHEN GROUPING(namespace) = 0 THEN 'namespace' ELSE 'quality' END
                         AS facet, COALESCE(kind, namespace, quality) AS value, COUNT(*) AS n
              FROM c GROUP BY GROUPING SETS ((kind), (namespace), (quality))
              UNION ALL
              -- The two arrays unnest side by side, the shorter padded with NULLs (dropped).
              SELECT CASE WHEN GROUPING(tag) = 0 THEN 'tag' ELSE 'owner' END,
                     COALESCE(tag, owner), COUNT(*)
              FROM (SELECT unnest(tags) AS tag, unnest(owners) AS owner FROM c) t
              GROUP BY GROUPING SETS ((tag), (owner))),
        f AS (SELECT facet, value, n,
                     row_number() OVER (PARTITION BY facet ORDER BY n DESC, value) AS r
              FROM g WHERE value IS NOT NULL)
        SELECT 'hit', h.entity, h.entity_id, h.namespace, h.name, h.kind, h.quality,
               {_DESCRIPTION.format(h="h")}, NULL, h.place FROM h
        UNION ALL
        SELECT f.facet, NULL, NULL, NULL, f.value, NULL, NULL, NULL, f.n, f.r FROM f
        WHERE f.r <= :top OR f.facet IN ('kind', 'quality')
        UNION ALL
        SELECT 'more', NULL, NULL, NULL, NULL, NULL, NULL, NULL,
               CASE WHEN (SELECT SUM(n) FROM g WHERE facet = 'kind') >= :cap
                    THEN (SELECT COUNT(*) FROM (SELECT 1 FROM m OFFSET :cap LIMIT 1) x)
                    ELSE 0 END, 0"""),
        params).all()
    rows = sorted(rows, key=lambda r: r[9])  # the page's order; facet values by count, value
    hits = [SearchHit(*r[1:8]) for r in rows if r[0] == "hit"]
    counts = [(r[0], r[4], r[8]) for r in rows if r[0] in FACETS]
    more = any(r[0] == "more" and r[8] > 0 for r in rows)
    return hits, counts, more


def _search_sqlite(session: Session, matches: str, rank: str, order: str, params: dict):
    """Hits, facet counts and whether more than the cap matched: the page, then the counts."""
    rows = session.execute(text(f"""
        SELECT h.entity, h.entity_id, h.namespace, h.name, h.kind, h.quality,
               {_DESCRIPTION.format(h="h")}
        FROM (SELECT s.doc_id, s.entity, s.entity_id, s.namespace, s.name, s.kind, s.quality,
                     {rank} AS rank {matches} ORDER BY {order.format(p="s.")}
              LIMIT :limit OFFSET :offset) h
        ORDER BY {order.format(p="")}"""), params).all()
    hits = [SearchHit(*r) for r in rows]
    counts = session.execute(text(f"""
        WITH m AS MATERIALIZED (SELECT s.entity, s.entity_id, s.namespace, s.kind, s.quality
                                {matches} LIMIT :cap)
        SELECT 'kind', kind, COUNT(*) FROM m GROUP BY kind
        UNION ALL
        SELECT * FROM (SELECT 'namespace', namespace, COUNT(*) AS n FROM m GROUP BY namespace
                       ORDER BY n DESC, namespace LIMIT :top)
        UNION ALL
        SELECT 'quality', quality, COUNT(*) FROM m WHERE quality IS NOT NULL GROUP BY quality
        UNION ALL
        SELECT * FROM (SELECT 'tag', t.name, COUNT(*) AS n FROM m
                       JOIN dataset_tags dt ON m.entity = 'd' AND dt.dataset_id = m.entity_id
                       JOIN tags t ON t.id = dt.tag_id
                       GROUP BY t.name ORDER BY n DESC, t.name LIMIT :top)
        UNION ALL
        SELECT * FROM (SELECT 'owner', o.name, COUNT(*) AS n FROM m
                       JOIN dataset_owners o ON m.entity = 'd' AND o.dataset_id = m.entity_id
                       GROUP BY o.name ORDER BY n DESC, o.name LIMIT :top)"""), params).all()
    more = session.execute(text(f"SELECT EXISTS (SELECT 1 {matches} LIMIT 1 OFFSET :cap)"),
                           params).scalar()
    return hits, counts, bool(more)
