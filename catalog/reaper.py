"""The reaper on a timer inside a server process (``CATALOG_REAP_INTERVAL_SECONDS``): stale runs,
and runs started through the API whose supervisor stopped checking in
(``CATALOG_RUN_LEASE_SECONDS``).

Each process (gunicorn worker) runs its own daemon thread; several reaping at once is harmless,
since the ABORT event for a run is the same whichever process sends it and is stored once.
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

from catalog.db import in_transaction
from catalog.services.runs import reap_stale_runs

log = logging.getLogger(__name__)


def reap_once(state) -> int:
    """One pass over the database; the number of runs marked ABORT."""
    window = timedelta(seconds=state.settings.stale_run_seconds)
    lease = timedelta(seconds=state.settings.run_lease_seconds)
    reaped = in_transaction(state.sessions, lambda s: reap_stale_runs(s, window, lease=lease))
    for r in reaped:
        log.warning("reaped run %s of %s: %s", r.run_id, r.job, r.message)
    return len(reaped)


def start_reaper(state) -> threading.Thread:
    """Start the daemon thread; it stops when ``state.stopping`` is set."""

    def loop() -> None:
        while not (state.stopping.wait(state.settings.reap_interval_seconds)
                   or state.stop_requested):
            try:
                reap_once(state)
            except Exception:  # noqa: BLE001 - a failed pass is retried on the next tick
                log.exception("reaping stale runs failed")

    thread = threading.Thread(target=loop, name="catalog-reaper", daemon=True)
    thread.start()
    return thread
