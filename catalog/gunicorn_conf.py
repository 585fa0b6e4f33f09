"""gunicorn settings for the catalog: ``gunicorn -c python:catalog.gunicorn_conf``.

Checks the configuration and the database once in the master before any worker starts, so a bad
setting is one line on stderr and exit status 1 instead of every worker failing to boot with a
traceback. Workers mark themselves as stopping on SIGTERM, so ``/readyz`` turns 503 while they
finish their last requests. Request lines come from the app (JSON); gunicorn's own access log is
off because it would repeat them with query strings, which may hold tokens. Workers share one
cookie-signing key (see below).
"""

from __future__ import annotations

import os
import secrets
import signal
import sys
import time


def _positive(name: str, default: str) -> int:
    raw = os.environ.get(name) or default
    if not raw.isdigit() or int(raw) == 0:
        print(f"error: {name} must be a positive integer, got {raw!r}", file=sys.stderr,
              flush=True)
        sys.exit(1)
    return int(raw)


# Every worker must sign session cookies (logins, CSRF tokens) with the same key, or a form served
# by one worker fails when posted to another. Without CATALOG_SECRET_KEY, the master draws one
# before forking: shared by this server's workers, new at each restart (logins then end).
os.environ.setdefault("CATALOG_SECRET_KEY", secrets.token_hex(32))

wsgi_app = "catalog.app:create_app()"
bind = os.environ.get("CATALOG_BIND", "0.0.0.0:8000")
workers = _positive("WEB_CONCURRENCY", "4")
# gthread with one thread: each worker still serves one request at a time (no request threads
# contending for the GIL), but keeps connections alive between requests. A sync worker closes
# every connection and then waits for the client to close its side; on a busy host that wait
# held workers idle (mixed load at 200 req/s on 2 cores, same quiet window: p95 112 ms against
# 211 ms for sync workers; bench/RESULTS.md).
worker_class = "gthread"
threads = 1
keepalive = 10
# A lineage query is cut off by statement_timeout first; this only catches a wedged worker.
timeout = _positive("GUNICORN_TIMEOUT", "120")
graceful_timeout = 30
# The heartbeat touches a file per worker loop; on a RAM-backed directory that is never a disk write
# (gunicorn's advice for containers). Elsewhere gunicorn's default temporary directory is used.
if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK):
    worker_tmp_dir = "/dev/shm"
accesslog = None
errorlog = "-"


def on_starting(server) -> None:
    """Validate settings and the database schema; exit 1 with one line if either is wrong.

    Also, before any worker forks: files the server and its workers create (the SQLite database,
    run folders, logs) become their owner's only, and the workers learn the server's own address,
    for pipeline workers to report to when CATALOG_PUBLIC_URL is unset (never a Host header).
    """
    from sqlalchemy.exc import DBAPIError

    from catalog.config import Settings, own_url

    os.umask(0o077)
    if ":" in bind and not bind.startswith("unix:"):
        host, _, port = bind.rpartition(":")
        os.environ.setdefault("CATALOG_SELF_URL", own_url(host, port))
    from catalog.db import check_at_head, make_engine
    from catalog.errors import CatalogError

    try:
        settings = Settings.from_env()
        engine = make_engine(settings.database_url)
        try:
            check_at_head(engine)
        finally:
            engine.dispose()
    except CatalogError as exc:
        print(f"error: {exc.message}", file=sys.stderr, flush=True)
        sys.exit(1)
    except DBAPIError as exc:
        first = str(exc.orig).strip().splitlines()[0] if str(exc.orig).strip() else exc
        print(f"error: cannot reach the catalog database: {first}", file=sys.stderr, flush=True)
        sys.exit(1)


# Each worker warms itself up (one GET of each read, in-process) and freezes what it has allocated
# before it accepts connections (catalog/warmup.py). CATALOG_WARMUP=0 turns it off.
_warmup = os.environ.get("CATALOG_WARMUP", "1")
if _warmup not in ("0", "1"):
    print(f"error: CATALOG_WARMUP must be 0 or 1, got {_warmup!r}", file=sys.stderr, flush=True)
    sys.exit(1)
WARMUP = _warmup == "1"


def post_worker_init(worker) -> None:
    """Chain SIGTERM so the app knows it is stopping before gunicorn's own handler runs; warm up."""
    if WARMUP:
        from catalog.warmup import freeze, warm_up

        started = time.perf_counter()
        statuses = warm_up(worker.wsgi, tick=worker.notify)
        freeze()
        worker.log.info("warm-up: %d reads in %.0f ms", len(statuses),
                        (time.perf_counter() - started) * 1000)
    previous = signal.getsignal(signal.SIGTERM)
    state = getattr(worker.wsgi, "extensions", {}).get("catalog")

    def on_term(signum, frame):
        # Only a plain assignment here: Event.set() takes a lock, and a second SIGTERM (a
        # process group signalled twice) arriving while the first handler held it deadlocked
        # the worker until gunicorn's graceful timeout.
        if state is not None:
            state.stop_requested = True
        if callable(previous):
            previous(signum, frame)

    signal.signal(signal.SIGTERM, on_term)
