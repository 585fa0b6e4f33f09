"""The Dockerfile's service runs: non-root, migrate-then-gunicorn, and its healthcheck works.

No container runtime is needed: the test reads the Dockerfile's USER, CMD and HEALTHCHECK and runs
that CMD and that healthcheck command here. (The image's user switch itself is only read: this
machine's Python lives under /root, which an unprivileged user cannot reach.)
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from tests.live_server import free_port

ROOT = Path(__file__).resolve().parents[2]


def _dockerfile() -> dict[str, str]:
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    out: dict[str, str] = {}
    for line in text.splitlines():
        m = re.match(r"^(USER|CMD|HEALTHCHECK|EXPOSE|VOLUME)\s+(.*)$", line.strip())
        if m:
            out[m.group(1)] = m.group(2).strip()
    return out


def test_dockerfile_declares_non_root_gunicorn_and_healthz():
    d = _dockerfile()
    assert d["USER"] not in ("root", "0") and d["EXPOSE"] == "8000"
    assert "/healthz" in d["HEALTHCHECK"]
    cmd = json.loads(d["CMD"])
    assert cmd[:2] == ["sh", "-c"]
    assert "catalog db upgrade" in cmd[2] and "gunicorn -c python:catalog.gunicorn_conf" in cmd[2]


def test_api_started_runs_work_in_the_service_users_volume():
    """The default work folder (var/work under /app, root's) is not the service user's: the
    image points CATALOG_WORK_DIR into its /data volume, which it creates for that user."""
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    code = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    env = dict(re.findall(r"(CATALOG_[A-Z_]+)=(\S+)", code))
    assert env["CATALOG_WORK_DIR"] == "/data/work"
    assert "CATALOG_DATA_DIR" not in env  # only the synthetic source until a data set is mounted
    d = _dockerfile()
    assert json.loads(d["VOLUME"]) == ["/data"]
    assert "mkdir -p /data/work && chown -R catalog /data" in text
    assert "--home /data catalog" in text and d["USER"] == "catalog"


def _healthcheck(port: int, env: dict) -> int:
    probe = _dockerfile()["HEALTHCHECK"].split(" CMD ", 1)[1].replace("8000", str(port))
    return subprocess.run(["sh", "-c", probe], env=env, capture_output=True,
                          timeout=30).returncode


def test_the_image_command_serves_and_passes_its_healthcheck(tmp_path):
    port = free_port()
    data = tmp_path / "data"
    data.mkdir()
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
           "CATALOG_DATABASE_URL": f"sqlite:///{data / 'catalog.db'}",
           "CATALOG_BIND": f"127.0.0.1:{port}", "WEB_CONCURRENCY": "2", "HOME": str(data)}
    cmd = json.loads(_dockerfile()["CMD"])
    log = tmp_path / "serve.log"
    with open(log, "wb") as fh:
        proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=fh, stderr=subprocess.STDOUT,
                                start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while _healthcheck(port, env) != 0:
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.3)
        workers = subprocess.run(["ps", "-o", "pid=", "--ppid", str(proc.pid)],
                                 capture_output=True, text=True).stdout.split()
        assert len(workers) == 2  # WEB_CONCURRENCY workers under the gunicorn master
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(timeout=30)
    assert proc.returncode == 0  # SIGTERM is a clean, graceful stop
    assert "database at 00" in log.read_text()  # migrated before serving
    assert _healthcheck(port, env) != 0  # and the healthcheck notices it is gone


def test_the_command_starts_without_torch():
    """The image installs no torch extra: the composed `catalog` command must still load (the
    ranker's commands import torch only when they run)."""
    code = ("import sys; sys.modules['torch'] = None\n"
            "from click.testing import CliRunner\n"
            "from recocatalog.cli import main\n"
            "r = CliRunner().invoke(main, ['db', 'current', '--help'])\n"
            "sys.exit(r.exit_code)\n")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
