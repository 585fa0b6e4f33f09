"""Catalog events sent from the emitter's thread: order, copies, and refusals failing the run."""

from __future__ import annotations

import threading

import pytest
from openlineage.client.event_v2 import RunState

from catalog.client import CatalogClient, CatalogRequestError, RunReporter
from pipelines.emitter import Emitter, background
from pipelines.report import Reporter
from pipelines.service import land_and_run


class Recording:
    """A client stand-in that records what it is sent (and on which thread), refusing on demand."""

    def __init__(self, inner: CatalogClient | None = None, refuse=lambda event: False):
        self.inner, self.refuse = inner, refuse
        self.producer = inner.producer if inner else "test"
        self.sent: list[tuple[str, str, str]] = []
        self.threads: set[str] = set()

    def emit(self, event) -> None:
        self.threads.add(threading.current_thread().name)
        if self.refuse(event):
            raise CatalogRequestError(422, {"message": "refused by the test"})
        self.sent.append((event.job.name, event.eventType.value, event.run.runId))
        if self.inner is not None:
            self.inner.emit(event)


def test_events_go_out_in_order_as_they_were_when_queued():
    client = Recording()
    emitter = Emitter(client)
    runs = [RunReporter(emitter, "ns", f"job{i}") for i in range(20)]
    for run in runs:
        emitter.emit(run.event(RunState.START))
    for run in runs:
        run.add_output("ns", "out", facets={})
        emitter.emit(run.event(RunState.COMPLETE))
        run.add_output("ns", "later")  # after queuing: not in the event already queued
    emitter.close()
    emitter.check()
    expected = [(f"job{i}", "START", r.run_id) for i, r in enumerate(runs)] + [
        (f"job{i}", "COMPLETE", r.run_id) for i, r in enumerate(runs)]
    assert client.sent == expected
    assert client.threads and all(t.startswith("catalog-emitter") for t in client.threads)


def test_a_queued_event_is_a_copy():
    seen = []

    class Keep(Recording):
        def emit(self, event):
            seen.append([d.name for d in event.outputs])

    gate = threading.Event()
    client = Keep()
    with background(client) as emitter:
        emitter.submit(gate.wait)  # hold the worker until the run has changed its outputs
        run = RunReporter(emitter, "ns", "job")
        run.add_output("ns", "a")
        emitter.emit(run.event(RunState.COMPLETE))
        run.add_output("ns", "b")
        run.outputs[("ns", "a")].name = "renamed"
        gate.set()
    assert seen == [["a"]]


def test_check_raises_the_first_refusal_naming_the_event_and_the_others():
    client = Recording(refuse=lambda e: e.job.name in ("j1", "j3"))
    with pytest.raises(CatalogRequestError) as info, background(client) as emitter:
        for i in range(4):
            emitter.emit(RunReporter(emitter, "ns", f"j{i}").event(RunState.START))
    assert info.value.status == 422
    assert str(info.value).startswith("START of j1 (run ")
    assert "refused by the test" in str(info.value)
    assert any("also not stored: START of j3" in n for n in info.value.__notes__)
    assert [s[0] for s in client.sent] == ["j0", "j2"]  # the others were still sent


def test_refused_event_fails_the_pipeline_run_in_the_catalog(tmp_path, catalog):
    inner, http = catalog
    client = Recording(inner, refuse=lambda e: (e.job.name == "feature_pipeline.user_features"
                                                and e.eventType == RunState.COMPLETE))
    with pytest.raises(CatalogRequestError, match="COMPLETE of feature_pipeline.user_features"):
        land_and_run(tmp_path, "synthetic", reporter=Reporter(client), events=2_000)
    # Sent from the worker thread, never from the pipeline's own.
    assert all(t.startswith("catalog-emitter") for t in client.threads)
    # The steps after the refusal still ran and reported; the pipeline run is FAIL, last.
    names = [s[0] for s in client.sent]
    assert "feature_pipeline.feature_selection" in names
    assert client.sent[-1][:2] == ("feature_pipeline", "FAIL")
    parent = http.get("/api/v1/namespaces/recsys-pipelines/jobs/feature_pipeline").get_json()
    assert parent["latestRun"]["state"] == "FAILED"  # the API speaks Marquez's words
    assert "COMPLETE of feature_pipeline.user_features" in parent["latestRun"]["errorMessage"]
    # Every run's START went out before its end; only the refused end is missing.
    refused = {s[2] for s in client.sent if s[0] == "feature_pipeline.user_features"}
    for run_id in {s[2] for s in client.sent}:
        states = [s[1] for s in client.sent if s[2] == run_id]
        end = "FAIL" if run_id == client.sent[-1][2] else "COMPLETE"
        assert states == (["START"] if run_id in refused else ["START", end]), states


def test_a_refused_pipeline_start_fails_before_any_work(tmp_path, catalog):
    inner, _ = catalog
    client = Recording(inner, refuse=lambda e: (e.job.name == "feature_pipeline"
                                                and e.eventType == RunState.START))
    with pytest.raises(CatalogRequestError, match="START of feature_pipeline "):
        land_and_run(tmp_path, "synthetic", reporter=Reporter(client), events=2_000)
    assert not (tmp_path / "raw").exists()  # nothing landed, no step ran
    assert [s[:2] for s in client.sent] == [("feature_pipeline", "FAIL")]
