"""Runs started through the API go through a real queue: Redis (RQ) and `catalog worker`, or the
server's own supervised pool. States follow the queue (waiting NEW, taken RUNNING), a waiting
run survives a restart of the server, runs can be cancelled, caps answer 429, and a worker killed
mid-run is reaped ABORT with its token revoked; the run's confinement holds on both paths."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import zlib
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner
from sqlalchemy import select

from catalog.models import ApiToken
from tests.authutil import bearer
from tests.live_server import live_server
from tests.pipeline_defs import register_live
from tests.runqueue.conftest import STUB, queue_worker
from tests.runutil import wait_for
from tests.security.conftest import bearer_client

RUNS = "/api/v1/pipelines/feature_pipeline/runs"


# --- in-process: the request side, on SQLite and PostgreSQL -----------------------------------


def _token_row(app, run_id: str) -> ApiToken | None:
    with app.extensions["catalog"].read_sessions() as s:
        return s.scalar(select(ApiToken).where(ApiToken.name == f"worker:{run_id}"))


def test_a_queued_run_is_new_and_only_its_id_is_on_the_broker(queued_app, redis_queue, tmp_path):
    app = queued_app()
    client = bearer_client(app, "pipeline", name="ci")
    r = client.post(RUNS, json={"events": 1000, "seed": 5})
    assert r.status_code == 202, r.get_json()
    body = r.get_json()
    run_id = body["runId"]
    assert body["state"] == "NEW" and body["params"] == {"source": "synthetic", "events": 1000,
                                                         "seed": 5}
    assert client.get(f"/api/v1/jobs/runs/{run_id}").get_json()["state"] == "NEW"
    assert redis_queue.job_ids() == [run_id]
    raw = redis_queue.redis.hgetall(f"rq:job:{run_id}")
    payload = zlib.decompress(raw[b"data"])  # RQ compresses its JSON (never pickle)
    data = json.loads(payload)
    assert data[0] == "catalog.run_queue.run_job" and data[2] == [run_id, "feature_pipeline"]
    assert b"cat_" not in payload + b"".join(raw.values())  # no token travels on the broker
    # Nothing is decided before a worker takes it: no token, no folder.
    assert _token_row(app, run_id) is None and not (tmp_path / "work").exists()
    listed = client.get(RUNS).get_json()["runs"]
    assert [(x["runId"], x["takenBy"], x["exitCode"]) for x in listed] == [(run_id, None, None)]


def test_cancelling_a_queued_run_takes_it_off_the_queue(queued_app, redis_queue):
    app = queued_app()
    client = bearer_client(app, "pipeline", name="ci")
    run_id = client.post(RUNS, json={"events": 1000}).get_json()["runId"]
    assert bearer_client(app, "viewer").post(f"{RUNS}/{run_id}/cancel").status_code == 403
    r = client.post(f"{RUNS}/{run_id}/cancel")
    assert r.status_code == 200, r.get_json()
    assert r.get_json() == {"runId": run_id, "pipeline": "feature_pipeline", "state": "ABORT",
                            "was": "queued", "run": f"/api/v1/jobs/runs/{run_id}"}
    assert redis_queue.job_ids() == []
    run = client.get(f"/api/v1/jobs/runs/{run_id}").get_json()
    assert run["state"] == "ABORTED" and run["errorMessage"] == "cancelled by token:ci while queued"
    again = client.post(f"{RUNS}/{run_id}/cancel")
    assert again.status_code == 409 and again.get_json()["state"] == "ABORT"
    missing = client.post(f"{RUNS}/00000000-0000-0000-0000-000000000000/cancel")
    assert missing.status_code == 404 and missing.get_json()["field"] == "runId"
    trail = bearer_client(app, "auditor").get("/api/v1/audit",
                                              query_string={"entityType": "run"}).get_json()
    (entry,) = [e for e in trail["entries"] if e["entityKey"] == run_id]
    assert entry["action"] == "run.cancel" and entry["actor"] == "token:ci"
    assert entry["after"]["was"] == "queued"


def test_caps_on_running_and_waiting_runs_answer_429(queued_app, redis_queue):
    app = queued_app(max_api_runs=1, max_queued_runs=1)
    client = bearer_client(app, "pipeline")
    ids = [client.post(RUNS, json={"events": 1000}).get_json()["runId"] for _ in range(2)]
    r = client.post(RUNS, json={"events": 1000})
    assert r.status_code == 429 and r.headers["Retry-After"] == "60"
    body = r.get_json()
    assert body["error"] == "TooManyRequests" and body["cap"] == "CATALOG_MAX_QUEUED_RUNS"
    assert (body["running"], body["queued"]) == (0, 2)
    assert "CATALOG_MAX_QUEUED_RUNS" in body["message"]
    assert redis_queue.job_ids() == ids
    assert client.post(f"{RUNS}/{ids[0]}/cancel").status_code == 200  # frees room
    assert client.post(RUNS, json={"events": 1000}).status_code == 202


def test_an_unreachable_broker_fails_the_run_and_names_no_password(queued_app):
    app = queued_app(queue_url="redis://:s3cret@127.0.0.1:1/0")
    client = bearer_client(app, "pipeline")
    r = client.post(RUNS, json={"events": 1000})
    assert r.status_code == 503
    message = r.get_json()["message"]
    assert "the run queue at redis://127.0.0.1:1/0 cannot be reached" in message
    assert "s3cret" not in message
    (row,) = client.get(RUNS).get_json()["runs"]
    run = client.get(f"/api/v1/jobs/runs/{row['runId']}").get_json()
    assert run["state"] == "FAILED" and "could not be queued" in run["errorMessage"]


def test_a_job_naming_any_other_function_is_refused(redis_queue):
    from rq import Queue
    from rq.serializers import JSONSerializer

    from catalog.errors import Unavailable
    from catalog.run_queue import _run_job_class, run_job

    job_class = _run_job_class()
    q = Queue(redis_queue.name, connection=redis_queue.redis, serializer=JSONSerializer,
              job_class=job_class)
    hostile = q.enqueue("os.system", "touch /tmp/owned-by-the-queue")
    ours = q.enqueue("catalog.run_queue.run_job", "r", "p")
    refused = job_class.fetch(hostile.id, connection=redis_queue.redis, serializer=JSONSerializer)
    with pytest.raises(Unavailable, match="a catalog worker runs catalog.run_queue.run_job only"):
        refused.func()
    assert job_class.fetch(ours.id, connection=redis_queue.redis,
                           serializer=JSONSerializer).func is run_job


def test_catalog_worker_errors_are_one_line(sqlite_url, monkeypatch):
    from catalog.cli import main

    monkeypatch.delenv("CATALOG_QUEUE_URL", raising=False)
    r = CliRunner().invoke(main, ["worker", "--database-url", sqlite_url])
    assert r.exit_code == 3  # BAD_INPUT: a setting is missing
    assert r.output.strip().splitlines() == [
        "error: catalog worker takes runs from a broker: set CATALOG_QUEUE_URL (or --queue-url) "
        "as on the server; without one the server runs them"]
    r = CliRunner().invoke(main, ["worker", "--database-url", sqlite_url,
                                  "--queue-url", "redis://127.0.0.1:1/0", "--burst"])
    assert r.exit_code == 4 and len(r.output.strip().splitlines()) == 1  # UNAVAILABLE
    assert r.output.startswith("error: the run queue at redis://127.0.0.1:1/0 cannot be reached")
    r = CliRunner().invoke(main, ["worker", "--database-url", sqlite_url,
                                  "--queue-url", "http://127.0.0.1:6379"])
    assert r.exit_code == 3 and "CATALOG_QUEUE_URL must be a redis://" in r.output


# --- live: a server and `catalog worker` processes ---------------------------------------------


def _get(url: str, path: str, token: str | None = None) -> requests.Response:
    headers = bearer(token or os.environ["CATALOG_TOKEN"])
    return requests.get(f"{url}{path}", headers=headers, timeout=10)


def _post(url: str, path: str, body: dict | None = None) -> requests.Response:
    return requests.post(f"{url}{path}", json=body, headers=bearer(os.environ["CATALOG_TOKEN"]),
                         timeout=10)


def _state(url: str, run_id: str) -> str:
    return _get(url, f"/api/v1/jobs/runs/{run_id}").json()["state"]


def _wait_state(url: str, run_id: str, *states: str, timeout: float = 120) -> str:
    return wait_for(lambda: (s := _state(url, run_id)) in states and s, timeout,
                    f"run {run_id} to be {' or '.join(states)}")


def _execution(url: str, run_id: str) -> dict:
    (row,) = [r for r in _get(url, RUNS).json()["runs"] if r["runId"] == run_id]
    return row


def _marker(folder: Path, timeout: float = 60) -> dict:
    """What the stand-in worker wrote once it started in ``folder``."""
    path = folder / "started.json"
    wait_for(path.exists, timeout, f"the worker to start in {folder}")
    return json.loads(path.read_text())


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie waiting for its parent does not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except FileNotFoundError:
        return False
    return state not in ("Z", "X")


@pytest.fixture
def fresh_sqlite(sqlite_url):
    """The suite's SQLite database, emptied."""
    from catalog.db import make_engine
    from tests.dbutil import wipe

    engine = make_engine(sqlite_url)
    wipe(engine)
    engine.dispose()
    return sqlite_url


def test_a_queued_run_survives_a_server_restart_and_a_worker_completes_it(
        fresh_sqlite, tmp_path, redis_queue):
    work = tmp_path / "work"
    env = {"queue_url": redis_queue.url, "queue_name": redis_queue.name, "work_dir": work}
    with live_server(fresh_sqlite, tmp_path, **env) as url:
        register_live(url)
        r = _post(url, RUNS, {"events": 2000})
        assert r.status_code == 202, r.text
        run_id = r.json()["runId"]
        assert _state(url, run_id) == "NEW"
    (tmp_path / "second").mkdir()
    with live_server(fresh_sqlite, tmp_path / "second", **env) as url:  # a restarted server
        assert _state(url, run_id) == "NEW" and redis_queue.job_ids() == [run_id]
        # The restarted server listens elsewhere: the worker's own CATALOG_PUBLIC_URL says
        # where (as on a host of its own), over the address recorded with the request.
        with queue_worker(fresh_sqlite, redis_queue, tmp_path / "worker.log", "--burst",
                          "--json", work_dir=work, public_url=url) as proc:
            _wait_state(url, run_id, "RUNNING")
            _wait_state(url, run_id, "COMPLETED", "FAILED", "ABORTED")
            # --burst: the queue is empty, it exits (seconds alone; over 60 s once, when the
            # suite shared 2 cores with three trainings: a bound, not a wait)
            assert proc.wait(timeout=180) == 0
        run = _get(url, f"/api/v1/jobs/runs/{run_id}").json()
        assert run["state"] == "COMPLETED", run.get("errorMessage")
        ds = _get(url, "/api/v1/namespaces/recsys/datasets/user_features").json()
        assert ds["currentVersionNumber"] == 1
        row = _execution(url, run_id)
        assert row["takenBy"] == f"{os.uname().nodename}:{proc.pid}" and row["exitCode"] == 0
        assert row["params"]["workdir"] == str(work.resolve() / "feature_pipeline" / run_id)
    last = (tmp_path / "worker.log").read_text().strip().splitlines()[-1]
    assert json.loads(last) == {"jobsTaken": 1, "queue": redis_queue.name}
    # Confined as on the server's own path: its folder, its log, DuckDB.
    folder = work / "feature_pipeline" / run_id
    assert (folder / "features.duckdb").is_file()
    assert folder.stat().st_mode & 0o777 == 0o700
    log = folder / f"worker-{run_id}.log"
    assert log.stat().st_mode & 0o777 == 0o600
    assert f"DuckDB confined to {folder.resolve()}/" in log.read_text()


def _worker_for(path: str, db_url: str, queue, tmp_path: Path, work: Path):
    """A `catalog worker` for the redis path; nothing for the embedded one (the server's pool)."""
    if path == "redis":
        return queue_worker(db_url, queue, tmp_path / "worker.log", work_dir=work,
                            worker_module=STUB, token_cache_seconds=0)
    return contextlib.nullcontext()


@pytest.mark.parametrize("path", ["redis", "embedded"])
def test_a_running_run_is_confined_and_can_be_cancelled(fresh_sqlite, tmp_path, redis_queue,
                                                        stub_env, path):
    work = tmp_path / "work"
    env = {"work_dir": work, "worker_module": STUB, "token_cache_seconds": 0}
    if path == "redis":
        env |= {"queue_url": redis_queue.url, "queue_name": redis_queue.name}
    with live_server(fresh_sqlite, tmp_path, **env) as url, _worker_for(
            path, fresh_sqlite, redis_queue, tmp_path, work) as worker:
        register_live(url)
        run_id = _post(url, RUNS, {"events": 1000}).json()["runId"]
        folder = work.resolve() / "feature_pipeline" / run_id
        started = _marker(folder)
        assert _state(url, run_id) == "RUNNING"
        # The same confinement on both paths.
        assert started["cwd"] == str(folder) and folder.stat().st_mode & 0o777 == 0o700
        assert started["argv"][started["argv"].index("--workdir") + 1] == str(folder)
        assert started["umask"] == 0o077 and started["token"].startswith("cat_")
        assert {"CATALOG_DATABASE_URL", "CATALOG_SECRET_KEY", "CATALOG_QUEUE_URL"}.isdisjoint(
            started["env"])
        assert (folder / f"worker-{run_id}.log").stat().st_mode & 0o777 == 0o600
        if worker is not None:
            assert started["ppid"] == worker.pid  # the worker's supervisor, not the server

        r = _post(url, f"{RUNS}/{run_id}/cancel")
        assert r.status_code == 200 and r.json()["was"] == "running"
        wait_for(lambda: not _alive(started["pid"]), 30, "the cancelled worker to stop")
        assert _state(url, run_id) == "ABORTED"
        assert _get(url, "/api/v1/namespaces", started["token"]).status_code == 401
        wait_for(lambda: _execution(url, run_id)["exitCode"] == -signal.SIGTERM, 30,
                 "the supervisor to record the worker's exit")

        # The supervisor goes on: the next run is taken and completes.
        second = _post(url, RUNS, {"events": 1000}).json()["runId"]
        folder = work.resolve() / "feature_pipeline" / second
        _marker(folder)
        (folder / "release").touch()
        assert _wait_state(url, second, "COMPLETED", "FAILED", "ABORTED", timeout=60) == \
            "COMPLETED"
        wait_for(lambda: _execution(url, second)["exitCode"] == 0, 30, "the worker's exit")
        assert _get(url, "/api/v1/namespaces", started["token"]).status_code == 401



def test_a_worker_killed_mid_run_is_reaped_abort_and_its_token_revoked(
        fresh_sqlite, tmp_path, redis_queue, stub_env):
    work = tmp_path / "work"
    lease = {"run_lease_seconds": 2}
    with live_server(fresh_sqlite, tmp_path, work_dir=work, worker_module=STUB,
                     queue_url=redis_queue.url, queue_name=redis_queue.name,
                     token_cache_seconds=0, reap_interval_seconds=1, **lease) as url:
        register_live(url)
        run_id = _post(url, RUNS, {"events": 1000}).json()["runId"]
        with queue_worker(fresh_sqlite, redis_queue, tmp_path / "worker.log", work_dir=work,
                          worker_module=STUB, **lease) as worker:
            started = _marker(work.resolve() / "feature_pipeline" / run_id)
            assert _get(url, "/api/v1/namespaces", started["token"]).status_code == 200
            os.kill(worker.pid, signal.SIGKILL)  # the supervisor alone, outright
            worker.wait(timeout=30)
        wait_for(lambda: not _alive(started["pid"]), 30, "its worker to die with it")
        assert _wait_state(url, run_id, "ABORTED", "COMPLETED", "FAILED", timeout=60) == \
            "ABORTED"
        run = _get(url, f"/api/v1/jobs/runs/{run_id}").json()
        assert run["errorMessage"].startswith("run abandoned: its supervisor (")
        assert _get(url, "/api/v1/namespaces", started["token"]).status_code == 401
