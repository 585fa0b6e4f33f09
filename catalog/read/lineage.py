"""Lineage graph reads: resolve Marquez node ids, run the named queries, load what nodes show.

Node ids are Marquez's: ``dataset:NS:NAME``, ``job:NS:NAME`` and ``datasetField:NS:NAME:FIELD``.
Namespaces are often URIs with colons of their own (``postgres://host:5432``) and names may hold
colons too, so an id is not split blindly. Every way of splitting it at a colon is a candidate, and
the first candidate that names an existing dataset or job wins, in this order: for fields the
field split at the last colon first (Marquez's rule; field names rarely hold colons), then the
namespace split at the first colon first (Marquez's rule for the namespace). So an id that
Marquez would parse resolves as in Marquez, and one it would mis-split still resolves. Candidates
are checked in one query (two for fields); an id with more than 16 colons is refused.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import and_, or_, select, union
from sqlalchemy.orm import Session, joinedload

from catalog import lineage_queries as q
from catalog.errors import BadRequest, NotFound
from catalog.models import (
    ColumnLineage,
    Dataset,
    DatasetField,
    DatasetVersion,
    Job,
    JobVersion,
    Namespace,
    Run,
)
from catalog.models.lineage import DATASET, JOB
from catalog.read.browse import dataset_options, field_views, latest_runs

_KIND_TYPE = {DATASET: "DATASET", JOB: "JOB"}
_KIND_PREFIX = {DATASET: "dataset", JOB: "job"}
# Ids per IN list: keeps any graph within SQLite's bound-parameter limit; one chunk in practice.
_CHUNK = 5000
# Colons a node id may hold after its type: bounds the candidate splits (quadratic for fields).
_MAX_COLONS = 16


@dataclass(frozen=True)
class NodeRef:
    """A resolved node id: its type prefix, identity, and row id (``field`` for fields only)."""

    type: str
    namespace: str
    name: str
    id: int
    field: str | None = None

    @property
    def kind(self) -> str:
        """``lineage_edges`` kind of the node ("d" for datasets and their fields, "j" for jobs)."""
        return JOB if self.type == "job" else DATASET


@dataclass
class GraphNode:
    """A dataset or job in a lineage graph, with its entity and edges inside the graph."""

    id: str
    type: str
    entity: Dataset | Job
    latest_run: Run | None = None
    fields: list | None = None  # a dataset's fields (browse.field_views)
    in_edges: list[tuple[str, str]] = field(default_factory=list)
    out_edges: list[tuple[str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class WalkNode:
    """A node reached by an upstream or downstream walk, at its minimum distance."""

    id: str
    type: str
    distance: int
    name: str
    namespace: str


@dataclass
class FieldNode:
    """A dataset field in a column lineage graph; ``inputs`` are its edges' details."""

    id: str
    namespace: str
    dataset: str
    dataset_version: str | None
    field: str
    field_type: str | None
    inputs: list[dict] = field(default_factory=list)
    in_edges: list[tuple[str, str]] = field(default_factory=list)
    out_edges: list[tuple[str, str]] = field(default_factory=list)


def node_id(kind: str, namespace: str, name: str) -> str:
    """The Marquez id of a dataset ("d") or job ("j")."""
    return f"{_KIND_PREFIX[kind]}:{namespace}:{name}"


def field_id(namespace: str, dataset: str, name: str) -> str:
    """The Marquez id of a dataset field."""
    return f"datasetField:{namespace}:{dataset}:{name}"


# --- node ids -------------------------------------------------------------------------------------


def _colons(s: str) -> list[int]:
    return [i for i, c in enumerate(s) if c == ":"]


def _candidates(node_type: str, rest: str) -> list[tuple[str, str, str | None]]:
    """(namespace, name, field) splits of ``rest`` with no empty part, in order of preference."""
    cuts = _colons(rest)
    if node_type != "datasetField":
        return [(rest[:i], rest[i + 1 :], None) for i in cuts if 0 < i < len(rest) - 1]
    out = []
    for j in reversed(cuts):
        name_part, fld = rest[:j], rest[j + 1 :]
        if not fld:
            continue
        out += [(name_part[:i], name_part[i + 1 :], fld) for i in cuts if 0 < i < j - 1]
    return out


def resolve_node(session: Session, nid: str | None, types=("dataset", "job")) -> NodeRef:
    """The node named by Marquez id ``nid``; :class:`BadRequest` if malformed, else NotFound."""
    expected = " or ".join(
        {"dataset": "dataset:NS:NAME", "job": "job:NS:NAME",
         "datasetField": "datasetField:NS:NAME:FIELD"}[t]
        for t in types
    )
    if not nid:
        raise BadRequest(f"query parameter 'nodeId' is required ({expected})", field="nodeId")
    node_type, _, rest = nid.partition(":")
    ok = node_type in types and rest.count(":") <= _MAX_COLONS
    candidates = _candidates(node_type, rest) if ok else []
    if not candidates:
        raise BadRequest(f"malformed nodeId {nid!r}; expected {expected}", field="nodeId")
    model = Job if node_type == "job" else Dataset
    pairs = list(dict.fromkeys((ns, name) for ns, name, _ in candidates))
    rows = session.execute(
        select(Namespace.name, model.name, model.id)
        .join(Namespace, model.namespace_id == Namespace.id)
        .where(or_(*(and_(Namespace.name == ns, model.name == n) for ns, n in pairs)))
    ).all()
    found = {(ns, name): id_ for ns, name, id_ in rows}
    if node_type != "datasetField":
        for ns, name, _ in candidates:
            if (ns, name) in found:
                return NodeRef(node_type, ns, name, found[(ns, name)])
        raise NotFound(f"node {nid!r} not found", field="nodeId")
    known = _known_fields(session, {(found[(ns, n)], f) for ns, n, f in candidates
                                    if (ns, n) in found})
    for ns, name, fld in candidates:
        if (found.get((ns, name)), fld) in known:
            return NodeRef(node_type, ns, name, found[(ns, name)], fld)
    raise NotFound(f"node {nid!r} not found", field="nodeId")


def _known_fields(session: Session, pairs: set[tuple[int, str]]) -> set[tuple[int, str]]:
    """Those of ``pairs`` (dataset id, field) in the dataset's schema or in column lineage."""
    if not pairs:
        return set()
    cl = ColumnLineage
    where = [
        or_(*(and_(id_col == d, name_col == f) for d, f in pairs))
        for id_col, name_col in (
            (DatasetField.dataset_id, DatasetField.name),
            (cl.output_dataset_id, cl.output_field),
            (cl.input_dataset_id, cl.input_field),
        )
    ]
    stmt = union(
        select(DatasetField.dataset_id, DatasetField.name).where(where[0]),
        select(cl.output_dataset_id, cl.output_field).where(where[1]),
        select(cl.input_dataset_id, cl.input_field).where(where[2]),
    )
    return {(d, f) for d, f in session.execute(stmt)}


# --- loading entities in bulk ---------------------------------------------------------------------


def _chunks(ids) -> list[list[int]]:
    ids = sorted(ids)
    return [ids[i : i + _CHUNK] for i in range(0, len(ids), _CHUNK)]


def _datasets(session: Session, ids) -> dict[int, Dataset]:
    """Datasets by id with all that ``shapes.dataset_json`` reads, in a fixed number of queries."""
    out: dict[int, Dataset] = {}
    for chunk in _chunks(ids):
        stmt = (
            select(Dataset).where(Dataset.id.in_(chunk)).options(*dataset_options())
        )
        out.update((d.id, d) for d in session.scalars(stmt).unique())
    return out


def _jobs(session: Session, ids) -> tuple[dict[int, Job], dict[int, Run]]:
    """Jobs by id, and each one's latest run, with what ``shapes.job_json`` reads."""
    jobs: dict[int, Job] = {}
    runs: dict[int, Run] = {}
    for chunk in _chunks(ids):
        stmt = (
            select(Job)
            .where(Job.id.in_(chunk))
            .options(joinedload(Job.current_version), joinedload(Job.parent).load_only(Job.name))
        )
        jobs.update((j.id, j) for j in session.scalars(stmt))
        runs.update(latest_runs(session, chunk, joinedload(Run.job_version).load_only(
            JobVersion.uuid, JobVersion.sql)))
    return jobs, runs


def _names(session: Session, kind: str, ids) -> dict[int, tuple[str, str]]:
    """(namespace, name) by id of datasets ("d") or jobs ("j")."""
    model = Dataset if kind == DATASET else Job
    out: dict[int, tuple[str, str]] = {}
    for chunk in _chunks(ids):
        rows = session.execute(
            select(model.id, Namespace.name, model.name)
            .join(Namespace, model.namespace_id == Namespace.id)
            .where(model.id.in_(chunk))
        )
        out.update((id_, (ns, name)) for id_, ns, name in rows)
    return out


# --- graphs ---------------------------------------------------------------------------------------


@dataclass
class LineageGraph:
    """A neighbourhood as the API shows it."""

    nodes: list[GraphNode]
    # The walk stopped at its node cap; ``frontier`` holds ids of nodes to continue from.
    truncated: bool
    frontier: list[str]


def lineage_graph(
    session: Session, nid: str | None, depth: int, as_of: datetime | None = None,
    max_nodes: int | None = None,
) -> LineageGraph:
    """Marquez's ``/lineage``: datasets and jobs within ``depth`` hops either way, sorted by id,
    at most ``max_nodes`` of them (nearest first).

    Each node carries its loaded entity (and a job its latest run) and its edges to other nodes of
    the graph. Costs one query per layer of the walk plus a fixed number of loading queries.
    """
    start = resolve_node(session, nid)
    graph = q.neighbourhood(session, start.kind, start.id, depth, as_of, max_nodes)
    by_kind = {k: [i for kk, i in graph.nodes if kk == k] for k in (DATASET, JOB)}
    datasets = _datasets(session, by_kind[DATASET])
    fields = field_views(session, list(datasets))
    jobs, runs = _jobs(session, by_kind[JOB])
    nodes: dict[tuple[str, int], GraphNode] = {}
    for kind, id_ in graph.nodes:
        entity = datasets.get(id_) if kind == DATASET else jobs.get(id_)
        if entity is None:  # an edge to a row deleted since: show the rest of the graph
            continue
        nodes[(kind, id_)] = GraphNode(
            node_id(kind, entity.namespace.name, entity.name), _KIND_TYPE[kind], entity,
            runs.get(id_) if kind == JOB else None, fields=fields.get(id_),
        )
    for src_kind, src_id, dst_kind, dst_id in graph.edges:
        src, dst = nodes.get((src_kind, src_id)), nodes.get((dst_kind, dst_id))
        if src is not None and dst is not None:
            src.out_edges.append((src.id, dst.id))
            dst.in_edges.append((src.id, dst.id))
    result = sorted(nodes.values(), key=lambda n: n.id)
    for n in result:
        n.in_edges.sort()
        n.out_edges.sort()
    frontier = sorted(nodes[key].id for key in graph.frontier if key in nodes)
    return LineageGraph(result, graph.truncated, frontier)


def walk(
    session: Session, nid: str | None, direction: str, depth: int, as_of: datetime | None = None
) -> list[WalkNode]:
    """Nodes upstream or downstream of ``nid`` within ``depth`` hops, by distance then id.

    The start node is included at distance 0.
    """
    start = resolve_node(session, nid)
    distances = q.walk(session, start.kind, start.id, direction, depth, as_of)
    names = {
        kind: _names(session, kind, [i for k, i in distances if k == kind])
        for kind in (DATASET, JOB)
    }
    nodes = []
    for (kind, id_), distance in distances.items():
        if id_ in names[kind]:
            ns, name = names[kind][id_]
            nodes.append(WalkNode(node_id(kind, ns, name), _KIND_TYPE[kind], distance, name, ns))
    return sorted(nodes, key=lambda n: (n.distance, n.id))


def column_lineage_graph(
    session: Session,
    nid: str | None,
    depth: int,
    with_downstream: bool,
    as_of: datetime | None = None,
) -> list[FieldNode]:
    """Marquez's ``/column-lineage``: fields feeding a field (or all of a dataset's fields, or
    all fields of the datasets a job writes).

    Edges run the way data flows, input field -> output field. A node's ``inputs`` describe its
    incoming edges: the input field, its version, and the transformations of the latest output
    version that reported the pair. ``dataset_version`` is the newest version that reported the
    field's inputs, else the dataset's current version.
    """
    start = resolve_node(session, nid, ("datasetField", "dataset", "job"))
    if start.type == "job":
        graph = _merge([q.column_walk(session, ds_id, None, depth, with_downstream, as_of)
                        for ds_id in q.job_outputs(session, start.id, as_of)])
    else:
        graph = q.column_walk(session, start.id, start.field, depth, with_downstream, as_of)
    ds_ids = {d for d, _ in graph.nodes}
    info = {}
    for chunk in _chunks(ds_ids):
        info.update(
            (id_, (ns, name, version))
            for id_, ns, name, version in session.execute(
                select(Dataset.id, Namespace.name, Dataset.name, DatasetVersion.uuid)
                .join(Namespace, Dataset.namespace_id == Namespace.id)
                .outerjoin(DatasetVersion, Dataset.current_version_id == DatasetVersion.id)
                .where(Dataset.id.in_(chunk))
            )
        )
    types = {}
    for chunk in _chunks(ds_ids):
        types.update(
            ((d, f), t)
            for d, f, t in session.execute(
                select(DatasetField.dataset_id, DatasetField.name, DatasetField.type).where(
                    DatasetField.dataset_id.in_(chunk)
                )
            )
        )
    nodes: dict[tuple[int, str], FieldNode] = {}
    for d, f in graph.nodes:
        ns, name, version = info[d]
        nodes[(d, f)] = FieldNode(field_id(ns, name, f), ns, name, version, f, types.get((d, f)))
    newest: dict[tuple[int, str], int] = {}
    for e in graph.edges:
        out, inp = nodes[e.output], nodes[e.input]
        out.in_edges.append((inp.id, out.id))
        inp.out_edges.append((inp.id, out.id))
        if e.output_version is not None and e.output_version_id > newest.get(e.output, 0):
            newest[e.output] = e.output_version_id
            out.dataset_version = e.output_version
        out.inputs.append(
            {
                "namespace": inp.namespace,
                "dataset": inp.dataset,
                "datasetVersion": e.input_version,
                "field": inp.field,
                "transformations": [
                    {"type": t, "subtype": s or None, "description": desc, "masking": m}
                    for t, s, desc, m in e.transformations
                ],
            }
        )
    result = sorted(nodes.values(), key=lambda n: n.id)
    for n in result:
        n.in_edges.sort()
        n.out_edges.sort()
        n.inputs.sort(key=lambda i: (i["namespace"], i["dataset"], i["field"]))
    return result


def _merge(graphs: list[q.ColumnGraph]) -> q.ColumnGraph:
    """One column graph of several walks: each node at its least distance, each edge once."""
    nodes: dict[q.FieldNode, int] = {}
    edges: dict[tuple[q.FieldNode, q.FieldNode], q.ColumnEdge] = {}
    for g in graphs:
        for node, distance in g.nodes.items():
            nodes[node] = min(distance, nodes.get(node, distance))
        for e in g.edges:
            edges.setdefault((e.output, e.input), e)
    return q.ColumnGraph(nodes, [edges[k] for k in sorted(edges)])
