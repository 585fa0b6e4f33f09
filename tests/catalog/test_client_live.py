"""OpenLineage clients against a real catalog server: openlineage-python unchanged, and ours.

One ``catalog serve`` subprocess per backend (SQLite, PostgreSQL) serves the whole module; each test
requests ``app`` first, which empties the tables, and then reads what the server stored through
the ``session`` fixture or the server's own event feed.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from openlineage.client import OpenLineageClient
from openlineage.client import event_v2 as ol
from openlineage.client import facet_v2 as f
from openlineage.client.serde import Serde
from openlineage.client.transport.http import (
    ApiKeyTokenProvider,
    HttpCompression,
    HttpConfig,
    HttpTransport,
)
from sqlalchemy import func, select

from catalog import client as cc
from catalog import facets as cf
from catalog.models import (
    ColumnLineage,
    Dataset,
    DatasetProfile,
    DatasetVersion,
    Job,
    JobVersion,
    LineageEdge,
    LineageEvent,
    QualityAssertion,
    Run,
)
from tests.factories import T0

SQL = "select user_id, count(*) as clicks from events group by user_id"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(db_url, tmp_path_factory) -> Iterator[str]:
    """Base URL of a ``catalog serve`` subprocess on the test database."""
    port = _free_port()
    log_path = tmp_path_factory.mktemp("server") / "serve.log"
    env = {**os.environ, "CATALOG_DATABASE_URL": db_url}
    with open(log_path, "wb") as log:  # a file, not a pipe: a full pipe would stall the server
        proc = subprocess.Popen(
            [sys.executable, "-m", "catalog.cli", "serve", "--port", str(port)],
            env=env, stdout=log, stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        probe = cc.CatalogClient(url, retries=0, timeout=1)
        deadline = time.monotonic() + 20
        while not probe.health():
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"catalog serve did not come up:\n{log_path.read_text()[-2000:]}")
            time.sleep(0.05)
        probe.close()
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def live(app, server, monkeypatch) -> str:
    """The server's URL, over tables emptied for this test (``app`` comes first for that).

    ``CATALOG_TOKEN`` holds an admin token for it, which CatalogClient reads.
    """
    monkeypatch.setenv("CATALOG_TOKEN", app.config["TEST_TOKENS"]["admin"])
    return server


def ol_client(url: str, compression: HttpCompression | None = None) -> OpenLineageClient:
    """openlineage-python's own client and HTTP transport, configured as its docs show."""
    return OpenLineageClient(
        transport=HttpTransport(HttpConfig(
            url=url, endpoint="api/v1/lineage", timeout=5, compression=compression,
            auth=ApiKeyTokenProvider({"api_key": os.environ["CATALOG_TOKEN"]}),
        ))
    )


def stored_events(url: str) -> list[dict]:
    """Raw events as the server's feed returns them."""
    r = requests.get(f"{url}/api/v1/events/lineage", params={"limit": 100}, timeout=5,
                     headers={"Authorization": f"Bearer {os.environ['CATALOG_TOKEN']}"})
    assert r.status_code == 200, r.text
    return r.json()["events"]


def fresh(session):
    """End the read snapshot so the server's writes since are visible."""
    session.rollback()
    return session


def schema_facet(*cols: tuple[str, str]) -> f.schema_dataset.SchemaDatasetFacet:
    m = f.schema_dataset
    fields = [m.SchemaDatasetFacetFields(name=n, type=t) for n, t in cols]
    return m.SchemaDatasetFacet(fields=fields)


def feature_run(run_id: str, minutes: int) -> list[ol.RunEvent]:
    """START and COMPLETE of one run of ``user_features``, built with openlineage-python only."""
    cl = f.column_lineage_dataset
    dq = f.data_quality_assertions_dataset
    job = ol.Job(namespace="pipelines", name="user_features", facets={
        "sql": f.sql_job.SQLJobFacet(query=SQL),
        "jobType": f.job_type_job.JobTypeJobFacet(
            processingType="BATCH", integration="DUCKDB", jobType="QUERY"),
    })
    inputs = [ol.InputDataset(namespace="shop", name="events", facets={
        "schema": schema_facet(("user_id", "BIGINT"), ("behavior", "VARCHAR"))})]
    out_facets = {
        "schema": schema_facet(("user_id", "BIGINT"), ("clicks", "BIGINT")),
        "columnLineage": cl.ColumnLineageDatasetFacet(fields={
            "user_id": cl.Fields(inputFields=[cl.InputField(
                namespace="shop", name="events", field="user_id",
                transformations=[cl.Transformation(type="DIRECT", subtype="IDENTITY")])]),
            "clicks": cl.Fields(inputFields=[cl.InputField(
                namespace="shop", name="events", field="behavior",
                transformations=[cl.Transformation(
                    type="DIRECT", subtype="AGGREGATION", description="count", masking=True)])]),
        }),
        "dataQualityAssertions": dq.DataQualityAssertionsDatasetFacet(assertions=[
            dq.Assertion(assertion="not_null", success=True, column="user_id"),
            dq.Assertion(assertion="row_count_between", success=False),
        ]),
    }
    events = []
    for i, (state, outputs) in enumerate([
        (ol.RunState.START, [ol.OutputDataset(namespace="shop", name="user_features")]),
        (ol.RunState.COMPLETE, [ol.OutputDataset(namespace="shop", name="user_features",
                                           facets=out_facets)]),
    ]):
        events.append(ol.RunEvent(
            eventType=state, eventTime=(T0 + timedelta(minutes=minutes + i)).isoformat(),
            run=ol.Run(runId=run_id), job=job, inputs=inputs, outputs=outputs,
        ))
    return events


def test_openlineage_python_client_plain_and_gzip(live, session):
    plain, gzipped = ol_client(live), ol_client(live, HttpCompression.GZIP)
    run_a, run_b = str(uuid.uuid4()), str(uuid.uuid4())
    sent = feature_run(run_a, 0) + feature_run(run_b, 10)
    for ev in sent[:2]:
        plain.emit(ev)
    for ev in sent[2:]:
        gzipped.emit(ev)
    # Byte-identical content hashes alike: a gzipped re-send of run A's COMPLETE is a duplicate.
    gzipped.emit(sent[1])

    stored = sorted(stored_events(live), key=lambda e: e["eventTime"])
    assert stored == [Serde.to_dict(ev) for ev in sent]
    a, b = stored[1], stored[3]
    assert {**a, "run": None, "eventTime": None} == {**b, "run": None, "eventTime": None}

    s = fresh(session)
    runs = s.execute(select(Run.uuid, Run.state).order_by(Run.started_at)).all()
    assert runs == [(run_a, "COMPLETE"), (run_b, "COMPLETE")]
    job = s.scalar(select(Job).where(Job.name == "user_features"))
    assert (job.integration, job.job_type, job.type) == ("DUCKDB", "QUERY", "BATCH")
    assert s.scalars(select(JobVersion.sql)).all() == [SQL]  # one shape, one job version
    out = s.scalar(select(Dataset).where(Dataset.name == "user_features"))
    versions = s.execute(
        select(DatasetVersion.version, Run.uuid)
        .join(Run, DatasetVersion.run_id == Run.id)
        .where(DatasetVersion.dataset_id == out.id).order_by(DatasetVersion.version)
    ).all()
    assert versions == [(1, run_a), (2, run_b)]
    assert [fl.name for fl in out.fields] == ["user_id", "clicks"]
    events_ds = s.scalar(select(Dataset).where(Dataset.name == "events"))
    lineage = s.execute(
        select(DatasetVersion.version, ColumnLineage.output_field, ColumnLineage.input_field,
               ColumnLineage.transformation_subtype, ColumnLineage.masking,
               ColumnLineage.input_version_id)
        .join(DatasetVersion, ColumnLineage.output_version_id == DatasetVersion.id)
        .order_by(DatasetVersion.version, ColumnLineage.output_field)
    ).all()
    v_in = events_ds.current_version_id
    assert lineage == [
        (1, "clicks", "behavior", "AGGREGATION", True, v_in),
        (1, "user_id", "user_id", "IDENTITY", False, v_in),
        (2, "clicks", "behavior", "AGGREGATION", True, v_in),
        (2, "user_id", "user_id", "IDENTITY", False, v_in),
    ]
    assertions = s.execute(
        select(DatasetVersion.version, QualityAssertion.assertion, QualityAssertion.success,
               QualityAssertion.column)
        .join(DatasetVersion, QualityAssertion.dataset_version_id == DatasetVersion.id)
        .order_by(DatasetVersion.version, QualityAssertion.assertion)
    ).all()
    assert assertions == [
        (1, "not_null", True, "user_id"), (1, "row_count_between", False, None),
        (2, "not_null", True, "user_id"), (2, "row_count_between", False, None),
    ]


def test_openlineage_python_dataset_and_job_events(live, session):
    client = ol_client(live)
    client.emit(ol.DatasetEvent(
        eventTime=T0.isoformat(),
        dataset=ol.StaticDataset(namespace="shop", name="items", facets={
            "schema": schema_facet(("item_id", "BIGINT"), ("category", "VARCHAR")),
            "version": f.dataset_version_dataset.DatasetVersionDatasetFacet(datasetVersion="v-1"),
        }),
    ))
    client.emit(ol.JobEvent(
        eventTime=T0.isoformat(),
        job=ol.Job(namespace="pipelines", name="export_items", facets={
            "documentation": f.documentation_job.DocumentationJobFacet(description="Daily dump"),
        }),
        inputs=[ol.InputDataset(namespace="shop", name="items")],
        outputs=[ol.OutputDataset(namespace="exports", name="items.csv")],
    ))

    s = fresh(session)
    items = s.scalar(select(Dataset).where(Dataset.name == "items"))
    assert [(fl.name, fl.type) for fl in items.fields] == [
        ("item_id", "BIGINT"), ("category", "VARCHAR")]
    assert (items.current_version.version, items.current_version.fingerprint) == (1, "v-1")
    job = s.scalar(select(Job).where(Job.name == "export_items"))
    assert job.description == "Daily dump"
    assert job.current_version.inputs == [{"namespace": "shop", "name": "items"}]
    assert job.current_version.outputs == [{"namespace": "exports", "name": "items.csv"}]
    assert s.scalar(select(func.count()).select_from(LineageEdge)) == 2
    assert [e["dataset"]["name"] for e in stored_events(live) if "dataset" in e] == ["items"]


def test_run_reporter_completes_with_outputs_and_facets(live, session):
    catalog = cc.CatalogClient(live, retries=1, compression=True)
    with catalog.run("ranker", "train", inputs=[("shop", "user_features")],
                     job_facets={"jobType": cf.job_type("BATCH", "TORCH", "TRAIN")}) as run:
        with catalog.run("ranker", "train.evaluate", parent=run) as child:
            child.add_run_facets(processing_engine=cf.processing_engine("torch", "2.13.0"),
                                 evaluation=cf.custom_facet(ndcg_at_10=0.41))
        run.add_output("models", "ranker", facets={
            "schema": cf.schema([("user_id", "BIGINT"), ("score", "DOUBLE")]),
            "columnLineage": cf.column_lineage({"score": [
                ("shop", "user_features", "clicks", "INDIRECT", "AGGREGATION", "learned from")]}),
            "dataQualityMetrics": cf.data_quality_metrics(100, {"score": {"nullCount": 0}}),
            "dataQualityAssertions": cf.data_quality_assertions([
                ("auc_above_0.6", True),
                {"assertion": "no_null_scores", "success": True, "column": "score",
                 "severity": "critical"},
            ]),
            "version": cf.dataset_version("sha256:abc"),
            "datasetType": cf.dataset_type("model"),
            "dataSource": cf.datasource("artifacts", "file:///srv/models"),
            "documentation": cf.dataset_documentation("Transformer ranker weights"),
        }, output_facets={"outputStatistics": cf.output_statistics(100)})

    s = fresh(session)
    r = s.scalar(select(Run).where(Run.uuid == run.run_id))
    assert r.state == "COMPLETE" and r.started_at <= r.ended_at
    c = s.scalar(select(Run).where(Run.uuid == child.run_id))
    assert (c.state, c.parent_run_uuid) == ("COMPLETE", run.run_id)
    assert (c.facets["processing_engine"]["name"], c.facets["processing_engine"]["version"]) \
        == ("torch", "2.13.0")
    assert c.facets["evaluation"]["ndcg_at_10"] == 0.41
    job = s.scalar(select(Job).where(Job.name == "train"))
    assert (job.type, job.integration, job.job_type) == ("BATCH", "TORCH", "TRAIN")
    model = s.scalar(select(Dataset).where(Dataset.name == "ranker"))
    assert (model.kind, model.source.name, model.source.uri, model.description) == (
        "model", "artifacts", "file:///srv/models", "Transformer ranker weights")
    v = model.current_version
    assert (v.version, v.fingerprint, v.row_count, v.run_id) == (1, "sha256:abc", 100, r.id)
    assert [x["name"] for x in v.schema_fields] == ["user_id", "score"]
    assert s.execute(select(ColumnLineage.output_field, ColumnLineage.input_field,
                            ColumnLineage.transformation_type, ColumnLineage.description)).all() \
        == [("score", "clicks", "INDIRECT", "learned from")]
    assert sorted(s.execute(select(QualityAssertion.assertion, QualityAssertion.success,
                                   QualityAssertion.severity)).all()) == [
        ("auc_above_0.6", True, None), ("no_null_scores", True, "critical")]
    assert s.scalars(select(DatasetProfile.row_count)).all() == [100]
    states = [(e["run"]["runId"], e["eventType"]) for e in stored_events(live)]
    assert sorted(states) == sorted([(run.run_id, "START"), (run.run_id, "COMPLETE"),
                                     (child.run_id, "START"), (child.run_id, "COMPLETE")])


def test_run_reporter_reports_failure_and_reraises(live, session):
    catalog = cc.CatalogClient(live, retries=1)
    with pytest.raises(ZeroDivisionError):
        with catalog.run("pipelines", "broken", inputs=[("shop", "events")]) as run:
            run.add_output("shop", "never_written", facets={"schema": cf.schema(["a"])})
            1 / 0  # noqa: B018 - the failure under test

    s = fresh(session)
    r = s.scalar(select(Run).where(Run.uuid == run.run_id))
    assert (r.state, r.error_message) == ("FAIL", "division by zero")
    err = r.facets["errorMessage"]
    assert err["programmingLanguage"] == "python"
    assert "ZeroDivisionError" in err["stackTrace"] and "1 / 0" in err["stackTrace"]
    out = s.scalar(select(Dataset).where(Dataset.name == "never_written"))
    assert out.current_version_id is None  # a failed run registers no output version

    with pytest.raises(KeyboardInterrupt):
        with catalog.run("pipelines", "interrupted") as stopped:
            raise KeyboardInterrupt
    assert fresh(session).scalar(select(Run.state).where(Run.uuid == stopped.run_id)) == "ABORT"


def test_refused_events_raise_naming_the_field(live, session):
    catalog = cc.CatalogClient(live, retries=1)
    good = feature_run(str(uuid.uuid4()), 0)[0]
    bad = Serde.to_dict(good) | {"eventTime": "yesterday"}
    with pytest.raises(cc.CatalogRequestError) as refused:
        catalog.emit_batch([good, bad])
    assert "1 of 2 events refused" in str(refused.value) and "eventTime" in str(refused.value)
    results = refused.value.body["results"]
    assert [(x["status"], x.get("field")) for x in results] == [
        ("created", None), ("error", "eventTime")]
    assert fresh(session).scalar(select(func.count()).select_from(LineageEvent)) == 1

    with pytest.raises(cc.CatalogRequestError) as refused:
        catalog.emit(ol.RunEvent(
            eventType=ol.RunState.START, eventTime=T0.isoformat(), producer="not a uri",
            run=ol.Run(runId=uuid.uuid4().hex), job=ol.Job(namespace="p", name="j")))
    # The producer's format is an annotation; the run id must be a canonical UUID.
    assert refused.value.status == 422 and refused.value.body["field"] == "run.runId"

    with pytest.raises(cc.CatalogRequestError) as refused:
        catalog.get("api/v1/events/lineage", limit="many")
    assert refused.value.status == 400 and "limit" in str(refused.value)
    assert catalog.emit_batch([good])["results"][0]["status"] == "duplicate"


def test_unreachable_catalog_fails_fast_with_one_clear_error():
    url = f"http://127.0.0.1:{_free_port()}"
    catalog = cc.CatalogClient(url, retries=1, timeout=2)
    start = time.monotonic()
    with pytest.raises(cc.CatalogUnavailable, match=f"catalog at {url} is unreachable: "):
        with catalog.run("pipelines", "never_started"):
            pytest.fail("the block must not run when START cannot be reported")
    with pytest.raises(cc.CatalogUnavailable):
        catalog.get("api/v1/events/lineage")
    assert not catalog.health()
    assert time.monotonic() - start < 3


def test_catalog_that_never_answers_times_out_with_one_clear_error():
    with socket.socket() as listener:  # accepts connections (kernel backlog) but never answers
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        url = f"http://127.0.0.1:{listener.getsockname()[1]}"
        catalog = cc.CatalogClient(url, retries=1, timeout=0.3, backoff=0.01)
        start = time.monotonic()
        with pytest.raises(cc.CatalogUnavailable, match=r"unreachable: no answer within 0.3s"):
            catalog.emit(feature_run(str(uuid.uuid4()), 0)[0])
        assert time.monotonic() - start < 2


class _Stub(BaseHTTPRequestHandler):
    """Answers each POST with the next scripted status and records what it got."""

    script: list[int] = []
    received: list[bytes] = []

    def do_POST(self):  # noqa: N802 - http.server's naming
        _Stub.received.append(self.rfile.read(int(self.headers["Content-Length"])))
        status = _Stub.script.pop(0) if _Stub.script else 201
        body = json.dumps({"error": "X", "message": f"scripted {status}", "field": "f"}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.mark.parametrize(
    ("script", "posts", "error"),
    [
        ([503, 502, 504], 4, None),  # retried until it got through
        ([503, 503, 503, 503, 503], 4, 503),  # retries used up: the last answer, with its body
        ([500], 1, 500),  # a server error is final (openlineage-python would retry it 5 times)
        ([422], 1, 422),  # a refused event is final
    ],
)
def test_emit_retries_only_unavailable_answers(script, posts, error):
    _Stub.script, _Stub.received = list(script), []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Stub)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        catalog = cc.CatalogClient(f"http://127.0.0.1:{httpd.server_port}", retries=3,
                                   backoff=0.01)
        event = feature_run(str(uuid.uuid4()), 0)[0]
        if error is None:
            catalog.emit(event)
        else:
            with pytest.raises(cc.CatalogRequestError) as refused:
                catalog.emit(event)
            assert refused.value.status == error
            assert refused.value.body["message"] == f"scripted {error}"
        assert len(_Stub.received) == posts
        assert json.loads(_Stub.received[-1]) == Serde.to_dict(event)
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_client_module_imports_no_catalog_internals():
    code = (
        "import sys, catalog.client; "
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('flask', 'sqlalchemy') "
        "or m.startswith(('catalog.models', 'catalog.services', 'catalog.api'))); "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
