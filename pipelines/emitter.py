"""Catalog calls off the pipeline's thread: events go out in order while DuckDB builds on.

A pipeline's catalog work is Python waiting on HTTP (and parsing SQL for column lineage); DuckDB
releases the GIL while it executes a step, so one worker thread doing that work overlaps it with
the builds instead of adding to them, even on two cores.

:class:`Emitter` stands where ``RunReporter`` expects a ``CatalogClient`` (``emit`` and
``producer``). ``emit`` copies the event when it is queued (the run goes on adding facets to the
same objects afterwards) and one worker thread sends the events in the order they were queued, so
every run's START comes before its COMPLETE and a parent's end comes after its children's.
:meth:`Emitter.submit` queues other work (column lineage) on the same thread and returns its
future. A send that fails does not stop the pipeline where it stands: :meth:`Emitter.check`
waits for everything queued and raises the first failure (later ones as notes), so the pipeline
run that calls it before its end reports FAIL, naming what the catalog refused.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from catalog.client import CatalogClient, CatalogRequestError, CatalogUnavailable


class Emitter:
    """Sends events through ``client`` from one worker thread, in the order they are queued."""

    def __init__(self, client: CatalogClient):
        self.client = client
        self.producer = client.producer
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="catalog-emitter")
        self._sent: list[tuple[str, Future]] = []
        self._reported = 0

    def emit(self, event) -> None:
        """Queue a copy of ``event``; :meth:`check` reports whether the catalog stored it."""
        what = f"{event.eventType.value} of {event.job.name} (run {event.run.runId})"
        self._sent.append((what, self._pool.submit(self.client.emit, copy.deepcopy(event))))

    def submit(self, fn: Callable, *args: Any) -> Future:
        """Run ``fn(*args)`` on the worker thread after what is queued; its future."""
        return self._pool.submit(fn, *args)

    def check(self) -> None:
        """Wait for every queued event; raise the first failure not raised yet, naming the rest."""
        failures = []
        for what, future in self._sent[self._reported:]:
            exc = future.exception()
            if exc is not None:
                failures.append((what, exc))
        self._reported = len(self._sent)
        if not failures:
            return
        (what, first), rest = failures[0], failures[1:]
        first.args = (f"{what}: {first}",)  # which event; type and attributes stay the client's
        for what, exc in rest:
            first.add_note(f"also not stored: {what}: {exc}")
        raise first

    def close(self) -> None:
        """Wait for the queue to empty and stop the worker thread."""
        self._pool.shutdown(wait=True)


@contextlib.contextmanager
def background(client: CatalogClient):
    """An :class:`Emitter` for the block; on leaving it, everything queued has been sent.

    A failure to send raises here when the block itself did not raise (:meth:`Emitter.check`);
    when it did, the failures become notes on the block's exception.
    """
    emitter = Emitter(client)
    try:
        yield emitter
    except BaseException as exc:
        emitter.close()
        try:
            emitter.check()
        except (CatalogRequestError, CatalogUnavailable) as unsent:
            exc.add_note(f"(the catalog did not store every event either: {unsent})")
        raise
    emitter.close()
    emitter.check()
