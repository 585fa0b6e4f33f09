"""Lineage pages: the graph with its list view, column-level lineage, and the graph's JSON."""

from __future__ import annotations

from flask import jsonify, render_template, request

from catalog.context import read_session, state
from catalog.errors import BadRequest
from catalog.read import browse
from catalog.read import lineage as lsvc
from catalog.read.lineage_view import graph_json, layered_graph
from catalog.web.common import int_param, node_url, page_blueprint, time_param

bp = page_blueprint("web_lineage", __name__)

# Nodes listed per layer in the list view before "show all".
LIST_PER_LAYER = 200


def _args():
    depth = int_param("depth", 3, 1, state().settings.max_lineage_depth)
    return request.args.get("node"), depth, time_param("as_of")


@bp.get("/lineage")
def lineage():
    """Upstream and downstream of ``node`` (a Marquez node id) as a graph and as a list."""
    nid, depth, as_of = _args()
    show_all = request.args.get("all") == "1"
    with read_session() as session:
        start = lsvc.resolve_node(session, nid)
        graph = layered_graph(session, start, depth, as_of)
        columns, fields = [], []
        if start.type == "dataset":
            fields = [f.name for f in browse.field_views(session, [start.id])[start.id]]
            # Direct inputs of the start's own fields: one hop is all the page lists.
            columns = lsvc.column_lineage_graph(session, nid, 1, False, as_of)
    layers: dict[int, list] = {}
    for n in graph.nodes:
        layers.setdefault(n.layer, []).append(n)
    own = [c for c in columns if c.namespace == start.namespace and c.dataset == start.name]
    return render_template(
        "lineage.html", start=start, nid=nid, depth=depth, graph=graph, layers=layers,
        show_all=show_all, per_layer=LIST_PER_LAYER, columns=own, graph_node=nid,
        graph_fields=fields,
    )


@bp.get("/lineage/graph.json", endpoint="graph_json")
def graph_json_view():
    """The layered graph of ``node`` for lineage.js."""
    nid, depth, as_of = _args()
    with read_session() as session:
        graph = layered_graph(session, lsvc.resolve_node(session, nid), depth, as_of)
    return jsonify(graph_json(graph, lambda n: node_url(n.kind, n.namespace, n.name)))



@bp.get("/lineage/columns.json", endpoint="columns_json")
def columns_json_view():
    """Column-level edges up and down from ``field`` of the dataset ``node``, for lineage.js:
    ``[[namespace, dataset, field], [namespace, dataset, field]]`` pairs, input first."""
    nid, depth, as_of = _args()
    field = request.args.get("field", "")
    if not field:
        raise BadRequest("'field' names a column of the dataset", field="field")
    with read_session() as session:
        start = lsvc.resolve_node(session, nid, ("dataset",))
        nodes = lsvc.column_lineage_graph(
            session, lsvc.field_id(start.namespace, start.name, field), depth, True, as_of)
    edges = [[[i["namespace"], i["dataset"], i["field"]], [n.namespace, n.dataset, n.field]]
             for n in nodes for i in n.inputs]
    return jsonify({"node": nid, "field": field, "edges": edges})
