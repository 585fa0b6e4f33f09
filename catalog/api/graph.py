"""Lineage graph reads: Marquez's ``/lineage`` and ``/column-lineage``, plus directed walks."""

from __future__ import annotations

from datetime import UTC

from flask import Blueprint, jsonify, request

from catalog.api import shapes
from catalog.api.common import bool_arg, depth_arg, int_arg, time_arg
from catalog.context import read_session, state
from catalog.jsoncodec import iso
from catalog.read import lineage as svc

bp = Blueprint("graph", __name__)


def _edges(pairs) -> list[dict]:
    return [{"origin": o, "destination": d} for o, d in pairs]


@bp.get("/lineage")
def get_lineage():
    """Datasets and jobs within ``depth`` hops of ``nodeId`` either way (Marquez's shape).

    Query: ``nodeId`` (``dataset:NS:NAME`` or ``job:NS:NAME``), ``depth`` (edges, default 20),
    ``asOf`` (only edges first seen by then), ``limit`` (most nodes, nearest first; at most
    CATALOG_MAX_LINEAGE_NODES). Past the limit the answer says ``truncated`` and lists its
    ``frontier``: ids of nodes with neighbours left out, to ask about next.
    """
    depth, as_of = depth_arg(), time_arg("asOf")
    cap = state().settings.max_lineage_nodes
    limit = int_arg("limit", cap, minimum=1, maximum=cap)
    with read_session() as session:
        result = svc.lineage_graph(session, request.args.get("nodeId"), depth, as_of, limit)
        nodes = result.nodes
        graph = [
            {
                "id": n.id,
                "type": n.type,
                "data": shapes.dataset_json(n.entity, n.fields)
                if n.type == "DATASET"
                else shapes.job_json(n.entity, n.latest_run),
                "inEdges": _edges(n.in_edges),
                "outEdges": _edges(n.out_edges),
            }
            for n in nodes
        ]
    return jsonify({"graph": graph, "truncated": result.truncated, "frontier": result.frontier})


@bp.get("/column-lineage")
def get_column_lineage():
    """Fields feeding ``nodeId`` (and fed by it, ``withDownstream=true``), Marquez's shape.

    ``nodeId`` is ``datasetField:NS:NAME:FIELD``, ``dataset:NS:NAME`` for all its fields, or
    ``job:NS:NAME`` for all fields of the datasets the job writes.
    Edges point the way data flows (input field -> output field). ``transformationType`` and
    ``transformationDescription`` of a node (deprecated in Marquez) repeat those of its first
    input field.
    """
    depth, as_of = depth_arg(), time_arg("asOf")
    downstream = bool_arg("withDownstream", False)
    with read_session() as session:
        nodes = svc.column_lineage_graph(
            session, request.args.get("nodeId"), depth, downstream, as_of
        )
    graph = []
    for n in nodes:
        inputs = [
            {
                **{k: i[k] for k in ("namespace", "dataset", "datasetVersion", "field")},
                "transformationDescription": _first(i["transformations"], "description"),
                "transformationType": _first(i["transformations"], "type"),
                "transformations": i["transformations"],
            }
            for i in n.inputs
        ]
        data = {
            "namespace": n.namespace,
            "dataset": n.dataset,
            "datasetVersion": n.dataset_version,
            "field": n.field,
            "fieldType": n.field_type,
            "transformationDescription": inputs[0]["transformationDescription"] if inputs else None,
            "transformationType": inputs[0]["transformationType"] if inputs else None,
            "inputFields": inputs,
        }
        graph.append(
            {
                "id": n.id,
                "type": "DATASET_FIELD",
                "data": data,
                "inEdges": _edges(n.in_edges),
                "outEdges": _edges(n.out_edges),
            }
        )
    return jsonify({"graph": graph})


def _first(transformations: list[dict], key: str):
    return transformations[0][key] if transformations else None


def _walk(direction: str):
    depth, as_of = depth_arg(), time_arg("asOf")
    nid = request.args.get("nodeId")
    with read_session() as session:
        nodes = svc.walk(session, nid, direction, depth, as_of)
    return jsonify(
        {
            "nodeId": nid,
            "direction": direction,
            "depth": depth,
            "asOf": iso(as_of.astimezone(UTC)) if as_of else None,
            "nodes": [
                {"id": n.id, "type": n.type, "distance": n.distance, "name": n.name,
                 "namespace": n.namespace}
                for n in nodes
            ],
        }
    )


@bp.get("/lineage/upstream")
def get_upstream():
    """Everything ``nodeId`` derives from within ``depth`` hops, by distance then id."""
    return _walk("upstream")


@bp.get("/lineage/downstream")
def get_downstream():
    """Everything derived from ``nodeId`` within ``depth`` hops (impact analysis)."""
    return _walk("downstream")
