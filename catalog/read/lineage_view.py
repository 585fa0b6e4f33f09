"""The lineage graph as pages draw it: upstream to the left, downstream to the right.

Built from the two directed walks of :mod:`catalog.lineage_queries` (so siblings that merely
share an input are left out), the edges among the nodes reached, names, and each dataset's
quality status. Costs a fixed number of queries per 5,000 nodes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from catalog import lineage_queries as q
from catalog.models import Dataset, Job, LineageEdge, Namespace
from catalog.models.lineage import DATASET, JOB
from catalog.read.lineage import NodeRef, node_id
from catalog.read.quality_status import dataset_status

# Ids per IN list (SQLite's bound-parameter limit).
_CHUNK = 5000
# Nodes beyond this are dropped (the flag says so): the page stays responsive on any graph.
MAX_NODES = 50_000


@dataclass(frozen=True)
class LayeredNode:
    """A node with its layer: negative upstream, 0 the start, positive downstream."""

    kind: str
    id: int
    namespace: str
    name: str
    layer: int
    status: str | None

    @property
    def node_id(self) -> str:
        """The node's Marquez id."""
        return node_id(self.kind, self.namespace, self.name)


@dataclass
class LayeredGraph:
    """Nodes sorted by layer then name; edges as index pairs into ``nodes``."""

    nodes: list[LayeredNode]
    edges: list[tuple[int, int]]
    start: int
    truncated: bool


def _in_chunks(ids):
    ids = sorted(ids)
    for i in range(0, len(ids), _CHUNK):
        yield ids[i:i + _CHUNK]


def layered_graph(
    session: Session, start: NodeRef, depth: int, as_of: datetime | None = None
) -> LayeredGraph:
    """Upstream and downstream of ``start`` within ``depth`` hops, as of ``as_of``."""
    up = q.walk(session, start.kind, start.id, "upstream", depth, as_of)
    down = q.walk(session, start.kind, start.id, "downstream", depth, as_of)
    layers: dict[tuple[str, int], int] = {(start.kind, start.id): 0}
    for node, d in down.items():
        layers.setdefault(node, d)
    for node, d in up.items():
        if node not in layers or d < layers[node]:
            layers[node] = -d
    truncated = len(layers) > MAX_NODES
    if truncated:
        keep = sorted(layers, key=lambda n: abs(layers[n]))[:MAX_NODES]
        layers = {n: layers[n] for n in keep}
    names: dict[tuple[str, int], tuple[str, str]] = {}
    for kind, model in ((DATASET, Dataset), (JOB, Job)):
        for chunk in _in_chunks(i for k, i in layers if k == kind):
            for id_, ns, name in session.execute(
                select(model.id, Namespace.name, model.name)
                .join(Namespace, model.namespace_id == Namespace.id).where(model.id.in_(chunk))
            ):
                names[(kind, id_)] = (ns, name)
    statuses = dataset_status(session, [i for k, i in names if k == DATASET])
    nodes = sorted(
        (LayeredNode(k, i, *names[(k, i)], layers[(k, i)],
                     statuses.get(i) if k == DATASET else None) for k, i in names),
        key=lambda n: (n.layer, n.namespace, n.name, n.kind),
    )
    index = {(n.kind, n.id): i for i, n in enumerate(nodes)}
    edges: set[tuple[int, int]] = set()
    e = LineageEdge
    for kind in (DATASET, JOB):
        for chunk in _in_chunks(i for k, i in index if k == kind):
            stmt = select(e.src_kind, e.src_id, e.dst_kind, e.dst_id).where(
                e.src_kind == kind, e.src_id.in_(chunk))
            if as_of is not None:
                stmt = stmt.where(e.first_seen_at <= as_of)
            for sk, si, dk, di in session.execute(stmt):
                dst = index.get((dk, di))
                if dst is not None:
                    edges.add((index[(sk, si)], dst))
    return LayeredGraph(nodes, sorted(edges), index.get((start.kind, start.id), 0), truncated)


def graph_json(graph: LayeredGraph, url_of) -> dict:
    """Compact JSON for lineage.js: ``url_of(node)`` gives each node's page."""
    return {
        "start": graph.start,
        "truncated": graph.truncated,
        "nodes": [
            {"id": n.node_id, "t": n.kind, "ns": n.namespace, "name": n.name, "layer": n.layer,
             "status": n.status, "url": url_of(n)}
            for n in graph.nodes
        ],
        "edges": graph.edges,
    }
