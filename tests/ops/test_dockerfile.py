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

import pytest

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


def _image_env(data: Path) -> dict[str, str]:
    """The Dockerfile's ENV, with its /data volume at ``data``."""
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    code = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    env_line = next(line for line in code.splitlines() if line.strip().startswith("ENV "))
    pairs = dict(re.findall(r"([A-Z_]+)=(\S+)", env_line))
    return {k: v.replace("/data", str(data)) for k, v in pairs.items()}


@pytest.mark.slow  # ~15 s: gunicorn, then a real pipeline run through the API
def test_a_pipeline_started_through_the_api_runs_in_the_image_layout(tmp_path):
    """As the image runs: its ENV (work area in the /data volume), its CMD (migrate, then
    gunicorn with the project's settings), a pipeline registered by its own command, a run
    started through the API; the worker reports back and works in the volume's work area."""
    from tests.authutil import bearer, mint_token

    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    port = free_port()
    image = _image_env(data)
    assert image["CATALOG_WORK_DIR"] == f"{data}/work"
    env = {**os.environ, **image, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
           "CATALOG_BIND": f"127.0.0.1:{port}", "WEB_CONCURRENCY": "2", "HOME": str(data)}
    env.pop("CATALOG_DATA_DIR", None)
    log = tmp_path / "serve.log"
    with open(log, "wb") as fh:
        proc = subprocess.Popen(json.loads(_dockerfile()["CMD"]), env=env, cwd=ROOT, stdout=fh,
                                stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while _healthcheck(port, env) != 0:
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.3)
        token = mint_token(image["CATALOG_DATABASE_URL"], "admin")
        cli_env = {**env, "CATALOG_TOKEN": token}
        reg = subprocess.run(["catalog", "pipeline", "register", "--catalog-url", url], env=cli_env,
                             capture_output=True, text=True, timeout=120)
        assert reg.returncode == 0, reg.stderr
        import requests

        r = requests.post(f"{url}/api/v1/pipelines/feature_pipeline/runs", json={"events": 500},
                          headers=bearer(token), timeout=10)
        assert r.status_code == 202, r.text
        run_id = r.json()["runId"]
        deadline = time.monotonic() + 180
        while True:
            run = requests.get(f"{url}/api/v1/jobs/runs/{run_id}", headers=bearer(token),
                               timeout=5).json()
            if run["state"] in ("COMPLETED", "FAILED", "ABORTED"):
                break
            assert time.monotonic() < deadline, run
            time.sleep(0.3)
        run_dir = data / "work" / "feature_pipeline" / run_id
        assert run["state"] == "COMPLETED", (run.get("errorMessage"),
                                             (run_dir / f"worker-{run_id}.log").read_text())
        assert (run_dir / "features.duckdb").is_file()
        assert run_dir.stat().st_mode & 0o777 == 0o700
        assert run_dir.stat().st_uid == os.getuid()  # the service's own user owns its runs
        ds = requests.get(f"{url}/api/v1/namespaces/recsys/datasets/user_features",
                          headers=bearer(token), timeout=5).json()
        assert ds["currentVersionNumber"] == 1
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(timeout=30)


def test_the_image_installs_swagger_ui_from_the_lock_file():
    """/api/docs works in the image: npm ci from package-lock.json in a build stage, copied in,
    and pointed at (the installed package does not find node_modules beside itself)."""
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    code = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    env = dict(re.findall(r"(CATALOG_[A-Z_]+)=(\S+)", code))
    assert "COPY package.json package-lock.json ./" in code and "npm ci --omit=dev" in code
    assert "COPY --from=api-docs /build/node_modules/swagger-ui-dist ./api-docs" in code
    assert env["CATALOG_API_DOCS_DIR"] == "/app/api-docs"
