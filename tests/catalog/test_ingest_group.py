"""Group commit of single events (catalog.ingest.group): who leads, who waits, who gets what.

Deterministic: a blocking run function holds the leader until the test has seen the others
queue (a condition waited on, never a fixed sleep).
"""

from __future__ import annotations

import threading
import time

import pytest

from catalog.ingest.group import Group


class Gate:
    """A run function that records each group and blocks the first until opened."""

    def __init__(self, fail_on=(), raise_all=None):
        self.groups: list[list] = []
        self.entered = threading.Event()
        self.open = threading.Event()
        self.fail_on, self.raise_all = set(fail_on), raise_all

    def __call__(self, items: list) -> list:
        self.groups.append(list(items))
        self.entered.set()
        assert self.open.wait(30)
        if self.raise_all is not None:
            raise self.raise_all
        return [ValueError(f"bad {i}") if i in self.fail_on else f"ok {i}" for i in items]


def _until(condition, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.001)


def _submit_all(group: Group, gate: Gate, items: list) -> dict:
    """Submit items[0] (it leads and blocks), then the rest while it is blocked; open the gate
    once they all wait; return each item's outcome."""
    outcomes: dict = {}

    def call(item):
        try:
            outcomes[item] = group.submit(item)
        except Exception as exc:  # noqa: BLE001 - the outcome under test
            outcomes[item] = exc

    first = threading.Thread(target=call, args=(items[0],))
    first.start()
    assert gate.entered.wait(30)
    others = [threading.Thread(target=call, args=(i,)) for i in items[1:]]
    for t in others:
        t.start()
    _until(lambda: len(group._waiting) == len(items) - 1)
    gate.open.set()
    for t in [first, *others]:
        t.join(30)
        assert not t.is_alive()
    return outcomes


def test_a_caller_alone_runs_alone_and_gets_its_result():
    gate = Gate()
    gate.open.set()
    group = Group(gate)
    assert group.submit(1) == "ok 1"
    assert group.submit(2) == "ok 2"
    assert gate.groups == [[1], [2]]
    assert not group._busy and group._waiting == []


def test_callers_arriving_while_one_runs_go_together_each_with_its_own_outcome():
    gate = Gate(fail_on={3})
    group = Group(gate)
    outcomes = _submit_all(group, gate, [1, 2, 3, 4])
    assert gate.groups[0] == [1]
    assert sorted(gate.groups[1]) == [2, 3, 4] and len(gate.groups) == 2
    assert outcomes[1] == "ok 1" and outcomes[2] == "ok 2" and outcomes[4] == "ok 4"
    assert isinstance(outcomes[3], ValueError) and str(outcomes[3]) == "bad 3"
    assert not group._busy and group._waiting == []


def test_a_failure_of_the_whole_group_is_every_callers():
    gate = Gate(raise_all=RuntimeError("database gone"))
    group = Group(gate)
    outcomes = _submit_all(group, gate, [1, 2, 3])
    assert all(isinstance(o, RuntimeError) and str(o) == "database gone"
               for o in outcomes.values())
    assert not group._busy  # the lead was released: the next caller runs
    gate.raise_all = None
    assert group.submit(9) == "ok 9"


def test_no_group_is_larger_than_the_limit():
    gate = Gate()
    group = Group(gate, limit=2)
    outcomes = _submit_all(group, gate, [1, 2, 3, 4, 5])
    assert outcomes == {i: f"ok {i}" for i in range(1, 6)}
    assert gate.groups[0] == [1]
    assert [len(g) for g in gate.groups[1:]] == [2, 2]
    assert sorted(i for g in gate.groups for i in g) == [1, 2, 3, 4, 5]


def test_a_run_that_miscounts_its_outcomes_fails_every_caller():
    group = Group(lambda items: [])
    with pytest.raises(AssertionError, match="0 outcomes for 1 items"):
        group.submit(1)


def test_single_posts_grouped_leave_the_catalog_and_answers_as_one_at_a_time(app, engine):
    """Eleven single POSTs, the first holding the lead until the ten others wait behind it (in
    the scenario's order), go as two transactions; the catalog ends as it does with one POST
    after another, and every caller gets the answer it gets alone (201, 422 for the bad ones)."""
    from tests.authutil import as_admin
    from tests.catalog.test_ingest_staged import _scenario, _snapshot
    from tests.dbutil import wipe

    events = _scenario()
    admin = {}

    def post(event) -> tuple[int, dict]:
        r = admin["app"].test_client().post("/api/v1/lineage", json=event)
        return r.status_code, r.get_json()

    wipe(engine)
    admin["app"] = as_admin(app)  # a token of its own after each wipe
    alone = [post(e) for e in events]
    expected = _snapshot(engine)
    assert [code for code, _ in alone].count(422) == 2

    wipe(engine)
    admin["app"] = as_admin(app)
    group = app.extensions["catalog"].ingest_group
    real, sizes, held = group._run, [], threading.Event()

    def run(items):
        sizes.append(len(items))
        if not held.is_set():
            held.set()
            _until(lambda: len(group._waiting) == len(events) - 1)
        return real(items)

    group._run = run
    answers: dict[int, tuple] = {}
    threads = [threading.Thread(target=lambda i=i: answers.__setitem__(i, post(events[i])))
               for i in range(len(events))]
    try:
        threads[0].start()
        assert held.wait(30)
        for i, t in enumerate(threads[1:], 1):
            t.start()
            _until(lambda i=i: len(group._waiting) == i)
        for t in threads:
            t.join(60)
            assert not t.is_alive()
    finally:
        group._run = real
    assert sizes == [1, len(events) - 1]
    assert [answers[i] for i in range(len(events))] == alone
    assert _snapshot(engine) == expected
