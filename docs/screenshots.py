"""The README's screenshots, taken from ``make run``'s demo (not from test fixtures).

Runs ``catalog demo`` on a fresh SQLite file in a temporary folder (``--events`` synthetic
events, 60,000 by default), waits for its last line, logs in with the admin password it
printed, and photographs the main pages at 1280 px and at phone width into ``docs/screenshots/``
(or ``--out``). ``make screenshots`` runs it; Debian's Chromium through Playwright.

    python docs/screenshots.py [--events N] [--out DIR]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
WIDTHS = {"desktop": (1280, 900), "phone": (390, 844)}
# name -> path on the demo's catalog; "wait" pages draw with a script first.
PAGES = {
    "home": "/",
    "search": "/search?q=features",
    "dataset": "/datasets/recsys/interactions_split",
    "lineage": "/lineage?node=dataset:recsys:interactions_split&depth=2",
    "model": "/models/ranker",
    "health": "/health",
    "trace": "/trace/models/ranker/2",
}


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--events", type=int, default=60_000)
    p.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    args = p.parse_args()
    chromium = shutil.which("chromium")
    if chromium is None:
        sys.exit("chromium is missing: apt-get install -y chromium (make browsers)")
    from playwright.sync_api import sync_playwright

    tmp = Path(tempfile.mkdtemp(prefix="screenshots_"))
    url = f"sqlite:///{tmp / 'demo.db'}"
    env = {k: v for k, v in os.environ.items() if k != "CATALOG_TOKEN"}
    subprocess.run([sys.executable, "-m", "catalog.cli", "db", "upgrade", "--database-url", url],
                   check=True, cwd=ROOT, env=env)
    port = _port()
    log = tmp / "demo.log"
    with open(log, "wb") as out:
        demo = subprocess.Popen(
            [sys.executable, "-m", "recocatalog.cli", "demo", "--port", str(port),
             "--serve-port", str(_port()), "--events", str(args.events),
             "--workdir", str(tmp / "demo"), "--database-url", url],
            stdout=out, stderr=subprocess.STDOUT, cwd=ROOT, env=env, start_new_session=True)
    try:
        while "recommendations at http" not in log.read_text():
            if demo.poll() is not None:
                sys.exit(f"the demo stopped:\n{log.read_text()[-3000:]}")
            time.sleep(0.5)
        login = re.search(r"demo login: (\S+) / (\S+);", log.read_text())
        user, password = login.group(1), login.group(2).rstrip(";")
        base = f"http://127.0.0.1:{port}"
        args.out.mkdir(parents=True, exist_ok=True)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium, args=ARGS)
            for width, (w, h) in WIDTHS.items():
                page = browser.new_page(viewport={"width": w, "height": h})
                page.goto(base + "/login")
                page.get_by_label("User name").fill(user)
                page.get_by_label("Password").fill(password)
                page.get_by_role("button", name="Log in").click()
                page.wait_for_url(base + "/")
                for name, path in PAGES.items():
                    page.goto(base + path)
                    if page.locator("#graph").count():
                        page.wait_for_selector("#graph[data-ready='1']")
                    target = args.out / f"{name}-{width}.png"
                    page.screenshot(path=str(target), full_page=False)
                    print(f"{target.relative_to(ROOT) if target.is_relative_to(ROOT) else target}")
                page.close()
            browser.close()
    finally:
        if demo.poll() is None:
            os.killpg(demo.pid, signal.SIGINT)
            demo.wait(timeout=120)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
