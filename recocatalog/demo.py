"""``catalog demo``: serve the catalog and run the whole loop into it on seeded synthetic data.

synthetic events -> feature pipeline -> train -> register -> promote -> score -> serve online,
where simulated shoppers fetch lists and click, cart and buy over HTTP -> their feedback landed
as raw events -> feature pipeline again. It drives the pipelines and the ranker the way a user
would, over the catalog's HTTP API and the serving process's; only the demo's login and token
are made in the database directly. The serving process is started again at the end, so that
both stay up until Ctrl-C.
"""

from __future__ import annotations

import contextlib
import os
import sys

import click

from catalog.cli_options import DB_URL_OPTION
from catalog.cli_options import database_url as _url


@click.command()
@click.option("--host", default="127.0.0.1", envvar="CATALOG_HOST", help="Interface to bind.")
@click.option("--port", default=5000, type=int, envvar="CATALOG_PORT", help="Port to listen on.")
@click.option("--events", default=100_000, type=int, show_default=True,
              help="Synthetic events to generate.")
@click.option("--workdir", type=click.Path(), default="var/demo", show_default=True,
              help="Folder for the demo's data files.")
@click.option("--serve-port", default=None, type=int,
              help="Port of the ranker's serving process [default: --port + 1].")
@click.option("--shoppers", default=2000, type=click.IntRange(min=1), show_default=True,
              help="Simulated shoppers who browse the serving process.")
@DB_URL_OPTION
def demo(host: str, port: int, events: int, workdir: str, serve_port: int | None, shoppers: int,
         database_url: str | None) -> None:
    """Serve the catalog and run the whole demo loop on seeded synthetic data into it."""
    import subprocess
    import time
    from pathlib import Path

    from catalog.client import CatalogClient

    url = f"http://{host}:{port}"
    probe = CatalogClient(url, retries=0, timeout=1)
    if probe.health():
        raise click.ClickException(f"something already answers on {url}; pick another --port")
    serving = None
    server = subprocess.Popen([sys.executable, "-m", "catalog.cli", "serve", "--host", host,
                               "--port", str(port), "--database-url", _url(database_url)])
    try:
        deadline = time.monotonic() + 30
        while not probe.health():
            if server.poll() is not None or time.monotonic() > deadline:
                raise click.ClickException("the catalog server did not start")
            time.sleep(0.1)
        login, token = _demo_credentials(_url(database_url))
        click.echo(f"demo login: {login}; demo API token (admin): {token}", err=True)
        serving = _Serving(url, token, Path(workdir), host, serve_port or port + 1)
        _demo_loop(CatalogClient(url, timeout=60, token=token), Path(workdir), events, serving,
                   shoppers)
        serving.start()  # again, for the user to try: a new serving run in the catalog
        click.echo(f"catalog ready at {url}/api/v1/namespaces (Ctrl-C to stop)", err=True)
        click.echo(f"log in at {url}/login as {login}; API token (admin): {token}", err=True)
        click.echo(f"recommendations at {serving.url}/recommendations?user=1&k=10", err=True)
        server.wait()
    except KeyboardInterrupt:
        pass
    finally:
        if serving is not None:
            serving.stop()
        server.terminate()
        server.wait(timeout=10)


def _demo_credentials(url: str) -> tuple[str, str]:
    """An admin login and an admin token for the demo: ("admin / <password>", token)."""
    import secrets

    from catalog import db as catalog_db
    from catalog.services import auth

    engine = catalog_db.make_engine(url)
    try:
        with catalog_db.session_scope(catalog_db.make_sessionmaker(engine)) as s:
            if any(u.name == "admin" for u in auth.list_users(s)):
                login = "admin (password as set before)"
            else:
                password = secrets.token_urlsafe(12)
                auth.create_user(s, "admin", password, "admin", actor="system:demo")
                login = f"admin / {password}"
            token, _ = auth.create_token(s, f"demo-{secrets.token_hex(3)}", "admin",
                                         actor="system:demo")
    finally:
        engine.dispose()
    return login, token


class _Serving:
    """``catalog ranker serve --model ranker@production`` as a child process of the demo."""

    def __init__(self, catalog_url: str, token: str, workdir, host: str, port: int):
        self.catalog_url, self.token, self.workdir = catalog_url, token, workdir
        self.data_dir = workdir / "serving"
        self.url = f"http://{host}:{port}"
        self.host, self.port = host, port
        self.proc = None

    def start(self) -> None:
        import subprocess
        import time

        import requests

        with contextlib.suppress(requests.RequestException):
            requests.get(f"{self.url}/healthz", timeout=1)
            raise click.ClickException(f"something already answers on {self.url}; "
                                       "pick another --serve-port")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "recocatalog.cli", "ranker", "serve",
             "--model", "ranker@production", "--workdir", str(self.workdir),
             "--data-dir", str(self.data_dir), "--host", self.host, "--port", str(self.port),
             "--catalog-url", self.catalog_url, "--flush-seconds", "2",
             "--heartbeat-seconds", "10", "--poll-seconds", "5"],
            env={**os.environ, "CATALOG_TOKEN": self.token})
        deadline = time.monotonic() + 120
        while True:
            with contextlib.suppress(requests.RequestException):
                if requests.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise click.ClickException("the ranker's serving process did not start")
            time.sleep(0.2)

    def stop(self) -> None:
        """SIGTERM: the serving process flushes what it acknowledged and reports COMPLETE."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=60)
        self.proc = None


def _demo_loop(client, workdir, events: int, serving: _Serving, shoppers: int) -> None:
    """generate -> pipeline -> train -> register -> promote -> score -> serve, with shoppers
    answering the lists they are shown -> their events landed -> pipeline."""
    import duckdb

    from pipelines.report import Reporter, register
    from pipelines.service import land_and_run
    from ranker.registry import score_and_report, train_and_register
    from ranker.serve.landing import land_and_report
    from ranker.serve.shoppers import browse
    from ranker.train import TrainConfig

    say = lambda text: click.echo(text, err=True)  # noqa: E731
    say(f"1/6 feature pipeline on {events:,} synthetic events...")
    register(Reporter(client))  # the catalog lists it, and can start runs of it, from here on
    result = land_and_run(workdir, "synthetic", reporter=Reporter(client), events=events)
    say(f"    {len(result.steps)} steps in {result.seconds:.1f}s -> {result.database}")
    say("2/6 training a small ranker (demo configuration)...")
    cfg = TrainConfig(max_epochs=8, patience=3, batch_size=128,
                      model={"d_model": 32, "n_layers": 1, "max_len": 30})
    trained, version = train_and_register(workdir, cfg, client, dataset="synthetic-demo")
    say(f"    version {version['version']}: test ndcg@10 {trained.test_metrics['ndcg@10']:.4f} "
        f"(popularity {trained.popularity_test['ndcg@10']:.4f})")
    say("3/6 promoting it to production (gated on its data's quality checks)...")
    client.put("api/v1/models/ranker/aliases/production", {"version": version["version"]})
    say("4/6 scoring every user with ranker@production...")
    scored, _ = score_and_report(workdir, "ranker@production", client, k=10)
    say(f"    {scored.rows} recommendations at {scored.users_per_second:.0f} users/s")
    say(f"5/6 serving ranker@production at {serving.url}; {shoppers:,} simulated shoppers "
        "browse it over HTTP...")
    con = duckdb.connect(str(workdir / "features.duckdb"), read_only=True)
    try:  # known users, and a few the model has never seen (they get the popularity list)
        known = [u for (u,) in con.execute(
            "select distinct user_id from interactions_split order by user_id limit ?",
            [shoppers]).fetchall()]
        (top,) = con.execute("select max(user_id) from interactions_split").fetchone()
    finally:
        con.close()
    users = known + [top + 1 + i for i in range(max(1, shoppers // 50))]
    serving.start()
    try:
        fb = browse(serving.url, workdir, users, k=10)
    finally:
        serving.stop()  # flushes every acknowledged list and event to the catalog
    landed = land_and_report(workdir, serving.data_dir, client)
    say(f"    {fb['lists']:,} lists ({fb['popularity']} popularity lists for new users); "
        f"{fb['click']} clicks, {fb['cart']} carts, {fb['buy']} purchases -> "
        f"{landed['rows']} served events appended to the raw events")
    say("6/6 feature pipeline again on the new raw events...")
    again = land_and_run(workdir, "synthetic", reporter=Reporter(client), land=False)
    say(f"    {len(again.steps)} steps in {again.seconds:.1f}s")
