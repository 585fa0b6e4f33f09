"""A Spark standalone cluster on 127.0.0.1 (a master and workers) for tests, from pyspark's bin/.

pyspark's wheel ships ``bin/spark-class`` but not ``sbin/start-master.sh``; the daemons run as
``spark-class org.apache.spark.deploy.master.Master`` and ``...worker.Worker``, each in its own
process group so that a test can kill a worker with the executors it started.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from tests.live_server import free_port


def spark_class() -> Path:
    import pyspark

    return Path(pyspark.__file__).parent / "bin" / "spark-class"


def environment(conf_dir: Path) -> dict[str, str]:
    """What every process of the cluster and its drivers run with, beside the environment:
    loopback only, and the settings of ``conf_dir/spark-defaults.conf``."""
    import pyspark

    return {"SPARK_HOME": str(Path(pyspark.__file__).parent), "SPARK_LOCAL_IP": "127.0.0.1",
            "SPARK_CONF_DIR": str(conf_dir), "SPARK_NO_DAEMONIZE": "1"}


@dataclass
class Cluster:
    """A running master and its workers; ``url`` is what ``--spark-master`` takes."""

    url: str
    ui: str
    env: dict[str, str]  # to add to a driver's environment
    master: subprocess.Popen
    workers: list[subprocess.Popen] = field(default_factory=list)

    def alive_workers(self) -> int:
        with urllib.request.urlopen(f"{self.ui}/json/", timeout=5) as r:
            state = json.load(r)
        return sum(1 for w in state.get("workers", []) if w.get("state") == "ALIVE")

    def kill_worker(self, index: int) -> None:
        """SIGKILL a worker and the executors it launched (its process group)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.workers[index].pid, signal.SIGKILL)
        self.workers[index].wait(timeout=30)


def _start(args: list[str], env: dict, log: Path) -> subprocess.Popen:
    with open(log, "wb") as out:  # a file, not a pipe: a full pipe would stall the JVM
        return subprocess.Popen([str(spark_class()), *args], env={**os.environ, **env}, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)


def _stop(proc: subprocess.Popen) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=20)
            return
        except subprocess.TimeoutExpired:
            continue


@contextlib.contextmanager
def standalone(work: Path, workers: int = 2, cores: int = 1, memory: str = "1g",
               defaults: dict[str, str] | None = None):
    """Start a master and ``workers`` workers; yield a :class:`Cluster` once all are ALIVE."""
    work.mkdir(parents=True, exist_ok=True)
    conf_dir = work / "conf"
    conf_dir.mkdir(exist_ok=True)
    (conf_dir / "spark-defaults.conf").write_text(
        "".join(f"{k} {v}\n" for k, v in (defaults or {}).items()))
    env = environment(conf_dir)
    port, ui_port = free_port(), free_port()
    master = _start(["org.apache.spark.deploy.master.Master", "--host", "127.0.0.1",
                     "--port", str(port), "--webui-port", str(ui_port)], env,
                    work / "master.log")
    cluster = Cluster(f"spark://127.0.0.1:{port}", f"http://127.0.0.1:{ui_port}", env, master)
    try:
        for i in range(workers):
            cluster.workers.append(_start(
                ["org.apache.spark.deploy.worker.Worker", cluster.url, "--host", "127.0.0.1",
                 "--cores", str(cores), "--memory", memory, "--webui-port", str(free_port()),
                 "--work-dir", str(work / f"worker-{i}")], env, work / f"worker-{i}.log"))
        deadline = time.monotonic() + 120
        while True:
            with contextlib.suppress(OSError):
                if cluster.alive_workers() == workers:
                    break
            if time.monotonic() > deadline or master.poll() is not None:
                logs = "\n".join(p.read_text()[-2000:] for p in sorted(work.glob("*.log")))
                raise RuntimeError(f"the Spark cluster did not come up:\n{logs}")
            time.sleep(0.5)
        yield cluster
    finally:
        for proc in [*cluster.workers, master]:
            _stop(proc)
