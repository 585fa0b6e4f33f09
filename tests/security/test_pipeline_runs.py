"""Finding 1 (high): a pipeline token made the server write files where it said, run DuckDB SQL
through a quote in a path, and read (or probe for) any file. Runs started through the API now
work where the server decides and read only under its data folder."""

from __future__ import annotations

import os
from pathlib import Path

import duckdb
import pytest
from sqlalchemy import func, select

from catalog.models import ApiToken, PipelineExecution
from pipelines import sandbox, worker
from tests.security.conftest import bearer_client

RUNS = "/api/v1/pipelines/feature_pipeline/runs"


def _files(*roots: Path) -> set[str]:
    return {str(p) for root in roots if root.exists() for p in root.rglob("*")}


@pytest.fixture
def served(make_app, tmp_path):
    """An app with a work folder, a data folder holding one CSV, and a file outside both."""
    (tmp_path / "data" / "taobao").mkdir(parents=True)
    (tmp_path / "data" / "taobao" / "ok.csv").write_text("1,2,3,pv,1511544070\n")
    (tmp_path / "secret.csv").write_text("1,2,3,pv,1511544070\n")
    app = make_app(pipeline=True, work_dir=str(tmp_path / "work"), data_dir=str(tmp_path / "data"),
                   self_url="http://127.0.0.1:9")
    return app, bearer_client(app, "pipeline")


def _executions(app) -> int:
    with app.extensions["catalog"].read_sessions() as s:
        return s.scalar(select(func.count()).select_from(PipelineExecution))


@pytest.mark.parametrize("workdir", ["/tmp/evil", "x'); copy (select 1) to '/tmp/pwned.csv'; --",
                                     "../../escape", "relative/dir"])
def test_client_cannot_name_a_work_folder(served, tmp_path, launches, workdir):
    app, client = served
    before = _files(tmp_path)
    r = client.post(RUNS, json={"events": 1000, "workdir": workdir})
    assert r.status_code == 422 and r.get_json()["field"] == "workdir"
    assert "server chooses" in r.get_json()["message"]
    assert launches.started == [] and _executions(app) == 0
    assert _files(tmp_path) == before and not Path("/tmp/pwned.csv").exists()


HOSTILE_INPUTS = [
    "/etc/passwd",                        # absolute
    "../secret.csv",                      # traversal to a file that exists
    "../missing.csv",                     # traversal to one that does not
    "taobao/../../secret.csv",            # traversal after a real folder
    "%2e%2e/secret.csv",                  # encoded traversal (JSON does not decode it)
    "..%2fsecret.csv",
    "taobao\\..\\..\\secret.csv",         # backslashes
    "~/secret.csv",
    "link.csv",                           # a symlink inside the root to the file outside
    "linkdir/secret.csv",                 # through a symlinked folder
    "taobao/ok.csv\x00.txt",              # NUL (refused by the JSON reader first)
    "",
    "nope.csv",                           # inside, missing
]


@pytest.mark.parametrize("value", HOSTILE_INPUTS)
def test_inputs_resolve_inside_the_data_root_or_are_refused_alike(served, tmp_path, launches,
                                                                  value):
    app, client = served
    data = tmp_path / "data"
    if not (data / "link.csv").exists():
        (data / "link.csv").symlink_to(tmp_path / "secret.csv")
        (data / "linkdir").symlink_to(tmp_path)
    r = client.post(RUNS, json={"source": "taobao", "input": value})
    assert r.status_code in (400, 422), r.get_json()
    body = r.get_json()
    if r.status_code == 422:
        # One message for all: it never says whether a path outside the root exists.
        assert body == {"error": "ValidationFailed", "field": "input", "message":
                        "input must name a file under the server's data folder, as a path "
                        "relative to it"}
    else:
        assert "NUL" in body["message"]
    assert launches.started == [] and _executions(app) == 0


def test_existing_and_missing_files_outside_answer_the_same(served, launches):
    _, client = served
    exists = client.post(RUNS, json={"source": "taobao", "input": "../secret.csv"})
    missing = client.post(RUNS, json={"source": "taobao", "input": "../missing.csv"})
    assert exists.status_code == missing.status_code == 422
    assert exists.get_data() == missing.get_data()


def test_a_file_inside_the_root_starts_a_confined_worker(served, tmp_path, launches):
    app, client = served
    r = client.post(RUNS, json={"source": "taobao", "input": "taobao/ok.csv"})
    assert r.status_code == 202, r.get_json()
    run_id = r.get_json()["runId"]
    assert r.get_json()["params"]["input"] == "taobao/ok.csv"  # as named, never a server path
    (launch,) = launches.wait(1)
    work = (tmp_path / "work").resolve() / "feature_pipeline" / run_id
    assert launch.arg("workdir") == str(work) and launch.cwd == str(work)
    assert launch.arg("input") == str((tmp_path / "data" / "taobao" / "ok.csv").resolve())
    assert launch.arg("data-root") == str((tmp_path / "data").resolve())
    assert work.is_dir() and work.stat().st_mode & 0o777 == 0o700
    assert "CATALOG_DATABASE_URL" not in launch.env and "CATALOG_SECRET_KEY" not in launch.env
    assert "CATALOG_QUEUE_URL" not in launch.env


def test_without_a_data_folder_only_the_synthetic_source_runs(make_app, tmp_path, launches):
    app = make_app(pipeline=True, work_dir=str(tmp_path / "work"), self_url="http://127.0.0.1:9")
    client = bearer_client(app, "pipeline")
    (tmp_path / "x.csv").write_text("1,2,3,pv,1\n")
    for body in ({"source": "taobao"}, {"source": "taobao", "input": "x.csv"},
                 {"source": "amazon", "input": str(tmp_path / "x.csv")}):
        r = client.post(RUNS, json=body)
        assert r.status_code == 422 and "CATALOG_DATA_DIR is unset" in r.get_json()["message"]
    assert launches.started == []
    assert client.post(RUNS, json={"events": 1000}).status_code == 202


def test_runs_at_once_are_capped(make_app, tmp_path, launches):
    app = make_app(pipeline=True, work_dir=str(tmp_path / "work"), self_url="http://127.0.0.1:9",
                   max_api_runs=2, max_queued_runs=0)
    client = bearer_client(app, "pipeline")
    assert [client.post(RUNS, json={"events": 1000}).status_code for _ in range(2)] == [202, 202]
    r = client.post(RUNS, json={"events": 1000})
    assert r.status_code == 429 and r.headers["Retry-After"] == "60"
    body = r.get_json()
    assert body["cap"] == "CATALOG_MAX_API_RUNS" and "CATALOG_MAX_API_RUNS" in body["message"]
    assert body["running"] + body["queued"] == 2
    assert body["limits"] == {"CATALOG_MAX_API_RUNS": 2, "CATALOG_MAX_QUEUED_RUNS": 0}
    assert len(launches.wait(2)) == 2 and _executions(app) == 2


def test_runs_past_the_free_slots_wait_up_to_their_own_cap(make_app, tmp_path, launches):
    app = make_app(pipeline=True, work_dir=str(tmp_path / "work"), self_url="http://127.0.0.1:9",
                   max_api_runs=1, max_queued_runs=2)
    client = bearer_client(app, "pipeline")
    ids = [client.post(RUNS, json={"events": 1000}).get_json()["runId"] for _ in range(3)]
    r = client.post(RUNS, json={"events": 1000})
    assert r.status_code == 429 and r.get_json()["cap"] == "CATALOG_MAX_QUEUED_RUNS"
    (first,) = launches.wait(1)  # one runs; the others wait for its slot, NEW
    assert first.arg("run-id") == ids[0]
    viewer = bearer_client(app, "viewer")
    assert [_state(viewer, i) for i in ids] == ["RUNNING", "NEW", "NEW"]
    launches.processes[0].exit(0)  # it exits: the next one takes the slot
    launches.wait(2)
    assert launches.started[1].arg("run-id") == ids[1] and len(launches.started) == 2


def _state(client, run_id: str) -> str:
    """The run's state as the API shows it (a taken run has START stored: RUNNING)."""
    return client.get(f"/api/v1/jobs/runs/{run_id}").get_json()["state"]


def test_run_size_is_capped(served, tmp_path, launches):
    app, client = served
    r = client.post(RUNS, json={"events": 20_000_001})
    assert r.status_code == 422 and r.get_json()["field"] == "events"
    big = tmp_path / "data" / "big.csv"
    with open(big, "wb") as fh:
        fh.truncate(4 * 1024**3 + 1)  # sparse: no disk used
    r = client.post(RUNS, json={"source": "taobao", "input": big.name})
    assert r.status_code == 422 and "CATALOG_MAX_RUN_INPUT_BYTES" in r.get_json()["message"]
    assert launches.started == []


def test_confined_duckdb_cannot_touch_files_outside(tmp_path):
    """What a worker's connections are allowed: the work folder and the data root, nothing else,
    and no statement can widen that."""
    work, data, outside = tmp_path / "work", tmp_path / "data", tmp_path / "outside"
    for d in (work, data, outside):
        d.mkdir()
    duckdb.connect().execute("copy (select 1 as x) to ? (format parquet)",
                             [str(data / "in.parquet")])
    (outside / "secret.csv").write_text("a\n1\n")
    with sandbox.confined(work, data):
        for con in (sandbox.connect(work / "f.duckdb"), sandbox.connect()):
            assert con.execute("select * from read_parquet(?)",
                               [str(data / "in.parquet")]).fetchall() == [(1,)]
            con.execute("copy (select 2 as y) to ? (format parquet)", [str(work / "o.parquet")])
            attacks = [
                f"copy (select 1) to '{outside}/pwned.csv'",
                f"select * from read_csv('{outside}/secret.csv')",
                f"select * from read_csv('{data}/../outside/secret.csv')",
                "select * from read_csv('/etc/passwd')",
                f"attach '{outside}/x.duckdb'",
                "set enable_external_access = true",
                f"set allowed_directories = ['{outside}']",
            ]
            for sql in attacks:
                with pytest.raises(duckdb.Error):
                    con.execute(sql)
            con.close()
    assert sorted(p.name for p in outside.iterdir()) == ["secret.csv"]
    assert sandbox.allowed() is None  # the block restored an unconfined process


def test_worker_refuses_an_input_outside_its_data_root(tmp_path):
    """The worker checks again (a link may have changed since the catalog checked)."""
    (tmp_path / "data").mkdir()
    (tmp_path / "secret.csv").write_text("1,2,3,pv,1\n")
    (tmp_path / "data" / "swapped.csv").symlink_to(tmp_path / "secret.csv")
    for extra in (["--input", str(tmp_path / "data" / "swapped.csv")],
                  ["--input", str(tmp_path / "secret.csv")]):
        code = worker.main(["--run-id", "r", "--catalog-url", "http://127.0.0.1:9",
                            "--workdir", str(tmp_path / "work"), "--source", "taobao",
                            "--data-root", str(tmp_path / "data"), *extra])
        assert code == 2
    assert not (tmp_path / "work").exists()


def test_worker_files_are_its_owners_only(tmp_path):
    """The SQLite file the catalog creates is readable by its owner only."""
    from catalog.db import make_engine

    engine = make_engine(f"sqlite:///{tmp_path / 'new' / 'catalog.db'}")
    with engine.connect() as conn:
        conn.exec_driver_sql("create table t (x int)")
    engine.dispose()
    assert (tmp_path / "new" / "catalog.db").stat().st_mode & 0o777 == 0o600
    assert os.stat(tmp_path / "new" / "catalog.db").st_size > 0


def test_api_run_tokens_are_never_plain_pipeline_tokens(served, launches):
    app, client = served
    assert client.post(RUNS, json={"events": 1000}).status_code == 202
    launches.wait(1)  # the token is minted when a worker takes the run
    with app.extensions["catalog"].read_sessions() as s:
        row = s.scalar(select(ApiToken).where(ApiToken.name.like("worker:%")))
    assert row.scope_run_uuid and row.scope_job_name == "feature_pipeline"
    assert row.on_behalf_of == "token:test-pipeline"
