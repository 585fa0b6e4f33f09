"""The fast JSON codec gives the standard library's answers where it matters."""

from __future__ import annotations

import json

import pytest

from catalog import jsoncodec
from tests.factories import ds, facet, run_event, schema


def _stdlib_canonical(value) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


@pytest.mark.parametrize("value", [
    run_event("COMPLETE", "j", inputs=[ds("in", schema=schema("a", ("b", "BIGINT")))],
              outputs=[ds("out", stats=facet("OutputStatisticsOutputDatasetFacet",
                                               rowCount=12, size=3.25))]),
    {"z": 1, "a": [True, None, 0.1, -7, "ü\n\x1f\u2028/\"\\"], "m": {"b": 1.5, "a": {}}},
    {"big": 10**30, "neg": -(2**63)},
])
def test_canonical_json_equals_the_standard_librarys(value):
    assert jsoncodec.canonical(value) == _stdlib_canonical(value)


def test_long_integers_survive_a_round_trip():
    text = '{"n": 123456789012345678901234567890, "m": [9223372036854775808]}'
    value = jsoncodec.loads(text)
    assert value == {"n": 123456789012345678901234567890, "m": [9223372036854775808]}
    assert jsoncodec.loads(text.encode()) == value
    assert json.loads(jsoncodec.dumps(value)) == value


@pytest.mark.parametrize("text", [b"NaN", b"[1,]", b'{"a": 1} x', b"Infinity", b"{'a': 1}",
                                  b"[1, -Infinity]"])
def test_what_is_not_json_is_refused(text):
    with pytest.raises(ValueError):
        jsoncodec.loads(text)
    with pytest.raises(ValueError):
        jsoncodec.loads_document(text)


def test_documents_keep_long_integers():
    assert jsoncodec.loads_document(b"[123456789012345678901234567890]") == [
        123456789012345678901234567890]


def test_a_nan_body_is_a_400_naming_malformed_json(client):
    r = client.post("/api/v1/lineage", data=b'{"eventTime": NaN}',
                    headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and r.get_json()["message"].startswith("malformed JSON")


def test_responses_keep_key_order_and_flasks_rules(app):
    import datetime
    import decimal
    import uuid as uuidlib

    value = {"z": 1, "a": [10**30, decimal.Decimal("1.5")], "at": datetime.datetime(
        2026, 1, 2, 3, 4, 5, tzinfo=datetime.UTC), "id": uuidlib.UUID(int=7), "s": "ü"}
    with app.app_context():
        text = app.json.dumps(value, separators=(",", ":"))
        assert list(json.loads(text)) == ["z", "a", "at", "id", "s"]
        assert json.loads(text) == {"z": 1, "a": [10**30, "1.5"],
                                    "at": "Fri, 02 Jan 2026 03:04:05 GMT",
                                    "id": "00000000-0000-0000-0000-000000000007", "s": "ü"}
        # Indented output (debug, or asked for) still goes through Flask's own encoder.
        assert "\n" in app.json.dumps({"a": 1}, indent=2)
