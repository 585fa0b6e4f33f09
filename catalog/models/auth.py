"""Who may use the catalog: users (web login), API tokens (machines) and login attempts."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from catalog.models.base import Base, utcnow

# Roles, most powerful first; catalog.auth.policy maps each to its permissions.
ROLES = ("admin", "steward", "pipeline", "auditor", "viewer")


class User(Base):
    """A person who logs in to the pages; the password is stored only as a salted slow hash."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    # werkzeug.security hash ("scrypt:..."): algorithm, parameters, salt and digest in one string.
    password_hash: Mapped[str] = mapped_column(String(256))
    role: Mapped[str] = mapped_column(String(16))
    # A disabled user keeps its audit history but can no longer log in.
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Written into each session cookie at login; logout bumps it, so every cookie issued
    # before stops working (a copied cookie included).
    session_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class ApiToken(Base):
    """A bearer token for a machine or script; only the token's SHA-256 is stored.

    Tokens are 256-bit random strings, so a fast hash is enough (nothing to brute-force); the
    plain token is shown once, when created.
    """

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    # sha256 hex of the whole token; looked up on every authenticated request.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # First characters of the token, so an operator can tell tokens apart in listings.
    prefix: Mapped[str] = mapped_column(String(16))
    role: Mapped[str] = mapped_column(String(16))
    created_by: Mapped[str] = mapped_column(String(256))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # NULL: never expires.
    expires_at: Mapped[datetime | None] = mapped_column()
    revoked_at: Mapped[datetime | None] = mapped_column()
    # Updated at most once a minute per token, so reads do not turn into writes.
    last_used_at: Mapped[datetime | None] = mapped_column()
    # A worker's token may report only one run (its id) of one job and that job's children;
    # NULL for ordinary tokens. Revoked when that run ends.
    scope_job_namespace: Mapped[str | None] = mapped_column(String(256))
    scope_job_name: Mapped[str | None] = mapped_column(String(256))
    scope_run_uuid: Mapped[str | None] = mapped_column(String(36), index=True)
    # The principal (actor name) a worker token acts for: it stops working once that user is
    # disabled or that token revoked. NULL for ordinary tokens.
    on_behalf_of: Mapped[str | None] = mapped_column(String(256))


class LoginAttempt(Base):
    """A login attempt; counted per user name and per client address to rate-limit guessing.

    Kept in the database (not in process memory) so the limit holds across gunicorn workers.
    """

    __tablename__ = "login_attempts"
    __table_args__ = (
        Index("ix_login_attempts_name_at", "name", "at"),
        Index("ix_login_attempts_addr_at", "remote_addr", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    remote_addr: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    success: Mapped[bool] = mapped_column(Boolean)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
