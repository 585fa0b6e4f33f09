"""Lineage graph reads over HTTP: /lineage, /column-lineage and the directed walks.

The graph is built from OpenLineage events: a chain raw -> clean -> features -> model ->
recommendations (jobs between datasets), optionally closed into a cycle by a feedback job that
writes raw from recommendations an hour and a half later.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import event

from tests.factories import T0, complete_run, ds, facet

# (job, input, output, minute): each run's START event time is the edges' first_seen_at.
CHAIN = [
    ("clean_job", "raw", "clean", 0),
    ("features_job", "clean", "features", 10),
    ("train", "features", "model", 20),
    ("score", "model", "recommendations", 30),
]
FEEDBACK = ("feedback", "recommendations", "raw", 100)

D = "dataset:shop:"
J = "job:pipelines:"


def build(client, *, feedback: bool = False, column_lineage: dict | None = None) -> dict:
    """POST the chain's runs (and the feedback run); return run ids by job name."""
    runs = {}
    for job, src, dst, minute in CHAIN + ([FEEDBACK] if feedback else []):
        facets = (column_lineage or {}).get(dst, {})
        out = ds(dst, columnLineage=cl_facet(facets)) if facets else ds(dst)
        runs[job] = complete_run(client, job, inputs=[ds(src)], outputs=[out], minutes=minute)
    return runs


def cl_facet(fields: dict) -> dict:
    """A columnLineage facet from {output field: [(input dataset, input field), ...]}."""
    return facet("ColumnLineageDatasetFacet", fields={
        out: {"inputFields": [
            {"namespace": "shop", "name": name, "field": f,
             "transformations": [{"type": "DIRECT", "subtype": "IDENTITY"}]}
            for name, f in inputs
        ]}
        for out, inputs in fields.items()
    })


def lineage(client, node: str, **params) -> dict:
    r = client.get("/api/v1/lineage", query_string={"nodeId": node, **params})
    assert r.status_code == 200, r.get_json()
    return {n["id"]: n for n in r.get_json()["graph"]}


def edges(graph: dict) -> set[tuple[str, str]]:
    return {(e["origin"], e["destination"]) for n in graph.values() for e in n["outEdges"]}


def walk(client, direction: str, node: str, **params) -> list[tuple[str, int]]:
    r = client.get(f"/api/v1/lineage/{direction}", query_string={"nodeId": node, **params})
    assert r.status_code == 200, r.get_json()
    return [(n["id"], n["distance"]) for n in r.get_json()["nodes"]]


# --- /lineage -------------------------------------------------------------------------------------


def test_depth_zero_one_two_are_exact(client):
    build(client)
    assert set(lineage(client, D + "clean", depth=0)) == {D + "clean"}
    assert edges(lineage(client, D + "clean", depth=0)) == set()
    g1 = lineage(client, D + "clean", depth=1)
    assert set(g1) == {D + "clean", J + "clean_job", J + "features_job"}
    assert edges(g1) == {(J + "clean_job", D + "clean"), (D + "clean", J + "features_job")}
    g2 = lineage(client, D + "clean", depth=2)
    assert set(g2) == set(g1) | {D + "raw", D + "features"}
    assert edges(g2) == edges(g1) | {
        (D + "raw", J + "clean_job"), (J + "features_job", D + "features")}


def test_lineage_has_marquez_shape(client):
    runs = build(client)
    g = lineage(client, J + "features_job", depth=1)
    assert list(g) == [D + "clean", D + "features", J + "features_job"]  # sorted by id
    job = g[J + "features_job"]
    assert job["type"] == "JOB"
    assert job["inEdges"] == [{"origin": D + "clean", "destination": J + "features_job"}]
    assert job["outEdges"] == [{"origin": J + "features_job", "destination": D + "features"}]
    assert job["data"]["id"] == {"namespace": "pipelines", "name": "features_job"}
    assert job["data"]["latestRun"]["id"] == runs["features_job"]
    assert job["data"]["latestRun"]["state"] == "COMPLETED"
    clean = g[D + "clean"]
    assert clean["type"] == "DATASET"
    assert clean["data"]["id"] == {"namespace": "shop", "name": "clean"}
    assert clean["data"]["currentVersionNumber"] == 1
    # clean_job wrote clean but is two hops from features_job: outside the graph, so no edge.
    assert clean["inEdges"] == []
    assert clean["outEdges"] == [{"origin": D + "clean", "destination": J + "features_job"}]


def test_siblings_are_in_the_neighbourhood(client):
    build(client)
    complete_run(client, "audit", inputs=[ds("clean")], outputs=[ds("audit_log")], minutes=40)
    assert set(lineage(client, J + "features_job", depth=2)) == {
        D + "clean", D + "features", J + "features_job", J + "clean_job", J + "audit", J + "train"}


def test_cycle_terminates_and_returns_each_node_once(client):
    build(client, feedback=True)
    r = client.get("/api/v1/lineage", query_string={"nodeId": D + "raw", "depth": 50})
    ids = [n["id"] for n in r.get_json()["graph"]]
    assert sorted(ids) == ids and len(ids) == 10
    assert set(ids) == {D + d for d in ("raw", "clean", "features", "model", "recommendations")} | {
        J + j for j in ("clean_job", "features_job", "train", "score", "feedback")}
    assert len(edges(lineage(client, D + "raw", depth=50))) == 10


def test_as_of_hides_edges_first_seen_later(client):
    build(client, feedback=True)
    before = (T0 + timedelta(minutes=50)).isoformat()
    assert set(lineage(client, D + "raw", depth=1, asOf=before)) == {D + "raw", J + "clean_job"}
    assert set(lineage(client, D + "raw", depth=1)) == {
        D + "raw", J + "clean_job", J + "feedback"}
    # Exactly at the feedback run's START the edge exists; a microsecond earlier it does not.
    at = T0 + timedelta(minutes=100)
    assert walk(client, "upstream", D + "raw", depth=1, asOf=at.isoformat()) == [
        (D + "raw", 0), (J + "feedback", 1)]
    earlier = (at - timedelta(microseconds=1)).isoformat()
    assert walk(client, "upstream", D + "raw", depth=1, asOf=earlier) == [(D + "raw", 0)]


def test_the_node_cap_truncates_nearest_first_and_names_the_frontier(client):
    build(client, feedback=True)  # a cycle of 10 nodes
    full = client.get("/api/v1/lineage", query_string={"nodeId": D + "clean", "depth": 50})
    assert full.get_json()["truncated"] is False and full.get_json()["frontier"] == []
    assert len(full.get_json()["graph"]) == 10
    r = client.get("/api/v1/lineage", query_string={"nodeId": D + "clean", "depth": 50,
                                                    "limit": 4})
    body = r.get_json()
    # clean (0), its two jobs (1), then of the two datasets at 2 the first by id: raw.
    got = {n["id"] for n in body["graph"]}
    assert got == {D + "clean", J + "clean_job", J + "features_job", D + "raw"}
    assert body["truncated"] is True
    # features_job's output was left out; raw was never expanded.
    assert body["frontier"] == [D + "raw", J + "features_job"]
    # Edges only among the nodes returned.
    assert edges({n["id"]: n for n in body["graph"]}) == {
        (J + "clean_job", D + "clean"), (D + "clean", J + "features_job"),
        (D + "raw", J + "clean_job")}
    # Continuing from the frontier reaches what was left out.
    assert D + "features" in lineage(client, J + "features_job", depth=1)
    # The cap is a bounded, validated parameter.
    for bad in (0, 10_001, "x"):
        r = client.get("/api/v1/lineage", query_string={"nodeId": D + "clean", "limit": bad})
        assert r.status_code == 400 and r.get_json()["field"] == "limit"


def test_the_walk_stops_at_the_cap_inside_the_query_loop(app, client):
    """The database is asked for no layer past the one that overflowed the cap."""
    from catalog import lineage_queries as q
    from catalog.context import read_session

    build(client, feedback=True)
    engine = app.extensions["catalog"].read_engine
    layers = []

    def record(_conn, _cursor, statement, *_args):
        if "lineage_edges" in statement:
            layers.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        with app.app_context(), read_session() as session:
            from catalog.read.lineage import resolve_node

            start = resolve_node(session, D + "clean")
            capped = q.neighbourhood(session, start.kind, start.id, 50, max_nodes=3)
            first = len(layers)
            full = q.neighbourhood(session, start.kind, start.id, 50)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert len(capped.nodes) == 3 and capped.truncated
    # Layer 1 brings the two jobs (3 nodes); layer 2 finds more than fits, and the walk ends.
    assert first == 2 and len(layers) - first == 6  # the full walk needs six layers
    assert len(full.nodes) == 10 and not full.truncated


def test_lineage_loads_node_data_in_a_fixed_number_of_queries(app, client):
    build(client, feedback=True)
    engine = app.extensions["catalog"].read_engine
    counts, layers = [], []

    def count(_conn, _cursor, statement, *_args):
        if "lineage_edges" in statement:
            layers[-1] += 1  # the walk: one query per layer of the neighbourhood
        else:
            counts[-1] += 1

    event.listen(engine, "before_cursor_execute", count)
    try:
        for depth in (1, 50):  # 3 nodes, then all 10
            counts.append(0)
            layers.append(0)
            lineage(client, D + "clean", depth=depth)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert counts[0] == counts[1]
    # Depth 1 reads one layer; depth 50 stops once a layer finds nothing new (the graph's
    # farthest node from clean is 5 hops away), not after 50.
    assert layers == [1, 6]


# --- walks ----------------------------------------------------------------------------------------


def test_downstream_and_upstream_walks(client):
    build(client)
    assert walk(client, "downstream", D + "features", depth=20) == [
        (D + "features", 0), (J + "train", 1), (D + "model", 2), (J + "score", 3),
        (D + "recommendations", 4)]
    assert walk(client, "upstream", D + "features", depth=2) == [
        (D + "features", 0), (J + "features_job", 1), (D + "clean", 2)]
    assert walk(client, "upstream", D + "raw", depth=5) == [(D + "raw", 0)]


def test_walk_on_cycle_gives_minimum_distances(client):
    build(client, feedback=True)
    r = client.get("/api/v1/lineage/downstream",
                   query_string={"nodeId": J + "score", "depth": 50})
    body = r.get_json()
    assert (body["nodeId"], body["direction"], body["depth"], body["asOf"]) == (
        J + "score", "downstream", 50, None)
    assert [(n["id"], n["distance"]) for n in body["nodes"]] == [
        (J + "score", 0), (D + "recommendations", 1), (J + "feedback", 2), (D + "raw", 3),
        (J + "clean_job", 4), (D + "clean", 5), (J + "features_job", 6), (D + "features", 7),
        (J + "train", 8), (D + "model", 9)]
    assert body["nodes"][3] == {"id": D + "raw", "type": "DATASET", "distance": 3,
                                "name": "raw", "namespace": "shop"}


def test_walk_echoes_as_of_in_utc(client):
    build(client)
    r = client.get("/api/v1/lineage/upstream",
                   query_string={"nodeId": D + "clean", "depth": 1,
                                 "asOf": "2026-01-01T01:00:00+01:00"})
    body = r.get_json()
    assert body["asOf"] == "2026-01-01T00:00:00Z"
    assert [n["id"] for n in body["nodes"]] == [D + "clean", J + "clean_job"]


def test_namespace_with_colons_resolves(client):
    ns = "postgres://db.internal:5432"
    cl = facet("ColumnLineageDatasetFacet", fields={"order_id": {"inputFields": [
        {"namespace": ns, "name": "public.orders", "field": "id"}]}})
    complete_run(client, "load", inputs=[ds("public.orders", ns=ns)],
                 outputs=[ds("orders", columnLineage=cl)])
    assert walk(client, "downstream", f"dataset:{ns}:public.orders", depth=2) == [
        (f"dataset:{ns}:public.orders", 0), (J + "load", 1), (D + "orders", 2)]
    g = column_lineage(client, f"datasetField:{ns}:public.orders:id", withDownstream="true")
    assert set(g) == {f"datasetField:{ns}:public.orders:id", F + "orders:order_id"}
    assert g[F + "orders:order_id"]["data"]["inputFields"][0]["namespace"] == ns


# --- errors ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/lineage", "/lineage/upstream", "/lineage/downstream"])
def test_unknown_node_is_404(client, path):
    build(client)
    for node in (D + "nope", J + "nope", "dataset:nowhere:raw"):
        r = client.get("/api/v1" + path, query_string={"nodeId": node})
        assert r.status_code == 404
        assert r.get_json()["error"] == "NotFound" and r.get_json()["field"] == "nodeId"


@pytest.mark.parametrize("node", [None, "", "raw", "dataset:raw", "dataset::raw", "table:shop:raw",
                                  "datasetField:shop:raw:x", "job:pipelines:",
                                  "dataset:" + ":".join("a" * 20)])
def test_malformed_node_id_is_400(client, node):
    build(client)
    r = client.get("/api/v1/lineage", query_string={} if node is None else {"nodeId": node})
    assert r.status_code == 400
    assert r.get_json()["error"] == "BadRequest" and r.get_json()["field"] == "nodeId"


@pytest.mark.parametrize("params", [{"depth": 51}, {"depth": -1}, {"depth": "x"}])
def test_bad_depth_is_400(client, params):
    build(client)
    for path in ("/lineage", "/lineage/downstream", "/column-lineage"):
        r = client.get("/api/v1" + path, query_string={"nodeId": D + "raw", **params})
        assert r.status_code == 400 and r.get_json()["field"] == "depth"


def test_bad_as_of_is_400(client):
    build(client)
    r = client.get("/api/v1/lineage", query_string={"nodeId": D + "raw", "asOf": "yesterday"})
    assert r.status_code == 400 and r.get_json()["field"] == "asOf"


# --- /column-lineage ------------------------------------------------------------------------------

F = "datasetField:shop:"
COLUMNS = {
    "clean": {"clicks": [("raw", "behavior")], "user_id": [("raw", "user_id")]},
    "features": {"user_clicks": [("clean", "clicks"), ("clean", "user_id")]},
    "model": {"score": [("features", "user_clicks")]},
}


def column_lineage(client, node: str, **params) -> dict:
    r = client.get("/api/v1/column-lineage", query_string={"nodeId": node, **params})
    assert r.status_code == 200, r.get_json()
    return {n["id"]: n for n in r.get_json()["graph"]}


def test_column_lineage_upstream_by_depth(client):
    build(client, column_lineage=COLUMNS)
    start = F + "features:user_clicks"
    assert set(column_lineage(client, start, depth=0)) == {start}
    g1 = column_lineage(client, start, depth=1)
    assert set(g1) == {start, F + "clean:clicks", F + "clean:user_id"}
    assert edges(g1) == {(F + "clean:clicks", start), (F + "clean:user_id", start)}
    g2 = column_lineage(client, start)
    assert set(g2) == set(g1) | {F + "raw:behavior", F + "raw:user_id"}
    assert edges(g2) == edges(g1) | {
        (F + "raw:behavior", F + "clean:clicks"), (F + "raw:user_id", F + "clean:user_id")}


def test_column_lineage_with_downstream(client):
    build(client, column_lineage=COLUMNS)
    g = column_lineage(client, F + "clean:clicks", depth=1, withDownstream="true")
    assert set(g) == {F + "clean:clicks", F + "raw:behavior", F + "features:user_clicks"}
    # Downstream does not turn back upstream: user_clicks' other input is not a node.
    g = column_lineage(client, F + "clean:clicks", depth=5, withDownstream="true")
    assert set(g) == {F + "clean:clicks", F + "raw:behavior", F + "features:user_clicks",
                      F + "model:score"}
    assert set(column_lineage(client, F + "clean:clicks", depth=5)) == {
        F + "clean:clicks", F + "raw:behavior"}


def test_column_lineage_node_data(client):
    build(client, column_lineage=COLUMNS)
    g = column_lineage(client, F + "features:user_clicks", depth=1)
    node = g[F + "features:user_clicks"]
    assert node["type"] == "DATASET_FIELD"
    data = node["data"]
    assert (data["namespace"], data["dataset"], data["field"]) == ("shop", "features",
                                                                   "user_clicks")
    assert data["datasetVersion"] is not None and data["fieldType"] is None
    assert (data["transformationType"], data["transformationDescription"]) == ("DIRECT", None)
    assert [(i["dataset"], i["field"]) for i in data["inputFields"]] == [
        ("clean", "clicks"), ("clean", "user_id")]
    assert data["inputFields"][0]["transformations"] == [
        {"type": "DIRECT", "subtype": "IDENTITY", "description": None, "masking": False}]
    assert node["inEdges"] == [
        {"origin": F + "clean:clicks", "destination": F + "features:user_clicks"},
        {"origin": F + "clean:user_id", "destination": F + "features:user_clicks"}]
    assert g[F + "clean:clicks"]["data"]["inputFields"] == []  # its input is outside depth 1


def test_column_lineage_of_a_dataset_covers_its_fields(client):
    build(client, column_lineage=COLUMNS)
    assert set(column_lineage(client, D + "clean", depth=0)) == {
        F + "clean:clicks", F + "clean:user_id"}
    assert set(column_lineage(client, D + "clean", depth=1)) == {
        F + "clean:clicks", F + "clean:user_id", F + "raw:behavior", F + "raw:user_id"}


def test_column_lineage_as_of(client):
    # Column lineage rows carry the event time of the run that reported them.
    build(client, column_lineage={k: v for k, v in COLUMNS.items() if k != "model"})
    boundary = T0 + timedelta(minutes=45)
    complete_run(client, "train_v2", inputs=[ds("features")],
                 outputs=[ds("model", columnLineage=cl_facet(COLUMNS["model"]))], minutes=50)
    g = column_lineage(client, F + "features:user_clicks", depth=1, withDownstream="true",
                       asOf=boundary.isoformat())
    assert set(g) == {F + "features:user_clicks", F + "clean:clicks", F + "clean:user_id"}
    g = column_lineage(client, F + "features:user_clicks", depth=1, withDownstream="true")
    assert set(g) == {F + "features:user_clicks", F + "clean:clicks", F + "clean:user_id",
                      F + "model:score"}


def test_column_lineage_of_a_job_is_that_of_the_datasets_it_writes(client):
    """Marquez's job node: clean_job writes shop/clean, so its graph is clean's fields'."""
    build(client, column_lineage=COLUMNS)
    for downstream in ("false", "true"):
        by_job, by_dataset = (client.get("/api/v1/column-lineage", query_string={
            "nodeId": node, "withDownstream": downstream}).get_json()
            for node in (J + "clean_job", "dataset:shop:clean"))
        assert by_job == by_dataset and by_job["graph"], downstream


def test_column_lineage_errors(client):
    build(client, column_lineage=COLUMNS)
    for node, code in ((F + "clean:nope", 404), (F + "nope:clicks", 404), (F + "clean", 400),
                       (J + "nope", 404), ("run:x:y", 400)):
        r = client.get("/api/v1/column-lineage", query_string={"nodeId": node})
        assert r.status_code == code, node
