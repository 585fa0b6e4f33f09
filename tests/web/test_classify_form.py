"""Stewards tag columns with sensitivity tags on the dataset page (CSRF form, inline errors)."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from catalog.models import AuditEntry
from tests.web.webdata import populate

PAGE = "/datasets/shop/events_clean"
FORM = PAGE + "/-/classify"


@pytest.fixture
def steward(client, client_as):
    populate(client)
    return client_as("steward")


def _text(r) -> str:
    return r.get_data(as_text=True)


def _token(client) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', _text(client.get(PAGE))).group(1)


def _own_tags(client) -> dict[str, list[str]]:
    r = client.get("/api/v1/namespaces/shop/datasets/events_clean/classifications")
    return {c["field"]: c["tags"] for c in r.get_json()["columns"] if c["tags"]}


def test_steward_applies_and_removes_a_tag(steward, session):
    r = steward.post(FORM, data={"csrf_token": _token(steward), "field": "user_id",
                                 "tag": "pii.user_id", "reason": "account id",
                                 "action": "apply"})
    assert r.status_code == 303 and r.headers["Location"].endswith("#sensitivity-h")
    assert "Sensitivity tags saved." in _text(steward.get(r.headers["Location"]))
    assert _own_tags(steward) == {"user_id": ["pii.user_id"]}
    entry = session.scalars(select(AuditEntry).where(
        AuditEntry.action == "classification.apply")).one()
    assert entry.actor.startswith("token:")
    assert entry.entity_key == "shop/events_clean" and entry.after["tag"] == "pii.user_id"
    r = steward.post(FORM, data={"csrf_token": _token(steward), "field": "user_id",
                                 "tag": "pii.user_id", "action": "remove"})
    assert r.status_code == 303 and _own_tags(steward) == {}


def test_bad_tag_and_unknown_column_are_shown_inline(steward, session):
    r = steward.post(FORM, data={"csrf_token": _token(steward), "field": "user_id",
                                 "tag": "Not A Tag", "action": "apply"})
    assert r.status_code == 422
    body = _text(r)
    assert 'id="classify-tag-error"' in body and 'value="Not A Tag"' in body
    r = steward.post(FORM, data={"csrf_token": _token(steward), "field": "nope",
                                 "tag": "pii.email", "action": "apply"})
    assert r.status_code == 404 and 'id="classify-field-error"' in _text(r)
    r = steward.post(FORM, data={"csrf_token": _token(steward), "field": "user_id",
                                 "tag": "pii.email", "action": "remove"})
    assert r.status_code == 404 and 'id="classify-tag-error"' in _text(r)
    assert _own_tags(steward) == {}
    assert session.scalars(select(AuditEntry).where(
        AuditEntry.entity_type == "column_classification")).all() == []


def test_suggestions_are_accepted_or_rejected_from_the_page(steward):
    r = steward.post("/api/v1/namespaces/shop/datasets/events_clean/classifications/detect")
    assert r.status_code == 200 and r.get_json()["suggested"]
    suggested = {(s["field"], s["tag"]) for s in r.get_json()["suggested"]}
    assert ("user_id", "pii.user_id") in suggested
    assert 'aria-label="Accept pii.user_id on user_id"' in _text(steward.get(PAGE))
    r = steward.post(FORM, data={"csrf_token": _token(steward), "field": "user_id",
                                 "tag": "pii.user_id", "action": "apply"})
    assert r.status_code == 303 and _own_tags(steward) == {"user_id": ["pii.user_id"]}
    assert 'aria-label="Accept pii.user_id on user_id"' not in _text(steward.get(PAGE))


def test_without_the_classify_right_there_is_no_form_and_no_write(client, client_as):
    populate(client)
    viewer = client_as("viewer")
    assert "Tag a column" not in _text(viewer.get(PAGE))
    assert "Tag a column" in _text(client.get(PAGE))  # admin
    r = viewer.post(FORM, data={"csrf_token": "x", "field": "user_id", "tag": "pii.email",
                                "action": "apply"})
    assert r.status_code == 403
    assert _own_tags(client) == {}
