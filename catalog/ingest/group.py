"""Group commit: single events that arrive together, in one process, share one transaction.

A server with several request threads per process (gunicorn's gthread workers with threads > 1,
the threaded development server) receives single events at once. Each would pay a transaction
of its own: a dozen statements and a commit. :class:`Group` lets the first caller lead: it takes
every event waiting at that moment (up to ``limit``), runs them as one batch (the batch path: a
savepoint per event, so each succeeds or fails on its own), hands each caller its own outcome,
and passes the lead to a caller that arrived meanwhile. A caller alone runs its event alone, as
before. Every caller returns only after the transaction holding its event has committed (or
failed), so what a caller sees is exactly what it would have seen alone: its result, or its
event's own exception.
"""

from __future__ import annotations

import threading
from collections.abc import Callable


class _Slot:
    __slots__ = ("item", "lead", "outcome", "ready")

    def __init__(self, item) -> None:
        self.item = item
        self.ready = threading.Event()
        self.lead = False  # set with ready: this caller now leads
        self.outcome: object = None  # the item's result or exception, once ready


class Group:
    """Runs items that arrive while another group is running as one group.

    ``run(items)`` returns one outcome per item, in order (a result, or the exception that item
    met); an exception it raises is every item's outcome.
    """

    def __init__(self, run: Callable[[list], list], limit: int = 100) -> None:
        self._run = run
        self._limit = limit
        self._lock = threading.Lock()
        self._waiting: list[_Slot] = []
        self._busy = False  # a caller is leading; it or its successor will take what waits

    def submit(self, item):
        """``item``'s outcome: its result, or raises the exception it met."""
        slot = _Slot(item)
        with self._lock:
            self._waiting.append(slot)
            lead = not self._busy
            self._busy = True
        if not lead:
            slot.ready.wait()
        if lead or slot.lead:
            self._lead()
        if isinstance(slot.outcome, BaseException):
            raise slot.outcome
        return slot.outcome

    def _lead(self) -> None:
        """Run what waits (this caller's slot first among it), then pass the lead on."""
        with self._lock:
            group, self._waiting = self._waiting[:self._limit], self._waiting[self._limit:]
        try:
            outcomes = self._run([s.item for s in group])
            if len(outcomes) != len(group):
                raise AssertionError(f"{len(outcomes)} outcomes for {len(group)} items")
        except BaseException as exc:  # noqa: BLE001 - it is every item's outcome
            outcomes = [exc] * len(group)
        leader, *others = group
        leader.outcome = outcomes[0]
        for slot, outcome in zip(others, outcomes[1:], strict=True):
            slot.outcome = outcome
            slot.ready.set()
        with self._lock:
            if self._waiting:
                successor = self._waiting[0]
                successor.lead = True
                successor.ready.set()
            else:
                self._busy = False


def one_by_one(factory, events: list, strict) -> list:
    """Each event in its own transaction (with its own retries): a group's, or a batch's,
    fallback when the transaction holding them all fails as a whole."""
    from catalog.db import in_transaction
    from catalog.ingest import ingest_event

    outcomes: list = []
    for event in events:
        try:
            outcomes.append(in_transaction(
                factory, lambda session, e=event: ingest_event(session, e, strict)))
        except Exception as exc:  # noqa: BLE001 - one event's failure must not fail the others
            outcomes.append(exc)
    return outcomes


def ingest_group(factory, strict, limit: int = 100) -> Group:
    """A :class:`Group` of single events for the sessions of ``factory``: one event alone is
    :func:`catalog.ingest.ingest_event` in its own transaction, as without a group; several are
    :func:`catalog.ingest.ingest_batch` in one (each in its savepoint), or one by one should that
    transaction fail as a whole."""
    from catalog.db import in_transaction
    from catalog.ingest import ingest_batch, ingest_event

    def run(events: list) -> list:
        if len(events) == 1:
            return [in_transaction(factory, lambda s: ingest_event(s, events[0], strict))]
        try:
            return in_transaction(factory, lambda s: ingest_batch(s, events, strict))
        except Exception:  # noqa: BLE001 - each event alone meets only its own errors
            return one_by_one(factory, events, strict)

    return Group(run, limit)
