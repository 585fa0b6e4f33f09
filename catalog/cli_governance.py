"""``catalog users``, ``catalog tokens`` and ``catalog audit``: governance from the command line.

Each command is one transaction on the database named by ``--database-url``; changes are audited
with the actor ``cli:<operating-system user>``.
"""

from __future__ import annotations

import getpass
import re
from contextlib import contextmanager
from datetime import timedelta

import click

from catalog.cli_contract import JSON_OPTION, CommandFailed, ExitCode, echo_json
from catalog.cli_options import DB_URL_OPTION
from catalog.models.auth import ROLES

_DURATION = re.compile(r"^(\d+)([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no passwd entry (containers)
        return "cli:unknown"


@contextmanager
def _engine(database_url: str | None):
    """An engine on a database at head, disposed however the command ends."""
    from catalog import db as catalog_db
    from catalog.config import Settings

    engine = catalog_db.make_engine(database_url or Settings.from_env().database_url)
    try:
        catalog_db.check_at_head(engine)
        yield engine
    finally:
        engine.dispose()


@contextmanager
def _scope(database_url: str | None):
    """One transaction for the command."""
    from catalog import db as catalog_db

    with _engine(database_url) as engine, \
            catalog_db.session_scope(catalog_db.make_sessionmaker(engine)) as session:
        yield session


def parse_duration(raw: str | None) -> timedelta | None:
    """``30d``, ``12h``, ``90m``, ``2w`` or ``45s`` as a timedelta; None for None."""
    if raw is None:
        return None
    m = _DURATION.match(raw.strip())
    if not m or int(m.group(1)) == 0:
        raise click.BadParameter("use a positive number and a unit: 45s, 90m, 12h, 30d or 2w",
                                 param_hint="--expires-in")
    return timedelta(**{_UNITS[m.group(2)]: int(m.group(1))})


@click.group()
def users() -> None:
    """Manage the users who log in to the catalog's pages."""


@users.command("create")
@click.argument("name")
@click.option("--role", type=click.Choice(ROLES), required=True, help="The user's role.")
@click.option("--password", envvar="CATALOG_NEW_PASSWORD", default=None,
              help="Password (env CATALOG_NEW_PASSWORD); prompted for when omitted.")
@DB_URL_OPTION
@JSON_OPTION
def users_create(name: str, role: str, password: str | None, database_url: str | None,
                 as_json: bool) -> None:
    """Create a user with a role and a password (at least 10 characters)."""
    from catalog.services import auth

    if password is None:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True,
                                err=True)
    with _scope(database_url) as s:
        auth.create_user(s, name, password, role, actor=_actor())
    if as_json:
        echo_json({"name": name, "role": role})
    else:
        click.echo(f"user {name} created with role {role}")


@users.command("list")
@DB_URL_OPTION
@JSON_OPTION
def users_list(database_url: str | None, as_json: bool) -> None:
    """List users: name, role, whether disabled."""
    from catalog.services import auth

    with _scope(database_url) as s:
        rows = [(u.name, u.role, u.disabled) for u in auth.list_users(s)]
    if as_json:
        echo_json({"users": [{"name": n, "role": r, "disabled": d} for n, r, d in rows]})
        return
    for name, role, disabled in rows:
        click.echo(f"{name}\t{role}\t{'disabled' if disabled else 'active'}")


@click.group()
def tokens() -> None:
    """Manage API tokens for pipelines and scripts."""


@tokens.command("create")
@click.option("--name", required=True, help="A unique name; the audit trail shows token:<name>.")
@click.option("--role", type=click.Choice(ROLES), required=True, help="The token's role.")
@click.option("--expires-in", default=None, help="Lifetime such as 30d, 12h or 2w (default: "
              "no expiry).")
@DB_URL_OPTION
@JSON_OPTION
def tokens_create(name: str, role: str, expires_in: str | None, database_url: str | None,
                  as_json: bool) -> None:
    """Create a token; it is printed once, as the last line, and stored only as a hash."""
    from catalog.services import auth

    ttl = parse_duration(expires_in)
    with _scope(database_url) as s:
        token, row = auth.create_token(s, name, role, actor=_actor(), expires_in=ttl)
        expires_at = row.expires_at.isoformat() if row.expires_at else None
    click.echo(f"token {name} ({role}, expires {expires_at or 'never'}); store it now, it is not "
               "shown again:", err=True)
    if as_json:
        echo_json({"name": name, "role": role, "expires_at": expires_at, "token": token})
    else:
        click.echo(token)


@tokens.command("revoke")
@click.argument("name")
@DB_URL_OPTION
@JSON_OPTION
def tokens_revoke(name: str, database_url: str | None, as_json: bool) -> None:
    """Revoke a token by name, effective at once."""
    from catalog.services import auth

    with _scope(database_url) as s:
        auth.revoke_token(s, name, actor=_actor())
    if as_json:
        echo_json({"name": name, "revoked": True})
    else:
        click.echo(f"token {name} revoked")


@tokens.command("list")
@DB_URL_OPTION
@JSON_OPTION
def tokens_list(database_url: str | None, as_json: bool) -> None:
    """List tokens: name, role, prefix, state, expiry, last use (never the tokens themselves)."""
    from catalog.models.base import utcnow
    from catalog.services import auth

    with _scope(database_url) as s:
        now = utcnow()
        rows = [{
            "name": t.name, "role": t.role, "prefix": t.prefix,
            "state": ("revoked" if t.revoked_at else
                      "expired" if t.expires_at and t.expires_at <= now else "active"),
            "expires_at": t.expires_at.isoformat() if t.expires_at else None,
            "last_used_at": t.last_used_at.isoformat() if t.last_used_at else None,
        } for t in auth.list_tokens(s)]
    if as_json:
        echo_json({"tokens": rows})
        return
    for r in rows:
        click.echo("\t".join([r["name"], r["role"], r["prefix"] + "...", r["state"],
                              r["expires_at"] or "-", r["last_used_at"] or "never"]))


@click.group()
def audit() -> None:
    """Check and export the audit trail."""


@audit.command("verify")
@DB_URL_OPTION
@JSON_OPTION
def audit_verify(database_url: str | None, as_json: bool) -> None:
    """Walk the hash chain; exit 6 naming the first broken entry."""
    from catalog.services import audit as svc

    with _scope(database_url) as s:
        report = svc.verify_chain(s)
    if as_json:
        echo_json({"ok": report.ok, "checked": report.checked, "broken_seq": report.broken_seq,
                   "reason": report.reason})
    if not report.ok:
        raise CommandFailed(f"audit trail broken at entry {report.broken_seq}: {report.reason} "
                            f"({report.checked} entries before it verified)",
                            ExitCode.CHECKS_FAILED)
    if not as_json:
        click.echo(f"audit trail intact: {report.checked} entries verified")


@audit.command("export")
@click.option("--format", "fmt", type=click.Choice(["jsonl", "csv"]), default="jsonl",
              show_default=True, help="JSON lines or CSV.")
@click.option("--entity-type", default=None, help="Only entries of this entity type.")
@click.option("--actor", default=None, help="Only entries by this actor.")
@DB_URL_OPTION
def audit_export(fmt: str, entity_type: str | None, actor: str | None,
                 database_url: str | None) -> None:
    """Write the audit trail to stdout, oldest entry first."""
    from catalog import db as catalog_db
    from catalog.services.audit import export_lines

    filters = {"entity_type": entity_type, "entity_key": None, "actor": actor, "since": None,
               "until": None}
    with _engine(database_url) as engine:
        factory = catalog_db.make_sessionmaker(engine)
        for chunk in export_lines(lambda: catalog_db.session_scope(factory), filters, fmt):
            click.echo(chunk, nl=False)


def register(main: click.Group) -> None:
    """Add the governance groups to the ``catalog`` command."""
    for group in (users, tokens, audit):
        main.add_command(group)



