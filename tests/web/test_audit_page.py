"""The audit trail page: entries with their changes, filters, chain status, who may see it."""

from __future__ import annotations

import re

from sqlalchemy import text

XSS = '<script>alert("x")</script>'


def _text(r) -> str:
    return r.get_data(as_text=True)


def _changes(client) -> None:
    """Three audited dataset changes by the admin token (one with markup in its text)."""
    for i, desc in enumerate(["first", "second", XSS]):
        r = client.put("/api/v1/namespaces/shop/datasets/orders",
                       json={"description": desc, "rowCount": i + 1})
        assert r.status_code in (200, 201), r.get_json()


def test_auditor_sees_entries_with_their_changes(client, client_as):
    _changes(client)
    auditor = client_as("auditor")
    body = _text(auditor.get("/audit?entity_type=dataset"))
    rows = re.findall(r"<tr><td>(\d+)</td>", body)
    assert len(rows) == 3
    assert 'href="/datasets/shop/orders"' in body and "token:test-admin" in body
    assert "<del>" in body and "first" in body and "second" in body
    # Stored markup is shown as text, never run.
    assert XSS not in body and "&lt;script&gt;" in body
    assert 'href="/api/v1/audit/export?format=csv&amp;entityType=dataset"' in body
    # The trail's own pages are linked from the header for those who may read it.
    assert 'href="/audit"' in body
    assert 'href="/audit"' not in _text(client_as("viewer").get("/models"))


def test_filters_and_paging(client, client_as):
    _changes(client)
    auditor = client_as("auditor")
    assert "No entries match." in _text(auditor.get("/audit?actor=nobody"))
    body = _text(auditor.get("/audit?entity_key=shop/orders&actor=token:test-admin"))
    assert len(re.findall(r"<tr><td>(\d+)</td>", body)) == 3
    assert "No entries match." in _text(auditor.get("/audit?since=2999-01-01T00:00"))
    r = auditor.get("/audit?since=2030-01-01T00:00&until=2020-01-01T00:00")
    assert r.status_code == 400 and "must not be later" in _text(r)
    assert auditor.get("/audit?page=0").status_code == 400


def test_chain_status_intact_then_broken(client, client_as, engine):
    _changes(client)
    auditor = client_as("auditor")
    assert "Verify the whole chain" in _text(auditor.get("/audit"))
    body = _text(auditor.get("/audit?verify=1"))
    n = len(re.findall(r"<tr><td>(\d+)</td>", body))
    assert f"Intact: {n} entries verified." in body
    with engine.begin() as conn:  # tamper behind the triggers, as a database owner could
        if engine.dialect.name == "postgresql":
            conn.execute(text("SET LOCAL session_replication_role = replica"))
        else:
            conn.execute(text("DROP TRIGGER audit_log_no_update"))
        conn.execute(text("UPDATE audit_log SET actor = 'mallory' WHERE seq = 2"))
        if engine.dialect.name != "postgresql":
            conn.execute(text(
                "CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log BEGIN "
                "SELECT RAISE(ABORT, 'audit_log is append-only: UPDATE refused'); END"))
    body = _text(auditor.get("/audit?verify=1"))
    assert "Broken at entry 2" in body and 'role="alert"' in body


def test_only_auditors_and_admins_see_the_trail(client, client_as):
    _changes(client)
    assert client.get("/audit").status_code == 200  # admin
    for role in ("viewer", "steward", "pipeline"):
        r = client_as(role).get("/audit")
        assert r.status_code == 403 and "audit.read" in _text(r), role


def test_dataset_page_shows_own_and_inherited_sensitivity_tags(client):
    from tests.catalog.test_governance import _setup_lineage, _tag

    _setup_lineage(client)
    assert _tag(client, "raw_users", "user_id", "pii.user_id").status_code == 200
    assert _tag(client, "raw_users", "email", "pii.email").status_code == 200
    raw = _text(client.get("/datasets/shop/raw_users"))
    section = raw[raw.index('id="sensitivity-h"'):]
    assert "<code>email</code></th>\n<td><span class=\"chip\">pii.email</span>" in section
    derived = _text(client.get("/datasets/shop/user_scores"))
    section = derived[derived.index('id="sensitivity-h"'):derived.index("</section>",
                                                                        derived.index('id="sensitivity-h"'))]
    # Inherited two hops away, named with its source column; masked/aggregated columns carry none.
    assert ('<span class="chip">pii.user_id</span> from <a href="/datasets/shop/raw_users">'
            'raw_users</a>.<code>user_id</code>') in section
    assert "<code>score</code>" not in section
    clean = _text(client.get("/datasets/shop/user_features"))
    assert "pii.email" not in clean[clean.index('id="sensitivity-h"'):]


def test_dataset_page_as_of_a_past_time(client):
    import time
    from datetime import UTC, datetime

    r = client.put("/api/v1/namespaces/shop/datasets/orders", json={
        "description": "old words", "tags": ["bronze"],
        "fields": [{"name": "order_id", "type": "BIGINT"}]})
    assert r.status_code in (200, 201), r.get_json()
    time.sleep(0.05)
    between = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")
    time.sleep(0.05)
    r = client.put("/api/v1/namespaces/shop/datasets/orders", json={
        "description": "new words", "tags": ["gold"],
        "fields": [{"name": "order_id", "type": "BIGINT"}, {"name": "coupon", "type": "VARCHAR"}]})
    assert r.status_code == 200, r.get_json()
    now = _text(client.get("/datasets/shop/orders"))
    assert "new words" in now and 'name="as_of"' in now
    past = _text(client.get(f"/datasets/shop/orders?as_of={between}"))
    assert "As it stood at" in past and "old words" in past and "new words" not in past
    assert "bronze" in past and "gold" not in past
    assert "<code>order_id</code>" in past and "<code>coupon</code>" not in past
    assert 'href="/datasets/shop/orders">Back to now</a>' in past
    r = client.get("/datasets/shop/orders?as_of=2000-01-01T00:00")
    assert r.status_code == 404 and "did not exist" in _text(r)
    assert client.get("/datasets/shop/orders?as_of=yesterday").status_code == 400


def test_dataset_and_model_pages_link_their_change_history(client, client_as):
    _changes(client)
    r = client.put("/api/v1/models/ranker", json={"description": "v0"})
    assert r.status_code in (200, 201), r.get_json()
    auditor = client_as("auditor")
    page = _text(auditor.get("/datasets/shop/orders"))
    link = re.search(r'href="(/audit\?entity_key=[^"]+)">Change history', page)
    assert link and link.group(1) == "/audit?entity_key=shop/orders"
    history = _text(auditor.get(link.group(1).replace("&amp;", "&")))
    assert len(re.findall(r"<tr><td>(\d+)</td>", history)) == 3
    page = _text(auditor.get("/models/ranker"))
    assert 'href="/audit?entity_key=ranker">Change history' in page
    history = _text(auditor.get("/audit?entity_key=ranker"))
    assert len(re.findall(r"<tr><td>(\d+)</td>", history)) >= 1 and "ranker" in history
    # A viewer may not read the trail: no link to it.
    assert "Change history" not in _text(client_as("viewer").get("/datasets/shop/orders"))
    assert "Change history" not in _text(client_as("viewer").get("/models/ranker"))
