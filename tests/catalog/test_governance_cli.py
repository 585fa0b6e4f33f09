"""``catalog users``, ``catalog tokens`` and ``catalog audit`` against a real database."""

from __future__ import annotations

import json

from sqlalchemy import text

from catalog.auth import token_cache
from catalog.cli import main
from catalog.cli_contract import ExitCode


def _run(runner, db_url, *args, **kw):
    return runner.invoke(main, [*args, "--database-url", db_url], **kw)


def test_users_create_and_list(app, runner, db_url):
    r = _run(runner, db_url, "users", "create", "ann", "--role", "steward",
             env={"CATALOG_NEW_PASSWORD": "a long password"})
    assert r.exit_code == 0, r.output
    r = _run(runner, db_url, "users", "create", "ann", "--role", "steward",
             env={"CATALOG_NEW_PASSWORD": "a long password"})
    assert r.exit_code == ExitCode.REFUSED
    assert r.stdout == "" and r.stderr == "error: user 'ann' already exists\n"
    r = _run(runner, db_url, "users", "create", "bo", "--role", "viewer", "--password", "short")
    assert r.exit_code == ExitCode.BAD_INPUT and "at least 10 characters" in r.stderr
    r = _run(runner, db_url, "users", "list")
    assert r.output.splitlines() == ["ann\tsteward\tactive"]
    r = _run(runner, db_url, "users", "create", "cy", "--role", "viewer", "--json",
             env={"CATALOG_NEW_PASSWORD": "a long password"})
    assert r.exit_code == 0 and json.loads(r.stdout) == {"name": "cy", "role": "viewer"}
    r = _run(runner, db_url, "users", "list", "--json")
    assert r.exit_code == 0 and r.stderr == ""
    assert json.loads(r.stdout) == {"users": [
        {"name": "ann", "role": "steward", "disabled": False},
        {"name": "cy", "role": "viewer", "disabled": False}]}


def test_token_create_prints_the_token_last_and_it_authenticates(app, runner, db_url,
                                                                 anon_client):
    r = _run(runner, db_url, "tokens", "create", "--name", "etl", "--role", "pipeline",
             "--expires-in", "30d")
    assert r.exit_code == 0, r.output
    token = r.output.strip().splitlines()[-1]
    assert token.startswith("cat_")
    headers = {"Authorization": f"Bearer {token}"}
    assert anon_client.get("/api/v1/namespaces", headers=headers).status_code == 200
    listed = _run(runner, db_url, "tokens", "list").output
    assert token not in listed and "etl\tpipeline\t" in listed and "\tactive\t" in listed
    r = _run(runner, db_url, "tokens", "revoke", "etl")
    assert r.exit_code == 0 and r.output.strip() == "token etl revoked"
    # A running server trusts the token it verified for CATALOG_TOKEN_CACHE_SECONDS more
    # (test_token_cache.py); then it asks the database again, as after this clear().
    token_cache(app).clear()
    assert anon_client.get("/api/v1/namespaces", headers=headers).status_code == 401
    assert "\trevoked\t" in _run(runner, db_url, "tokens", "list").output


def test_tokens_as_json(app, runner, db_url):
    r = _run(runner, db_url, "tokens", "create", "--name", "ci", "--role", "pipeline",
             "--expires-in", "2w", "--json")
    assert r.exit_code == 0, r.output
    created = json.loads(r.stdout)  # the token is in the document, not on a line of its own
    assert (created["name"], created["role"]) == ("ci", "pipeline")
    assert created["token"].startswith("cat_") and created["expires_at"] > "2000"
    assert "store it now" in r.stderr and created["token"] not in r.stderr
    r = _run(runner, db_url, "tokens", "create", "--name", "forever", "--role", "viewer",
             "--json")
    assert json.loads(r.stdout)["expires_at"] is None
    r = _run(runner, db_url, "tokens", "revoke", "forever", "--json")
    assert r.exit_code == 0 and json.loads(r.stdout) == {"name": "forever", "revoked": True}
    r = _run(runner, db_url, "tokens", "list", "--json")
    assert r.exit_code == 0
    listed = {t["name"]: t for t in json.loads(r.stdout)["tokens"]}
    admin = [n for n in listed if n not in ("ci", "forever")]  # the fixture's own token
    assert set(listed) == {"ci", "forever", *admin}
    assert listed["ci"] == {"name": "ci", "role": "pipeline",
                            "prefix": created["token"][:len(listed["ci"]["prefix"])],
                            "state": "active", "expires_at": created["expires_at"],
                            "last_used_at": None}
    assert listed["forever"]["state"] == "revoked" and listed["forever"]["expires_at"] is None
    assert created["token"] not in r.stdout
    r = _run(runner, db_url, "tokens", "revoke", "nobody")
    assert r.exit_code == ExitCode.REFUSED and r.stderr.startswith("error: ")
    r = _run(runner, db_url, "tokens", "create", "--name", "x", "--role", "viewer",
             "--expires-in", "soon")
    assert r.exit_code == 2 and "45s, 90m, 12h, 30d or 2w" in r.output


def test_audit_verify_and_export(app, runner, db_url, engine):
    for name in ("a", "b", "c"):
        assert _run(runner, db_url, "tokens", "create", "--name", name, "--role",
                    "viewer").exit_code == 0
    r = _run(runner, db_url, "audit", "verify")
    assert r.exit_code == 0 and r.output.strip() == "audit trail intact: 3 entries verified"
    r = _run(runner, db_url, "audit", "verify", "--json")
    assert r.exit_code == 0 and json.loads(r.stdout) == {"ok": True, "checked": 3,
                                                         "broken_seq": None, "reason": None}
    lines = _run(runner, db_url, "audit", "export").output.splitlines()
    entries = [json.loads(x) for x in lines]
    assert [(e["seq"], e["action"], e["entityKey"]) for e in entries] == [
        (1, "token.create", "a"), (2, "token.create", "b"), (3, "token.create", "c")]
    assert all(e["actor"].startswith("cli:") for e in entries)
    csv_out = _run(runner, db_url, "audit", "export", "--format", "csv").output.splitlines()
    assert csv_out[0].startswith("seq,at,actor,action") and len(csv_out) == 4

    # Tamper with entry 2 behind the triggers' back, as someone with database access could.
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("SET LOCAL session_replication_role = replica"))
            conn.execute(text("UPDATE audit_log SET actor = 'mallory' WHERE seq = 2"))
        else:
            conn.execute(text("DROP TRIGGER audit_log_no_update"))
            conn.execute(text("UPDATE audit_log SET actor = 'mallory' WHERE seq = 2"))
            conn.execute(text(
                "CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log BEGIN SELECT "
                "RAISE(ABORT, 'audit_log is append-only: UPDATE refused'); END"))
    r = _run(runner, db_url, "audit", "verify")
    assert r.exit_code == ExitCode.CHECKS_FAILED and r.stdout == ""
    assert r.stderr.startswith("error: audit trail broken at entry 2:")
    r = _run(runner, db_url, "audit", "verify", "--json")
    assert r.exit_code == ExitCode.CHECKS_FAILED
    assert json.loads(r.stdout) == {"ok": False, "checked": 1, "broken_seq": 2,
                                    "reason": "content does not match its hash"}
