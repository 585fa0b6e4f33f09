"""Schemathesis fuzzes every operation of the served OpenAPI document, on SQLite and PostgreSQL.

Bounded and seeded (derandomized, a fixed number of examples per operation and mode) so it runs
the same cases in the same time every run. Positive cases follow the schema, negative ones break
it. Whatever arrives: never a 5xx, every 4xx is JSON naming the problem, and every answer is one
the document promises (a documented status and content type, a body matching its schema).
"""

from __future__ import annotations

import json

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.factories import ds, run_event, schema

# Examples per operation and generation mode (~30 operations x 2 modes x this many requests):
# a few in the default suite, many more in the slow one.
EXAMPLES = 6
SLOW_EXAMPLES = 60
# Schemathesis's own checks that an answer is one the document promises.
CONFORMANCE = [status_code_conformance, content_type_conformance, response_schema_conformance]


def _seed(client) -> None:
    """A little data so some generated names and ids hit real rows."""
    events = [run_event("COMPLETE", "job", inputs=[ds("in", schema=schema("a"))],
                        outputs=[ds("out", schema=schema("a", "b"))])]
    assert client.post("/api/v1/lineage/batch", json=events).status_code == 201


def _check(case, response) -> None:
    where = f"{case.method} {case.formatted_path} query={case.query} body={case.body!r:.300}"
    assert response.status_code < 500, f"{where} -> {response.status_code} {response.text:.500}"
    if 400 <= response.status_code < 500:
        content_type = (response.headers.get("content-type") or [""])[0]
        assert content_type.startswith("application/json"), where
        body = json.loads(response.text)
        assert isinstance(body, dict), where
        assert isinstance(body.get("error"), str) and body["error"], (where, body)
        assert isinstance(body.get("message"), str) and body["message"].strip(), (where, body)


def _can_break(operation) -> bool:
    """Whether a request can break the schema: a body, or a parameter more than a path string.

    (Any text is a valid path string, so negative generation would search in vain.)
    """
    definition = operation.definition.raw
    return bool(definition.get("requestBody")) or any(
        p["in"] != "path" or p["schema"] != {"type": "string"}
        for p in definition.get("parameters", []))


def test_fuzz_every_operation(make_app, tmp_path):
    fuzz_api(make_app(work_dir=str(tmp_path)), EXAMPLES)


@pytest.mark.slow
def test_fuzz_every_operation_longer(make_app, tmp_path):
    fuzz_api(make_app(work_dir=str(tmp_path)), SLOW_EXAMPLES)


def fuzz_api(app, examples: int) -> None:
    """Every operation, positive then negative cases; a pipeline run it starts stays in tmp."""
    _seed(app.test_client())
    # As admin: every operation gets past authorization to the code under test.
    auth = {"Authorization": f"Bearer {app.config['TEST_TOKENS']['admin']}"}
    api = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app, headers=auth)
    operations = [r.ok() for r in api.get_all_operations()]
    assert len(operations) >= 25
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
        for operation in operations:
            if mode == GenerationMode.NEGATIVE and not _can_break(operation):
                continue

            @settings(max_examples=examples, derandomize=True, database=None, deadline=None,
                      suppress_health_check=list(HealthCheck))
            @given(case=operation.as_strategy(generation_mode=mode))
            def fuzz(case):
                # As admin: every operation gets past authorization to the code under test.
                response = case.call(headers=auth)
                _check(case, response)
                case.validate_response(response, checks=CONFORMANCE)

            fuzz()
