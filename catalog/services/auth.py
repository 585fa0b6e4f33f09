"""Users, API tokens and logins: create, list, revoke, authenticate, rate-limit.

Passwords are hashed with werkzeug.security (scrypt); tokens are 256-bit random strings of which
only a SHA-256 is stored. Every change to users and tokens is written to the audit trail.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from catalog.errors import Conflict, NotFound, TooManyAttempts, ValidationFailed
from catalog.models import ApiToken, LoginAttempt, User
from catalog.models.auth import ROLES
from catalog.models.base import utcnow
from catalog.services.audit import record_change
from catalog.services.run_tokens import RunScope, scope_of, starter_active

# Tokens start with this, so a leaked one is recognisable (and greppable by secret scanners).
TOKEN_PREFIX = "cat_"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@:\-]{0,127}$")
MIN_PASSWORD = 10
# A token's last use is written at most this often (seconds): keeps reads from becoming writes.
LAST_USED_RESOLUTION_S = 60
# Failed logins tolerated per (user name, client address), and per address, within the window.
# Counting per name alone let anyone lock any user out from anywhere.
LOGIN_WINDOW = timedelta(minutes=15)
MAX_FAILURES_PER_NAME = 5
MAX_FAILURES_PER_ADDR = 20


@dataclass(frozen=True)
class Principal:
    """Who is making a request: the actor name written to the audit trail, and the role."""

    actor: str
    role: str
    kind: str  # "token", "user" or "anonymous"
    # A worker's token: the one run it may report (see catalog.services.run_tokens).
    scope: RunScope | None = None


def _check_name(name: object, field: str = "name") -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValidationFailed(
            f"{field} must be 1-128 letters, digits, '_', '.', '@', ':', '-', starting "
            "alphanumeric", field=field)
    return name


def check_role(role: object) -> str:
    """``role`` if it is a known role, else :class:`ValidationFailed` listing them."""
    if role not in ROLES:
        raise ValidationFailed(f"role must be one of {list(ROLES)}, got {role!r}", field="role")
    return role


def hash_token(token: str) -> str:
    """The stored form of a token."""
    return hashlib.sha256(token.encode()).hexdigest()


# --- users ---------------------------------------------------------------------------------------


def _user_json(u: User) -> dict:
    return {"name": u.name, "role": u.role, "disabled": u.disabled}


def create_user(session: Session, name: str, password: str, role: str, *, actor: str) -> User:
    """A new user with a hashed password; :class:`Conflict` if the name is taken."""
    _check_name(name)
    check_role(role)
    if not isinstance(password, str) or len(password) < MIN_PASSWORD:
        raise ValidationFailed(f"password must have at least {MIN_PASSWORD} characters",
                               field="password")
    if session.scalar(select(User.id).where(User.name == name)) is not None:
        raise Conflict(f"user {name!r} already exists", field="name")
    user = User(name=name, password_hash=generate_password_hash(password), role=role,
                disabled=False, created_at=utcnow())
    session.add(user)
    session.flush()
    record_change(session, actor=actor, action="user.create", entity_type="user",
                  entity_key=name, after=_user_json(user))
    return user


def list_users(session: Session) -> list[User]:
    """Every user, by name."""
    return list(session.scalars(select(User).order_by(User.name)))


def set_user_disabled(session: Session, name: str, disabled: bool, *, actor: str) -> User:
    """Disable (or re-enable) a user's login."""
    user = session.scalar(select(User).where(User.name == name))
    if user is None:
        raise NotFound(f"user {name!r} not found", field="name")
    before = _user_json(user)
    user.disabled = disabled
    session.flush()
    record_change(session, actor=actor, action="user.disable" if disabled else "user.enable",
                  entity_type="user", entity_key=name, before=before, after=_user_json(user))
    return user


def _recent_failures(session: Session, now: datetime, *conditions) -> int:
    return session.scalar(
        select(func.count()).select_from(LoginAttempt)
        .where(*conditions, LoginAttempt.success.is_(False),
               LoginAttempt.at >= now - LOGIN_WINDOW)
    )


def login_allowed(session: Session, name: str, remote_addr: str) -> None:
    """Raise :class:`TooManyAttempts` when this name from this address, or this address, failed
    too often recently (failures from other addresses never lock a name out here)."""
    now = utcnow()
    addr = LoginAttempt.remote_addr == remote_addr[:64]
    if (_recent_failures(session, now, LoginAttempt.name == name[:128], addr)
            >= MAX_FAILURES_PER_NAME
            or _recent_failures(session, now, addr) >= MAX_FAILURES_PER_ADDR):
        raise TooManyAttempts(
            f"too many failed logins; try again in {int(LOGIN_WINDOW.total_seconds() // 60)} "
            "minutes", retryAfter=int(LOGIN_WINDOW.total_seconds()))


def check_login(session: Session, name: str, password: str, remote_addr: str) -> User:
    """The user if ``password`` is right; every attempt is recorded for rate limiting.

    The caller commits even on failure (the failed attempt must count): this returns None
    rather than raising for a wrong password.
    """
    login_allowed(session, name, remote_addr)
    user = session.scalar(select(User).where(User.name == name))
    # Hash anyway for an unknown user, so timing does not reveal which names exist.
    stored = user.password_hash if user else generate_password_hash("not-a-user")
    ok = check_password_hash(stored, password or "") and user is not None and not user.disabled
    session.add(LoginAttempt(name=name[:128], remote_addr=remote_addr[:64], at=utcnow(),
                             success=ok, user_id=user.id if user else None))
    session.flush()
    return user if ok else None


# --- tokens --------------------------------------------------------------------------------------


def token_json(t: ApiToken) -> dict:
    """A token as listings and the audit trail show it (never the token itself)."""
    return {"name": t.name, "role": t.role, "prefix": t.prefix, "createdBy": t.created_by,
            "createdAt": t.created_at.isoformat() if t.created_at else None,
            "expiresAt": t.expires_at.isoformat() if t.expires_at else None,
            "revokedAt": t.revoked_at.isoformat() if t.revoked_at else None,
            "lastUsedAt": t.last_used_at.isoformat() if t.last_used_at else None}


def create_token(session: Session, name: str, role: str, *, actor: str,
                 expires_in: timedelta | None = None, scope: RunScope | None = None,
                 on_behalf_of: str | None = None) -> tuple[str, ApiToken]:
    """A new token: returns the plain token (shown once) and its stored row.

    ``scope`` limits it to reporting one run; ``on_behalf_of`` ends it with that principal.
    """
    _check_name(name)
    check_role(role)
    if expires_in is not None and expires_in <= timedelta(0):
        raise ValidationFailed("expiry must be in the future", field="expires_in")
    if session.scalar(select(ApiToken.id).where(ApiToken.name == name)) is not None:
        raise Conflict(f"token {name!r} already exists; revoke it or pick another name",
                       field="name")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    now = utcnow()
    row = ApiToken(name=name, token_hash=hash_token(token), prefix=token[:10], role=role,
                   created_by=actor, created_at=now,
                   expires_at=now + expires_in if expires_in else None,
                   scope_job_namespace=scope.namespace if scope else None,
                   scope_job_name=scope.job if scope else None,
                   scope_run_uuid=scope.run_uuid if scope else None,
                   on_behalf_of=on_behalf_of)
    session.add(row)
    session.flush()
    record_change(session, actor=actor, action="token.create", entity_type="token",
                  entity_key=name, after=token_json(row))
    return token, row


def list_tokens(session: Session) -> list[ApiToken]:
    """Every token, by name, revoked and expired ones included."""
    return list(session.scalars(select(ApiToken).order_by(ApiToken.name)))


def revoke_token(session: Session, name: str, *, actor: str) -> ApiToken:
    """Revoke a token at once; revoking twice is a :class:`Conflict`."""
    row = session.scalar(select(ApiToken).where(ApiToken.name == name))
    if row is None:
        raise NotFound(f"token {name!r} not found", field="name")
    if row.revoked_at is not None:
        raise Conflict(f"token {name!r} is already revoked", field="name")
    before = token_json(row)
    row.revoked_at = utcnow()
    session.flush()
    record_change(session, actor=actor, action="token.revoke", entity_type="token",
                  entity_key=name, before=before, after=token_json(row))
    return row


@dataclass(frozen=True)
class VerifiedToken:
    """A bearer token found valid: whom it stands for, and what a cache must know about it."""

    principal: Principal
    token_id: int
    # When the token stops working (None: never); a cached verification must check it on use.
    expires_at: datetime | None
    # True when its last use is older than LAST_USED_RESOLUTION_S and should be written.
    stale: bool
    # A worker token whose starter was revoked or disabled: refuse it and fail its run.
    orphaned: bool = False


def verify_token(session: Session, token: str) -> VerifiedToken | None:
    """The token's row as a :class:`VerifiedToken`, or None if unknown, revoked or expired."""
    if not token.startswith(TOKEN_PREFIX):
        return None
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(token)))
    now = utcnow()
    if row is None or row.revoked_at is not None or (
            row.expires_at is not None and row.expires_at <= now):
        return None
    stale = row.last_used_at is None or (
        (now - row.last_used_at).total_seconds() > LAST_USED_RESOLUTION_S)
    orphaned = row.on_behalf_of is not None and not starter_active(session, row.on_behalf_of, now)
    return VerifiedToken(Principal(f"token:{row.name}", row.role, "token", scope_of(row)), row.id,
                         row.expires_at, stale, orphaned)


def authenticate_token(session: Session, token: str) -> tuple[Principal, int | None] | None:
    """The principal a bearer token stands for, or None if unknown, revoked or expired.

    Also returns the token's id when its last use should be recorded (at most once a minute):
    the caller does that with :func:`touch_token` in a write transaction, so that ordinary
    reads stay read-only.
    """
    found = verify_token(session, token)
    if found is None:
        return None
    return found.principal, found.token_id if found.stale else None


def touch_token(session: Session, token_id: int) -> None:
    """Record that a token was used now."""
    session.execute(update(ApiToken).where(ApiToken.id == token_id).values(last_used_at=utcnow()))


def user_principal(session: Session, user_id: int, session_version: int) -> Principal | None:
    """The principal of a logged-in user, or None if the user is gone or disabled, or the
    cookie's session version is not the user's (logged out since)."""
    user = session.get(User, user_id)
    if user is None or user.disabled or user.session_version != session_version:
        return None
    return Principal(user.name, user.role, "user")


def end_sessions(session: Session, user_id: int) -> None:
    """Invalidate every session cookie issued to the user so far (logout)."""
    session.execute(update(User).where(User.id == user_id)
                    .values(session_version=User.session_version + 1))
