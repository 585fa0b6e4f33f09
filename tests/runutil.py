"""Waiting on runs the catalog executes: poll a condition with a deadline, never a fixed sleep."""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_for(condition: Callable[[], object], timeout: float = 30, what: str = "condition",
             interval: float = 0.05):
    """Poll ``condition`` until it returns something truthy (returned); AssertionError naming
    ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def close_runs(application, timeout: float = 30) -> None:
    """Stop the app's embedded pool, waiting for the supervisors of runs it still watches."""
    assert application.extensions["catalog"].run_queue.close(timeout), \
        "a run supervisor of the app was still running"
