"""The pages in a real browser: Debian's Chromium driven by Playwright against a live server.

Covers a steward's and an auditor's path (search, open a dataset, expand lineage, follow a node,
edit a description, export a trace) at desktop and phone widths, a 10,000-node lineage
neighbourhood, and the API's Swagger UI at /api/docs. Screenshots of the main pages land in a
temporary folder, or in ``$CATALOG_SCREENSHOTS`` when set; the README's come from ``make run``'s
demo instead (``make screenshots``: docs/screenshots.py), so a test run leaves the checkout as
it was.
Chromium missing is a failure, not a skip: `.ci/run` and `make browsers` install it.
"""

from __future__ import annotations

import json
import os
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests
from sqlalchemy import insert, select

from catalog import db as catalog_db
from catalog.app import create_app
from catalog.db import session_scope
from catalog.models import Dataset, Job, LineageEdge, Namespace
from catalog.services import auth as auth_svc
from tests.authutil import bearer, client_class, mint_token
from tests.live_server import live_server
from tests.web.webdata import populate

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
SHOTS = Path(os.environ["CATALOG_SCREENSHOTS"]) if os.environ.get("CATALOG_SCREENSHOTS") else None
FANOUT = 10_000
WIDTHS = {"desktop": (1280, 900), "phone": (390, 844)}


def _fanout(engine) -> None:
    """shop/hub -> fanout job -> 10,000 datasets, inserted in bulk."""
    now = datetime(2026, 1, 2, tzinfo=UTC)
    with engine.begin() as conn:
        ns = conn.execute(insert(Namespace).values(name="fan").returning(Namespace.id)).scalar()
        hub = conn.execute(select(Dataset.id).where(Dataset.name == "user_features")).scalar()
        job = conn.execute(insert(Job).values(namespace_id=ns, name="fanout", facets={})
                           .returning(Job.id)).scalar()
        conn.execute(insert(Dataset), [
            {"namespace_id": ns, "name": f"out_{i:05d}", "kind": "table", "facets": {}}
            for i in range(FANOUT)])
        ids = conn.execute(select(Dataset.id).where(Dataset.namespace_id == ns)).scalars().all()
        edges = [{"src_kind": "d", "src_id": hub, "dst_kind": "j", "dst_id": job}]
        edges += [{"src_kind": "j", "src_id": job, "dst_kind": "d", "dst_id": i} for i in ids]
        conn.execute(insert(LineageEdge), [dict(e, first_seen_at=now, last_seen_at=now)
                                           for e in edges])


STEWARD, PASSWORD = "sam", "correct horse battery staple"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A live catalog on a SQLite file holding the small loop and a 10,000-node fan-out."""
    tmp = tmp_path_factory.mktemp("browser")
    url = f"sqlite:///{tmp / 'catalog.db'}"
    catalog_db.upgrade(url)
    app = create_app({"database_url": url})
    app.test_client_class = client_class(mint_token(app, "admin"))
    populate(app.test_client())
    _fanout(app.extensions["catalog"].engine)
    with session_scope(app.extensions["catalog"].sessions) as s:
        auth_svc.create_user(s, STEWARD, PASSWORD, "steward", actor="test-setup")
    app.extensions["catalog"].engine.dispose()
    app.extensions["catalog"].read_engine.dispose()
    with live_server(url, tmp, secret_key="browser-test") as base:
        yield base


@pytest.fixture(scope="module")
def browser():
    assert CHROMIUM.exists(), (
        f"{CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium; "
        "`make browsers` or .ci/run do it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield b
        b.close()


def _login(page, server: str, path: str) -> None:
    """Open ``path``: pages send a stranger to the login form, and back after logging in."""
    page.goto(server + path)
    page.wait_for_url("**/login?next=**")
    page.get_by_label("User name").fill(STEWARD)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(server + path)


def _shot(page, name: str, tmp: Path) -> None:
    folder = SHOTS or tmp
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    page.screenshot(path=str(path), full_page=False)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", path


@pytest.mark.parametrize("width", list(WIDTHS))
def test_steward_and_auditor_path(server, browser, width, tmp_path):
    w, h = WIDTHS[width]
    context = browser.new_context(viewport={"width": w, "height": h}, accept_downloads=True)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    # Script errors only: the invalid edit's 422 and the absent favicon log resource errors.
    page.on("console", lambda m: errors.append(m.text) if m.type == "error"
            and not m.text.startswith("Failed to load resource") else None)
    _login(page, server, "/")
    _shot(page, f"home-{width}", tmp_path)

    # Search from the header box, narrow by a facet, open the dataset.
    page.get_by_label("Search names, descriptions, columns, tags and owners").fill("events")
    page.get_by_role("button", name="Search").last.click()
    page.wait_for_url("**/search?q=events")
    assert page.locator("#results-h").inner_text().startswith("3 results")
    page.get_by_role("link", name="table").first.click()
    assert page.locator("#results-h").inner_text().startswith("2 results")
    _shot(page, f"search-{width}", tmp_path)
    page.get_by_role("link", name="events_clean", exact=True).click()
    page.wait_for_url("**/datasets/shop/events_clean")
    assert page.locator("h1").inner_text() == "events_clean"

    # The lineage graph draws; a node is a link to its page.
    page.wait_for_selector("#graph[data-ready='1']")
    assert page.locator("#graph a.node").count() == 5
    page.locator("#graph").scroll_into_view_if_needed()
    _shot(page, f"dataset-{width}", tmp_path)
    page.get_by_role("button", name="Fit").click()  # at phone width it opens on the start node
    page.locator("#graph a.node", has_text="user_features").click()
    page.wait_for_url("**/datasets/shop/user_features")

    # Deeper lineage: the 10,000-wide level is collapsed; "more" expands it in steps.
    page.get_by_label("Depth").select_option("2")
    page.get_by_role("button", name="Show").click()
    page.wait_for_selector("#graph[data-ready='1']")
    shown = page.locator("#graph .node").count()
    assert shown < 60
    more = page.locator("#graph .more")
    assert "+ 9,976 more" in more.text_content()  # 10,000 outputs and the model
    more.focus()
    page.keyboard.press("Enter")
    assert page.locator("#graph .node").count() == shown + 100
    _shot(page, f"lineage-{width}", tmp_path)
    page.goto(server + "/datasets/shop/events_clean")

    # Edit the description (CSRF token in the form), then see it saved.
    page.get_by_text("Edit description, owners, tags").click()
    page.get_by_label("Description", exact=True).fill(f"Edited in the browser at {width}")
    page.get_by_role("button", name="Save", exact=True).click()
    page.wait_for_selector("p.notice")
    assert page.locator("#description").inner_text() == f"Edited in the browser at {width}"

    # An invalid edit shows its error next to the field.
    page.get_by_text("Edit description, owners, tags").click()
    page.get_by_label("Tags").fill("fine, not fine!")
    page.get_by_role("button", name="Save", exact=True).click()
    assert "is not valid" in page.locator("#tags-error").inner_text()

    # Trace to raw sources and export it.
    page.goto(server + "/datasets/shop/user_features")
    page.get_by_role("link", name="Trace to raw sources").click()
    page.wait_for_url("**/trace/datasets/shop/user_features")
    _shot(page, f"trace-{width}", tmp_path)
    with page.expect_download() as dl:
        page.locator("#export-json").click()
    doc = json.loads(Path(dl.value.path()).read_text())
    assert [v["dataset"] for v in doc["versions"]] == [
        "user_features", "events_clean", "raw/events.parquet"]
    with page.expect_download() as dl:
        page.locator("#export-csv").click()
    lines = Path(dl.value.path()).read_text().splitlines()
    assert lines[0].startswith("distance,namespace,dataset") and len(lines) == 4

    page.goto(server + "/health")
    _shot(page, f"health-{width}", tmp_path)
    page.goto(server + "/models/ranker")
    assert "valid.ndcg@10" in page.locator("table.metrics").last.text_content()
    _shot(page, f"model-{width}", tmp_path)
    assert errors == []
    context.close()


def test_ten_thousand_node_neighbourhood_stays_usable(server, browser):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    _login(page, server, "/")
    started = time.monotonic()
    page.goto(server + "/lineage?node=job:fan:fanout&depth=1")
    page.wait_for_selector("#graph[data-ready='1']", timeout=30_000)
    elapsed = time.monotonic() - started
    assert "10,002 nodes" in page.locator(".graph-status").inner_text()
    # Bounded drawing: 25 shown of the wide level, "more", the hub and the job.
    assert page.locator("#graph .node").count() == 28
    assert elapsed < 15, f"graph took {elapsed:.1f}s"
    # The page still answers input at once: expanding draws the next 100.
    page.get_by_role("button", name="Fit").click()
    t = time.monotonic()
    page.locator("#graph .more").click()
    assert page.locator("#graph .node").count() == 128
    assert time.monotonic() - t < 2
    # The list view collapses the level too, with a link to show all of it.
    assert page.locator("ul.nodes li").count() == 2 + 200
    assert page.get_by_role("link", name="Show all 10000 nodes of this level").count() == 1
    page.close()


def test_api_docs_render_every_operation_and_try_one_with_the_login(server, browser):
    """Swagger UI at /api/docs under the pages' CSP: a stranger logs in first, every operation
    of the document is listed, and "Try it out" writes with the login cookie (CSRF included)."""
    doc = requests.get(f"{server}/api/v1/openapi.json", timeout=10,
                       headers=bearer(os.environ["CATALOG_TOKEN"])).json()
    operations = sum(len(ops) for ops in doc["paths"].values())
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    problems: list[str] = []
    page.on("pageerror", lambda e: problems.append(str(e)))
    # A CSP refusal is a console error; so is the absent favicon's 404 (a resource error).
    page.on("console", lambda m: problems.append(m.text) if m.type == "error"
            and not m.text.startswith("Failed to load resource") else None)
    _login(page, server, "/api/docs")
    page.wait_for_selector(".opblock")
    assert page.locator(".info .title").inner_text().startswith("Recommendation data catalog API")
    assert page.locator(".opblock").count() == operations
    op = page.locator("#operations-tags-put_api_v1_tags__name_")
    op.locator(".opblock-summary").click()
    op.get_by_role("button", name="Try it out").click()
    op.locator("input[placeholder='name']").fill("from-the-docs")
    op.locator("textarea.body-param__text").fill('{"description": "Made in Swagger UI"}')
    op.get_by_role("button", name="Execute").click()
    status = op.locator(".live-responses-table .response .response-col_status").first
    status.wait_for()
    assert status.inner_text().strip() == "200"
    tag = requests.get(f"{server}/api/v1/tags", timeout=10,
                       headers=bearer(os.environ["CATALOG_TOKEN"])).json()["tags"]
    assert {"name": "from-the-docs", "description": "Made in Swagger UI"} in tag
    assert problems == []
    page.close()


# --- the lineage graph, charts, layout and accessibility ----------------------------------------

ROOT = Path(__file__).resolve().parents[2]
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"

_BOXES = """() => [...document.querySelectorAll('#graph .node rect')].map(r => {
    const b = r.getBoundingClientRect(); return [b.left, b.top, b.right, b.bottom]; })"""


def _overlaps(boxes) -> list:
    return [(a, b) for i, a in enumerate(boxes) for b in boxes[i + 1:]
            if a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]]


def _scale(page) -> float:
    transform = page.locator("#graph g.viewport").get_attribute("transform")
    return float(transform.split("scale(")[1].rstrip(")"))


def _start_in_view(page) -> bool:
    return page.evaluate("""() => {
        const s = document.querySelector('#graph a.start rect').getBoundingClientRect();
        const c = document.querySelector('#graph .graph-canvas').getBoundingClientRect();
        return s.left >= c.left && s.right <= c.right && s.top >= c.top && s.bottom <= c.bottom;
    }""")


def test_lineage_graph_layout_zoom_collapse_path_and_columns(server, browser):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    _login(page, server, "/lineage?node=dataset:shop:user_features&depth=3")
    page.wait_for_selector("#graph[data-ready='1']")
    assert page.evaluate("() => typeof window.dagre") == "object"  # laid out by dagre
    boxes = page.evaluate(_BOXES)
    assert len(boxes) >= 8 and _overlaps(boxes) == []
    assert _start_in_view(page)

    # Zoom: the buttons and the wheel change the viewport's transform; the start stays findable.
    before = _scale(page)
    page.get_by_role("button", name="Zoom in").click()
    assert _scale(page) == pytest.approx(before * 1.25, rel=1e-3)
    canvas = page.locator("#graph .graph-canvas").bounding_box()
    page.mouse.move(canvas["x"] + canvas["width"] / 2, canvas["y"] + canvas["height"] / 2)
    page.mouse.wheel(0, 300)
    assert _scale(page) < before * 1.25
    # Pan by dragging the background.
    t0 = page.locator("#graph g.viewport").get_attribute("transform")
    page.mouse.move(canvas["x"] + 5, canvas["y"] + 5)
    page.mouse.down()
    page.mouse.move(canvas["x"] + 105, canvas["y"] + 45)
    page.mouse.up()
    assert page.locator("#graph g.viewport").get_attribute("transform") != t0
    page.get_by_role("button", name="Start node").click()
    assert _start_in_view(page)

    # Collapse the upstream of events_clean, then expand it again (all in view first).
    page.get_by_role("button", name="Fit").click()
    drawn = page.locator("#graph a.node").count()
    toggle = page.get_by_role("button", name="Collapse upstream of dataset shop/events_clean")
    toggle.click()
    collapsed = page.locator("#graph a.node").count()
    assert collapsed < drawn
    assert page.locator("#graph a.node", has_text="events.parquet").count() == 0
    page.get_by_role("button", name="Expand upstream of dataset shop/events_clean").click()
    assert page.locator("#graph a.node").count() == drawn

    # The path between two nodes (Shift+click each): events_clean -> features job ->
    # user_features -> ranker.train.
    page.locator("#graph a.node", has_text="events_clean").click(modifiers=["Shift"])
    assert page.url.endswith("depth=3")  # picking is not following the link
    page.locator("#graph a.node", has_text="ranker.train").click(modifiers=["Shift"])
    assert page.locator("#graph .edge.on-path").count() == 3
    assert page.locator("#graph a.node.on-path").count() == 4
    assert "3 hops" in page.locator(".graph-status").inner_text()
    page.get_by_role("button", name="Clear path").click()
    assert page.locator("#graph .on-path").count() == 0

    # Column-level edges for a chosen column.
    page.get_by_label("Column", exact=True).select_option("user_id")
    page.wait_for_selector("#graph[data-columns-ready='user_id']")
    assert page.locator("#graph .column-edge").count() == 1
    assert page.locator("#graph .column-edge title").text_content() == (
        "events_clean.user_id → user_features.user_id")
    assert errors == []
    page.close()


def test_wide_level_expands_without_overlap(server, browser):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    _login(page, server, "/lineage?node=job:fan:fanout&depth=1")
    page.wait_for_selector("#graph[data-ready='1']")
    assert _overlaps(page.evaluate(_BOXES)) == []
    assert _start_in_view(page)
    page.get_by_role("button", name="Fit").click()  # the whole level in view: "more" too
    page.locator("#graph .more").click()
    assert page.locator("#graph .node").count() == 128
    assert _overlaps(page.evaluate(_BOXES)) == []
    assert _start_in_view(page)
    # Folding the wide levels again: back to 25 and "more".
    page.get_by_role("button", name="Collapse levels").click()
    assert page.locator("#graph .node").count() == 28
    page.close()


def test_each_chart_draws_a_point_per_version(server, browser):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    _login(page, server, "/datasets/shop/events_clean")
    versions = page.locator("#versions-h ~ .scroll tbody tr").count()
    assert versions == 2
    assert page.locator("#chart-rows circle.pt").count() == versions
    assert page.locator("#chart-quality circle.pt").count() == versions  # both were checked
    # Each point sits inside the drawing, left to right in version order.
    xs = [float(c.get_attribute("cx")) for c in page.locator("#chart-rows circle.pt").all()]
    assert xs == sorted(xs) and len(set(xs)) == versions
    page.goto(server + "/models/ranker")
    versions = page.locator("table.key-metrics tbody tr").count()
    series = {c.get_attribute("data-series") for c in page.locator(
        "#chart-metrics circle.pt[data-series]").all()}
    for name in series:
        assert page.locator(f"#chart-metrics circle.pt[data-series='{name}']").count() == versions
    page.close()


@pytest.mark.parametrize("width", list(WIDTHS))
def test_model_page_fits_the_width_with_many_metrics(server, browser, width):
    metrics = {f"{split}.{m}@{k}": 0.1 for split in ("valid", "test") for m in
               ("hr", "ndcg", "precision", "recall", "f1") for k in (5, 10, 20)}
    metrics.update({"popularity.test.hr@10": 0.05, "popularity.test.ndcg@10": 0.02})
    r = requests.post(f"{server}/api/v1/models/wide/versions", timeout=10, json={
        "metrics": metrics}, headers=bearer(os.environ["CATALOG_TOKEN"]))
    assert r.status_code == 201, r.text
    w, h = WIDTHS[width]
    page = browser.new_page(viewport={"width": w, "height": h})
    _login(page, server, "/models/wide")
    page.locator("details.all-metrics summary").click()
    assert page.locator("details.all-metrics").get_attribute("open") is not None
    assert page.evaluate("() => document.documentElement.scrollWidth") <= w
    # The key metrics come first, the popularity baseline beside each.
    heads = page.locator("table.key-metrics thead th").all_inner_texts()
    assert heads[2:6] == ["test.hr@10", "popularity test.hr@10", "test.ndcg@10",
                          "popularity test.ndcg@10"]
    page.close()


PAGES = ["/", "/search?q=events", "/datasets/shop/events_clean",
         "/lineage?node=dataset:shop:user_features&depth=3", "/models/ranker", "/health",
         "/trace/datasets/shop/user_features"]


def test_main_pages_have_no_serious_accessibility_violations(server, browser):
    assert AXE.is_file(), f"{AXE} is missing: `make dev` installs axe-core with npm"
    # axe is injected as an inline script: the pages' CSP would refuse it.
    context = browser.new_context(viewport={"width": 1280, "height": 900}, bypass_csp=True)
    page = context.new_page()
    found = {}
    page.goto(server + "/login")
    for path in ["/login", *PAGES]:
        if path != "/login":
            if "/login" in page.url:
                _login(page, server, path)
            else:
                page.goto(server + path)
        if path.startswith("/lineage"):
            page.wait_for_selector("#graph[data-ready='1']")
        page.add_script_tag(path=str(AXE))
        violations = page.evaluate("""async () => (await axe.run(document,
            {resultTypes: ['violations']})).violations
            .filter(v => v.impact === 'serious' || v.impact === 'critical')
            .map(v => v.id + ' (' + v.impact + '): ' + v.help + ' — ' +
                 v.nodes.slice(0, 3).map(n => n.target.join(' ')).join(', '))""")
        if violations:
            found[path] = violations
    assert found == {}
    context.close()
