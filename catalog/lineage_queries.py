"""Named lineage graph queries: portable SQL that walks the graph inside the database.

Every query here runs on SQLite (3.35+) and PostgreSQL. Every recursive one is a ``WITH
RECURSIVE`` CTE that carries a depth bound: the lineage graph is cyclic (recommendations ->
feedback job -> raw events), so the recursive rows are ``(node, depth)`` combined with ``UNION``;
a node reached again at a depth it already has is dropped, and the depth bound stops the walk, so
each query terminates on any graph. The minimum depth per node is aggregated afterwards. The
neighbourhood instead walks in layers, one bounded query each, and stops at a node cap (see
:func:`neighbourhood`). Nothing here loads the whole graph into Python; callers get only the
nodes and edges of their answer.

Depth counts edges: ``dataset -> job`` is one hop and ``dataset -> job -> dataset`` two.

``as_of`` restricts a query to lineage as it stood at that time: table-level edges whose
``first_seen_at`` is not later than it, column-level rows whose ``created_at`` is not later.

All functions take anything with ``execute(text, params)``: a SQLAlchemy ``Connection`` or
``Session``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache

from sqlalchemy import bindparam, text
from sqlalchemy.sql.elements import TextClause

from catalog.models.base import UTCDateTime
from catalog.models.lineage import DATASET, JOB

KINDS = (DATASET, JOB)
DIRECTIONS = ("upstream", "downstream")

Node = tuple[str, int]  # (kind, id): ("d", datasets.id) or ("j", jobs.id)
Edge = tuple[str, int, str, int]  # (src_kind, src_id, dst_kind, dst_id)
FieldNode = tuple[int, str]  # (datasets.id, field name)


@dataclass(frozen=True)
class Graph:
    """Nodes with their minimum distance from the start, and the edges among those nodes."""

    nodes: dict[Node, int]
    edges: list[Edge]
    # The walk stopped at its node cap before its depth bound.
    truncated: bool = False
    # When truncated: nodes of the answer with neighbours outside it, to continue from.
    frontier: list[Node] = field(default_factory=list)


@dataclass(frozen=True)
class ColumnEdge:
    """``input`` field feeds ``output`` field, as last reported (the latest output version)."""

    output: FieldNode
    input: FieldNode
    # Output version the pair was taken from (the newest that reported it): id and uuid.
    output_version_id: int
    output_version: str | None
    input_version: str | None
    # (type, subtype, description, masking) of each reported transformation, sorted.
    transformations: list[tuple[str, str, str | None, bool]] = field(default_factory=list)


@dataclass(frozen=True)
class ColumnGraph:
    """Field nodes with their minimum distance from the start fields, and the edges among them."""

    nodes: dict[FieldNode, int]
    edges: list[ColumnEdge]


def _compile(sql: str, as_of: bool) -> TextClause:
    # Dates go through the model's column type so SQLite compares the same naive-UTC text it
    # stores; the filter is left out entirely without as_of, which keeps plans simple.
    clause = text(sql)
    return clause.bindparams(bindparam("as_of", type_=UTCDateTime())) if as_of else clause


def _check(depth: int, as_of: datetime | None) -> None:
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 0:
        raise ValueError(f"depth must be a non-negative integer, got {depth!r}")
    if as_of is not None and as_of.tzinfo is None:
        raise ValueError("as_of must be timezone-aware")


def _params(depth: int, as_of: datetime | None, **params) -> dict:
    params["depth"] = depth
    if as_of is not None:
        params["as_of"] = as_of
    return params


# --- table level ----------------------------------------------------------------------------------

# Directed walk: {near} is the end of the edge already reached, {far} the end to go to next.
_WALK = """
WITH RECURSIVE walk(kind, id, depth) AS (
    SELECT CAST(:kind AS VARCHAR(1)), CAST(:id AS INTEGER), 0
    UNION
    SELECT e.{far}_kind, e.{far}_id, w.depth + 1
    FROM walk AS w
    JOIN lineage_edges AS e ON e.{near}_kind = w.kind AND e.{near}_id = w.id
    WHERE w.depth < :depth {edge_filter}
)
SELECT kind, id, MIN(depth) AS depth FROM walk GROUP BY kind, id
"""

_EDGE_FILTER = "AND e.first_seen_at <= :as_of"


@cache
def walk_sql(direction: str, as_of: bool) -> TextClause:
    """SQL of :func:`walk` in ``direction``; rows ``(kind, id, depth)``."""
    near, far = ("dst", "src") if direction == "upstream" else ("src", "dst")
    sql = _WALK.format(near=near, far=far, edge_filter=_EDGE_FILTER if as_of else "")
    return _compile(sql, as_of)


# The neighbourhood walks in layers, one query per layer for the edges touching its frontier,
# and keeps the nodes it has seen in Python. A recursive CTE cannot: walking edges both ways, it
# comes back to every node two hops later at a new depth, so a depth-20 neighbourhood made each
# of 155,547 nodes about ten times (10.8 s p95, bench/RESULTS.md). Here each node and each edge
# is read once, and the walk stops at ``max_nodes``. Lineage edges alternate kinds (dataset ->
# job -> dataset), so a layer holds one kind, and an edge between two nodes of the answer is
# read when its nearer end is expanded.
_LAYER = """
SELECT e.src_kind, e.src_id, e.dst_kind, e.dst_id FROM lineage_edges AS e
WHERE e.src_kind = :kind AND e.src_id {in_ids} {edge_filter}
UNION ALL
SELECT e.src_kind, e.src_id, e.dst_kind, e.dst_id FROM lineage_edges AS e
WHERE e.dst_kind = :kind AND e.dst_id {in_ids} {edge_filter}
"""
# A list of ids as one parameter: an array on PostgreSQL, a JSON array on SQLite.
_IN_IDS = {"postgresql": "= ANY(:ids)", "sqlite": "IN (SELECT value FROM json_each(:ids))"}


@cache
def layer_sql(dialect: str, as_of: bool) -> TextClause:
    """SQL of one layer of :func:`neighbourhood`: the edges touching nodes ``:ids`` of ``:kind``,
    rows ``(src_kind, src_id, dst_kind, dst_id)`` (an edge may come back twice)."""
    return _compile(_LAYER.format(in_ids=_IN_IDS[dialect],
                                  edge_filter=_EDGE_FILTER if as_of else ""), as_of)


def _dialect(conn) -> str:
    bind = conn.get_bind() if hasattr(conn, "get_bind") else conn
    return bind.dialect.name


def neighbourhood(
    conn, kind: str, id: int, depth: int, as_of: datetime | None = None,
    max_nodes: int | None = None,
) -> Graph:
    """Nodes within ``depth`` hops of ``(kind, id)`` following edges either way, and their edges.

    Marquez's ``/lineage`` semantics: the connected neighbourhood, so a job that reads the same
    dataset as the start node's job (a sibling) is in it too. ``edges`` are all edges whose two
    ends are in ``nodes``, sorted. The start node is always in ``nodes`` (depth 0), even when it
    has no edges or does not exist; resolving it is the caller's job.

    With ``max_nodes`` the walk stops once it has that many nodes, nearest first (within a
    layer, by id): the graph is then ``truncated``, and ``frontier`` names the nodes of the
    answer whose neighbours it does not all hold, to start from to continue.
    """
    _check(depth, as_of)
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    if max_nodes is not None and max_nodes < 1:
        raise ValueError(f"max_nodes must be positive, got {max_nodes!r}")
    dialect = _dialect(conn)
    sql = layer_sql(dialect, as_of is not None)
    nodes: dict[Node, int] = {(kind, id): 0}
    edges: set[Edge] = set()
    layer, layer_kind, truncated, frontier = [id], kind, False, set()
    for d in range(depth):
        if not layer:
            break
        ids = layer if dialect == "postgresql" else json.dumps(layer)
        found: set[Node] = set()
        for src_kind, src_id, dst_kind, dst_id in conn.execute(
                sql, _params(depth, as_of, kind=layer_kind, ids=ids)):
            edges.add((src_kind, src_id, dst_kind, dst_id))
            far = (dst_kind, dst_id) if src_kind == layer_kind else (src_kind, src_id)
            if far not in nodes:
                found.add(far)
        new = sorted(found, key=lambda n: n[1])
        if max_nodes is not None and len(nodes) + len(new) > max_nodes:
            truncated = True
            new = new[:max_nodes - len(nodes)]
        for node in new:
            nodes[node] = d + 1
        if truncated:
            frontier = {(s, i) if (d_, j) not in nodes else (d_, j)
                        for s, i, d_, j in edges if ((s, i) in nodes) != ((d_, j) in nodes)}
            if d + 1 < depth:
                frontier.update(new)
            break
        layer = [i for _, i in new]
        layer_kind = JOB if layer_kind == DATASET else DATASET
    kept = sorted(e for e in edges if (e[0], e[1]) in nodes and (e[2], e[3]) in nodes)
    return Graph(nodes, kept, truncated, sorted(frontier))


def walk(
    conn, kind: str, id: int, direction: str, depth: int, as_of: datetime | None = None
) -> dict[Node, int]:
    """Nodes ``direction`` ("upstream" or "downstream") of ``(kind, id)`` within ``depth`` hops.

    Maps each node to its minimum distance; the start node is included at distance 0 (a cycle
    back to it does not change that). Impact analysis is ``walk(..., "downstream", ...)``.
    """
    _check(depth, as_of)
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {DIRECTIONS}, got {direction!r}")
    rows = conn.execute(
        walk_sql(direction, as_of is not None), _params(depth, as_of, kind=kind, id=id)
    )
    return {(k, i): d for k, i, d in rows}


# --- column level ---------------------------------------------------------------------------------

# Start fields: one named field, or every field of the dataset that appears in column lineage.
_SEED_FIELD = "SELECT CAST(:dataset_id AS INTEGER), CAST(:field AS VARCHAR(512))"
_SEED_DATASET = """
    SELECT c.output_dataset_id, c.output_field FROM column_lineage AS c
    WHERE c.output_dataset_id = :dataset_id {row_filter}
    UNION
    SELECT c.input_dataset_id, c.input_field FROM column_lineage AS c
    WHERE c.input_dataset_id = :dataset_id {row_filter}
"""

# Rows carry a direction tag so an upstream walk never turns downstream (that would pull in
# siblings); the UNION collapses the one row per output version and transformation that
# column_lineage keeps for each field pair. After the node rows come the incoming edges of every
# node, each as the rows of the pair's latest output version; the caller drops those whose input
# is not a node. (Checking that in SQL would join the node set to itself, which PostgreSQL
# plans as a quadratic loop since it cannot estimate the size of a recursive CTE.)
_COLUMN_WALK = """
WITH RECURSIVE seed(dataset_id, field) AS (
    {seed}
),
walk(dataset_id, field, depth, dir) AS (
    SELECT dataset_id, CAST(field AS VARCHAR(512)), 0, 'u' FROM seed
    {downstream_seed}
    UNION
    SELECT CASE WHEN w.dir = 'u' THEN c.input_dataset_id ELSE c.output_dataset_id END,
           CAST(CASE WHEN w.dir = 'u' THEN c.input_field ELSE c.output_field END AS VARCHAR(512)),
           w.depth + 1,
           w.dir
    FROM walk AS w
    JOIN column_lineage AS c
      ON (w.dir = 'u' AND c.output_dataset_id = w.dataset_id AND c.output_field = w.field)
      OR (w.dir = 'd' AND c.input_dataset_id = w.dataset_id AND c.input_field = w.field)
    WHERE w.depth < :depth {row_filter}
),
nodes AS (
    SELECT dataset_id, field, MIN(depth) AS depth FROM walk GROUP BY dataset_id, field
),
latest AS (
    SELECT c.output_field, c.input_dataset_id, c.input_field,
           MAX(c.output_version_id) AS version_id
    FROM nodes AS n
    JOIN column_lineage AS c ON c.output_dataset_id = n.dataset_id AND c.output_field = n.field
    WHERE 1 = 1 {row_filter}
    GROUP BY c.output_dataset_id, c.output_field, c.input_dataset_id, c.input_field
)
SELECT dataset_id, field, depth, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL
FROM nodes
UNION ALL
SELECT c.output_dataset_id, c.output_field, NULL, c.input_dataset_id, c.input_field,
       c.output_version_id, ov.uuid, iv.uuid, c.transformation_type, c.transformation_subtype,
       c.description, c.masking
FROM latest AS l
JOIN column_lineage AS c
  ON c.output_version_id = l.version_id AND c.output_field = l.output_field
 AND c.input_dataset_id = l.input_dataset_id AND c.input_field = l.input_field
LEFT JOIN dataset_versions AS ov ON ov.id = c.output_version_id
LEFT JOIN dataset_versions AS iv ON iv.id = c.input_version_id
"""

_ROW_FILTER = "AND c.created_at <= :as_of"


@cache
def column_walk_sql(one_field: bool, with_downstream: bool, as_of: bool) -> TextClause:
    """SQL of :func:`column_walk`: a row per node, then a row per incoming edge transformation."""
    row_filter = _ROW_FILTER if as_of else ""
    seed = _SEED_FIELD if one_field else _SEED_DATASET.format(row_filter=row_filter)
    downstream_seed = (
        "UNION SELECT dataset_id, CAST(field AS VARCHAR(512)), 0, 'd' FROM seed"
        if with_downstream
        else ""
    )
    sql = _COLUMN_WALK.format(seed=seed, downstream_seed=downstream_seed, row_filter=row_filter)
    return _compile(sql, as_of)


def column_walk(
    conn,
    dataset_id: int,
    field: str | None,
    depth: int,
    with_downstream: bool,
    as_of: datetime | None = None,
) -> ColumnGraph:
    """Fields upstream (and, ``with_downstream``, downstream) of a field, within ``depth`` hops.

    ``field=None`` starts from every field of the dataset that has column lineage (Marquez's
    ``dataset:`` node id on ``/column-lineage``). A field pair counts once whatever the number of
    versions that reported it; its transformations are those of the latest output version.
    Nodes are the start fields (depth 0) and every field reached; edges are all pairs among them.
    """
    _check(depth, as_of)
    sql = column_walk_sql(field is not None, with_downstream, as_of is not None)
    params = _params(depth, as_of, dataset_id=dataset_id)
    if field is not None:
        params["field"] = field
    nodes: dict[FieldNode, int] = {}
    edges: dict[tuple[FieldNode, FieldNode], ColumnEdge] = {}
    for row in conn.execute(sql, params):
        ds_id, name, d, in_ds, in_field, out_vid, out_v, in_v, t_type, t_sub, desc, mask = row
        if d is not None:
            nodes[(ds_id, name)] = d
            continue
        key = ((ds_id, name), (in_ds, in_field))
        if key not in edges:
            edges[key] = ColumnEdge(key[0], key[1], out_vid, out_v, in_v)
        edges[key].transformations.append((t_type, t_sub or "", desc, bool(mask)))
    for e in edges.values():
        e.transformations.sort(key=lambda t: (t[0], t[1], t[2] or "", t[3]))
    return ColumnGraph(nodes, [edges[k] for k in sorted(edges) if k[1] in nodes])


# A job's outputs: the datasets it writes (Marquez's ``job:`` node on ``/column-lineage`` starts
# from their fields).
_JOB_OUTPUTS = """
SELECT e.dst_id FROM lineage_edges AS e
WHERE e.src_kind = 'j' AND e.src_id = :job_id AND e.dst_kind = 'd' {edge_filter}
ORDER BY e.dst_id
"""


@cache
def job_outputs_sql(as_of: bool) -> TextClause:
    """SQL of :func:`job_outputs`; rows ``(dataset id,)``."""
    return _compile(_JOB_OUTPUTS.format(edge_filter=_EDGE_FILTER if as_of else ""), as_of)


def job_outputs(conn, job_id: int, as_of: datetime | None = None) -> list[int]:
    """Ids of the datasets job ``job_id`` writes (as of ``as_of``: edges first seen by then)."""
    _check(0, as_of)
    params = {"job_id": job_id} if as_of is None else {"job_id": job_id, "as_of": as_of}
    return [row[0] for row in conn.execute(job_outputs_sql(as_of is not None), params)]


# --- version ancestry: the exact dataset versions something was built from -----------------------

_VERSION_ANCESTRY = """
WITH RECURSIVE ancestry(version_id, depth) AS (
    SELECT id, 0 FROM dataset_versions WHERE id IN :start
    UNION
    SELECT io.dataset_version_id, a.depth + 1
    FROM ancestry a
    JOIN dataset_versions v ON v.id = a.version_id
    JOIN run_io io ON io.run_id = v.run_id AND io.direction = 'input'
    WHERE a.depth < :depth AND io.dataset_version_id IS NOT NULL
)
SELECT version_id, MIN(depth) AS depth FROM ancestry GROUP BY version_id
"""


def version_ancestry(conn, version_ids: list[int], depth: int) -> dict[int, int]:
    """Dataset versions that ``version_ids`` were built from, version by version, with distance.

    Follows each version to the run that wrote it and that run's input versions, up to ``depth``
    runs back; the start versions are included at distance 0.
    """
    _check(depth, None)
    if not version_ids:
        return {}
    sql = text(_VERSION_ANCESTRY).bindparams(bindparam("start", expanding=True))
    rows = conn.execute(sql, {"start": list(version_ids), "depth": depth}).all()
    return {int(r[0]): int(r[1]) for r in rows}
