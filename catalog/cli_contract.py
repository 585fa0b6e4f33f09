"""What a script can rely on from every ``catalog`` command: exit codes, JSON, progress.

- **Exit codes** (:class:`ExitCode`) tell the kinds of failure apart, so a failed data check never
  looks like a catalog that is down. A known failure is one line on stderr (``error: ...``) and
  its code (:class:`CommandFailed`); only an unexpected one shows a traceback, with status 1.
- **JSON**: with ``--json`` a command writes exactly one JSON document to stdout
  (:func:`echo_json`); messages and progress go to stderr.
- **Progress** of long work (:func:`progress`) goes to stderr: a bar on a terminal, plain lines
  when asked for elsewhere (``--progress`` or ``CATALOG_PROGRESS=1``), nothing otherwise.

Imported by the service's commands (:mod:`catalog.cli_options`) and, through
:mod:`catalog.client_options`, by the programs that report to the catalog; it imports nothing of
the catalog.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from enum import IntEnum
from typing import Any

import click


class ExitCode(IntEnum):
    """Exit status of a ``catalog`` command (the README's "Exit codes" table)."""

    OK = 0
    # A bug or an unforeseen failure; the traceback is on stderr.
    UNEXPECTED = 1
    # click's own: unknown option, missing argument, invalid choice, conflicting options.
    USAGE = 2
    # A file or value the user gave is missing or invalid (the catalog's 400, 413 and 422 too).
    BAD_INPUT = 3
    # The catalog (its HTTP API or its database) gave no answer, failed (5xx) or is busy (429):
    # trying again later may work.
    UNAVAILABLE = 4
    # The catalog answered no: credentials (401), role (403), unknown name (404), a conflict
    # with its state (409). Trying again will not work until something changes.
    REFUSED = 5
    # A check ran and failed: data quality expectations, the promotion gate, the audit trail's
    # hash chain, a database not at the migrations' head (``db current``).
    CHECKS_FAILED = 6


class CommandFailed(click.ClickException):
    """A known failure: click prints ``error: <message>`` on stderr and exits with ``code``."""

    def __init__(self, message: str, code: ExitCode):
        super().__init__(message)
        self.exit_code = int(code)

    def show(self, file=None) -> None:
        click.echo(f"error: {self.format_message()}", err=True, file=file)


JSON_OPTION = click.option(
    "--json", "as_json", is_flag=True,
    help="Print one JSON document on stdout and nothing else there (messages go to stderr).")
PROGRESS_OPTION = click.option(
    "--progress/--no-progress", "show_progress", default=None, envvar="CATALOG_PROGRESS",
    help="Show progress on stderr (env CATALOG_PROGRESS; default: only when stderr is a "
    "terminal).")


def echo_json(document: Any) -> None:
    """Write ``document`` to stdout as the command's one JSON document (one line)."""
    click.echo(json.dumps(document))


class Progress:
    """How far a long command got, shown on stderr; every method is safe from any thread."""

    def __init__(self, label: str, total: int | None, unit: str):
        self.label, self.total, self.unit = label, total, unit
        self.completed = 0
        self.note = ""
        self._lock = threading.Lock()

    def update(self, completed: int, total: int | None = None, *, note: str | None = None
               ) -> None:
        """Set how much is done (and the total, or a short note, when they change)."""
        with self._lock:
            self.completed = completed
            if total is not None:
                self.total = total
            if note is not None:
                self.note = note
            self._show()

    def advance(self, n: int = 1, *, note: str | None = None) -> None:
        """Count ``n`` more done."""
        with self._lock:
            self.completed += n
            if note is not None:
                self.note = note
            self._show()

    def _show(self) -> None:  # quiet: nothing to show
        pass

    def _close(self) -> None:
        pass


class _Lines(Progress):
    """Plain lines for logs: the first update, then at most one a second, and the last."""

    INTERVAL_S = 1.0

    def __init__(self, label, total, unit):
        super().__init__(label, total, unit)
        self._last_at: float | None = None
        self._pending = False

    def _line(self) -> str:
        count = f"{self.completed}/{self.total}" if self.total is not None else str(self.completed)
        return " ".join(x for x in (f"{self.label}: {count}", self.unit, self.note) if x)

    def _show(self) -> None:
        now = time.monotonic()
        done = self.total is not None and self.completed >= self.total
        if self._last_at is None or done or now - self._last_at >= self.INTERVAL_S:
            click.echo(self._line(), err=True)
            self._last_at, self._pending = now, False
        else:
            self._pending = True

    def _close(self) -> None:
        with self._lock:
            if self._pending:
                click.echo(self._line(), err=True)


class _Bar(Progress):
    """A rich progress bar on the terminal, gone once the command ends."""

    def __init__(self, label, total, unit):
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            TextColumn,
            TimeElapsedColumn,
        )
        from rich.progress import Progress as RichProgress

        super().__init__(label, total, unit)
        self._bar = RichProgress(TextColumn("{task.description}"), BarColumn(),
                                 MofNCompleteColumn(), TextColumn(unit), TimeElapsedColumn(),
                                 TextColumn("{task.fields[note]}"),
                                 console=Console(stderr=True), transient=True)
        self._bar.start()
        self._task = self._bar.add_task(label, total=total, note="")

    def _show(self) -> None:
        self._bar.update(self._task, completed=self.completed, total=self.total,
                         note=self.note)

    def _close(self) -> None:
        self._bar.stop()


@contextmanager
def progress(label: str, total: int | None = None, *, unit: str = "",
             show: bool | None = None) -> Iterator[Progress]:
    """A :class:`Progress` for the block; ``show`` None: only when stderr is a terminal."""
    if show is None:
        show = sys.stderr.isatty()
    kind = (_Bar if sys.stderr.isatty() else _Lines) if show else Progress
    shown = kind(label, total, unit)
    try:
        yield shown
    finally:
        shown._close()
