"""A job's latest run: newest by creation time, then by id; the same in every read that shows it."""

from __future__ import annotations

import uuid

from tests.factories import ds, run_event


def _start(client, job: str, minutes: int, state: str = "START") -> str:
    run = str(uuid.uuid4())
    r = client.post("/api/v1/lineage", json=run_event(state, job, run_id=run, minutes=minutes,
                                                      outputs=[ds(f"{job}_out")]))
    assert r.status_code == 201, r.get_json()
    return run


def test_latest_run_is_the_newest_then_the_highest_id(client):
    # Job a: three runs, the last two created in the same instant: the later insert wins.
    _start(client, "a", 0, "COMPLETE")
    _start(client, "a", 5, "FAIL")
    a_latest = _start(client, "a", 5, "COMPLETE")
    # Job b: a run created earlier but reported last is not the latest.
    b_latest = _start(client, "b", 9, "FAIL")
    _start(client, "b", 1, "COMPLETE")
    c_latest = _start(client, "c", 3)  # a single running run

    jobs = {j["name"]: j for j in client.get("/api/v1/namespaces/pipelines/jobs").get_json()[
        "jobs"]}
    assert {n: j["latestRun"]["id"] for n, j in jobs.items()} == {
        "a": a_latest, "b": b_latest, "c": c_latest}
    assert client.get("/api/v1/namespaces/pipelines/jobs/b").get_json()["latestRun"]["id"] \
        == b_latest
    graph = client.get("/api/v1/lineage", query_string={
        "nodeId": "job:pipelines:a", "depth": 1}).get_json()["graph"]
    assert [n["data"]["latestRun"]["id"] for n in graph if n["type"] == "JOB"] == [a_latest]

    def filtered(states: str) -> list[str]:
        r = client.get("/api/v1/namespaces/pipelines/jobs", query_string={
            "lastRunStates": states})
        return sorted(j["name"] for j in r.get_json()["jobs"])

    assert filtered("COMPLETED") == ["a"]
    assert filtered("FAILED") == ["b"]
    assert filtered("RUNNING,FAILED") == ["b", "c"]
    assert filtered("ABORTED") == []
