"""``catalog ranker serve``: the ranker behind gunicorn, a process apart from the catalog.

One gunicorn master and one gthread worker: the worker holds the model, the users' histories
and the journal, so every request sees the same histories and the version changes at one point
in time; its threads serve requests concurrently (a forward pass releases the GIL). Scale out by
running more serving processes, each its own run in the catalog, on its own data folder.

The worker builds its :class:`~ranker.serve.runtime.Runtime` when it boots (model, histories,
START) and tears it down in gunicorn's ``worker_exit`` hook, after the last in-flight request:
the journal is flushed to Parquet and the run reported COMPLETE. SIGTERM to the master (or the
worker) is therefore a clean stop; SIGINT and SIGQUIT stop at once but still flush.
"""

from __future__ import annotations

import faulthandler
import logging
import os
import signal

from gunicorn.app.base import BaseApplication

from ranker.serve.runtime import Runtime, ServeSettings

_runtime: Runtime | None = None  # the worker's, once it booted; None in the master


class ServeApplication(BaseApplication):
    """gunicorn, configured in code: no config file, no command line of its own."""

    def __init__(self, settings: ServeSettings, *, bind: str, threads: int = 4,
                 timeout: int = 120, graceful_timeout: int = 30):
        self.settings = settings
        self.options = {
            "bind": bind, "workers": 1, "worker_class": "gthread", "threads": threads,
            "timeout": timeout, "graceful_timeout": graceful_timeout, "keepalive": 10,
            # One worker, always: a control socket could add workers (and it would share one
            # path with every other gunicorn of the user).
            "control_socket_disable": True, "accesslog": None, "errorlog": "-", "loglevel": "info",
            "proc_name": f"ranker-serve {settings.model_ref}",
            "post_worker_init": _post_worker_init, "worker_exit": _worker_exit,
        }
        if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK):
            self.options["worker_tmp_dir"] = "/dev/shm"
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self):
        """In the worker: load the model and histories, report START, return the app."""
        global _runtime
        from ranker.serve.app import create_app

        logging.basicConfig(level=logging.INFO,
                            format="%(asctime)s [%(process)d] [%(levelname)s] %(name)s: "
                                   "%(message)s")
        runtime = Runtime(self.settings)
        runtime.start()
        _runtime = runtime
        return create_app(runtime)


def _post_worker_init(worker) -> None:
    """On SIGTERM, turn /readyz to 503 at once, then let gunicorn stop gracefully.

    The handler only assigns a flag: a handler that takes a lock (``Event.set`` does) deadlocks
    when a second SIGTERM (the group's, then the master's) interrupts it while it holds it.
    ``kill -USR2 <worker>`` writes every thread's stack to the log.
    """
    faulthandler.register(signal.SIGUSR2, all_threads=True)
    previous = signal.getsignal(signal.SIGTERM)

    def on_term(signum, frame):
        if _runtime is not None:
            _runtime.draining = True
        if callable(previous):
            previous(signum, frame)

    signal.signal(signal.SIGTERM, on_term)


def _worker_exit(server, worker) -> None:
    """After the worker's last request: flush the journal and report COMPLETE.

    gunicorn also calls this in the master for a worker it found gone; the master holds no
    runtime, so it does nothing there.
    """
    global _runtime
    if _runtime is not None:
        runtime, _runtime = _runtime, None
        runtime.stop()
