"""``catalog demo``: serve the catalog and run the whole loop into it on seeded synthetic data.

synthetic events -> feature pipeline -> train -> a steward's owners, descriptions and PII tags
-> promotion refused for PII, an exemption approved, promoted -> score -> serve online, where
simulated shoppers fetch lists and click, cart and buy over HTTP -> their feedback landed as raw
events -> feature pipeline again -> a second version promoted -> an empty export the checks
stop. It drives the pipelines and the ranker the way a user would, over the catalog's HTTP API
and the serving process's; only the demo's login and token are made in the database directly.
The serving process is started again at the end, so that both stay up until Ctrl-C.
"""

from __future__ import annotations

import contextlib
import os
import sys

import click

from catalog.cli_options import DB_URL_OPTION
from catalog.cli_options import database_url as _url
from catalog.client import CatalogRequestError


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
    """pipeline -> train -> stewardship -> promotion (refused, then exempted) -> score -> serve,
    with shoppers answering their lists -> their events landed -> pipeline -> a second version
    -> an incident the checks stop. What a steward then finds in the catalog is believable:
    owners, descriptions, sensitivity tags, several versions, a refused promotion in the audit
    trail, a scoring run, a serving job, and a failing check on the health page."""
    import duckdb

    from pipelines.report import Reporter, register
    from pipelines.runner import ChecksFailed
    from pipelines.service import land_and_run
    from ranker.registry import score_and_report, train_and_register
    from ranker.serve.landing import land_and_report
    from ranker.serve.shoppers import browse
    from ranker.train import TrainConfig

    say = lambda text: click.echo(text, err=True)  # noqa: E731
    say(f"1/8 feature pipeline on {events:,} synthetic events...")
    register(Reporter(client))  # the catalog lists it, and can start runs of it, from here on
    result = land_and_run(workdir, "synthetic", reporter=Reporter(client), events=events)
    say(f"    {len(result.steps)} steps in {result.seconds:.1f}s -> {result.database}")
    say("2/8 training a small ranker (demo configuration)...")
    cfg = TrainConfig(max_epochs=8, patience=3, batch_size=128,
                      model={"d_model": 32, "n_layers": 1, "max_len": 30})
    trained, version = train_and_register(workdir, cfg, client, dataset="synthetic-demo")
    say(f"    version {version['version']}: test ndcg@10 {trained.test_metrics['ndcg@10']:.4f} "
        f"(popularity {trained.popularity_test['ndcg@10']:.4f})")
    say("3/8 a steward documents the data and accepts the PII detector's suggestions...")
    tagged = _stewardship(client)
    say(f"    owners on {len(STEWARDSHIP)} datasets; {', '.join(tagged)} tagged pii.user_id")
    say("4/8 promoting it to production (gated on its data's checks and sensitivity)...")
    try:
        client.put("api/v1/models/ranker/aliases/production", {"version": version["version"]})
        say("    promoted")
    except CatalogRequestError as exc:  # the PII gate: user ids are in the training data
        say(f"    refused: {_reason(exc)}")
        client.post("api/v1/models/ranker/exemptions", {
            "tag": "pii.user_id", "reason": "pseudonymous shopper ids, needed to personalise; "
            "approved by the privacy office (demo)"})
        client.put("api/v1/models/ranker/aliases/production", {"version": version["version"]})
        say("    an exemption for pii.user_id approved; promoted")
    say("5/8 scoring every user with ranker@production...")
    scored, _ = score_and_report(workdir, "ranker@production", client, k=10)
    say(f"    {scored.rows} recommendations at {scored.users_per_second:.0f} users/s")
    say(f"6/8 serving ranker@production at {serving.url}; {shoppers:,} simulated shoppers "
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
    say("7/8 feature pipeline again on the new raw events, and a second, wider version...")
    again = land_and_run(workdir, "synthetic", reporter=Reporter(client), land=False)
    say(f"    {len(again.steps)} steps in {again.seconds:.1f}s")
    cfg2 = TrainConfig(max_epochs=8, patience=3, batch_size=128, out_dir=str(workdir / "ranker2"),
                       model={"d_model": 48, "n_layers": 2, "max_len": 30})
    trained2, version2 = train_and_register(workdir, cfg2, client, dataset="synthetic-demo")
    client.put("api/v1/models/ranker/aliases/production", {"version": version2["version"]})
    say(f"    version {version2['version']}: test ndcg@10 "
        f"{trained2.test_metrics['ndcg@10']:.4f}; promoted (the exemption covers the model)")
    say("8/8 an incident: the next export of the event log arrives empty...")
    _empty_export(workdir)
    try:
        land_and_run(workdir, "synthetic", reporter=Reporter(client), land=False)
        say("    no check failed (unexpected)")
    except ChecksFailed as exc:
        say(f"    the checks stopped the run at {exc}; the steps after it were not run; "
            f"production stays on version {version2['version']}")


# Who looks after what, as a steward would set it.
STEWARDSHIP = {
    "raw_events": ("Behaviour events as landed from the shop's event log (synthetic in the "
                   "demo), one file version per landing.", [("data-platform", "TEAM")]),
    "interactions_split": (None, [("recsys", "TEAM")]),
    "user_features": (None, [("recsys", "TEAM")]),
    "item_features": (None, [("recsys", "TEAM"), ("merchandising", "TEAM")]),
}


def _stewardship(client) -> list[str]:
    """Owners and descriptions; the PII detector run and its suggestions accepted."""
    tagged = []
    for name, (description, owners) in STEWARDSHIP.items():
        body: dict = {"owners": [{"name": n, "type": t} for n, t in owners]}
        if description:
            body["description"] = description
        client.put(f"api/v1/namespaces/recsys/datasets/{name}", body)
    reason = {"reason": "a shopper's id: personal data under the shop's policy"}
    for name in ("raw_events", "user_features"):
        found = client.post(f"api/v1/namespaces/recsys/datasets/{name}/classifications/detect",
                            {})
        for s in found["suggested"]:
            if s["tag"] == "pii.user_id":
                client.put(f"api/v1/namespaces/recsys/datasets/{name}/fields/{s['field']}/"
                           "classifications/pii.user_id", reason)
                tagged.append(f"{name}.{s['field']}")
    # The detector leaves a column with few distinct values alone (one user, many events);
    # the steward tags the training table's user id all the same.
    client.put("api/v1/namespaces/recsys/datasets/interactions_split/fields/user_id/"
               "classifications/pii.user_id", reason)
    return [*tagged, "interactions_split.user_id"]


def _reason(exc) -> str:
    body = exc.body if isinstance(exc.body, dict) else {}
    reasons = body.get("reasons") or [body.get("message") or str(exc)]
    return "; ".join(str(r) for r in reasons)[:300]


def _empty_export(workdir) -> None:
    """Replace the landed events with an empty file of the same schema (an export that failed
    upstream): the next run's row-count check on events_clean fails."""
    import duckdb

    raw = workdir / "raw" / "events.parquet"
    tmp = raw.with_suffix(".empty.parquet")
    con = duckdb.connect()
    try:
        con.execute(f"copy (select * from read_parquet('{raw.as_posix()}') limit 0) "
                    f"to '{tmp.as_posix()}' (format parquet)")
    finally:
        con.close()
    tmp.replace(raw)
