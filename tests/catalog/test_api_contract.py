"""The OpenAPI document is the contract: every operation, called for real, answers as documented.

A populated catalog (``tests.ops.catalog_data.populate`` plus tags, a source, a classification and
an exemption) takes at least one successful request and one refused request of every operation
in the served document. Each answer's status must be one the document lists for that operation,
its content type one the document gives for that status, and a JSON body must match the status's
schema (OpenAPI 3.0 semantics, formats checked). A test also holds the table to the document:
an operation added without a success and an error case here fails it. (The interactive docs'
operations need Swagger UI installed, as `make dev` does.)
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

import pytest
from openapi_schema_validator import OAS30Validator

from catalog import launcher
from catalog.app import create_app
from tests.authutil import as_admin, client_class, mint_token
from tests.dbutil import wipe
from tests.factories import complete_run, ds, facet, run_event, schema
from tests.ops.catalog_data import populate
from tests.runutil import close_runs

V1 = "/api/v1"
DS = f"{V1}/namespaces/{{namespace}}/datasets/{{name}}"
EVENT = run_event("COMPLETE", "contract", outputs=[ds("contract_out", schema=schema("x"))])
UNKNOWN_RUN = str(uuid.uuid4())
NO_BODY = object()


@dataclass(frozen=True)
class Case:
    """One request: the document's operation, the concrete URL (``{run}``-style placeholders
    filled from the catalog's ids) and the status it must get."""

    method: str
    path: str
    url: str
    status: int
    json: object = NO_BODY
    query: dict = field(default_factory=dict)
    who: str = "admin"  # or "viewer", or "anonymous" (no credentials)
    raw: tuple[str, str] | None = None  # (body, content type) sent as is


def case(method: str, path: str, status: int, url: str | None = None, **kw) -> Case:
    """A case; ``url`` defaults to the document's path (when it has no parameters)."""
    return Case(method, path, url or path, status, **kw)


CASES = [
    # OpenLineage ingestion and lineage reads.
    case("post", f"{V1}/lineage", 201, json=EVENT),
    case("post", f"{V1}/lineage", 422, json={"eventTime": "2026-01-01T00:00:00Z",
                                            "producer": "p", "schemaURL": "s"}),
    case("post", f"{V1}/lineage", 415, raw=("{}", "text/plain")),
    case("post", f"{V1}/lineage", 400, raw=("{", "application/json")),
    case("post", f"{V1}/lineage/batch", 201, json=[EVENT]),
    case("post", f"{V1}/lineage/batch", 207, json=[EVENT, {"eventType": "START"}]),
    case("post", f"{V1}/lineage/batch", 400, json={"not": "a list"}),
    case("get", f"{V1}/lineage", 200, query={"nodeId": "dataset:shop:clean", "depth": 2}),
    case("get", f"{V1}/lineage", 200, query={"nodeId": "job:pipelines:clean", "limit": 2}),
    case("get", f"{V1}/lineage", 404, query={"nodeId": "dataset:shop:nope"}),
    case("get", f"{V1}/lineage", 400, query={"nodeId": "nothing"}),
    case("get", f"{V1}/lineage/upstream", 200, query={"nodeId": "dataset:shop:clean"}),
    case("get", f"{V1}/lineage/upstream", 404, query={"nodeId": "job:pipelines:nope"}),
    case("get", f"{V1}/lineage/downstream", 200,
         query={"nodeId": "dataset:shop:raw", "asOf": "2030-01-01T00:00:00Z"}),
    case("get", f"{V1}/lineage/downstream", 400, query={"nodeId": "dataset:shop:raw",
                                                        "depth": "-1"}),
    case("get", f"{V1}/column-lineage", 200, query={"nodeId": "datasetField:shop:clean:b"}),
    case("get", f"{V1}/column-lineage", 200, query={"nodeId": "job:pipelines:clean",
                                                    "withDownstream": "true"}),
    case("get", f"{V1}/column-lineage", 404, query={"nodeId": "dataset:shop:nope"}),
    case("get", f"{V1}/events/lineage", 200, query={"limit": 5}),
    case("get", f"{V1}/events/lineage", 422, query={"before": "2026-01-01T00:00:00Z",
                                                    "after": "2026-02-01T00:00:00Z"}),
    # Namespaces, datasets, tags, sources.
    case("get", f"{V1}/namespaces", 200),
    case("get", f"{V1}/namespaces", 400, query={"limit": "many"}),
    case("get", f"{V1}/namespaces", 401, who="anonymous"),
    case("get", f"{V1}/namespaces/{{namespace}}", 200, f"{V1}/namespaces/shop"),
    case("get", f"{V1}/namespaces/{{namespace}}", 404, f"{V1}/namespaces/nope"),
    case("put", f"{V1}/namespaces/{{namespace}}", 200, f"{V1}/namespaces/marketing",
         json={"ownerName": "team-a", "description": "Campaigns"}),
    case("put", f"{V1}/namespaces/{{namespace}}", 422, f"{V1}/namespaces/marketing",
         json={"description": "no owner"}),
    case("put", f"{V1}/namespaces/{{namespace}}", 403, f"{V1}/namespaces/marketing",
         json={"ownerName": "team-a"}, who="viewer"),
    case("get", f"{V1}/namespaces/{{namespace}}/datasets", 200, f"{V1}/namespaces/shop/datasets"),
    case("get", f"{V1}/namespaces/{{namespace}}/datasets", 404, f"{V1}/namespaces/nope/datasets"),
    case("get", DS, 200, f"{V1}/namespaces/shop/datasets/clean"),
    case("get", DS, 200, f"{V1}/namespaces/shop/datasets/clean",
         query={"asOf": "2030-01-01T00:00:00Z"}),
    case("get", DS, 404, f"{V1}/namespaces/shop/datasets/nope"),
    case("get", DS, 400, f"{V1}/namespaces/shop/datasets/clean", query={"asOf": "yesterday"}),
    case("put", DS, 200, f"{V1}/namespaces/shop/datasets/registered",
         json={"kind": "table", "fields": [{"name": "id", "type": "BIGINT"}],
               "owners": ["ml-team"], "tags": ["silver"], "sourceName": "warehouse"}),
    case("put", DS, 422, f"{V1}/namespaces/shop/datasets/registered", json={"colour": 1}),
    case("put", DS, 404, f"{V1}/namespaces/shop/datasets/registered",
         json={"runId": UNKNOWN_RUN}),
    case("get", f"{DS}/versions", 200, f"{V1}/namespaces/shop/datasets/clean/versions"),
    case("get", f"{DS}/versions", 404, f"{V1}/namespaces/shop/datasets/nope/versions"),
    case("get", f"{DS}/versions/{{version}}", 200,
         f"{V1}/namespaces/shop/datasets/clean/versions/{{version}}"),
    case("get", f"{DS}/versions/{{version}}", 404,
         f"{V1}/namespaces/shop/datasets/clean/versions/99"),
    case("post", f"{DS}/tags/{{tag}}", 200, f"{V1}/namespaces/shop/datasets/clean/tags/PII"),
    case("post", f"{DS}/tags/{{tag}}", 422,
         f"{V1}/namespaces/shop/datasets/clean/tags/not%20ok"),
    case("post", f"{DS}/tags/{{tag}}", 404, f"{V1}/namespaces/shop/datasets/nope/tags/PII"),
    case("post", f"{DS}/fields/{{field}}/tags/{{tag}}", 200,
         f"{V1}/namespaces/shop/datasets/clean/fields/a/tags/PII"),
    case("post", f"{DS}/fields/{{field}}/tags/{{tag}}", 404,
         f"{V1}/namespaces/shop/datasets/clean/fields/zzz/tags/PII"),
    case("get", f"{V1}/tags", 200),
    case("get", f"{V1}/tags", 400, query={"offset": "-1"}),
    case("put", f"{V1}/tags/{{name}}", 200, f"{V1}/tags/gold", json={"description": "Curated"}),
    case("put", f"{V1}/tags/{{name}}", 200, f"{V1}/tags/bronze"),
    case("put", f"{V1}/tags/{{name}}", 422, f"{V1}/tags/-bad"),
    case("put", f"{V1}/tags/{{name}}", 415, f"{V1}/tags/gold", raw=("x", "text/plain")),
    case("get", f"{V1}/sources", 200),
    case("get", f"{V1}/sources", 401, who="anonymous"),
    case("get", f"{V1}/sources/{{name}}", 200, f"{V1}/sources/warehouse"),
    case("get", f"{V1}/sources/{{name}}", 404, f"{V1}/sources/nope"),
    # Jobs and runs.
    case("get", f"{V1}/namespaces/{{namespace}}/jobs", 200, f"{V1}/namespaces/pipelines/jobs",
         query={"lastRunStates": "FAILED,RUNNING"}),
    case("get", f"{V1}/namespaces/{{namespace}}/jobs", 400, f"{V1}/namespaces/pipelines/jobs",
         query={"lastRunStates": "DONE"}),
    case("get", f"{V1}/namespaces/{{namespace}}/jobs", 404, f"{V1}/namespaces/nope/jobs"),
    case("get", f"{V1}/namespaces/{{namespace}}/jobs/{{name}}", 200,
         f"{V1}/namespaces/pipelines/jobs/clean"),
    case("get", f"{V1}/namespaces/{{namespace}}/jobs/{{name}}", 404,
         f"{V1}/namespaces/pipelines/jobs/nope"),
    case("get", f"{V1}/namespaces/{{namespace}}/jobs/{{name}}/runs", 200,
         f"{V1}/namespaces/pipelines/jobs/clean/runs"),
    case("get", f"{V1}/namespaces/{{namespace}}/jobs/{{name}}/runs", 404,
         f"{V1}/namespaces/pipelines/jobs/nope/runs"),
    case("get", f"{V1}/jobs/runs/{{run_id}}", 200, f"{V1}/jobs/runs/{{run}}"),
    case("get", f"{V1}/jobs/runs/{{run_id}}", 404, f"{V1}/jobs/runs/{UNKNOWN_RUN}"),
    case("get", f"{V1}/search", 200, query={"q": "clean", "filter": "DATASET"}),
    case("get", f"{V1}/search", 400),
    case("get", f"{V1}/openapi.json", 200),
    case("get", f"{V1}/openapi.json", 401, who="anonymous"),
    case("get", "/api/docs", 200),
    case("get", "/api/docs", 401, who="anonymous"),
    case("get", "/api/docs/assets/{name}", 200, "/api/docs/assets/swagger-ui.css",
         who="anonymous"),
    case("get", "/api/docs/assets/{name}", 200, "/api/docs/assets/swagger-ui-bundle.js"),
    case("get", "/api/docs/assets/{name}", 404, "/api/docs/assets/index.html"),
    # The model registry.
    case("get", f"{V1}/models", 200),
    case("get", f"{V1}/models", 401, who="anonymous"),
    case("get", f"{V1}/models/{{name}}", 200, f"{V1}/models/ranker"),
    case("get", f"{V1}/models/{{name}}", 404, f"{V1}/models/nope"),
    case("put", f"{V1}/models/{{name}}", 200, f"{V1}/models/reranker",
         json={"description": "Second stage"}),
    case("put", f"{V1}/models/{{name}}", 422, f"{V1}/models/reranker", json=[]),
    case("post", f"{V1}/models/{{name}}/versions", 201, f"{V1}/models/ranker/versions",
         json={"runId": "{train}", "sha256": "c" * 64, "metrics": {"valid.ndcg@10": 0.2}}),
    case("post", f"{V1}/models/{{name}}/versions", 422, f"{V1}/models/ranker/versions",
         json={"sha256": "not hex"}),
    case("post", f"{V1}/models/{{name}}/versions", 404, f"{V1}/models/ranker/versions",
         json={"runId": UNKNOWN_RUN}),
    case("get", f"{V1}/models/{{name}}/versions/{{ref}}", 200,
         f"{V1}/models/ranker/versions/staging"),
    case("get", f"{V1}/models/{{name}}/versions/{{ref}}", 404, f"{V1}/models/ranker/versions/99"),
    case("put", f"{V1}/models/{{name}}/aliases/{{alias}}", 200,
         f"{V1}/models/ranker/aliases/staging", json={"version": 1}),
    case("put", f"{V1}/models/{{name}}/aliases/{{alias}}", 409,
         f"{V1}/models/ranker/aliases/production", json={"version": 2}),
    case("put", f"{V1}/models/{{name}}/aliases/{{alias}}", 422,
         f"{V1}/models/ranker/aliases/staging", json={"version": "two"}),
    case("put", f"{V1}/models/{{name}}/aliases/{{alias}}", 404,
         f"{V1}/models/ranker/aliases/staging", json={"version": 99}),
    # Pipelines the catalog runs. Populate's execution holds the one slot, so runs queue: the
    # fixture's run ({queued}) and the first case's fill the queue, and the next is refused.
    case("get", f"{V1}/pipelines", 200),
    case("get", f"{V1}/pipelines", 401, who="anonymous"),
    case("get", f"{V1}/pipelines/{{name}}", 200, f"{V1}/pipelines/feature_pipeline"),
    case("get", f"{V1}/pipelines/{{name}}", 404, f"{V1}/pipelines/nope"),
    case("post", f"{V1}/pipelines/{{name}}/runs", 202, f"{V1}/pipelines/feature_pipeline/runs",
         json={"events": 100}),
    case("post", f"{V1}/pipelines/{{name}}/runs", 429, f"{V1}/pipelines/feature_pipeline/runs",
         json={"events": 100}),
    case("post", f"{V1}/pipelines/{{name}}/runs/{{run_id}}/cancel", 200,
         f"{V1}/pipelines/feature_pipeline/runs/{{queued}}/cancel"),
    case("post", f"{V1}/pipelines/{{name}}/runs/{{run_id}}/cancel", 409,
         f"{V1}/pipelines/feature_pipeline/runs/{{queued}}/cancel"),
    case("post", f"{V1}/pipelines/{{name}}/runs/{{run_id}}/cancel", 404,
         f"{V1}/pipelines/feature_pipeline/runs/{UNKNOWN_RUN}/cancel"),
    case("post", f"{V1}/pipelines/{{name}}/runs/{{run_id}}/cancel", 403,
         f"{V1}/pipelines/feature_pipeline/runs/{{queued}}/cancel", who="viewer"),
    case("post", f"{V1}/pipelines/{{name}}/runs", 422, f"{V1}/pipelines/feature_pipeline/runs",
         json={"colour": 1}),
    case("post", f"{V1}/pipelines/{{name}}/runs", 404, f"{V1}/pipelines/nope/runs", json={}),
    case("get", f"{V1}/pipelines/{{name}}/runs", 200, f"{V1}/pipelines/feature_pipeline/runs"),
    case("get", f"{V1}/pipelines/{{name}}/runs", 400, f"{V1}/pipelines/feature_pipeline/runs",
         query={"limit": "0"}),
    case("get", f"{V1}/pipelines/{{name}}/runs", 404, f"{V1}/pipelines/nope/runs"),
    # Governance.
    case("get", f"{V1}/audit", 200, query={"entityType": "dataset"}),
    case("get", f"{V1}/audit", 400, query={"since": "soon"}),
    case("get", f"{V1}/audit", 403, who="viewer"),
    case("get", f"{V1}/audit/export", 200),
    case("get", f"{V1}/audit/export", 200, query={"format": "csv"}),
    case("get", f"{V1}/audit/export", 400, query={"format": "xml"}),
    case("get", f"{DS}/classifications", 200, f"{V1}/namespaces/shop/datasets/clean/"
                                              "classifications"),
    case("get", f"{DS}/classifications", 404, f"{V1}/namespaces/shop/datasets/nope/"
                                              "classifications"),
    case("post", f"{DS}/classifications/detect", 200,
         f"{V1}/namespaces/features/datasets/user_features/classifications/detect"),
    case("post", f"{DS}/classifications/detect", 404,
         f"{V1}/namespaces/shop/datasets/nope/classifications/detect"),
    case("put", f"{DS}/fields/{{field}}/classifications/{{tag}}", 200,
         f"{V1}/namespaces/shop/datasets/clean/fields/b/classifications/pii.email",
         json={"reason": "emails"}),
    case("put", f"{DS}/fields/{{field}}/classifications/{{tag}}", 422,
         f"{V1}/namespaces/shop/datasets/clean/fields/b/classifications/Email"),
    case("put", f"{DS}/fields/{{field}}/classifications/{{tag}}", 404,
         f"{V1}/namespaces/shop/datasets/clean/fields/zzz/classifications/pii.email"),
    case("delete", f"{DS}/fields/{{field}}/classifications/{{tag}}", 200,
         f"{V1}/namespaces/shop/datasets/clean/fields/b/classifications/pii.email"),
    case("delete", f"{DS}/fields/{{field}}/classifications/{{tag}}", 404,
         f"{V1}/namespaces/shop/datasets/clean/fields/b/classifications/pii.phone"),
    case("get", f"{V1}/models/{{name}}/exemptions", 200, f"{V1}/models/ranker/exemptions"),
    case("get", f"{V1}/models/{{name}}/exemptions", 401, f"{V1}/models/ranker/exemptions",
         who="anonymous"),
    case("post", f"{V1}/models/{{name}}/exemptions", 201, f"{V1}/models/ranker/exemptions",
         json={"tag": "pii.*", "reason": "consented panel"}),
    case("post", f"{V1}/models/{{name}}/exemptions", 422, f"{V1}/models/ranker/exemptions",
         json={"tag": "gold", "reason": "no"}),
    case("post", f"{V1}/models/{{name}}/exemptions", 403, f"{V1}/models/ranker/exemptions",
         json={"tag": "pii.*", "reason": "r"}, who="viewer"),
    case("delete", f"{V1}/models/{{name}}/exemptions/{{exemption_id}}", 200,
         f"{V1}/models/ranker/exemptions/{{exemption}}"),
    case("delete", f"{V1}/models/{{name}}/exemptions/{{exemption_id}}", 404,
         f"{V1}/models/ranker/exemptions/999"),
]


@pytest.fixture
def catalog(engine, db_url, tmp_path):
    """A populated catalog, and the ids the cases name. Populate's execution (started before the
    queue, so counted as running) holds the one slot: runs requested here wait, two at most."""
    wipe(engine)
    app = as_admin(create_app({"database_url": db_url, "work_dir": str(tmp_path),
                               "worker_module": "platform", "max_api_runs": 1,
                               "max_queued_runs": 2, "public_url": "http://127.0.0.1:9"}))
    client = app.test_client()
    populate(client, app.extensions["catalog"].sessions)
    src = {**facet("DatasourceDatasetFacet"), "name": "warehouse", "uri": "postgresql://db/x"}
    complete_run(client, "export", inputs=[ds("clean")], minutes=40,
                 outputs=[ds("orders", dataSource=src)])
    r = client.post(f"{V1}/models/ranker/exemptions", json={"tag": "pii.email", "reason": "r"})
    assert r.status_code == 201, r.get_json()
    ids = {"exemption": r.get_json()["id"]}
    ids["version"] = client.get(f"{V1}/namespaces/shop/datasets/clean").get_json()[
        "currentVersion"]
    runs = client.get(f"{V1}/namespaces/pipelines/jobs/clean/runs").get_json()["runs"]
    ids["run"] = runs[0]["id"]
    ids["train"] = client.get(f"{V1}/namespaces/pipelines/jobs/train").get_json()[
        "latestRun"]["id"]
    app.config["TEST_TOKENS"]["viewer"] = mint_token(app, "viewer")
    r = client.post(f"{V1}/pipelines/feature_pipeline/runs", json={"events": 100})
    assert r.status_code == 202, r.get_json()
    ids["queued"] = r.get_json()["runId"]
    yield app, ids
    close_runs(app)  # its supervisors waited for the slot; none started a worker
    assert launcher.running() == []
    app.extensions["catalog"].engine.dispose()
    app.extensions["catalog"].read_engine.dispose()


def _fill(value, ids: dict):
    if isinstance(value, str):
        return value.format(**ids) if "{" in value else value
    if isinstance(value, dict):
        return {k: _fill(v, ids) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, ids) for v in value]
    return value


def _call(app, c: Case, ids: dict):
    token = None if c.who == "anonymous" else app.config["TEST_TOKENS"][c.who]
    client = client_class(token)(app, app.response_class)
    kwargs = {"query_string": c.query}
    if c.raw is not None:
        kwargs.update(data=c.raw[0], content_type=c.raw[1])
    elif c.json is not NO_BODY:
        kwargs["json"] = _fill(c.json, ids)
    return client.open(c.url.format(**ids), method=c.method.upper(), **kwargs)


def _problems(doc: dict, c: Case, response) -> list[str]:
    """Where ``response`` breaks the document's promise for ``c``'s operation."""
    where = f"{c.method.upper()} {c.url} -> {response.status_code}"
    if response.status_code != c.status:
        return [f"{where}: expected {c.status}: {response.get_data(as_text=True)[:300]}"]
    documented = doc["paths"][c.path][c.method]["responses"]
    entry = documented.get(str(response.status_code))
    if entry is None:
        return [f"{where}: status not documented (documented: {sorted(documented)})"]
    if "$ref" in entry:
        entry = doc["components"]["responses"][entry["$ref"].rsplit("/", 1)[-1]]
    content = entry["content"]
    if response.mimetype not in content:
        return [f"{where}: content type {response.mimetype} not in {sorted(content)}"]
    if response.mimetype != "application/json":
        with response:
            return [] if response.get_data() else [f"{where}: empty {response.mimetype} body"]
    schema = {**content[response.mimetype]["schema"], "components": doc["components"]}
    validator = OAS30Validator(schema, format_checker=OAS30Validator.FORMAT_CHECKER)
    return [f"{where}: {'/'.join(map(str, e.absolute_path))}: {e.message}"
            for e in validator.iter_errors(response.get_json())]


def test_every_operation_answers_as_documented(catalog):
    app, ids = catalog
    doc = app.test_client().get(f"{V1}/openapi.json").get_json()
    problems = []
    for c in CASES:
        problems += _problems(doc, c, _call(app, c, ids))
    assert problems == []


def test_the_table_covers_every_operation_with_a_success_and_an_error(client):
    doc = client.get(f"{V1}/openapi.json").get_json()
    operations = {(p, m) for p, ops in doc["paths"].items() for m in ops}
    covered = {(c.path, c.method) for c in CASES}
    assert covered - operations == set(), "cases of operations the document lacks"
    assert operations - covered == set(), "operations without cases"
    for path, method in operations:
        statuses = {c.status for c in CASES if (c.path, c.method) == (path, method)}
        assert any(s < 300 for s in statuses) and any(s >= 400 for s in statuses), (path, method)


def test_the_schemas_do_check_bodies(client):
    """A body that breaks a schema is caught: the validation above is not vacuous."""
    doc = client.get(f"{V1}/openapi.json").get_json()

    def valid(name: str, body) -> bool:
        schema = {"$ref": f"#/components/schemas/{name}", "components": doc["components"]}
        return OAS30Validator(schema, format_checker=OAS30Validator.FORMAT_CHECKER).is_valid(body)

    assert valid("Error", {"error": "NotFound", "message": "m", "field": "x"})
    assert not valid("Error", {"error": "NotFound"})
    assert not valid("Tag", {"name": "gold"})
    assert not valid("Namespace", {"name": "shop", "createdAt": "yesterday", "updatedAt": "x",
                                   "ownerName": None, "description": None})
    assert not valid("IngestResult", {"status": "stored", "kind": "RunEvent", "runId": None})
